// The provider's balance proofs on disk (docs/sdk.md "Settlement"): the best proof of each deal
// is appended to a log and synced before the exit counts it as paid, so neither a restart nor a
// kill -9 loses a proof the provider was given. A deal settled on the ledger is forgotten.
//
// The file is text, one record a line: `proof DEAL AMOUNT SIGNATURE` (hex id, decimal base units,
// 65-byte hex signature) or `settled DEAL`. A torn last line (a crash mid-append) is dropped at
// open; open() also compacts the file to the best proof of each deal not settled.
//
// Thread-safe: put() runs on the exit's thread, forget() and best() on the provider's loop.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/hash.h"
#include "core/uint256.h"
#include "crypto/keys.h"

namespace ipsx::sdk {

struct StoredProof {
  U256 amount;
  crypto::Signature signature;
};

class ProofStore {
 public:
  // Opens (creating) the log at `file`, its directory too. Errors: io_error (with the path), a
  // line that is not a record (parse_error with its number: the file is not ours or was edited).
  static Result<std::unique_ptr<ProofStore>> open(const std::filesystem::path& file);
  ~ProofStore();
  ProofStore(const ProofStore&) = delete;
  ProofStore& operator=(const ProofStore&) = delete;

  // Keeps `amount` for the deal if it is above the best kept; returns once the line is synced
  // to disk. Errors: io_error (nothing is counted then).
  Result<void> put(const Hash& deal, const U256& amount, const crypto::Signature& signature);
  // The deal is closed on the ledger: its proofs are no longer needed.
  Result<void> forget(const Hash& deal);
  // The best proof of each deal not forgotten.
  std::map<Hash, StoredProof> best() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  ProofStore(std::filesystem::path path, std::FILE* f, std::map<Hash, StoredProof> best);
  Result<void> append(const std::string& line);

  std::filesystem::path path_;
  mutable std::mutex mu_;
  std::FILE* file_;
  std::map<Hash, StoredProof> best_;
};

}  // namespace ipsx::sdk
