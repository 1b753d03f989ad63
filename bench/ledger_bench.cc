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
//   (the reopen figures replay from genesis: open_from_snapshot off)
//   ledger.restart_ms_1m        a restart of a ledger of one million transactions after a clean
//                               close: its state snapshot loaded, nothing replayed
//   ledger.restart_ms_1m_tail   the same ledger when a crash left the most it can after its
//                               snapshot (snapshot_every transactions, replayed and re-verified)
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
  o.open_from_snapshot = false;
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

// A ledger of `n` transactions (the sale's finalize, the senders' funding, then transfers among
// the senders), built once per run in its own directory: all but the last `snapshot_every`
// with snapshots (its clean close leaves one), then those without any, as a crash right before
// the next snapshot would leave it.
const std::filesystem::path& restart_store() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::path(IPSX_BENCH_DIR) / "ledger-restart";
    std::filesystem::remove_all(d);
    const uint64_t n = ipsx::bench::smoke_run() ? 4'000 : 1'000'000;
    const uint64_t tail = std::min<uint64_t>(EmbeddedOptions{}.snapshot_every, n / 2);
    ManualClock clock(from_unix_ms(1'767'225'600'000));
    GenesisConfig g = ledger::testing::named_genesis(clock.now(), 1337);
    std::vector<crypto::PrivateKey> senders;
    for (size_t i = 0; i < kSenders; ++i) senders.push_back(key("restart" + std::to_string(i)));
    uint64_t done = 0, transfers = 0;  // transactions in all; transfers among the senders
    auto session = [&](uint64_t until, uint64_t snapshot_every, bool create) {
      EmbeddedOptions o;
      o.data_dir = d;
      o.verify_threads = verify_threads();
      o.snapshot_every = snapshot_every;
      auto ledger = EmbeddedLedger::open(o, create ? &g : nullptr, clock).value();
      auto exec = [&](const crypto::PrivateKey& k, Op op) {
        auto tx = ledger->prepare(k.address(), std::move(op)).value();
        (void)ledger->submit(SignedTx{tx, crypto::sign(k, tx.digest).value()});
        ++done;
      };
      if (create) {
        clock.advance(Millis(2000));
        exec(key("team"), FinalizeSale{});
        for (const auto& s : senders)
          exec(key("early"), Transfer{s.address(), Amount::from_tokens(1'000'000).value()});
      }
      while (done < until) {
        size_t count = static_cast<size_t>(std::min<uint64_t>(kBatch, until - done));
        std::vector<SignedTx> batch(count);
        auto sign = [&](size_t from, size_t step) {
          for (size_t i = from; i < count; i += step) {
            uint64_t t = transfers + i;  // sender t % kSenders, its (t / kSenders)th transfer
            size_t s = t % kSenders;
            auto tx =
                ledger
                    ->prepare(senders[s].address(),
                              Transfer{senders[(s + 1) % kSenders].address(), Amount::from_base(1)},
                              t / kSenders)
                    .value();
            batch[i] = SignedTx{tx, crypto::sign(senders[s], tx.digest).value()};
          }
        };
        std::vector<std::thread> signers;
        for (size_t t = 1; t < verify_threads(); ++t)
          signers.emplace_back(sign, t, verify_threads());
        sign(0, verify_threads());
        for (auto& t : signers) t.join();
        std::atomic<size_t> left{count};
        std::promise<void> all;
        for (SignedTx& tx : batch) {
          ledger->submit_async(std::move(tx), [&](Result<Receipt>) {
            if (--left == 0) all.set_value();
          });
        }
        all.get_future().wait();
        done += count;
        transfers += count;
      }
    };
    session(n - tail, EmbeddedOptions{}.snapshot_every, true);
    session(n, 0, false);
    return d;
  }();
  return dir;
}

// Opens the restart store once per iteration, timed. `after_clean_close`: a first, untimed open
// replays the crash's tail and its close stores a snapshot of the head; else every open replays
// the tail (and stores nothing).
void restart(benchmark::State& state, bool after_clean_close) {
  const auto& dir = restart_store();
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  EmbeddedOptions o;
  o.data_dir = dir;
  o.verify_threads = verify_threads();
  if (!after_clean_close) o.snapshot_every = 0;  // its close leaves the tail as it was
  if (after_clean_close) (void)EmbeddedLedger::open(o, nullptr, clock);
  double ms = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    auto ledger = EmbeddedLedger::open(o, nullptr, clock);
    ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!ledger) {
      state.SkipWithError(ledger.error().message().c_str());
      return;
    }
    state.PauseTiming();
    ledger->reset();
    state.ResumeTiming();
  }
  state.counters["ms"] = ms / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
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
        1},
       {"ledger.restarts_per_s_1m_tail",
        [](benchmark::State& s) { restart(s, false); },
        1,
        {{"ms", "ledger.restart_ms_1m_tail"}},
        3,
        true,
        1},
       {"ledger.restarts_per_s_1m",
        [](benchmark::State& s) { restart(s, true); },
        1,
        {{"ms", "ledger.restart_ms_1m"}},
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
