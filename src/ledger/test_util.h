// Test helpers for the ledger layer: temporary directories, a genesis with fresh keys, and
// signing helpers. For tests only.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "core/keccak.h"
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
  // The ledger at genesis `g`, or its refusal of the genesis.
  static Result<std::unique_ptr<LedgerHarness>> create(const GenesisConfig& g) {
    std::unique_ptr<EmbeddedHarness> h(new EmbeddedHarness(g));
    EmbeddedOptions o;
    o.data_dir = h->dir_.path();
    o.verify_threads = 2;
    auto l = EmbeddedLedger::open(o, &g, h->clock_);
    if (!l) return std::unexpected(l.error());
    h->ledger_ = std::move(*l);
    return std::unique_ptr<LedgerHarness>(std::move(h));
  }
  Ledger& ledger() override { return *ledger_; }
  void advance(Millis d) override { clock_.advance(d); }
  Timestamp now() const override { return clock_.now(); }

 private:
  explicit EmbeddedHarness(const GenesisConfig& g) : clock_(g.time) {}
  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<EmbeddedLedger> ledger_;
};

// For crash tests: a child reports each acknowledged item as one line on a pipe. This waits for
// the child's first line (at most a minute), then `delay` more, kills the child with SIGKILL,
// reaps it, and adds every complete line it wrote to `lines` (closing `read_fd`). The delay counts
// from the first acknowledgment, not from the fork, so that a slow start (a sanitizer build, a
// loaded machine) still leaves the child time to work before it dies. Returns false if the child
// had ended by itself (status in `*status`).
inline bool kill_and_collect(pid_t pid, int read_fd, std::chrono::milliseconds delay,
                             std::set<std::string>& lines, int* status) {
  std::string data;
  char buf[4096];
  pollfd p{read_fd, POLLIN, 0};
  while (data.find('\n') == std::string::npos && poll(&p, 1, 60'000) > 0) {
    ssize_t n = read(read_fd, buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  *status = 0;
  waitpid(pid, status, 0);
  ssize_t n;
  while ((n = read(read_fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  close(read_fd);
  for (size_t pos; (pos = data.find('\n')) != std::string::npos;) {
    lines.insert(data.substr(0, pos));
    data.erase(0, pos + 1);
  }
  return WIFSIGNALED(*status);
}

// A key known by its name (its secret is keccak256 of the name): the same name is the same key
// in every test and benchmark, so a genesis and the parties that act on it agree without
// passing keys around.
inline crypto::PrivateKey named_key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

// The genesis most tests and benchmarks start from, at `time` on chain `chain_id`: its parties
// are named keys ("early", "bounty", "team"; the sale's treasury "treasury"), and a crowd sale of
// at most 1,000 IPSX at 10,000 per native unit is open for the first second. No native coin:
// add what the test's buyers need. The challenge period is GenesisConfig's unless set.
inline GenesisConfig named_genesis(Timestamp time, uint64_t chain_id = kDefaultChainId) {
  GenesisConfig g;
  g.chain_id = chain_id;
  g.time = time;
  g.early_adopters = named_key("early").address();
  g.bounty = named_key("bounty").address();
  g.team = named_key("team").address();
  g.sale = {U256(10'000),        Amount::from_tokens(1000).value(), time,
            time + Millis(1000), named_key("treasury").address(),   Amount()};
  return g;
}

// Signs `tx` with `key` and returns it ready to submit.
inline SignedTx sign_tx(const crypto::PrivateKey& key, const UnsignedTx& tx) {
  return SignedTx{tx, crypto::sign(key, tx.digest).value()};
}

// A Ledger that forwards everything to another, where a test may make reads of deals fail (a
// chain that does not answer) with `deal_fault`.
class FaultyLedger final : public Ledger {
 public:
  explicit FaultyLedger(Ledger& inner) : l_(inner) {}
  std::function<std::optional<Error>(const Hash&)> deal_fault;

  std::string_view kind() const override { return l_.kind(); }
  uint64_t chain_id() const override { return l_.chain_id(); }
  crypto::eip712::Domain domain() const override { return l_.domain(); }
  Result<UnsignedTx> prepare(const Address& from, Op op,
                             std::optional<uint64_t> nonce) const override {
    return l_.prepare(from, std::move(op), nonce);
  }
  Result<Receipt> submit(const SignedTx& tx) override { return l_.submit(tx); }
  void submit_async(SignedTx tx, std::function<void(Result<Receipt>)> done) override {
    l_.submit_async(std::move(tx), std::move(done));
  }
  void submit_as(std::shared_ptr<const crypto::PrivateKey> key, Op op,
                 std::function<void(Result<Receipt>)> done) override {
    l_.submit_as(std::move(key), std::move(op), std::move(done));
  }
  Result<Amount> total_supply() const override { return l_.total_supply(); }
  Result<Amount> balance_of(const Address& a) const override { return l_.balance_of(a); }
  Result<Amount> allowance(const Address& o, const Address& s) const override {
    return l_.allowance(o, s);
  }
  Result<Amount> native_balance(const Address& a) const override { return l_.native_balance(a); }
  Result<uint64_t> nonce_of(const Address& a) const override { return l_.nonce_of(a); }
  Result<WalletView> wallet(const Address& a) const override { return l_.wallet(a); }
  Result<Amount> bought(const Address& a) const override { return l_.bought(a); }
  Result<SaleView> sale() const override { return l_.sale(); }
  Result<DealView> deal(const Hash& id) const override {
    if (deal_fault) {
      if (auto e = deal_fault(id)) return std::unexpected(*e);
    }
    return l_.deal(id);
  }
  Result<RatingView> rating(const Address& a) const override { return l_.rating(a); }
  Result<SupplyView> supply() const override { return l_.supply(); }
  Result<bool> order_cancelled(const Address& o, const Hash& h) const override {
    return l_.order_cancelled(o, h);
  }
  Result<uint64_t> height() const override { return l_.height(); }
  Result<BlockView> block(uint64_t n) const override { return l_.block(n); }
  Result<std::vector<TxRecord>> transactions_of(const Address& a, size_t limit) const override {
    return l_.transactions_of(a, limit);
  }
  Result<std::optional<TxRecord>> transaction(const Hash& id) const override {
    return l_.transaction(id);
  }
  Result<std::vector<Event>> events_of_deal(const Hash& id) const override {
    return l_.events_of_deal(id);
  }
  Result<std::vector<Event>> events_of_account(const Address& a, size_t limit) const override {
    return l_.events_of_account(a, limit);
  }
  Result<void> check_identity() const override { return l_.check_identity(); }

 private:
  Ledger& l_;
};

}  // namespace ipsx::ledger::testing
