// The state machine alone: deterministic, no signatures, no disk, no threads.
#include "ledger/state.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "core/keccak.h"

namespace ipsx::ledger {
namespace {

Address addr(int i) {
  return crypto::PrivateKey::from_bytes(keccak256(std::to_string(i)).view())->address();
}

GenesisConfig genesis() {
  GenesisConfig g;
  g.time = from_unix_ms(0);
  g.early_adopters = addr(1);
  g.bounty = addr(2);
  g.team = addr(3);
  g.sale = {U256(10'000),    Amount::from_tokens(1000).value(),
            from_unix_ms(0), from_unix_ms(1000),
            addr(4),         Amount()};
  for (int i = 10; i < 14; ++i) g.native.emplace_back(addr(i), Amount::from_tokens(50).value());
  return g;
}

UnsignedTx tx(State& s, const Address& from, Op op) {
  UnsignedTx t;
  t.chain_id = s.chain_id();
  t.from = from;
  t.nonce = s.nonce_of(from);
  t.op = std::move(op);
  return t;
}

TEST(State, GenesisPutsEveryTokenInItsPlace) {
  State s = State::genesis(genesis()).value();
  SupplyView v = s.supply();
  EXPECT_TRUE(v.conserved());
  EXPECT_EQ(v.total.to_string(), "1800000000");
  EXPECT_EQ(v.sale_pool.to_string(), "900000000");
  EXPECT_EQ(s.balance_of(addr(1)).to_string(), "495000000");
  EXPECT_EQ(s.balance_of(addr(2)).to_string(), "45000000");
  EXPECT_EQ(s.balance_of(addr(3)).to_string(), "360000000");
  EXPECT_EQ(s.recompute_digest(), s.digest());
  EXPECT_TRUE(s.check_invariants());
}

// Random operations, valid and not, applied to two states: the same inputs give the same digest
// (determinism), the incremental digest always equals the recomputed one, the invariants hold,
// and a rejected operation leaves the digest untouched.
TEST(State, RandomOperationsKeepDigestsAndInvariants) {
  State a = State::genesis(genesis()).value();
  State b = State::genesis(genesis()).value();
  std::mt19937_64 rng(99);
  int64_t now = 0;
  int accepted = 0, rejected = 0;
  for (int step = 0; step < 3000; ++step) {
    now += static_cast<int64_t>(rng() % 5);
    Address from = addr(1 + static_cast<int>(rng() % 13));
    Address to = addr(1 + static_cast<int>(rng() % 13));
    Amount amount = Amount::from_base(*U256(rng() % 3)
                                           .checked_mul(U256(1'000'000'000'000'000'000ull))
                                           ->checked_add(U256(rng() % 1000)));
    Op op;
    switch (rng() % 9) {
      case 0:
        op = Transfer{to, amount};
        break;
      case 1:
        op = Approve{to, amount};
        break;
      case 2:
        op = TransferFrom{to, from, amount};
        break;
      case 3:
        op = Buy{
            Amount::from_base(*U256(rng() % 5).checked_mul(U256(1'000'000'000'000'000'000ull)))};
        break;
      case 4:
        op = FinalizeSale{};
        break;
      case 5:
        op = ClaimUnsold{};
        break;
      case 6:
        op = Deposit{amount};
        break;
      case 7:
        op = Withdraw{amount};
        break;
      default: {
        // A batch of wallet operations and cancellations: the later ones often fail after the
        // earlier ones changed entries, which must all come back.
        Batch b;
        for (size_t n = 1 + rng() % 4; n > 0; --n) {
          Amount x =
              Amount::from_base(*U256(rng() % 3).checked_mul(U256(1'000'000'000'000'000'000ull)));
          switch (rng() % 3) {
            case 0:
              b.ops.push_back(Deposit{x});
              break;
            case 1:
              b.ops.push_back(Withdraw{x});
              break;
            default:
              b.ops.push_back(CancelOrder{keccak256(std::to_string(rng() % 4))});
          }
        }
        op = std::move(b);
        break;
      }
    }
    if (step == 1500) now = 2000;  // past the sale window
    Hash before = a.digest();
    auto ra = a.apply(tx(a, from, op), now);
    auto rb = b.apply(tx(b, from, op), now);
    ASSERT_EQ(static_cast<bool>(ra), static_cast<bool>(rb));
    if (ra) {
      ++accepted;
    } else {
      ++rejected;
      EXPECT_EQ(a.digest(), before) << "a rejected " << op_name(op) << " changed the state";
    }
    ASSERT_EQ(a.digest(), b.digest());
    // After every transaction: an account's term joins the sum once, at the transaction's end.
    ASSERT_EQ(a.recompute_digest(), a.digest()) << "step " << step << ", " << op_name(op);
    if (step % 100 == 0) {
      ASSERT_TRUE(a.check_invariants()) << a.check_invariants().error().message();
    }
  }
  EXPECT_GT(accepted, 300);
  EXPECT_GT(rejected, 300);
  EXPECT_EQ(a.recompute_digest(), a.digest());
}

TEST(State, WrongChainAndNonceAreCheckedFirst) {
  State s = State::genesis(genesis()).value();
  UnsignedTx t = tx(s, addr(10), Buy{Amount::from_tokens(1).value()});
  t.chain_id = 99;
  EXPECT_EQ(s.apply(t, 10).error().code(), LedgerErrc::wrong_chain);
  t.chain_id = s.chain_id();
  t.nonce = 1;
  auto skipped = s.apply(t, 10);
  EXPECT_EQ(skipped.error().code(), LedgerErrc::bad_nonce);
  EXPECT_NE(skipped.error().message().find("skipped"), std::string::npos);
  t.nonce = 0;
  ASSERT_TRUE(s.apply(t, 10));
  auto replayed = s.apply(t, 10);
  EXPECT_EQ(replayed.error().code(), LedgerErrc::bad_nonce);
  EXPECT_NE(replayed.error().message().find("replayed"), std::string::npos);
}

// Regression: EthereumLedger::supply() dropped the contract's `conserved` flag, and parts that
// sum to the total were called conserved even when the contracts' holdings disagree.
TEST(SupplyView, PartsThatSumToTheTotalAreNotConservedIfTheHoldingsDisagree) {
  SupplyView v = State::genesis(genesis()).value().supply();
  ASSERT_TRUE(v.conserved());
  v.holdings_match = false;
  EXPECT_FALSE(v.conserved());
  v.holdings_match = true;
  v.unclaimed = Amount::from_base(U256(1));
  EXPECT_FALSE(v.conserved());
}

// Regression: uncooperativeClose added the challenge period to the block time unchecked, so a
// clock near the end of int64 milliseconds wrapped the challenge's end into the past. It is
// `overflow` now, and nothing changes (the contract answers Overflow likewise past uint64 seconds).
TEST(State, AChallengeEndBeyondTheClocksRangeIsOverflowNotAWrap) {
  auto key = [](int i) {
    return crypto::PrivateKey::from_bytes(keccak256("k" + std::to_string(i)).view()).value();
  };
  const crypto::PrivateKey provider = key(1), requester = key(2), market = key(3);
  State s = State::genesis(genesis()).value();
  int64_t now = 2'000;  // after the sale window
  auto run = [&](const Address& from, Op op) {
    auto r = s.apply(tx(s, from, std::move(op)), now);
    EXPECT_TRUE(r) << r.error().message();
  };
  run(addr(4), FinalizeSale{});
  run(addr(1), Transfer{requester.address(), Amount::from_tokens(1000).value()});
  run(requester.address(), Deposit{Amount::from_tokens(1000).value()});
  Offer o;
  o.provider = provider.address();
  o.ip = parse_ip("203.0.113.7").value();
  o.country = parse_country("DE").value();
  o.protocols = protocol::http;
  o.scopes = scope::crawling;
  o.price_per_second = U256(10);
  o.market = market.address();
  o.expiry = 3600;
  Request r;
  r.requester = requester.address();
  r.protocols = protocol::http;
  r.scope = scope::crawling;
  r.duration = 60;
  r.max_price_per_second = U256(10);
  r.budget = U256(600);
  r.market = market.address();
  r.expiry = 3600;
  auto sign = [&](const crypto::PrivateKey& k, const Hash& h) {
    return crypto::sign(k, crypto::eip712::digest(s.domain_separator(), h)).value();
  };
  std::optional<Hash> id;
  ASSERT_TRUE(s.apply(tx(s, market.address(),
                         OpenDeal{o, sign(provider, o.struct_hash()), r,
                                  sign(requester, r.struct_hash()), U256(10)}),
                      now, &id));
  ASSERT_TRUE(id);

  const Hash before = s.digest();
  const int64_t end_of_time = std::numeric_limits<int64_t>::max() - 1'000;
  UnsignedTx close =
      tx(s, requester.address(), UncooperativeClose{*id, Amount(), CloseReason::unpaid});
  auto late = s.apply(close, end_of_time);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), LedgerErrc::overflow) << late.error().message();
  EXPECT_EQ(s.digest(), before);
  EXPECT_EQ(s.deal(*id)->state, DealState::open);
  // The last moment whose end still fits is fine.
  const int64_t last = std::numeric_limits<int64_t>::max() - genesis().challenge_period.count();
  ASSERT_TRUE(s.apply(close, last));
  EXPECT_EQ(s.deal(*id)->challenge_ends_ms, std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace ipsx::ledger
