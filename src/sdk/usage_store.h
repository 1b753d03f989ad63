// The provider's usage logs on disk (docs/usage-receipts.md): each deal's connection records and
// the best receipt the requester signed for them, under one directory:
//   DEAL.records   one JSON record a line, in index order (appended as connections close)
//   DEAL.receipt   the best receipt, with the requester and the ledger domain it was signed in
// The records a receipt covers are synced before the receipt is written, so a receipt on disk
// never covers records that are not. And the proofs made from them: a record, its audit path and
// the receipt, which anyone can check (verify_usage_proof) without the log.
//
// Thread-safe (one mutex): append() and put_receipt() run on the exit's thread, the reads on any.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/address.h"
#include "core/error.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "vocab/usage.h"

namespace ipsx::sdk {

struct StoredReceipt {
  Hash deal_id;
  Address requester;
  Hash domain_separator;
  uint64_t count = 0;
  Hash root;
  crypto::Signature signature;
};

class UsageStore {
 public:
  // Opens (creating) the directory. Errors: io_error with the path.
  static Result<std::unique_ptr<UsageStore>> open(const std::filesystem::path& dir);

  Result<void> append(const UsageRecord& r);
  // Keeps `r` if it covers more records than the receipt kept. Errors: io_error.
  Result<void> put_receipt(const StoredReceipt& r);
  // The deal's records, in index order (a torn last line is left out). Errors: io_error, a line
  // that is not a record (parse_error naming the file and line), a gap in the indexes.
  Result<std::vector<UsageRecord>> records(const Hash& deal) const;
  Result<std::optional<StoredReceipt>> receipt(const Hash& deal) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit UsageStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<std::vector<UsageRecord>> records_locked(const Hash& deal) const;  // mu_ held
  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::map<Hash, uint64_t> next_;  // each deal's next record index, once known (mu_)
};

// The proof that the deal's requester signed for record `index`: {deal, requester,
// domainSeparator, record, path, receipt: {count, root, signature}}. Errors: the store's, no such
// record, or a record no receipt covers yet (invalid_argument saying how many are covered).
Result<nlohmann::json> usage_proof(const UsageStore& store, const Hash& deal, uint64_t index);

// A proof checked: its record, and who signed the receipt that covers it.
struct VerifiedUsage {
  UsageRecord record;
  Address requester;
  Hash domain_separator;
  uint64_t count = 0;
  Hash root;  // of the log's first `count` records, as the receipt names it
};
// Checks a proof: the record's audit path leads to the receipt's root, and the receipt's
// signature (EIP-712 under `domainSeparator`) recovers to `requester`. Errors: parse_error for a
// malformed proof (naming the field), invalid_argument for a path or signature that does not hold.
Result<VerifiedUsage> verify_usage_proof(const nlohmann::json& proof);

}  // namespace ipsx::sdk
