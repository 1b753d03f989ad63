// The Ethereum backend against the embedded ledger, the same workload on both through the Ledger
// interface only:
//   eth.deals_per_s_anvil      deals per second on EthereumLedger over a local anvil (automine,
//                              zero gas price; the contracts deployed from
//                              build/share/ipsx/contracts)
//   eth.deals_per_s_embedded   deals per second on EmbeddedLedger (SQLite, fsync per block)
//   eth.embedded_vs_anvil      embedded / anvil, same run (goal >= 20)
//   eth.gas_per_deal           gas of one deal's openDeal + claim + closeDeal, from the receipts
//                              on anvil (goal <= 200,000)
// A deal is: the provider and the requester sign an offer and a request (EIP-712), the market
// opens the deal (openDeal), the provider claims half with the requester's balance proof (claim)
// and closes it with the requester's final proof (closeDeal); every transaction is prepared,
// signed by its sender and confirmed (its receipt returned). The deals run as a pipeline: each
// benchmark iteration opens kBatch new deals, claims the kBatch opened in the iteration before
// and closes the kBatch claimed in the iteration before, all 3 x kBatch transactions submitted at
// once with submit_async (in nonce order) and waited for together, so that neither backend
// waits on one round trip at a time; an operation is sent only after the previous one on its
// deal was confirmed. The figure counts deals closed per second of wall-clock time.
//
// `ipsx-bench-eth --gas` instead prints the gas used (from the receipts on anvil) by the
// deployment and by every contract function, as a Markdown table (docs/ledger.md, "Gas").
#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bench_main.h"
#include "core/keccak.h"
#include "eth/anvil_harness.h"
#include "ledger/conformance.h"
#include "ledger/embedded_ledger.h"

