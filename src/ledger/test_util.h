// Test helpers for the ledger layer: temporary directories, a genesis with fresh keys, and
// signing helpers. For tests only.
#pragma once

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <random>
#include <string>

#include "crypto/keys.h"
#include "ledger/conformance.h"
#include "ledger/embedded_ledger.h"

namespace ipsx::ledger::testing {

// A fresh directory under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("ipsx-ledger-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
             "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The embedded backend for the conformance suite: a ledger in a temporary directory with a
// manual clock.
class EmbeddedHarness final : public LedgerHarness {
 public:
  explicit EmbeddedHarness(const GenesisConfig& g) : clock_(g.time) {
    EmbeddedOptions o;
    o.data_dir = dir_.path();
    o.verify_threads = 2;
    ledger_ = EmbeddedLedger::open(o, &g, clock_).value();
  }
  Ledger& ledger() override { return *ledger_; }
  void advance(Millis d) override { clock_.advance(d); }
  Timestamp now() const override { return clock_.now(); }

 private:
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EmbeddedLedger> ledger_;
};

// Signs `tx` with `key` and returns it ready to submit.
inline SignedTx sign_tx(const crypto::PrivateKey& key, const UnsignedTx& tx) {
  return SignedTx{tx, crypto::sign(key, tx.digest).value()};
}

}  // namespace ipsx::ledger::testing
