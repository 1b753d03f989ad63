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
//   ledger.accounts_transfers_per_s  the transfers' load, each to a random one of
//                               ledger.accounts accounts (100,000; `--accounts N`), snapshots
//                               stored every 20,000 transactions as by default
//   ledger.accounts_open_ms     opening that ledger (its state loaded from its snapshot)
//   ledger.accounts_disk_bytes_each / _heap_bytes_each   its store and its open state, per account
#include <malloc.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "bench_main.h"
#include "core/keccak.h"
#include "ledger/embedded_ledger.h"
#include "ledger/state.h"
#include "ledger/store.h"
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

// Submits every transaction at once and waits for all their answers; returns how many failed.
size_t submit_all(EmbeddedLedger& ledger, std::vector<SignedTx>& batch) {
  std::atomic<size_t> left{batch.size()};
  std::atomic<size_t> failed{0};
  std::promise<void> all_done;
  for (SignedTx& tx : batch) {
    ledger.submit_async(std::move(tx), [&](Result<Receipt> r) {
      if (!r) ++failed;
      if (--left == 0) all_done.set_value();
    });
  }
  all_done.get_future().wait();
  return failed;
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
    state.ResumeTiming();
    if (submit_all(*ledger, batch) > 0) state.SkipWithError("a transfer was rejected");
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
        (void)submit_all(*ledger, batch);
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

// ---- How cost grows with the accounts -------------------------------------------------------

// Accounts in the ledger for ledger.accounts_* (`--accounts N`: `make bench-scale` runs 100 k,
// 1 M and 10 M).
size_t g_accounts = 100'000;

size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

Address account_number(uint64_t i) {
  Address a;
  a.bytes()[0] = 0xac;
  for (int b = 0; b < 8; ++b) a.bytes()[19 - b] = static_cast<uint8_t>(i >> (8 * b));
  return a;
}

// A store whose state holds `n` accounts (one base unit each) beside the senders (a million
// tokens each), in `dir`. The accounts are made straight into a State (the genesis, the sale's
// finalize, one transfer to each), and the store gets one block after its genesis block with no
// transactions, that state's digest and its snapshot: an open loads it as it loads any snapshot.
// (Made by transactions, 10 M accounts would take the run's whole time bound to sign.) The
// store's size is then the state's cost on disk, not a history's.
Result<void> accounts_store(const std::filesystem::path& dir, size_t n,
                            const std::vector<crypto::PrivateKey>& senders, ManualClock& clock,
                            const GenesisConfig& g) {
  EmbeddedOptions o;
  o.data_dir = dir;
  BlockView genesis_block;
  {
    auto l = EmbeddedLedger::open(o, &g, clock);
    if (!l) return std::unexpected(l.error());
    auto b = (*l)->block(0);
    if (!b) return std::unexpected(b.error());
    genesis_block = *b;
  }
  const int64_t at = to_unix_ms(clock.now());
  BlockView b;
  b.number = 1;
  b.parent = genesis_block.hash;
  b.timestamp_ms = at;
  b.tx_root = tx_root({});
  std::string snapshot;
  {  // the state's memory goes back before the ledger loads it
    auto state = State::genesis(g);
    if (!state) return std::unexpected(state.error());
    uint64_t early_nonce = 0;
    auto apply = [&](const Address& from, uint64_t nonce, Op op) -> Result<void> {
      auto r = state->apply(UnsignedTx{g.chain_id, from, nonce, std::move(op), Hash{}}, at);
      if (!r) return std::unexpected(r.error());
      return {};
    };
    const Address early = key("early").address();  // a key's address costs a curve multiplication
    if (auto r = apply(key("team").address(), 0, FinalizeSale{}); !r) return r;
    for (const auto& k : senders) {
      auto r = apply(early, early_nonce++,
                     Transfer{k.address(), Amount::from_tokens(1'000'000).value()});
      if (!r) return r;
    }
    for (size_t i = 0; i < n; ++i) {
      auto r = apply(early, early_nonce++, Transfer{account_number(i), Amount::from_base(1)});
      if (!r) return r;
    }
    b.state_digest = state->digest();
    snapshot = state->snapshot();
  }
  b.hash = block_hash(b);
  auto store = Store::open(dir);
  if (!store) return std::unexpected(store.error());
  return (*store)->append(b, {}, {}, &snapshot);
}

// Transfers among g_accounts accounts: the transfers benchmark's load (20,000 signed transfers
// an iteration from 64 senders, every signature recovered, blocks synced), each to an account
// drawn at random, on a ledger that stores a snapshot every 20,000 transactions as it does by
// default. open_ms: the open that loads the state; bytes_on_disk / heap per account: the store
// and the heap the open state holds, over the accounts.
void accounts(benchmark::State& state) {
  const size_t n = ipsx::bench::smoke_run() ? 1'000 : g_accounts;
  auto dir = std::filesystem::path(IPSX_BENCH_DIR) / "ledger-accounts";
  std::filesystem::remove_all(dir);
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  GenesisConfig g = ledger::testing::named_genesis(clock.now(), 1337);
  std::vector<crypto::PrivateKey> senders;
  for (size_t i = 0; i < kSenders; ++i) senders.push_back(key("sender" + std::to_string(i)));
  clock.advance(Millis(2000));
  auto built = std::chrono::steady_clock::now();
  if (auto r = accounts_store(dir, n, senders, clock, g); !r) {
    state.SkipWithError(r.error().message().c_str());
    return;
  }
  std::cerr << "ledger of " << n << " accounts made in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - built).count()
            << " s\n";
  uint64_t disk = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.is_regular_file()) disk += f.file_size();
  EmbeddedOptions o;
  o.data_dir = dir;
  o.verify_threads = verify_threads();
  const size_t heap0 = heap_in_use();
  auto t0 = std::chrono::steady_clock::now();
  auto opened = EmbeddedLedger::open(o, nullptr, clock);
  const double open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!opened) {
    state.SkipWithError(opened.error().message().c_str());
    return;
  }
  auto& ledger = *opened;
  const size_t heap1 = heap_in_use();
  std::vector<uint64_t> nonces(kSenders, 0);
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<SignedTx> batch(kBatch);
    for (size_t i = 0; i < kBatch; ++i) {
      size_t s = i % kSenders;
      auto tx =
          ledger
              ->prepare(senders[s].address(),
                        Transfer{account_number(rng() % n), Amount::from_base(1)}, nonces[s]++)
              .value();
      batch[i] = SignedTx{tx, crypto::sign(senders[s], tx.digest).value()};
    }
    state.ResumeTiming();
    if (submit_all(*ledger, batch) > 0) state.SkipWithError("a transfer was rejected");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["accounts"] = static_cast<double>(n);
  state.counters["open_ms"] = open_ms;
  state.counters["disk_per_account"] = static_cast<double>(disk) / static_cast<double>(n);
  state.counters["heap_per_account"] =
      static_cast<double>(heap1 > heap0 ? heap1 - heap0 : 0) / static_cast<double>(n);
  ledger.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--accounts" && i + 1 < argc) {
      g_accounts = std::stoull(argv[++i]);
      continue;
    }
    args.push_back(argv[i]);
  }
  return ipsx::bench::run(
      static_cast<int>(args.size()), args.data(),
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
        1},
       {"ledger.accounts_transfers_per_s",
        accounts,
        1,
        {{"accounts", "ledger.accounts"},
         {"open_ms", "ledger.accounts_open_ms"},
         {"disk_per_account", "ledger.accounts_disk_bytes_each"},
         {"heap_per_account", "ledger.accounts_heap_bytes_each"}},
        1,
        true,
        3}},
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
