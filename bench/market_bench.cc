// market benchmarks: the order book and matcher alone (one core, no signatures, no I/O), with
// 1,000,000 resting offers (`--resting N` for another size) over the 249 assigned countries x 3
// IP types.
//   market.core_ops_per_s   placements (offers and requests, each matched), and cancels
//   market.p99_ns           99th percentile of one such operation
//   market.offer_ns, market.request_ns, market.cancel_ns
//                           mean time of each kind of operation (where the time goes)
//   market.fills_per_op     fills made per operation
//   market.dram_miss_ns     the latency of one load that misses every cache on this machine at
//                           the time of the run (a chase of dependent loads through 256 MiB in
//                           huge pages, just before and just after the timed operations)
//   market.op_in_misses     the mean operation's time in such latencies
//   market.chase_256kib_ns ... market.chase_256mib_ns
//                           the same chase through working sets of 256 KiB to 256 MiB: where the
//                           caches this process actually gets end (the last-level cache is
//                           shared with the host's other machines)
//   market.huge_pages_mb    how much of the process the kernel gave in 2 MiB pages (when it
//                           cannot, every figure drops: this tells why)
//   market.bytes_per_offer  heap bytes the book holds per resting offer (measured with mallinfo2,
//                           plus the huge-page regions the book maps itself)
//   market.signed_ops_per_s the same placements with each order's EIP-712 signature recovered and
//                           checked first (what a market node does per order); compare with
//                           crypto.raw_recover_per_s from the same `make bench` run
//   market.restart_ms_full      a market node's restart (Market::recover) replaying a journal of
//                               100,000 entries (signed orders, ~1% of them matching into deals
//                               on an embedded ledger) from the start
//   market.restart_ms_snapshot  the same restart from a snapshot taken at entry 95,000 plus the
//                               5,000 entries after it
//   market.restart_entries_per_s  entries the full replay goes through per second
//   market.tick_ms          one Market::tick (what a node runs every second on its server
//                           thread) with market.tick_live_deals live deals (1,000; `--live-deals
//                           N`), each of one IP from one offer, opened on an embedded ledger
//   market.tick_every_deal_ms  the same tick reading the ledger for every live deal (no
//                           tick_read_budget: what every tick did before it)
//   market.bytes_per_live_deal  heap the market and its embedded ledger hold per live deal
#include <malloc.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_main.h"
#include "core/country.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "crypto/keys.h"
#include "ledger/test_util.h"
#include "market/huge_pages.h"
#include "market/market.h"
#include "market/order_book.h"

namespace {

using namespace ipsx;
using namespace ipsx::market;

// Resting offers in the book (`--resting N`: `make bench-scale` runs 1 M and 10 M).
size_t g_resting = 1'000'000;
constexpr size_t kProviders = 100'000;
constexpr uint64_t kNow = 1'800'000'000;

Address addr(uint64_t i, const char* kind) {
  Address a;
  Hash h = keccak256(std::string(kind) + std::to_string(i));
  std::copy(h.bytes().begin(), h.bytes().begin() + 20, a.bytes().begin());
  return a;
}

struct Fixture {
  std::vector<Address> providers, requesters;
  Address market = addr(0, "market");
  std::mt19937_64 rng{42};

