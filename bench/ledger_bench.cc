// ledger benchmarks, end to end on the embedded ledger (real SQLite files, fsync per block):
//   ledger.transfers_per_s      signed transfers submitted, signatures recovered on every core,
//                               applied in order and durably committed (acknowledged)
//   ledger.raw_recover_per_s    libsecp256k1 recoveries per second on one core, same run
//   ledger.recover_limit_per_s  raw_recover_per_s x verifying threads: the ceiling
//   ledger.transfers_ratio      transfers_per_s / recover_limit_per_s (goal >= 0.8)
//   ledger.raw_recover_all_threads_per_s  the same raw recoveries on every verifying thread at
//                               once: what the cores really give together
//   ledger.transfers_ratio_measured  transfers_per_s / raw_recover_all_threads_per_s
//   ledger.block_commit_p50_us / p99_us   time to write and fsync one block
//   ledger.reopen_tx_per_s      a restart: the store the transfers left is opened again and its
//                               blocks replayed, every signature re-checked (the default)
//   ledger.reopen_unverified_tx_per_s    the same without the signatures (hash chain only)
//   ledger.reopen_verify_cost   reopen_unverified / reopen: how much the signatures cost
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "bench_main.h"
#include "core/keccak.h"
#include "ledger/embedded_ledger.h"
#include "ledger/test_util.h"

namespace {

using namespace ipsx;
using namespace ipsx::ledger;

constexpr size_t kSenders = 64;
constexpr size_t kBatch = 20'000;  // transactions per benchmark iteration

crypto::PrivateKey key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

size_t verify_threads() {
  return std::max<size_t>(1, std::thread::hardware_concurrency());
}

std::filesystem::path bench_dir() {
  auto dir = std::filesystem::path(IPSX_BENCH_DIR) / "ledger-data";
  std::filesystem::remove_all(dir);
  return dir;
}

void transfers(benchmark::State& state) {
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  GenesisConfig g = ledger::testing::named_genesis(clock.now(), 1337);
  std::mutex mu;
  std::vector<int64_t> commit_us;
  EmbeddedOptions o;
  o.data_dir = bench_dir();
  o.verify_threads = verify_threads();
  o.on_commit = [&](const BlockView&, std::chrono::microseconds d) {
    std::lock_guard lock(mu);
    commit_us.push_back(d.count());
  };
  auto ledger = EmbeddedLedger::open(o, &g, clock).value();
  auto exec = [&](const crypto::PrivateKey& k, Op op) {
    auto tx = ledger->prepare(k.address(), std::move(op)).value();
    return ledger->submit(SignedTx{tx, crypto::sign(k, tx.digest).value()});
  };
  clock.advance(Millis(2000));
  (void)exec(key("team"), FinalizeSale{});
  std::vector<crypto::PrivateKey> senders;
  for (size_t i = 0; i < kSenders; ++i) {
    senders.push_back(key("sender" + std::to_string(i)));
    (void)exec(key("early"),
               Transfer{senders.back().address(), Amount::from_tokens(1'000'000).value()});
  }
  std::vector<uint64_t> nonces(kSenders, 0);
  {
    std::lock_guard lock(mu);
    commit_us.clear();
  }
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<SignedTx> batch;
    batch.reserve(kBatch);
    for (size_t i = 0; i < kBatch; ++i) {
      size_t s = i % kSenders;
      auto tx = ledger
                    ->prepare(senders[s].address(),
                              Transfer{senders[(s + 1) % kSenders].address(), Amount::from_base(1)},
                              nonces[s]++)
                    .value();
      batch.push_back(SignedTx{tx, crypto::sign(senders[s], tx.digest).value()});
    }
    std::atomic<size_t> left{kBatch};
    std::atomic<size_t> failed{0};
    std::promise<void> all_done;
    state.ResumeTiming();
    for (SignedTx& tx : batch) {
      ledger->submit_async(std::move(tx), [&](Result<Receipt> r) {
        if (!r) ++failed;
        if (--left == 0) all_done.set_value();
      });
    }
    all_done.get_future().wait();
    if (failed > 0) state.SkipWithError("a transfer was rejected");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  std::lock_guard lock(mu);
  if (!commit_us.empty()) {
    std::sort(commit_us.begin(), commit_us.end());
    auto pct = [&](double p) {
      return static_cast<double>(commit_us[static_cast<size_t>(p * (commit_us.size() - 1))]);
    };
    state.counters["p50_us"] = pct(0.50);
    state.counters["p99_us"] = pct(0.99);
    state.counters["txs_per_block"] =
        static_cast<double>(state.iterations() * kBatch) / static_cast<double>(commit_us.size());
  }
}

void raw_recover(benchmark::State& state) {
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  auto k = key("raw");
  std::vector<std::pair<Hash, crypto::Signature>> sigs;
  for (int i = 0; i < 256; ++i) {
    Hash d = keccak256(std::to_string(i));
    sigs.emplace_back(d, crypto::sign(k, d).value());
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& [d, s] = sigs[i++ % sigs.size()];
    unsigned char compact[64];
    std::copy(s.r().bytes().begin(), s.r().bytes().end(), compact);
    std::copy(s.s().bytes().begin(), s.s().bytes().end(), compact + 32);
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, compact, s.recovery_id()) ||
        !secp256k1_ecdsa_recover(ctx, &pk, &rs, d.data())) {
      state.SkipWithError("recover failed");
    }
    benchmark::DoNotOptimize(pk);
  }
  state.SetItemsProcessed(state.iterations());
}

