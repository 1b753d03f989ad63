// Helpers of the ledger conformance suite (conformance_test.cc): a fixture that makes a fresh
// ledger from a generated genesis on every backend, signs and submits transactions, snapshots the
// observable state around rejected ones, checks the supply invariant after accepted ones, and
// builds signed orders, balance proofs and closing consents. Written only against Ledger and
// LedgerHarness, so that every backend is held to docs/ledger.md the same way.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/amount.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "crypto/keys.h"
#include "ledger/conformance.h"
#include "ledger/ledger.h"
#include "ledger/orders.h"

namespace ipsx::ledger {
// Test names already carry the backend's name; failures print it instead of the struct's bytes.
inline void PrintTo(const ConformanceBackend& b, std::ostream* os) {
  *os << b.name;
}
}  // namespace ipsx::ledger

namespace ipsx::ledger::conformance {

using crypto::PrivateKey;
using crypto::Signature;
using Loc = std::source_location;

// ---- Constants of the test genesis ------------------------------------------------------------
inline constexpr int64_t kGenesisMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
inline constexpr int64_t kDayMs = 86'400'000;
inline constexpr int64_t kChallengeMs = 60'000;     // the shortest allowed (the clock is moved)
inline constexpr uint64_t kRate = 10'000;           // IPSX base units per native base unit
inline constexpr uint64_t kHardCapNative = 50;      // whole native tokens
inline constexpr uint64_t kDevNative = 100;         // whole native tokens per account
inline constexpr uint64_t kFundTokens = 1'000'000;  // IPSX sent to each funded account
inline constexpr uint64_t kWalletTokens = 100'000;  // of which deposited into its wallet
inline constexpr uint16_t kFeeBps = 250;            // the market's commission: 2.5 %
inline constexpr size_t kDevs = 8;
inline constexpr uint64_t kOfferPrice = 1'000'000'000'000;  // 1e12 base units per second
inline constexpr uint64_t kMaxPrice = 2'000'000'000'000;
inline constexpr uint64_t kDealPrice = 1'500'000'000'000;
inline constexpr uint64_t kDuration = 3600;
inline constexpr size_t kAll = 1'000'000;  // a query limit larger than any list here

// ---- Amounts ----------------------------------------------------------------------------------
inline Amount tokens(uint64_t n) {
  return Amount::from_tokens(n).value();
}
inline Amount units(const U256& n) {
  return Amount::from_base(n);
}
inline Amount plus(const Amount& a, const Amount& b) {
  return a.add(b).value();
}
inline Amount minus(const Amount& a, const Amount& b) {
  return a.sub(b).value();
}
// fee = floor(delta * bps / 10000), as docs/ledger.md takes the market's commission.
inline Amount commission(const Amount& delta, uint16_t bps) {
  return delta.mul_div(U256(bps), U256(10'000)).value();
}
inline U256 u256(std::string_view dec) {
  return U256::from_dec(dec).value();
}
// Exact text of an amount for comparisons with readable failures: base units and tokens.
inline std::string show(const Amount& a) {
  return a.base().to_dec() + " (" + a.to_string() + " tokens)";
}
#define EXPECT_AMOUNT(actual, expected) \
  EXPECT_EQ(::ipsx::ledger::conformance::show(actual), ::ipsx::ledger::conformance::show(expected))

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Thrown after a failure is recorded when the test cannot sensibly go on (an expected success
// was rejected, an expected rejection was accepted): gtest reports it and ends the test.
struct StepFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The value of a query, or a recorded failure at the caller's line and an end of the test.
template <class T>
T must(Result<T> r, Loc loc = Loc::current()) {
  if (!r) {
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "unexpected error: " << r.error().message() << " [" << r.error().code().message() << "]";
    throw StepFailed(r.error().message());
  }
  return std::move(*r);
}

// ---- Events -----------------------------------------------------------------------------------
// Event fields are text (ledger.h); the spec fixes their names, not the number format. Amounts
// are accepted as decimal base units, 0x-hex base units or exact decimal token text; addresses
// and hashes as hex in any case.
inline bool amount_text_matches(const std::string& text, const Amount& want) {
  if (text == want.base().to_dec() || text == want.to_string()) return true;
  auto v = U256::parse(text);
  return v && *v == want.base();
}

inline ::testing::AssertionResult field_is_amount(const Event& e, std::string_view name,
                                                  const Amount& want) {
  std::string text = e.field(name);
  if (amount_text_matches(text, want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(e.kind) << "." << name << " is '" << text
                                       << "', want " << show(want) << " in " << e.to_string();
}

inline ::testing::AssertionResult field_is_number(const Event& e, std::string_view name,
                                                  const U256& want) {
  std::string text = e.field(name);
  auto v = U256::parse(text);
  if (v && *v == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(e.kind) << "." << name << " is '" << text
                                       << "', want " << want.to_dec() << " in " << e.to_string();
}

inline bool hex_text_matches(const std::string& text, const std::string& want_lower_hex) {
  std::string t = lower(text);
  if (t.rfind("0x", 0) != 0) t = "0x" + t;
  return t == want_lower_hex;
}

inline ::testing::AssertionResult field_is_address(const Event& e, std::string_view name,
                                                   const Address& want) {
  std::string text = e.field(name);
  if (hex_text_matches(text, want.to_lower_hex())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(e.kind) << "." << name << " is '" << text
                                       << "', want " << want.to_string() << " in " << e.to_string();
}

inline ::testing::AssertionResult field_is_hash(const Event& e, std::string_view name,
                                                const Hash& want) {
  std::string text = e.field(name);
  if (hex_text_matches(text, want.hex())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(e.kind) << "." << name << " is '" << text
                                       << "', want " << want.hex() << " in " << e.to_string();
}

inline ::testing::AssertionResult field_is_text(const Event& e, std::string_view name,
                                                const std::string& want) {
  std::string text = e.field(name);
  if (text == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(e.kind) << "." << name << " is '" << text
                                       << "', want '" << want << "' in " << e.to_string();
}

// The close reason, by name (to_string(CloseReason)) or by number.
inline ::testing::AssertionResult field_is_reason(const Event& e, CloseReason want) {
  std::string text = e.field("reason");
  if (text == to_string(want) || text == std::to_string(static_cast<int>(want))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "reason is '" << text << "', want '" << to_string(want) << "' in " << e.to_string();
}

// The one event of `kind` among `events`; a failure and the end of the test if there is none.
inline const Event& the_event(const std::vector<Event>& events, EventKind kind,
                              Loc loc = Loc::current()) {
  const Event* found = nullptr;
  int n = 0;
  for (const Event& e : events) {
    if (e.kind == kind) {
      found = &e;
      ++n;
    }
  }
  if (n != 1) {
    std::ostringstream all;
    for (const Event& e : events) all << "\n  " << e.to_string();
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "want exactly one " << to_string(kind) << " event, found " << n << ":" << all.str();
    throw StepFailed("missing event");
  }
  return *found;
}

// ---- Orders -----------------------------------------------------------------------------------
// A deal's parties' wallets and the deal itself at one moment.
struct DealMoney {
  DealView deal;
  WalletView provider, requester, market;
};

// ---- Genesis ----------------------------------------------------------------------------------
struct GenesisOptions {
  int64_t sale_delay_ms = 0;  // sale start - genesis time
  int64_t sale_length_ms = kDayMs;
  uint64_t hard_cap_native = kHardCapNative;
  uint64_t soft_cap_native = 0;  // none
  int64_t challenge_ms = kChallengeMs;
};

// ---- The fixture ------------------------------------------------------------------------------
class LedgerConformance : public ::testing::TestWithParam<ConformanceBackend> {
 protected:
  void SetUp() override { start(GenesisOptions{}); }

  // (Re)creates every key, the genesis and a fresh ledger on the backend under test.
  void start(const GenesisOptions& opt) {
    harness_.reset();
    keys_.clear();
    accounts_.clear();
    pairs_.clear();
    cancels_.clear();
    deals_.clear();
    probes_.clear();
    for (size_t i = 0; i < 7 + kDevs; ++i) keys_.push_back(must(PrivateKey::generate()));
    GenesisConfig g;
    g.chain_id = 1337;
    g.time = from_unix_ms(kGenesisMs);
    g.early_adopters = early().address();
    g.bounty = bounty().address();
    g.team = team().address();
    g.sale.rate = U256(kRate);
    g.sale.hard_cap = tokens(opt.hard_cap_native);
    g.sale.soft_cap = tokens(opt.soft_cap_native);
    g.sale.start = from_unix_ms(kGenesisMs + opt.sale_delay_ms);
    g.sale.end = from_unix_ms(kGenesisMs + opt.sale_delay_ms + opt.sale_length_ms);
    g.sale.treasury = treasury().address();
    g.challenge_period = Millis(opt.challenge_ms);
    // Every account but the treasury has native coin (a backend on a real chain may need it for
    // fees); the treasury starts at zero so that it holds exactly what the sale raised.
    for (const PrivateKey* k : {&early(), &bounty(), &team(), &market(), &buyer()}) {
      g.native.emplace_back(k->address(), tokens(kDevNative));
    }
    for (size_t i = 0; i < kDevs; ++i) g.native.emplace_back(dev(i).address(), tokens(kDevNative));
    native_total_ = Amount();
    for (const auto& [a, amount] : g.native) native_total_ = plus(native_total_, amount);
    genesis_ = g;
    for (const PrivateKey& k : keys_) track(k.address());
    auto h = GetParam().make(g);
    ASSERT_TRUE(h) << GetParam().name << " refused the genesis: " << h.error().message();
    harness_ = std::move(*h);
    ASSERT_NE(harness_, nullptr);
    ASSERT_EQ(to_unix_ms(harness_->now()), kGenesisMs);
  }

  Ledger& L() { return harness_->ledger(); }
  LedgerHarness& H() { return *harness_; }
  const GenesisConfig& genesis() const { return genesis_; }

  // ---- Actors ----
  const PrivateKey& early() const { return keys_[0]; }
  const PrivateKey& bounty() const { return keys_[1]; }
  const PrivateKey& team() const { return keys_[2]; }
  const PrivateKey& treasury() const { return keys_[3]; }
  const PrivateKey& market() const { return keys_[4]; }
  const PrivateKey& buyer() const { return keys_[5]; }  // buys in finalize_and_fund()
  const PrivateKey& spare() const { return keys_[6]; }  // no native coin, no tokens
  const PrivateKey& dev(size_t i) const { return keys_[7 + i]; }
  const PrivateKey& P() const { return dev(0); }   // provider
  const PrivateKey& R() const { return dev(1); }   // requester
  const PrivateKey& P2() const { return dev(2); }  // second provider
  const PrivateKey& R2() const { return dev(3); }  // second requester
  const PrivateKey& S() const { return dev(7); }   // stranger: native coin only (unless funded)

  // ---- Time ----
  void advance_ms(int64_t ms) { H().advance(Millis(ms)); }
  int64_t now_ms() const { return to_unix_ms(harness_->now()); }
  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(harness_->now())); }
  // Moves the clock to exactly the end of the sale window.
  void advance_to_sale_end() {
    int64_t end = to_unix_ms(genesis_.sale.end);
    ASSERT_LE(now_ms(), end);
    advance_ms(end - now_ms());
  }

  // ---- Queries (a failed query ends the test) ----
  Amount balance(const Address& a) { return must(L().balance_of(a)); }
  Amount native(const Address& a) { return must(L().native_balance(a)); }
  Amount allowance(const Address& o, const Address& s) { return must(L().allowance(o, s)); }
  WalletView wallet(const Address& a) { return must(L().wallet(a)); }
  uint64_t nonce(const Address& a) { return must(L().nonce_of(a)); }
  SaleView sale() { return must(L().sale()); }
  DealView deal(const Hash& id) { return must(L().deal(id)); }
  RatingView rating(const Address& a) { return must(L().rating(a)); }
  DealMoney money(const Hash& id) {
    DealView d = deal(id);
    return DealMoney{d, wallet(d.provider), wallet(d.requester), wallet(d.market)};
  }

  // ---- Transactions ----
  SignedTx sign_tx(const PrivateKey& key, const UnsignedTx& tx) {
    return SignedTx{tx, must(crypto::sign(key, tx.digest))};
  }
  // prepare(from = key's address) and sign with the same key.
  SignedTx make_tx(const PrivateKey& key, Op op, std::optional<uint64_t> nonce = std::nullopt) {
    return sign_tx(key, must(L().prepare(key.address(), std::move(op), nonce)));
  }

  // Submits a transaction that must be accepted: checks its receipt's id and the invariants.
  Receipt exec_tx(const SignedTx& stx, Loc loc = Loc::current()) {
    ::testing::ScopedTrace trace(loc.file_name(), static_cast<int>(loc.line()), "exec");
    note(stx.tx.from, stx.tx.op);
    auto r = L().submit(stx);
    if (!r) {
      ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
          << op_name(stx.tx.op) << " by " << stx.tx.from.to_string()
          << " was rejected: " << r.error().message() << " [" << r.error().code().message() << "]";
      throw StepFailed("unexpected rejection");
    }
    if (r->deal_id) deals_.insert(*r->deal_id);
    for (const Event& e : r->events)  // a batch's deals
      if (e.kind == EventKind::deal_opened && e.deal) deals_.insert(*e.deal);
    EXPECT_EQ(r->tx_id, stx.id());
    // A chain's own transaction hash where the backend has one (Ethereum), and only there.
    EXPECT_EQ(r->chain_tx.has_value(), L().kind() == "ethereum");
    check_invariants(loc);
    return std::move(*r);
  }
  // Submits every op with submit_as(key), back to back, runs `queued` once all are submitted,
  // and waits for all their answers.
  std::vector<Result<Receipt>> submit_all_as(std::shared_ptr<const PrivateKey> key,
                                             std::vector<Op> ops,
                                             const std::function<void()>& queued = {}) {
    std::vector<std::promise<Result<Receipt>>> done(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      note(key->address(), ops[i]);
      L().submit_as(key, std::move(ops[i]),
                    [&done, i](Result<Receipt> r) { done[i].set_value(std::move(r)); });
    }
    if (queued) queued();
    std::vector<Result<Receipt>> out;
    for (auto& d : done) {
      out.push_back(d.get_future().get());
      if (!out.back()) continue;
      for (const Event& e : out.back()->events)
        if (e.kind == EventKind::deal_opened && e.deal) deals_.insert(*e.deal);
    }
    return out;
  }
  Receipt exec(const PrivateKey& key, Op op, Loc loc = Loc::current()) {
    return exec_tx(make_tx(key, std::move(op)), loc);
  }

  // Submits a transaction that must be rejected with `want`, and checks that the whole
  // observable state (including the sender's nonce and history) is unchanged.
  void expect_rejected_tx(const SignedTx& stx, LedgerErrc want, Loc loc = Loc::current()) {
    expect_rejected_tx(stx, want, std::nullopt, loc);
  }
  // FIELD, if given: the input at fault the error names as a value (Error::field), on every
  // backend ("offer", "request", "offer.minRequesterRating": the market decides by it).
  void expect_rejected_tx(const SignedTx& stx, LedgerErrc want, std::optional<std::string> field,
                          Loc loc) {
    ::testing::ScopedTrace trace(loc.file_name(), static_cast<int>(loc.line()),
                                 std::string("expect_rejected ") + op_name(stx.tx.op));
    note(stx.tx.from, stx.tx.op);
    std::string before = snapshot(stx.tx.from);
    auto r = L().submit(stx);
    if (r) {
      if (r->deal_id) deals_.insert(*r->deal_id);
      ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
          << op_name(stx.tx.op) << " was accepted; want " << make_error_code(want).message();
      throw StepFailed("unexpected acceptance");
    }
    EXPECT_EQ(r.error().code(), make_error_code(want))
        << "got '" << r.error().code().message() << "' (" << r.error().message() << "), want '"
        << make_error_code(want).message() << "'";
    EXPECT_FALSE(r.error().message().empty());
    if (field) {
      EXPECT_EQ(r.error().field(), *field)
          << "the error names the wrong input at fault (" << r.error().message() << ")";
    }
    std::string after = snapshot(stx.tx.from);
    EXPECT_EQ(before, after) << "a rejected " << op_name(stx.tx.op) << " changed the state";
  }
  void expect_rejected(const PrivateKey& key, Op op, LedgerErrc want, Loc loc = Loc::current()) {
    expect_rejected_tx(make_tx(key, std::move(op)), want, loc);
  }
  void expect_rejected_at(const PrivateKey& key, Op op, LedgerErrc want, std::string field,
                          Loc loc = Loc::current()) {
    expect_rejected_tx(make_tx(key, std::move(op)), want, std::move(field), loc);
  }

  // ---- Tracking what the snapshots and invariants look at ----
  void track(const Address& a) {
    if (std::find(accounts_.begin(), accounts_.end(), a) == accounts_.end()) {
      accounts_.push_back(a);
    }
  }
  // Remembers what an operation may touch, so that snapshots compare it.
  void note(const Address& from, const Op& op) {
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Transfer>) {
            if (!o.to.is_zero()) track(o.to);
          } else if constexpr (std::is_same_v<T, Approve>) {
            pairs_.insert({from, o.spender});
          } else if constexpr (std::is_same_v<T, TransferFrom>) {
            pairs_.insert({o.owner, from});
            if (!o.to.is_zero()) track(o.to);
          } else if constexpr (std::is_same_v<T, CancelOrder>) {
            cancels_.insert({from, o.order_hash});
          } else if constexpr (std::is_same_v<T, OpenDeal>) {
            Hash oh = o.offer.struct_hash(), rh = o.request.struct_hash();
            cancels_.insert({o.offer.provider, oh});
            cancels_.insert({o.request.requester, rh});
            for (uint64_t fill = 0; fill < 4; ++fill) probes_.insert(deal_id_for(oh, rh, fill));
          } else if constexpr (std::is_same_v<T, Claim> || std::is_same_v<T, CloseDeal> ||
                               std::is_same_v<T, CooperativeClose> ||
                               std::is_same_v<T, UncooperativeClose> || std::is_same_v<T, Settle> ||
                               std::is_same_v<T, Rate>) {
            probes_.insert(o.deal_id);
          } else if constexpr (std::is_same_v<T, Batch>) {
            for (const Op& inner : o.ops) note(from, inner);
          }
        },
        op);
  }

  // Everything observable that a transaction could change, one line per entry. The sender's
  // transaction and event history is included (a rejected transaction is not recorded).
  std::string snapshot(const Address& sender) {
    std::ostringstream o;
    auto amt = [](const Result<Amount>& r) {
      return r ? r->base().to_dec() : "error:" + r.error().code().message();
    };
    if (auto s = L().sale()) {
      o << "sale raised=" << s->raised.base().to_dec() << " sold=" << s->sold.base().to_dec()
        << " pool=" << s->pool.base().to_dec() << " unclaimed=" << s->unclaimed.base().to_dec()
        << " finalized=" << s->finalized << " rate=" << s->rate.to_dec()
        << " cap=" << s->hard_cap.base().to_dec() << " window=" << s->start_ms << ".." << s->end_ms
        << " treasury=" << s->treasury.to_lower_hex() << "\n";
    } else {
      o << "sale error\n";
    }
    if (auto s = L().supply()) {
      o << "supply accounts=" << s->accounts.base().to_dec()
        << " wallets=" << s->wallet_balances.base().to_dec()
        << " reserved=" << s->wallet_reserved.base().to_dec()
        << " pool=" << s->sale_pool.base().to_dec() << " unclaimed=" << s->unclaimed.base().to_dec()
        << " total=" << s->total.base().to_dec() << "\n";
    } else {
      o << "supply error\n";
    }
    std::vector<Address> who = accounts_;
    if (std::find(who.begin(), who.end(), sender) == who.end()) who.push_back(sender);
    for (const Address& a : who) {
      o << "account " << a.to_lower_hex() << " balance=" << amt(L().balance_of(a))
        << " native=" << amt(L().native_balance(a)) << " bought=" << amt(L().bought(a));
      if (auto n = L().nonce_of(a)) o << " nonce=" << *n;
      if (auto w = L().wallet(a)) {
        o << " wallet=" << w->balance.base().to_dec() << "/" << w->reserved.base().to_dec();
      }
      if (auto r = L().rating(a)) o << " rating=" << r->count << "/" << r->sum;
      if (a == sender) {
        if (auto t = L().transactions_of(a, kAll)) o << " txs=" << t->size();
        if (auto e = L().events_of_account(a, kAll)) o << " events=" << e->size();
      }
      o << "\n";
    }
    for (const auto& [owner, spender] : pairs_) {
      o << "allowance " << owner.to_lower_hex() << " " << spender.to_lower_hex() << " = "
        << amt(L().allowance(owner, spender)) << "\n";
    }
    for (const auto& [owner, hash] : cancels_) {
      auto c = L().order_cancelled(owner, hash);
      o << "cancelled " << owner.to_lower_hex() << " " << hash.hex() << " = "
        << (c ? (*c ? "yes" : "no") : "error") << "\n";
    }
    std::set<Hash> ids(deals_.begin(), deals_.end());
    ids.insert(probes_.begin(), probes_.end());
    for (const Hash& id : ids) {
      o << "deal " << id.hex();
      if (auto d = L().deal(id)) {
        o << " state=" << to_string(d->state) << " deposit=" << d->deposit.base().to_dec()
          << " claimed=" << d->claimed.base().to_dec()
          << " admitted=" << d->admitted.base().to_dec()
          << " challenge_ends=" << d->challenge_ends_ms << " reason=" << to_string(d->reason)
          << " rated=" << d->rated_by_provider << d->rated_by_requester << " start=" << d->start
          << " duration=" << d->duration;
        if (auto ev = L().events_of_deal(id)) o << " events=" << ev->size();
      } else {
        o << " error:" << d.error().code().message();
      }
      o << "\n";
    }
    return o.str();
  }

  // The conservation invariant of docs/ledger.md, checked after every accepted transaction:
  // the supply's parts sum to 1.8e9 IPSX, agree with the accounts, wallets and sale, the native
  // coin is conserved, and each requester's reserve is the sum of its unclosed deals' remainder.
  void check_invariants(Loc loc = Loc::current()) {
    ::testing::ScopedTrace trace(loc.file_name(), static_cast<int>(loc.line()), "invariants");
    SupplyView s = must(L().supply());
    EXPECT_TRUE(s.conserved());
    EXPECT_AMOUNT(s.total, tokens(kTotalSupplyTokens));
    EXPECT_AMOUNT(must(L().total_supply()), tokens(kTotalSupplyTokens));
    Amount parts =
        plus(plus(plus(s.accounts, s.wallet_balances), plus(s.wallet_reserved, s.sale_pool)),
             s.unclaimed);
    EXPECT_AMOUNT(parts, s.total);
    SaleView sv = sale();
    EXPECT_AMOUNT(s.sale_pool, sv.pool);
    EXPECT_AMOUNT(s.unclaimed, sv.unclaimed);
    Amount balances, wallet_balances, reserved, natives;
    std::map<Address, Amount> want_reserved;
    for (const Hash& id : deals_) {
      DealView d = deal(id);
      if (d.state != DealState::closed) {
        want_reserved[d.requester] = plus(want_reserved[d.requester], minus(d.deposit, d.claimed));
      }
    }
    for (const Address& a : accounts_) {
      balances = plus(balances, balance(a));
      WalletView w = wallet(a);
      wallet_balances = plus(wallet_balances, w.balance);
      reserved = plus(reserved, w.reserved);
      natives = plus(natives, native(a));
      EXPECT_AMOUNT(w.reserved, want_reserved[a]) << "reserve of " << a.to_string();
    }
    EXPECT_AMOUNT(balances, s.accounts);
    EXPECT_AMOUNT(wallet_balances, s.wallet_balances);
    EXPECT_AMOUNT(reserved, s.wallet_reserved);
    // With a soft cap the sale holds what it raised until finalize pays the treasury.
    const bool held = !sv.soft_cap.is_zero() && !sv.finalized;
    EXPECT_AMOUNT(plus(natives, held ? sv.raised : Amount()), native_total_);
  }

  // ---- The sale and funding ----
  // Sale bought by buyer(), window over, finalized, unsold claimed; then each of the first
  // `funded` dev accounts gets kFundTokens from the early adopters and deposits kWalletTokens.
  void finalize_and_fund(size_t funded = 4) {
    exec(buyer(), Buy{tokens(10)});
    advance_to_sale_end();
    exec(buyer(), FinalizeSale{});
    exec(buyer(), ClaimUnsold{});
    for (size_t i = 0; i < funded; ++i) {
      exec(early(), Transfer{dev(i).address(), tokens(kFundTokens)});
      exec(dev(i), Deposit{tokens(kWalletTokens)});
    }
  }

  // ---- Orders and proofs ----
  Signature sign_struct(const PrivateKey& key, const Hash& struct_hash) {
    return must(crypto::sign(key, crypto::eip712::digest(L().domain().separator(), struct_hash)));
  }
  Signature proof_sig(const PrivateKey& signer, const Hash& deal_id, const Amount& amount) {
    return sign_struct(signer, BalanceProof{deal_id, amount.base()}.struct_hash());
  }
  Signature consent_sig(const PrivateKey& signer, const Hash& deal_id, const Amount& amount) {
    return sign_struct(signer, ClosingConsent{deal_id, amount.base()}.struct_hash());
  }

  // A valid offer of one German residential IP that fits request_of(): price kOfferPrice,
  // durations 60 s .. 1 day, capacity 1, the fixture's market and fee, valid for a day.
  Offer offer_of(const PrivateKey& provider) {
    Offer o;
    o.provider = provider.address();
    std::string ip = "203.0.113." + std::to_string(1 + order_nonce_ % 250);
    o.ip = must(parse_ip(ip));
    o.country = must(parse_country("DE"));
    o.region = "Berlin";
    o.asn = 3320;
    o.ip_type = IpType::residential;
    o.protocols = protocol::http | protocol::socks5;
    o.scopes = scope::crawling | scope::general;
    o.bandwidth_kbps = 50'000;
    o.capacity = 1;
    o.available_from = 0;
    o.available_until = 0;
    o.min_duration = 60;
    o.max_duration = 86'400;
    o.price_per_second = U256(kOfferPrice);
    o.market = market().address();
    o.fee_bps = kFeeBps;
    o.min_requester_rating = 0;
    o.expiry = now_s() + 86'400;
    o.nonce = ++order_nonce_;
    return o;
  }
  // A valid request for one IP in DE or NL, http, for crawling, kDuration seconds from now, at
  // most kMaxPrice, budget 1000 IPSX.
  Request request_of(const PrivateKey& requester) {
    Request r;
    r.requester = requester.address();
    r.count = 1;
    r.countries = {must(parse_country("DE")), must(parse_country("NL"))};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.start = 0;
    r.duration = kDuration;
    r.max_price_per_second = U256(kMaxPrice);
    r.budget = tokens(1000).base();
    r.market = market().address();
    r.fee_bps = kFeeBps;
    r.expiry = now_s() + 86'400;
    r.nonce = ++order_nonce_;
    return r;
  }
  // openDeal with both orders signed by the given keys (normally their owners).
  OpenDeal open_op(const PrivateKey& offer_signer, const Offer& offer,
                   const PrivateKey& request_signer, const Request& request,
                   const U256& price = U256(kDealPrice)) {
    return OpenDeal{offer, sign_struct(offer_signer, offer.struct_hash()), request,
                    sign_struct(request_signer, request.struct_hash()), price};
  }
  // Opens a deal (sent by the market), checks its id against the formula and returns it.
  Hash open_deal(const PrivateKey& provider, const Offer& offer, const PrivateKey& requester,
                 const Request& request, const U256& price = U256(kDealPrice), uint64_t fill = 0,
                 Loc loc = Loc::current()) {
    Receipt r = exec(market(), open_op(provider, offer, requester, request, price), loc);
    if (!r.deal_id) {
      ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line())) << "openDeal without deal_id";
      throw StepFailed("no deal id");
    }
    EXPECT_EQ(*r.deal_id, deal_id_for(offer.struct_hash(), request.struct_hash(), fill));
    return *r.deal_id;
  }
  // Two deals of P's on two of its IPs: the standard deal with R, and one with R2.
  std::pair<Hash, Hash> two_deals_of_P() {
    Hash a = open_deal(P(), offer_of(P()), R(), request_of(R()));
    Offer second = offer_of(P());
    second.nonce += 1;
    second.ip = must(parse_ip("198.51.100.77"));
    return {a, open_deal(P(), second, R2(), request_of(R2()))};
  }
  // The standard deal: offer_of(P) x request_of(R) at kDealPrice for kDuration.
  Hash open_standard_deal(Loc loc = Loc::current()) {
    return open_deal(P(), offer_of(P()), R(), request_of(R()), U256(kDealPrice), 0, loc);
  }
  static Amount standard_deposit() { return units(U256(kDealPrice * kDuration)); }

  // Checks a payout against docs/ledger.md: the deal's claimed is now `claimed`; the increment
  // Δ went fee = ⌊Δ·feeBps/10000⌋ to the market's wallet, Δ − fee to the provider's, out of the
  // requester's reserve; if the deal closed, deposit − claimed returned to the requester's
  // wallet balance.
  void expect_payout(const DealMoney& before, const Hash& id, const Amount& claimed, bool closed,
                     Loc loc = Loc::current()) {
    ::testing::ScopedTrace trace(loc.file_name(), static_cast<int>(loc.line()), "payout");
    DealMoney after = money(id);
    Amount delta = minus(claimed, before.deal.claimed);
    Amount fee = commission(delta, before.deal.fee_bps);
    Amount refund = closed ? minus(before.deal.deposit, claimed) : Amount();
    EXPECT_AMOUNT(after.deal.claimed, claimed);
    EXPECT_EQ(after.deal.state == DealState::closed, closed);
    EXPECT_AMOUNT(after.provider.balance, plus(before.provider.balance, minus(delta, fee)));
    EXPECT_AMOUNT(after.provider.reserved, before.provider.reserved);
    EXPECT_AMOUNT(after.market.balance, plus(before.market.balance, fee));
    EXPECT_AMOUNT(after.requester.reserved, minus(minus(before.requester.reserved, delta), refund));
    EXPECT_AMOUNT(after.requester.balance, plus(before.requester.balance, refund));
  }

 private:
  std::vector<PrivateKey> keys_;
  std::unique_ptr<LedgerHarness> harness_;
  GenesisConfig genesis_;
  Amount native_total_;
  uint64_t order_nonce_ = 0;
  std::vector<Address> accounts_;                // every account that may hold anything
  std::set<std::pair<Address, Address>> pairs_;  // (owner, spender) allowances to compare
  std::set<std::pair<Address, Hash>> cancels_;   // (owner, order) cancellations to compare
  std::set<Hash> deals_;                         // deals that exist (from receipts)
  std::set<Hash> probes_;                        // ids an operation named (may not exist)
};

}  // namespace ipsx::ledger::conformance