  Fixture() {
    for (size_t i = 0; i < kProviders; ++i) providers.push_back(addr(i, "p"));
    for (size_t i = 0; i < 1000; ++i) requesters.push_back(addr(i, "r"));
  }
  CountryCode country() {
    const auto& c = country_codes()[rng() % country_codes().size()];
    return {c[0], c[1]};
  }
  Offer offer() {
    Offer o;
    o.provider = providers[rng() % providers.size()];
    uint32_t ip = static_cast<uint32_t>(rng());
    o.ip = {0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0xff,
            0xff,
            static_cast<uint8_t>(ip >> 24),
            static_cast<uint8_t>(ip >> 16),
            static_cast<uint8_t>(ip >> 8),
            static_cast<uint8_t>(ip)};
    o.country = country();
    o.ip_type = static_cast<IpType>(1 + rng() % 3);
    o.protocols = protocol::http | protocol::socks5;
    o.scopes = scope::crawling | scope::general;
    o.bandwidth_kbps = 20'000;
    o.capacity = 1 + static_cast<uint32_t>(rng() % 2);
    o.min_duration = 5;
    o.max_duration = 86'400;
    o.price_per_second = U256(100 + rng() % 1000);
    o.market = market;
    o.expiry = kNow + 86'400;
    return o;
  }
  Request request() {
    Request r;
    r.requester = requesters[rng() % requesters.size()];
    r.count = 1 + static_cast<uint32_t>(rng() % 3);
    r.countries = {country()};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = 600;
    r.max_price_per_second = U256(100 + rng() % 1000);
    r.budget = *r.max_price_per_second.checked_mul(600 * r.count);
    r.market = market;
    r.expiry = kNow + 3600;
    return r;
  }
};

// The latency of a load that misses every cache: a chase through a random cycle of cache lines
// in 256 MiB (8x the last-level cache, in huge pages like the book), each load's address read
// by the load before it, so that no two overlap.
class MissLatency {
 public:
  explicit MissLatency(size_t bytes) : lines_(bytes / 64) {
    const auto kLines = static_cast<uint32_t>(lines_.size());
    // Sattolo's algorithm: a random permutation that is one single cycle.
    std::vector<uint32_t> order(kLines);
    for (uint32_t i = 0; i < kLines; ++i) order[i] = i;
    std::mt19937_64 rng(7);
    for (uint32_t i = kLines - 1; i > 0; --i) std::swap(order[i], order[rng() % i]);
    for (uint32_t i = 0; i < kLines; ++i) lines_[i].next = order[i];
  }
  // Mean ns of `loads` dependent loads (after one pass through the cycle, which brings in what
  // the caches will hold).
  double ns(size_t loads) {
    if (!warm_) {
      for (size_t i = 0; i < lines_.size(); ++i) at_ = lines_[at_].next;
      warm_ = true;
    }
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < loads; ++i) at_ = lines_[at_].next;
    auto took = std::chrono::steady_clock::now() - t0;
    benchmark::DoNotOptimize(at_);
    return std::chrono::duration<double, std::nano>(took).count() / static_cast<double>(loads);
  }

 private:
  struct alignas(64) Line {
    uint32_t next = 0;
  };
  HugeVector<Line> lines_;
  uint32_t at_ = 0;
  bool warm_ = false;
};

// The same chase through working sets from 256 KiB to 256 MiB: where the caches this process
// actually gets end. The host's last-level cache is shared with other machines, so its size on
// paper says little: a set that fits it may still miss.
void memory_latency(benchmark::State& state) {
  constexpr std::array<std::pair<const char*, size_t>, 5> kSets = {
      {{"chase_256kib_ns", 256 << 10},
       {"chase_2mib_ns", 2 << 20},
       {"chase_4mib_ns", 4 << 20},
       {"chase_16mib_ns", 16 << 20},
       {"chase_256mib_ns", 256 << 20}}};
  std::array<double, kSets.size()> ns{};
  for (auto _ : state) {
    for (size_t i = 0; i < kSets.size(); ++i) {
      MissLatency chase(kSets[i].second);
      ns[i] = chase.ns(1'000'000);
    }
  }
  for (size_t i = 0; i < kSets.size(); ++i) state.counters[kSets[i].first] = ns[i];
}

// MB of this process in transparent huge pages.
double anon_huge_mb() {
  std::ifstream smaps("/proc/self/smaps_rollup");
  for (std::string line; std::getline(smaps, line);) {
    if (line.starts_with("AnonHugePages:")) return std::stod(line.substr(14)) / 1024;
  }
  return 0;
}