namespace {

using namespace ipsx;
using namespace ipsx::ledger;
using crypto::PrivateKey;
using crypto::Signature;

constexpr int64_t kGenesisMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr size_t kParties = 16;                    // providers, and as many requesters
constexpr size_t kBatch = 96;                      // deals per benchmark iteration
constexpr uint64_t kPrice = 1'000'000'000'000;     // base units per second
constexpr uint64_t kDuration = 3600;
constexpr uint16_t kFeeBps = 250;
constexpr size_t kPrepareThreads = 4;

template <class T>
T need(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

Amount tokens(uint64_t n) {
  return Amount::from_tokens(n).value();
}

PrivateKey key(const std::string& name) {
  return PrivateKey::from_bytes(keccak256("ipsx-bench-eth/" + name).view()).value();
}

// Everyone who acts in the workload.
struct Actors {
  PrivateKey early = key("early"), bounty = key("bounty"), team = key("team"),
             treasury = key("treasury"), market = key("market"), buyer = key("buyer");
  std::vector<PrivateKey> providers, requesters;
  Actors() {
    for (size_t i = 0; i < kParties; ++i) {
      providers.push_back(key("provider" + std::to_string(i)));
      requesters.push_back(key("requester" + std::to_string(i)));
    }
  }
};

// A genesis whose sale is over one second after genesis; every actor has native coin (gas).
GenesisConfig genesis(const Actors& a) {
  GenesisConfig g;
  g.chain_id = 1337;
  g.time = from_unix_ms(kGenesisMs);
  g.early_adopters = a.early.address();
  g.bounty = a.bounty.address();
  g.team = a.team.address();
  g.sale = {U256(10'000),          tokens(50),           g.time,
            g.time + Millis(1000), a.treasury.address(), Amount()};
  g.challenge_period = ledger::kMinChallengePeriod;
  for (const PrivateKey* k : {&a.early, &a.team, &a.market, &a.buyer}) {
    g.native.emplace_back(k->address(), tokens(100));
  }
  for (size_t i = 0; i < kParties; ++i) {
    g.native.emplace_back(a.providers[i].address(), tokens(100));
    g.native.emplace_back(a.requesters[i].address(), tokens(100));
  }
  return g;
}

// The embedded backend in build/bench/eth-embedded-data (a real SQLite file).
class EmbeddedBench final : public LedgerHarness {
 public:
  explicit EmbeddedBench(const GenesisConfig& g) : clock_(g.time) {
    auto dir = std::filesystem::path(IPSX_BENCH_DIR) / "eth-embedded-data";
    std::filesystem::remove_all(dir);
    EmbeddedOptions o;
    o.data_dir = dir;
    ledger_ = need(EmbeddedLedger::open(o, &g, clock_), "embedded ledger");
  }
  Ledger& ledger() override { return *ledger_; }
  void advance(Millis d) override { clock_.advance(d); }
  Timestamp now() const override { return clock_.now(); }

 private:
  ManualClock clock_;
  std::unique_ptr<EmbeddedLedger> ledger_;
};

// The deal workload on one backend, written against Ledger and LedgerHarness only.
class DealWorkload {
 public:
  explicit DealWorkload(std::unique_ptr<LedgerHarness> h) : h_(std::move(h)) {}

  Ledger& L() { return h_->ledger(); }
  LedgerHarness& H() { return *h_; }
  const Actors& actors() const { return a_; }

  // One transaction: sender and operation; with `make`, the operation is built (its orders and
  // proofs signed by the parties) on the preparing threads instead.
  struct Step {
    const PrivateKey* from;
    Op op;
    std::function<Op()> make = {};
  };

  // Prepares (explicit consecutive nonces, on a few threads), signs by each sender, submits
  // every step with submit_async in order and waits for all receipts. Throws on any rejection.
  std::vector<Receipt> run(std::vector<Step> steps) {
    std::vector<uint64_t> nonces(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) nonces[i] = next_nonce(steps[i].from->address());
    std::vector<std::optional<SignedTx>> signed_txs(steps.size());
    std::vector<std::string> errors(kPrepareThreads);
    auto prepare = [&](size_t t) {
      try {
        for (size_t i = t; i < steps.size(); i += kPrepareThreads) {
          const PrivateKey& k = *steps[i].from;
          if (steps[i].make) steps[i].op = steps[i].make();
          UnsignedTx tx = need(L().prepare(k.address(), steps[i].op, nonces[i]), "prepare");
          signed_txs[i] = SignedTx{tx, need(crypto::sign(k, tx.digest), "sign")};
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < std::min(kPrepareThreads, steps.size()); ++t) {
      threads.emplace_back(prepare, t);
    }
    prepare(0);
    for (std::thread& t : threads) t.join();
    for (const std::string& e : errors) {
      if (!e.empty()) throw std::runtime_error(e);
    }

    std::mutex mu;
    std::condition_variable cv;
    size_t left = steps.size();
    std::string failure;
    std::vector<Receipt> receipts(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      std::string what = op_name(steps[i].op);
      L().submit_async(std::move(*signed_txs[i]), [&, i, what](Result<Receipt> r) {
        std::lock_guard lock(mu);
        if (r) {
          receipts[i] = std::move(*r);
        } else if (failure.empty()) {
          failure = what + ": " + r.error().message();
        }
        if (--left == 0) cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });
    if (!failure.empty()) throw std::runtime_error(failure);
    return receipts;
  }
  Receipt run1(const PrivateKey& from, Op op) { return run({{&from, std::move(op)}}).front(); }

  // Sale over and finalized; each requester holds and has deposited 1,000,000 IPSX.
  void setup() {
    H().advance(Millis(2000));
    run1(a_.team, FinalizeSale{});
    fund_requesters();
  }
  // Each requester gets and deposits 1,000,000 IPSX (after the sale).
  void fund_requesters() {
    std::vector<Step> fund, deposit;
    for (const PrivateKey& r : a_.requesters) {
      fund.push_back({&a_.early, Transfer{r.address(), tokens(1'000'000)}});
      deposit.push_back({&r, Deposit{tokens(1'000'000)}});
    }
    run(std::move(fund));
    run(std::move(deposit));
  }

  Signature sign_struct(const PrivateKey& k, const Hash& struct_hash) {
    return need(crypto::sign(k, crypto::eip712::digest(separator(), struct_hash)), "sign");
  }

  Offer offer_of(const PrivateKey& provider) {
    Offer o;
    o.provider = provider.address();
    o.ip = need(parse_ip("203.0.113." + std::to_string(1 + order_nonce_ % 250)), "ip");
    o.country = need(parse_country("DE"), "country");
    o.ip_type = IpType::residential;
    o.protocols = protocol::http | protocol::socks5;
    o.scopes = scope::crawling | scope::general;
    o.bandwidth_kbps = 50'000;
    o.capacity = 1;
    o.min_duration = 60;
    o.max_duration = 86'400;
    o.price_per_second = U256(kPrice);
    o.market = a_.market.address();
    o.fee_bps = kFeeBps;
    o.expiry = now_s() + 86'400;
    o.nonce = ++order_nonce_;
    return o;
  }
  Request request_of(const PrivateKey& requester) {
    Request r;
    r.requester = requester.address();
    r.count = 1;
    r.countries = {need(parse_country("DE"), "country")};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = kDuration;
    r.max_price_per_second = U256(kPrice * 2);
    r.budget = tokens(1000).base();
    r.market = a_.market.address();
    r.fee_bps = kFeeBps;
    r.expiry = now_s() + 86'400;
    r.nonce = ++order_nonce_;
    return r;
  }
  // openDeal of `o` and `r`, each signed by its owner.
  OpenDeal open_op(const PrivateKey& provider, const Offer& o, const PrivateKey& requester,
                   const Request& r) {
    return OpenDeal{o, sign_struct(provider, o.struct_hash()), r,
                    sign_struct(requester, r.struct_hash()), U256(kPrice)};
  }
  OpenDeal open_op(const PrivateKey& provider, const PrivateKey& requester, Hash* id) {
    Offer o = offer_of(provider);
    Request r = request_of(requester);
    *id = deal_id_for(o.struct_hash(), r.struct_hash(), 0);
    return open_op(provider, o, requester, r);
  }
  Signature proof(const PrivateKey& requester, const Hash& id, const Amount& amount) {
    return sign_struct(requester, BalanceProof{id, amount.base()}.struct_hash());
  }
  Signature consent(const PrivateKey& provider, const Hash& id, const Amount& amount) {
    return sign_struct(provider, ClosingConsent{id, amount.base()}.struct_hash());
  }

  struct Deal {
    Hash id;
    const PrivateKey* provider;
    const PrivateKey* requester;
  };
  // One step of the deal pipeline, submitted at once and waited for together: `n` new deals
  // opened, the deals opened in the previous step claimed (half, with a balance proof), and the
  // deals claimed in the previous step closed (the whole deposit, with the final proof). Each
  // operation comes after the one before it on its deal was confirmed. Returns the deals closed.
  std::vector<Deal> step(size_t n) {
    const Amount deposit = Amount::from_base(U256(kPrice * kDuration));
    const Amount half = Amount::from_base(U256(kPrice * kDuration / 2));
    std::vector<Deal> opening(n);
    std::vector<Step> steps;
    for (size_t i = 0; i < n; ++i) {
      size_t k = deal_count_++;
      opening[i].provider = &a_.providers[k % kParties];
      opening[i].requester = &a_.requesters[(k + k / kParties) % kParties];
      Offer o = offer_of(*opening[i].provider);
      Request r = request_of(*opening[i].requester);
      opening[i].id = deal_id_for(o.struct_hash(), r.struct_hash(), 0);
      steps.push_back({&a_.market, Settle{}, [this, o, r, d = opening[i]]() -> Op {
                         return open_op(*d.provider, o, *d.requester, r);
                       }});
    }
    for (const Deal& d : opened_) {
      steps.push_back({d.provider, Settle{}, [this, d, half]() -> Op {
                         return Claim{d.id, half, proof(*d.requester, d.id, half)};
                       }});
    }
    for (const Deal& d : claimed_) {
      steps.push_back({d.provider, Settle{}, [this, d, deposit]() -> Op {
                         return CloseDeal{d.id, deposit, proof(*d.requester, d.id, deposit),
                                          CloseReason::completed};
                       }});
    }
    run(std::move(steps));
    std::vector<Deal> closed = std::move(claimed_);
    claimed_ = std::move(opened_);
    opened_ = std::move(opening);
    return closed;
  }
  size_t in_flight() const { return opened_.size() + claimed_.size(); }

 private:
  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(h_->now())); }
  const Hash& separator() {
    std::call_once(separator_once_, [&] { separator_ = L().domain().separator(); });
    return separator_;
  }
  uint64_t next_nonce(const Address& a) {
    auto it = nonces_.find(a);
    if (it == nonces_.end()) it = nonces_.emplace(a, need(L().nonce_of(a), "nonce")).first;
    return it->second++;
  }

  std::unique_ptr<LedgerHarness> h_;
  Actors a_;
  std::map<Address, uint64_t> nonces_;
  uint64_t order_nonce_ = 0;
  size_t deal_count_ = 0;
  std::vector<Deal> opened_, claimed_;  // deals waiting for their claim, for their close
  std::once_flag separator_once_;
  Hash separator_;
};

std::unique_ptr<LedgerHarness> make_anvil(const GenesisConfig& g) {
  return need(eth::testing::AnvilHarness::create(g), "anvil");
}
std::unique_ptr<LedgerHarness> make_embedded(const GenesisConfig& g) {
  return std::make_unique<EmbeddedBench>(g);
}

// One workload per backend, made (and set up) on first use and kept across repetitions.
std::map<std::string, std::unique_ptr<DealWorkload>> workloads;

DealWorkload& workload(const std::string& name) {
  auto& slot = workloads[name];
  if (!slot) {
    Actors a;
    GenesisConfig g = genesis(a);
    auto w = std::make_unique<DealWorkload>(name == "anvil" ? make_anvil(g) : make_embedded(g));
    w->setup();
    slot = std::move(w);
  }
  return *slot;
}

void deals_on(benchmark::State& state, const std::string& backend) {
  try {
    DealWorkload& w = workload(backend);
    while (w.in_flight() < 2 * kBatch) w.step(kBatch);  // fill the pipeline (not timed)
    size_t closed = 0;
    std::optional<Hash> last;
    for (auto _ : state) {
      auto done = w.step(kBatch);
      closed += done.size();
      if (!done.empty()) last = done.back().id;
    }
    DealView d = need(w.L().deal(last.value()), "deal");
    if (d.state != DealState::closed || d.claimed.base() != U256(kPrice * kDuration)) {
      state.SkipWithError("the last deal is not closed and fully paid");
    }
    state.SetItemsProcessed(static_cast<int64_t>(closed));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- Gas --------------------------------------------------------------------------------------
uint64_t gas_of(eth::RpcClient& rpc, const Receipt& r) {
  auto b = need(rpc.block(r.block, false), "block");
  if (!b || r.index >= b->tx_hashes.size()) throw std::runtime_error("no such transaction");
  auto rc = need(rpc.receipt(b->tx_hashes[r.index]), "receipt");
  if (!rc) throw std::runtime_error("no receipt");
  return rc->gas_used;
}

// eth.gas_per_deal: the gas one deal costs on chain, summed from the receipts of its three
// transactions: the market's openDeal, the provider's claim of half with the requester's balance
// proof, and the provider's closeDeal with the final proof. As in a market that runs: the
// provider's offer is a standing one (an IP offered until it expires, leased again each time its
// deal ends; its first deal came before), each deal fills a new request of one IP, and the parties
// and the market have wallets with balances.
void gas_per_deal(benchmark::State& state) try {
  auto owned = need(eth::testing::AnvilHarness::create(genesis(Actors())), "anvil");
  eth::RpcClient& rpc = owned->eth_ledger().rpc();
  DealWorkload w(std::move(owned));
  w.setup();
  const Actors& a = w.actors();
  const PrivateKey& P = a.providers[0];
  const PrivateKey& R = a.requesters[0];
  const Amount deposit = Amount::from_base(U256(kPrice * kDuration));
  const Amount half = Amount::from_base(U256(kPrice * kDuration / 2));
  const Offer standing = w.offer_of(P);
  auto next_deal = [&](Hash* id) {
    Request r = w.request_of(R);
    *id = deal_id_for(standing.struct_hash(), r.struct_hash(), 0);
    return w.open_op(P, standing, R, r);
  };
  Hash first;  // the offer's first deal: cold storage
  w.run1(a.market, next_deal(&first));
  w.run1(P, CloseDeal{first, deposit, w.proof(R, first, deposit), CloseReason::completed});
  uint64_t gas = 0;
  for (auto _ : state) {
    Hash d;
    gas = gas_of(rpc, w.run1(a.market, next_deal(&d)));
    gas += gas_of(rpc, w.run1(P, Claim{d, half, w.proof(R, d, half)}));
    gas += gas_of(rpc,
                  w.run1(P, CloseDeal{d, deposit, w.proof(R, d, deposit), CloseReason::completed}));
  }
  state.counters["gas"] = static_cast<double>(gas);
} catch (const std::exception& e) {
  state.SkipWithError(e.what());
}

// eth.gas_per_deal_batched: the same deal, as a running market and provider send it: the market
// opens the fills of a matching round in one batch (ledger::Batch), the provider claims the
// deals it serves in one batch and closes them in one: kGasBatch deals of one provider's standing
// offers (a datacenter's IPs, each leased again once its deal ended), each filling a new request
// of one IP from its own requester. The figure is the three batches' gas over kGasBatch.
constexpr size_t kGasBatch = 10;
// kGasBatch standing offers of one provider, each leased again every round to its own requester.
class BatchedDeals {
 public:
  BatchedDeals(DealWorkload& w, eth::RpcClient& rpc) : w_(w), rpc_(rpc) {
    for (size_t i = 0; i < kGasBatch; ++i) standing_.push_back(w.offer_of(P()));
  }
  // One round: the market's batch of fills, the provider's batch of claims, its batch of closes;
  // the gas of each.
  std::array<uint64_t, 3> round() {
    const Actors& a = w_.actors();
    const Amount deposit = Amount::from_base(U256(kPrice * kDuration));
    const Amount half = Amount::from_base(U256(kPrice * kDuration / 2));
    Batch fills, claims, closes;
    for (size_t i = 0; i < kGasBatch; ++i) {
      const PrivateKey& R = a.requesters[i];
      Request r = w_.request_of(R);
      Hash id = deal_id_for(standing_[i].struct_hash(), r.struct_hash(), 0);
      fills.ops.push_back(w_.open_op(P(), standing_[i], R, r));
      claims.ops.push_back(Claim{id, half, w_.proof(R, id, half)});
      closes.ops.push_back(
          CloseDeal{id, deposit, w_.proof(R, id, deposit), CloseReason::completed});
    }
    return {gas_of(rpc_, w_.run1(a.market, std::move(fills))),
            gas_of(rpc_, w_.run1(P(), std::move(claims))),
            gas_of(rpc_, w_.run1(P(), std::move(closes)))};
  }

 private:
  const PrivateKey& P() const { return w_.actors().providers[0]; }
  DealWorkload& w_;
  eth::RpcClient& rpc_;
  std::vector<Offer> standing_;
};

void gas_per_deal_batched(benchmark::State& state) try {
  auto owned = need(eth::testing::AnvilHarness::create(genesis(Actors())), "anvil");
  eth::RpcClient& rpc = owned->eth_ledger().rpc();
  DealWorkload w(std::move(owned));
  w.setup();
  BatchedDeals deals(w, rpc);
  deals.round();  // each offer's first deal: cold storage
  uint64_t gas = 0;
  for (auto _ : state) {
    auto g = deals.round();
    gas = g[0] + g[1] + g[2];
  }
  state.counters["gas"] = static_cast<double>(gas) / kGasBatch;
} catch (const std::exception& e) {
  state.SkipWithError(e.what());
}

int gas_table() {
  Actors a;
  GenesisConfig g = genesis(a);
  auto owned = need(eth::testing::AnvilHarness::create(g), "anvil");
  eth::testing::AnvilHarness* h = owned.get();
  eth::RpcClient& rpc = h->eth_ledger().rpc();
  const eth::Deployment dep = h->eth_ledger().deployment();
  DealWorkload w(std::move(owned));
  std::vector<std::tuple<std::string, std::string, uint64_t>> rows;
  auto add = [&](const std::string& fn, const std::string& note, const Receipt& r) {
    rows.emplace_back(fn, note, gas_of(rpc, r));
  };
  // The deployment: the receipts whose contractAddress is one of ours.
  uint64_t height = need(rpc.block_number(), "height");
  for (uint64_t n = dep.block; n <= height; ++n) {
    auto b = need(rpc.block(n, false), "block");
    for (const Hash& tx : b->tx_hashes) {
      auto rc = need(rpc.receipt(tx), "receipt");
      if (rc && rc->contract_address == dep.token) {
        rows.emplace_back("deploy IPSXToken", "constructor: allocations, sale pool", rc->gas_used);
      } else if (rc && rc->contract_address == dep.centralizer) {
        rows.emplace_back("deploy Centralizer", "constructor", rc->gas_used);
      }
    }
  }
  const PrivateKey& P = a.providers[0];
  const PrivateKey& R = a.requesters[0];
  const PrivateKey& S = a.providers[1];
  add("buy", "first purchase of the buyer", w.run1(a.buyer, Buy{tokens(1)}));
  add("buy", "second purchase", w.run1(a.buyer, Buy{tokens(1)}));
  w.H().advance(Millis(2000));
  add("finalizeSale", "after the sale window", w.run1(a.team, FinalizeSale{}));
  add("claimUnsold", "the only buyer", w.run1(a.buyer, ClaimUnsold{}));
  add("transfer", "to an account with no balance",
      w.run1(a.early, Transfer{P.address(), tokens(1000)}));
  add("transfer", "to an account with a balance",
      w.run1(a.early, Transfer{P.address(), tokens(1000)}));
  w.run1(a.early, Transfer{R.address(), tokens(1000)});
  add("approve", "new allowance", w.run1(a.early, Approve{S.address(), tokens(100)}));
  add("transferFrom", "finite allowance, 90 of 100 left",
      w.run1(S, TransferFrom{a.early.address(), R.address(), tokens(10)}));
  add("deposit", "first deposit of the account", w.run1(R, Deposit{tokens(500)}));
  add("deposit", "into a funded wallet", w.run1(R, Deposit{tokens(100)}));
  add("withdraw", "part of the wallet balance", w.run1(R, Withdraw{tokens(50)}));
  add("cancelOrder", "an order never used",
      w.run1(R, CancelOrder{keccak256(std::string("some order"))}));
  const Amount deposit = Amount::from_base(U256(kPrice * kDuration));
  const Amount half = Amount::from_base(U256(kPrice * kDuration / 2));
  Hash d1, d2, d3;
  add("openDeal", "first deal of the parties", w.run1(a.market, w.open_op(P, R, &d1)));
  add("openDeal", "parties with deals before, a new offer", w.run1(a.market, w.open_op(P, R, &d2)));
  w.run1(a.market, w.open_op(P, R, &d3));
  {
    // A standing offer leased again once its deal ended.
    const Offer standing = w.offer_of(P);
    Request r1 = w.request_of(R), r2 = w.request_of(R);
    Hash s1 = deal_id_for(standing.struct_hash(), r1.struct_hash(), 0);
    w.run1(a.market, w.open_op(P, standing, R, r1));
    w.run1(P, CloseDeal{s1, deposit, w.proof(R, s1, deposit), CloseReason::completed});
    add("openDeal", "a standing offer again, its earlier deal closed",
        w.run1(a.market, w.open_op(P, standing, R, r2)));
  }
  add("claim", "first claim of the deal", w.run1(P, Claim{d1, half, w.proof(R, d1, half)}));
  add("closeDeal", "with a final proof (pays the rest, refunds 0)",
      w.run1(P, CloseDeal{d1, deposit, w.proof(R, d1, deposit), CloseReason::completed}));
  add("cooperativeClose", "both signatures, half paid, half refunded",
      w.run1(R, CooperativeClose{d2, half, w.proof(R, d2, half), w.consent(P, d2, half),
                                 CloseReason::completed}));
  add("uncooperativeClose", "by the requester, admitting half",
      w.run1(R, UncooperativeClose{d3, half, CloseReason::provider_failed}));
  w.H().advance(kMinChallengePeriod + Millis(1'000));  // the genesis' period, and a second
  add("settle", "after the challenge period: pays the admitted half, refunds the rest",
      w.run1(S, Settle{d3}));
  add("rate", "by the provider (the requester's first rating)", w.run1(P, Rate{d1, 5}));
  add("rate", "by the requester (the provider's first rating)", w.run1(R, Rate{d1, 4}));
  {
    // The deal's operations in batches of kGasBatch (a standing offer each), per deal.
    w.fund_requesters();
    BatchedDeals deals(w, rpc);
    deals.round();
    auto g = deals.round();
    const std::string per = " per deal, in a batch of " + std::to_string(kGasBatch);
    rows.emplace_back("batch of openDeal", "standing offers leased again," + per, g[0] / kGasBatch);
    rows.emplace_back("batch of claim", "first claims," + per, g[1] / kGasBatch);
    rows.emplace_back("batch of closeDeal", "with the final proofs," + per, g[2] / kGasBatch);
  }
  std::cout << "| function | gas used | case |\n|---|---:|---|\n";
  for (const auto& [fn, note, gas] : rows) {
    std::cout << "| `" << fn << "` | " << gas << " | " << note << " |\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gas") == 0) {
      try {
        return gas_table();
      } catch (const std::exception& e) {
        std::cerr << "ipsx-bench-eth --gas: " << e.what() << "\n";
        return 1;
      }
    }
  }
  int rc = ipsx::bench::run(
      argc, argv,
      {{"eth.deals_per_s_embedded",
        [](benchmark::State& s) { deals_on(s, "embedded"); },
        1,
        {},
        3,
        true},
       {"eth.deals_per_s_anvil", [](benchmark::State& s) { deals_on(s, "anvil"); }, 1, {}, 3, true},
       {"eth.gas_deal", gas_per_deal, 1, {{"gas", "eth.gas_per_deal_single"}}, 1, true, 3},
       {"eth.gas_deal_batched",
        gas_per_deal_batched,
        1,
        {{"gas", "eth.gas_per_deal"}},
        1,
        true,
        3}},
      {{"eth.embedded_vs_anvil", [](const auto& m) -> std::optional<double> {
          auto e = m.find("eth.deals_per_s_embedded");
          auto a = m.find("eth.deals_per_s_anvil");
          if (e == m.end() || a == m.end() || a->second <= 0) return std::nullopt;
          return e->second / a->second;
        }}});
  workloads.clear();  // the ledgers' threads stop, then anvil
  return rc;
}