// Opens the store the transfers benchmark left (it runs first) and replays it; items are its
// transactions. `verify` re-checks every signature as open() does by default.
void reopen(benchmark::State& state, bool verify) {
  auto dir = std::filesystem::path(IPSX_BENCH_DIR) / "ledger-data";
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  EmbeddedOptions o;
  o.data_dir = dir;
  o.verify_threads = verify_threads();
  o.verify_signatures_on_open = verify;
  uint64_t txs = 0;
  for (auto _ : state) {
    auto ledger = EmbeddedLedger::open(o, nullptr, clock);
    if (!ledger) {
      state.SkipWithError(ledger.error().message().c_str());
      return;
    }
    state.PauseTiming();
    txs = 0;
    for (uint64_t b = 0, h = (*ledger)->height().value(); b <= h; ++b)
      txs += (*ledger)->block(b).value().txs.size();
    ledger->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * txs));
}

}  // namespace

int main(int argc, char** argv) {
  return ipsx::bench::run(
      argc, argv,
      {{"ledger.raw_recover_per_s", raw_recover},
       {"ledger.raw_recover_all_threads_per_s", raw_recover, static_cast<int>(verify_threads())},
       {"ledger.transfers_per_s",
        transfers,
        1,
        {{"p50_us", "ledger.block_commit_p50_us"},
         {"p99_us", "ledger.block_commit_p99_us"},
         {"txs_per_block", "ledger.txs_per_block"}},
        3,
        true},
       {"ledger.reopen_tx_per_s", [](benchmark::State& s) { reopen(s, true); }, 1, {}, 3, true, 1},
       {"ledger.reopen_unverified_tx_per_s",
        [](benchmark::State& s) { reopen(s, false); },
        1,
        {},
        3,
        true,
        1}},
      {{"ledger.reopen_verify_cost",
        [](const auto& m) -> std::optional<double> {
          auto v = m.find("ledger.reopen_tx_per_s");
          auto u = m.find("ledger.reopen_unverified_tx_per_s");
          if (v == m.end() || u == m.end()) return std::nullopt;
          return u->second / v->second;
        }},
       {"ledger.recover_limit_per_s",
        [](const auto& m) -> std::optional<double> {
          auto it = m.find("ledger.raw_recover_per_s");
          if (it == m.end()) return std::nullopt;
          return it->second * static_cast<double>(verify_threads());
        }},
       {"ledger.transfers_ratio_measured",
        [](const auto& m) -> std::optional<double> {
          auto t = m.find("ledger.transfers_per_s");
          auto r = m.find("ledger.raw_recover_all_threads_per_s");
          if (t == m.end() || r == m.end()) return std::nullopt;
          return t->second / r->second;
        }},
       {"ledger.transfers_ratio", [](const auto& m) -> std::optional<double> {
          auto t = m.find("ledger.transfers_per_s");
          auto r = m.find("ledger.raw_recover_per_s");
          if (t == m.end() || r == m.end()) return std::nullopt;
          return t->second / (r->second * static_cast<double>(verify_threads()));
        }}});
}