void core_ops(benchmark::State& state) {
  static MissLatency miss(256u << 20);  // made once, before any book: not in the book's heap
  static const double chase_huge_mb = anon_huge_mb();  // the chase's, not the book's
  Fixture f;
  // In-use heap: small blocks in the arenas plus large blocks served by mmap, plus the 2 MiB
  // regions the book maps itself for huge pages (whole regions, used or not).
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd + huge_bytes_in_use();
  };
  // The benchmark's own list of ids is allocated first: only the book's heap is measured.
  HugeVector<OrderId> offers;
  offers.reserve(g_resting * 2);
  size_t heap_before = heap();
  OrderBook book;
  for (size_t i = 0; i < g_resting; ++i)
    offers.push_back(book.place_offer(f.offer(), kNow, nullptr));
  size_t heap_after = heap();
  double bytes_per_offer =
      static_cast<double>(heap_after - heap_before) / static_cast<double>(book.offers());
  // How much of it the kernel gave in huge pages (it may not, when memory is fragmented: the
  // figures then drop, and this tells why).
  double huge_mb = anon_huge_mb() - chase_huge_mb;

  // Pre-generate the operations so that generating them is not measured.
  constexpr size_t kOps = 200'000;
  enum Kind : uint8_t { kOffer, kRequest, kCancel };
  struct Op {
    Kind kind;
    uint32_t index;      // into new_offers or new_requests
    OrderId target = 0;  // a cancel's order
  };
  std::vector<Op> stream(kOps);
  std::vector<Offer> new_offers;
  std::vector<Request> new_requests;
  for (auto& op : stream) {
    uint64_t x = f.rng() % 10;
    op.kind = x < 4 ? kOffer : x < 7 ? kRequest : kCancel;
    if (op.kind == kOffer) {
      op.index = static_cast<uint32_t>(new_offers.size());
      new_offers.push_back(f.offer());
    }
    if (op.kind == kRequest) {
      op.index = static_cast<uint32_t>(new_requests.size());
      new_requests.push_back(f.request());
    }
  }
  // Each operation is timed in ticks of the TSC where there is one. steady_clock costs ~30 ns a
  // call on a virtual machine and reads the TSC with rdtscp, which waits for every instruction
  // before it: two such reads an operation kept each operation's misses from overlapping the
  // next one's, and cost 12-22% of the throughput measured. rdtsc does not wait; the per-op
  // times are then exact to a few ns, which is enough for a p99 of microseconds. Ticks are
  // converted to ns with the rate measured against steady_clock over the whole run.
  auto ticks = [] {
#if defined(__x86_64__)
    return static_cast<int64_t>(__rdtsc());
#else
    return static_cast<int64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
  };
  std::vector<int64_t> ns;  // ticks, then ns
  ns.reserve(kOps);
  double miss_ns = miss.ns(250'000);
  auto wall0 = std::chrono::steady_clock::now();
  int64_t ticks0 = ticks();
  std::vector<Fill> fills;
  size_t ops = 0, matched = 0;
  // Mean time of each kind of operation, to see where the time goes.
  std::array<double, 3> kind_ns{};
  std::array<size_t, 3> kind_n{};
  for (auto _ : state) {
    ns.clear();
    size_t next_at = 0;  // where the next cancel's order is picked from the benchmark's list
    for (size_t i = 0; i < stream.size(); ++i) {
      Op& op = stream[i];
      // A cancel's order is picked from the benchmark's list before the clock starts, and its
      // place in the list one operation earlier (and loaded meanwhile): a node has the id in the
      // message it has just parsed, and reading the list is the benchmark's cost, not the book's.
      if (op.kind == kCancel) {
        size_t at = next_at % offers.size();
        op.target = offers[at];
        offers[at] = offers.back();
        offers.pop_back();
      }
      if (i + 1 < stream.size() && stream[i + 1].kind == kCancel) {
        next_at = f.rng() % offers.size();
        __builtin_prefetch(&offers[next_at]);
      }
      if (op.kind == kRequest) {
        // The request's countries are a separate allocation of the benchmark's: a node reads
        // its request from the message it has just parsed, so it is loaded before the clock.
        volatile uint8_t touch = new_requests[op.index].countries[0][0];
        (void)touch;
      }
      int64_t t0 = ticks();
      fills.clear();
      if (op.kind == kOffer) {
        offers.push_back(book.place_offer(new_offers[op.index], kNow, &fills));
      } else if (op.kind == kRequest) {
        book.place_request(new_requests[op.index], kNow, &fills);
      } else {
        book.cancel(op.target);
      }
      int64_t took = ticks() - t0;
      ns.push_back(took);
      kind_ns[op.kind] += static_cast<double>(took);
      kind_n[op.kind] += 1;
      matched += fills.size();
    }
    ops += stream.size();
  }
  double wall_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - wall0).count();
  double ns_per_tick = wall_ns / static_cast<double>(ticks() - ticks0);
  miss_ns = (miss_ns + miss.ns(250'000)) / 2;
  std::sort(ns.begin(), ns.end());
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["p99_ns"] =
      static_cast<double>(ns[static_cast<size_t>(0.99 * (ns.size() - 1))]) * ns_per_tick;
  for (auto& t : kind_ns) t *= ns_per_tick;
  state.counters["offer_ns"] = kind_ns[kOffer] / static_cast<double>(kind_n[kOffer]);
  state.counters["request_ns"] = kind_ns[kRequest] / static_cast<double>(kind_n[kRequest]);
  state.counters["cancel_ns"] = kind_ns[kCancel] / static_cast<double>(kind_n[kCancel]);
  state.counters["fills_per_op"] = static_cast<double>(matched) / static_cast<double>(ops);
  state.counters["bytes_per_offer"] = bytes_per_offer;
  state.counters["miss_ns"] = miss_ns;
  state.counters["op_in_misses"] = wall_ns / static_cast<double>(ops) / miss_ns;
  state.counters["huge_mb"] = huge_mb;
}

// Placements with signature verification: hash the order (EIP-712), recover the signer, compare,
// then place. 50,000 resting offers (the book's size matters little next to the recovery).
void signed_ops(benchmark::State& state) {
  Fixture f;
  OrderBook book;
  auto key = crypto::PrivateKey::from_bytes(keccak256(std::string_view("provider")).view()).value();
  Hash sep = ledger_domain(1337, Address()).separator();
  for (size_t i = 0; i < 50'000; ++i) book.place_offer(f.offer(), kNow, nullptr);
  constexpr size_t kOps = 2'000;
  std::vector<std::pair<Offer, crypto::Signature>> offers;
  std::vector<std::pair<Request, crypto::Signature>> requests;
  for (size_t i = 0; i < kOps; ++i) {
    auto o = f.offer();
    o.provider = key.address();
    offers.emplace_back(o, crypto::sign(key, crypto::eip712::digest(sep, o.struct_hash())).value());
    auto r = f.request();
    r.requester = key.address();  // never matches its own offers: the cost is the verification
    requests.emplace_back(r,
                          crypto::sign(key, crypto::eip712::digest(sep, r.struct_hash())).value());
  }
  std::vector<Fill> fills;
  size_t ops = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kOps; ++i) {
      fills.clear();
      if (i % 2 == 0) {
        const auto& [o, sig] = offers[i];
        auto who = crypto::recover(crypto::eip712::digest(sep, o.struct_hash()), sig);
        if (!who || *who != o.provider) state.SkipWithError("bad signature");
        book.place_offer(o, kNow, &fills);
      } else {
        const auto& [r, sig] = requests[i];
        auto who = crypto::recover(crypto::eip712::digest(sep, r.struct_hash()), sig);
        if (!who || *who != r.requester) state.SkipWithError("bad signature");
        book.place_request(r, kNow, &fills);
      }
    }
    ops += kOps;
  }
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

// ---- Restart: full replay versus snapshot + tail ---------------------------------------------

size_t g_restart_entries = 100'000;  // 2,000 with --smoke

crypto::PrivateKey key_of(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

// An embedded ledger in `dir` past its sale, `requester` holding a million IPSX in its
// Centralizer wallet; nullptr (the benchmark skipped) if a step fails.
std::unique_ptr<ledger::EmbeddedLedger> funded_ledger(const std::filesystem::path& dir,
                                                      ManualClock& clock,
                                                      const ledger::GenesisConfig& g,
                                                      const crypto::PrivateKey& requester,
                                                      benchmark::State& state) {
  ledger::EmbeddedOptions lo;
  lo.data_dir = dir;
  lo.verify_threads = 1;
  auto ledger = ledger::EmbeddedLedger::open(lo, &g, clock);
  if (!ledger) {
    state.SkipWithError(ledger.error().message().c_str());
    return nullptr;
  }
  clock.advance(Millis(2000));
  auto run = [&](const crypto::PrivateKey& k, ledger::Op op) {
    auto tx = (*ledger)->prepare(k.address(), std::move(op));
    return tx && (*ledger)->submit(ledger::testing::sign_tx(k, *tx)).has_value();
  };
  if (!run(key_of("team"), ledger::FinalizeSale{}) ||
      !run(key_of("early"),
           ledger::Transfer{requester.address(), Amount::from_tokens(1'000'000).value()}) ||
      !run(requester, ledger::Deposit{Amount::from_tokens(1'000'000).value()})) {
    state.SkipWithError("ledger setup");
    return nullptr;
  }
  return std::move(*ledger);
}

void restart(benchmark::State& state) {
  using ledger::testing::TempDir;
  const size_t entries = g_restart_entries;
  const size_t snapshot_at = entries - entries / 20;
  TempDir ledger_dir, journal_dir, full_dir, snap_dir;
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  ledger::GenesisConfig g = ledger::testing::named_genesis(clock.now());
  g.challenge_period = ledger::kMinChallengePeriod;
  crypto::PrivateKey provider = key_of("provider"), requester = key_of("requester");
  crypto::PrivateKey market_key = key_of("market");
  auto ledger = funded_ledger(ledger_dir.path(), clock, g, requester, state);
  if (!ledger) return;
  Hash sep = ledger->domain().separator();

  // The journal: offers at 1,000..1,999 and requests bidding up to 1,009, so about 1% match.
  MarketConfig config{0, {}, 0, false};
  {
    auto journal = Journal::open(journal_dir.path(), JournalOptions{false}).value();
    Market m(*ledger, key_of("market"), clock, config, journal.get());
    (void)m.recover();
    std::mt19937_64 rng(5);
    uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(clock.now()));
    for (size_t i = 0; i < entries; ++i) {
      if (i == snapshot_at) {
        // Taken here by hand (snapshot_every is 0, so the full replay below has no snapshot).
        if (!m.write_snapshot()) state.SkipWithError("snapshot");
      }
      if (i % 2 == 0) {
        Offer o;
        o.provider = provider.address();
        o.ip = parse_ip("10." + std::to_string(i / 65536 % 256) + "." +
                        std::to_string(i / 256 % 256) + "." + std::to_string(i % 256))
                   .value();
        o.country = parse_country(rng() % 2 ? "DE" : "FR").value();
        o.protocols = protocol::http;
        o.scopes = scope::crawling;
        o.capacity = 1 + static_cast<uint32_t>(rng() % 2);
        o.max_duration = 3600;
        o.price_per_second = U256(1000 + rng() % 1000);
        o.market = market_key.address();
        o.expiry = now_s + 10 * 86'400;
        o.nonce = i;
        auto sig = crypto::sign(provider, crypto::eip712::digest(sep, o.struct_hash())).value();
        if (!m.place_offer(o, sig)) state.SkipWithError("offer");
      } else {
        Request r;
        r.requester = requester.address();
        r.countries = {parse_country(rng() % 2 ? "DE" : "FR").value()};
        r.protocols = protocol::http;
        r.scope = scope::crawling;
        r.duration = 60;
        r.max_price_per_second = U256(500 + rng() % 510);
        r.budget = *r.max_price_per_second.checked_mul(60);
        r.market = market_key.address();
        r.expiry = now_s + 10 * 86'400;
        r.nonce = i;
        auto sig = crypto::sign(requester, crypto::eip712::digest(sep, r.struct_hash())).value();
        if (!m.place_request(r, sig)) state.SkipWithError("request");
      }
      if (i % 100 == 0) clock.advance(Millis(1000));
    }
    state.counters["deals"] = static_cast<double>(m.open_deals());
  }
  for (const auto* to : {&full_dir, &snap_dir}) {
    std::filesystem::copy(journal_dir.path(), to->path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  (void)Journal::open(full_dir.path()).value()->drop_snapshot();
  auto ms_since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double full_ms = 0, snapshot_ms = 0;
  size_t rounds = 0;
  for (auto _ : state) {
    // Only the full replay is timed by the framework (entries per second); both by hand.
    auto t0 = std::chrono::steady_clock::now();
    {
      auto journal = Journal::open(full_dir.path()).value();
      Market m(*ledger, key_of("market"), clock, config, journal.get());
      auto n = m.recover();
      if (!n || *n != entries) state.SkipWithError("full replay");
    }
    full_ms += ms_since(t0);
    state.PauseTiming();
    t0 = std::chrono::steady_clock::now();
    {
      auto journal = Journal::open(snap_dir.path()).value();
      Market m(*ledger, key_of("market"), clock, config, journal.get());
      auto n = m.recover();
      if (!n || *n != entries - snapshot_at) state.SkipWithError("snapshot restart");
    }
    snapshot_ms += ms_since(t0);
    state.ResumeTiming();
    ++rounds;
  }
  state.SetItemsProcessed(static_cast<int64_t>(rounds * entries));
  state.counters["restart_ms_full"] = full_ms / static_cast<double>(rounds);
  state.counters["restart_ms_snapshot"] = snapshot_ms / static_cast<double>(rounds);
}

// ---- The node's tick with N live deals -----------------------------------------------------

// Live deals for market.tick_ms (`--live-deals N`: `make bench-scale` runs 1 k, 10 k, 100 k).
size_t g_live_deals = 1'000;

size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// A market with `g_live_deals` live deals on an embedded ledger (one provider's offers of one IP
// each, each filled by its own request), then Market::tick timed: what `ipsx node` runs every
// second on its server thread. The ledger's store is in /dev/shm: its per-deal block syncs are
// the build's cost, not the tick's. bytes_per_deal: the heap the market and the ledger hold per
// live deal (its offer, its request, the deal's record on both, the ledger's blocks cache).
void tick_live(benchmark::State& state) {
  const size_t n = ipsx::bench::smoke_run() ? 100 : g_live_deals;
  auto dir = std::filesystem::path("/dev/shm") / fmt::format("ipsx-bench-tick-{}", getpid());
  std::filesystem::remove_all(dir);
  struct Cleanup {
    std::filesystem::path d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};
  ManualClock clock(from_unix_ms(1'767'225'600'000));
  ledger::GenesisConfig g = ledger::testing::named_genesis(clock.now());
  crypto::PrivateKey provider = key_of("provider"), requester = key_of("requester");
  crypto::PrivateKey market_key = key_of("market");
  const size_t heap0 = heap_in_use();
  auto ledger = funded_ledger(dir, clock, g, requester, state);
  if (!ledger) return;
  Hash sep = ledger->domain().separator();
  MarketConfig config{0, {}, 0, false};
  Market m(*ledger, market_key.clone(), clock, config, nullptr);
  uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(clock.now()));
  for (size_t i = 0; i < n; ++i) {
    Offer o;
    o.provider = provider.address();
    o.ip = parse_ip(fmt::format("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256)).value();
    o.country = parse_country("DE").value();
    o.protocols = protocol::http;
    o.scopes = scope::crawling;
    o.capacity = 1;
    o.max_duration = 86'400;
    o.price_per_second = U256(1000);
    o.market = market_key.address();
    o.expiry = now_s + 10 * 86'400;
    o.nonce = i;
    auto sig = crypto::sign(provider, crypto::eip712::digest(sep, o.struct_hash())).value();
    if (!m.place_offer(o, sig)) {
      state.SkipWithError("offer");
      return;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    Request r;
    r.requester = requester.address();
    r.countries = {parse_country("DE").value()};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = 86'400;
    r.max_price_per_second = U256(1000);
    r.budget = *r.max_price_per_second.checked_mul(86'400);
    r.market = market_key.address();
    r.expiry = now_s + 10 * 86'400;
    r.nonce = n + i;
    auto sig = crypto::sign(requester, crypto::eip712::digest(sep, r.struct_hash())).value();
    if (!m.place_request(r, sig)) {
      state.SkipWithError("request");
      return;
    }
  }
  if (m.open_deals() != n) {
    state.SkipWithError(fmt::format("{} deals open of {}", m.open_deals(), n).c_str());
    return;
  }
  const size_t heap1 = heap_in_use();
  auto tick_ms = [&] {
    auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(m.tick());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  // A tick that reads every live deal (no time budget), as every tick did before the budget.
  m.set_tick_read_budget(std::chrono::hours(1));
  std::vector<double> full;
  for (int i = 0; i < 5; ++i) full.push_back(tick_ms());
  std::sort(full.begin(), full.end());
  m.set_tick_read_budget(MarketConfig{}.tick_read_budget);
  std::vector<double> ms;
  for (auto _ : state) {
    ms.push_back(tick_ms());
  }
  if (m.open_deals() != n) state.SkipWithError("a tick closed deals");
  std::sort(ms.begin(), ms.end());
  state.counters["tick_ms"] = ms[ms.size() / 2];
  state.counters["tick_full_ms"] = full[full.size() / 2];
  state.counters["live_deals"] = static_cast<double>(n);
  state.counters["bytes_per_deal"] =
      static_cast<double>(heap1 > heap0 ? heap1 - heap0 : 0) / static_cast<double>(n);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--smoke") g_restart_entries = 2'000;
    if (a == "--live-deals" && i + 1 < argc) {
      g_live_deals = std::stoull(argv[++i]);
      continue;
    }
    if (a == "--resting" && i + 1 < argc) {
      g_resting = std::stoull(argv[++i]);
      continue;
    }
    args.push_back(argv[i]);
  }
  return ipsx::bench::run(static_cast<int>(args.size()), args.data(),
                          {{"market.core_ops_per_s",
                            core_ops,
                            1,
                            {{"p99_ns", "market.p99_ns"},
                             {"offer_ns", "market.offer_ns"},
                             {"request_ns", "market.request_ns"},
                             {"cancel_ns", "market.cancel_ns"},
                             {"fills_per_op", "market.fills_per_op"},
                             {"huge_mb", "market.huge_pages_mb"},
                             {"miss_ns", "market.dram_miss_ns"},
                             {"op_in_misses", "market.op_in_misses"},
                             {"bytes_per_offer", "market.bytes_per_offer"}},
                            // The median of three books: one run lands on whatever the machine
                            // is doing, and this one moves by a third with it. Two passes of
                            // the stream each (the second starts from the book the first left),
                            // whatever the speed, so that every run does the same work.
                            3,
                            false,
                            2},
                           {"market.signed_ops_per_s", signed_ops},
                           {"market.chase_256mib_ns",
                            memory_latency,
                            1,
                            {{"chase_256kib_ns", "market.chase_256kib_ns"},
                             {"chase_2mib_ns", "market.chase_2mib_ns"},
                             {"chase_4mib_ns", "market.chase_4mib_ns"},
                             {"chase_16mib_ns", "market.chase_16mib_ns"},
                             {"chase_256mib_ns", "market.chase_256mib_ns"}},
                            3,
                            false,
                            1},
                           {"market.restart_entries_per_s",
                            restart,
                            1,
                            {{"restart_ms_full", "market.restart_ms_full"},
                             {"restart_ms_snapshot", "market.restart_ms_snapshot"}},
                            1},
                           {"market.ticks_per_s",
                            tick_live,
                            1,
                            {{"tick_ms", "market.tick_ms"},
                             {"tick_full_ms", "market.tick_every_deal_ms"},
                             {"live_deals", "market.tick_live_deals"},
                             {"bytes_per_deal", "market.bytes_per_live_deal"}},
                            1,
                            true,
                            9}});
}
