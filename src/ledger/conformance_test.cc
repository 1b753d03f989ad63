// The ledger conformance suite: docs/ledger.md, operation by operation, rejection by rejection,
// against every backend conformance_backends() lists (test names carry the backend's name).
// Written only against Ledger and LedgerHarness; the helpers are in conformance_util.h.
//
// Every accepted transaction is followed by the invariant check (supply conserved and equal to
// 1.8e9 IPSX, parts agreeing with accounts, wallets, the sale and open deals); every rejected one
// must give its own error code and leave the whole observable state as it was, nonce included.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "ledger/conformance_util.h"
#include "vocab/usage.h"

namespace ipsx::ledger::conformance {
namespace {

// An operation that is valid at any time for anyone and needs no funds.
Op approve_op(const Address& spender, uint64_t n = 1) {
  return Approve{spender, tokens(n)};
}

Hash random_hash() {
  return keccak256(must(PrivateKey::generate()).secret());
}

// ==== Genesis ===================================================================================

TEST_P(LedgerConformance, GenesisCreatesTheFixedSupplyAndItsAllocations) {
  check_invariants();
  EXPECT_EQ(L().chain_id(), 1337u);
  EXPECT_EQ(L().domain().name, std::optional<std::string>("IPSX"));
  EXPECT_EQ(L().domain().version, std::optional<std::string>("1"));
  EXPECT_EQ(L().domain().chain_id, std::optional<U256>(U256(1337)));
  EXPECT_AMOUNT(balance(early().address()), tokens(kEarlyAdopterTokens));
  EXPECT_AMOUNT(balance(bounty().address()), tokens(kBountyTokens));
  EXPECT_AMOUNT(balance(team().address()), tokens(kTeamTokens));
  EXPECT_AMOUNT(balance(P().address()), Amount());
  SaleView s = sale();
  EXPECT_AMOUNT(s.pool, tokens(kSaleTokens));
  EXPECT_AMOUNT(s.unclaimed, Amount());
  EXPECT_AMOUNT(s.raised, Amount());
  EXPECT_AMOUNT(s.sold, Amount());
  EXPECT_EQ(s.rate, U256(kRate));
  EXPECT_AMOUNT(s.hard_cap, tokens(kHardCapNative));
  EXPECT_EQ(s.start_ms, kGenesisMs);
  EXPECT_EQ(s.end_ms, kGenesisMs + kDayMs);
  EXPECT_FALSE(s.finalized);
  EXPECT_EQ(s.treasury, treasury().address());
  EXPECT_AMOUNT(native(P().address()), tokens(kDevNative));
  EXPECT_AMOUNT(native(treasury().address()), Amount());
  EXPECT_EQ(nonce(P().address()), 0u);
  EXPECT_AMOUNT(wallet(P().address()).balance, Amount());
  EXPECT_AMOUNT(must(L().supply()).sale_pool, tokens(kSaleTokens));
  EXPECT_EQ(must(L().block(0)).timestamp_ms, kGenesisMs);
}

// Regression: the embedded ledger took any positive challenge period, the Ethereum deployment
// truncated milliseconds to seconds and its contract took any positive number of seconds (an
// enormous one made every uncooperative close revert). Every backend now refuses the same
// genesis with invalid_argument: the period is whole seconds, 60 s .. 30 days.
TEST_P(LedgerConformance, GenesisChallengePeriodMustBeWholeSecondsFrom60SecondsTo30Days) {
  const int64_t max = kMaxChallengePeriod.count();
  for (int64_t ms : {int64_t{0}, int64_t{-60'000}, int64_t{1'000}, int64_t{59'000}, int64_t{59'999},
                     int64_t{60'001}, int64_t{60'500}, int64_t{3'600'999}, max - 1, max + 1,
                     max + 1'000, int64_t{4'611'686'018'427'387'000}}) {
    SCOPED_TRACE("challenge_period_ms " + std::to_string(ms));
    GenesisConfig g = genesis();
    g.challenge_period = Millis(ms);
    auto h = GetParam().make(g);
    if (h) {
      ADD_FAILURE() << "the genesis was accepted";
      continue;
    }
    EXPECT_EQ(h.error().code(), make_error_code(LedgerErrc::invalid_argument))
        << h.error().message();
  }
}

// The longest period is allowed and holds a close that long, to the second.
TEST_P(LedgerConformance, GenesisChallengePeriodOf30DaysHoldsAnUncooperativeCloseThatLong) {
  GenesisOptions opt;
  opt.challenge_ms = kMaxChallengePeriod.count();
  start(opt);
  finalize_and_fund();
  Hash id = open_standard_deal();
  Receipt r = exec(R(), UncooperativeClose{id, units(1000), CloseReason::unpaid});
  const int64_t ends = must(L().block(r.block)).timestamp_ms + kMaxChallengePeriod.count();
  EXPECT_EQ(deal(id).challenge_ends_ms, ends);
  EXPECT_TRUE(field_is_number(the_event(r.events, EventKind::deal_closing), "challenge_ends",
                              U256(static_cast<uint64_t>(ends))));
  advance_ms(ends - now_ms() - 1'000);
  expect_rejected(S(), Settle{id}, LedgerErrc::challenge_period);
  advance_ms(1'000);
  exec(S(), Settle{id});
  EXPECT_EQ(deal(id).state, DealState::closed);
}

// ==== Transactions: chain, signature, nonce =====================================================

TEST_P(LedgerConformance, TxAcceptedIncrementsTheNonceByOne) {
  SignedTx t0 = make_tx(P(), approve_op(R().address(), 5));
  EXPECT_EQ(t0.tx.chain_id, 1337u);
  EXPECT_EQ(t0.tx.from, P().address());
  EXPECT_EQ(t0.tx.nonce, 0u);
  exec_tx(t0);
  EXPECT_EQ(nonce(P().address()), 1u);
  EXPECT_EQ(nonce(R().address()), 0u);
  SignedTx t1 = make_tx(P(), approve_op(R().address(), 6));
  EXPECT_EQ(t1.tx.nonce, 1u);
  EXPECT_NE(t1.tx.digest, t0.tx.digest);
  exec_tx(t1);
  EXPECT_EQ(nonce(P().address()), 2u);
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(6));
}

TEST_P(LedgerConformance, TxSignedByAnotherKeyIsRejectedWithBadSignature) {
  UnsignedTx tx = must(L().prepare(P().address(), approve_op(R().address())));
  expect_rejected_tx(sign_tx(R(), tx), LedgerErrc::bad_signature);
  expect_rejected_tx(sign_tx(S(), tx), LedgerErrc::bad_signature);
  exec_tx(sign_tx(P(), tx));  // the same transaction, signed by its sender
}

TEST_P(LedgerConformance, TxWithATamperedDigestOrOperationIsRejectedWithBadSignature) {
  UnsignedTx tx = must(L().prepare(P().address(), approve_op(R().address(), 1)));
  Hash other = tx.digest;
  other.bytes()[0] ^= 1;
  // The sender's signature over another digest.
  expect_rejected_tx(SignedTx{tx, must(crypto::sign(P(), other))}, LedgerErrc::bad_signature);
  // The digest field replaced and signed: the ledger must check the signature against the
  // transaction's own digest, not trust the field.
  UnsignedTx forged = tx;
  forged.digest = other;
  expect_rejected_tx(sign_tx(P(), forged), LedgerErrc::bad_signature);
  // The operation changed after signing (a larger approval under the old signature).
  UnsignedTx changed = tx;
  changed.op = approve_op(R().address(), 1000);
  expect_rejected_tx(SignedTx{changed, must(crypto::sign(P(), tx.digest))},
                     LedgerErrc::bad_signature);
  // The same signature mirrored to high s: valid ECDSA, refused by EIP-2.
  Signature good = must(crypto::sign(P(), tx.digest));
  const U256 order =
      u256("115792089237316195423570985008687907852837564279074904382605163141518161494337");
  Signature mirrored(good.r(),
                     Hash(order.wrapping_sub(U256::from_be_bytes(good.s().bytes())).to_be_bytes()),
                     static_cast<uint8_t>(1 - good.recovery_id()));
  expect_rejected_tx(SignedTx{tx, mirrored}, LedgerErrc::bad_signature);
  // A malformed signature (r = s = 0).
  expect_rejected_tx(SignedTx{tx, Signature()}, LedgerErrc::bad_signature);
  exec_tx(SignedTx{tx, good});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(1));
}

TEST_P(LedgerConformance, TxForAnotherChainIsRejectedWithWrongChainBeforeTheSignature) {
  UnsignedTx tx = must(L().prepare(P().address(), approve_op(R().address())));
  tx.chain_id = 1338;
  expect_rejected_tx(sign_tx(P(), tx), LedgerErrc::wrong_chain);
  // Checked first: a bad signature on a wrong-chain transaction still says wrong_chain.
  expect_rejected_tx(sign_tx(R(), tx), LedgerErrc::wrong_chain);
  tx.chain_id = 0;
  expect_rejected_tx(sign_tx(P(), tx), LedgerErrc::wrong_chain);
  EXPECT_EQ(nonce(P().address()), 0u);
}

TEST_P(LedgerConformance, TxReplayedIsRejectedWithBadNonce) {
  SignedTx t0 = make_tx(P(), approve_op(R().address(), 7));
  exec_tx(t0);
  expect_rejected_tx(t0, LedgerErrc::bad_nonce);
  // A fresh signature for a new operation at the used nonce.
  expect_rejected_tx(make_tx(P(), approve_op(R().address(), 9), 0), LedgerErrc::bad_nonce);
  EXPECT_EQ(nonce(P().address()), 1u);
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(7));
}

TEST_P(LedgerConformance, TxWithASkippedNonceIsRejectedAndTheNonceStaysUsable) {
  expect_rejected_tx(make_tx(P(), approve_op(R().address()), 1), LedgerErrc::bad_nonce);
  expect_rejected_tx(make_tx(P(), approve_op(R().address()), 1000), LedgerErrc::bad_nonce);
  EXPECT_EQ(nonce(P().address()), 0u);
  exec_tx(make_tx(P(), approve_op(R().address()), 0));
  exec_tx(make_tx(P(), approve_op(R().address()), 1));
  EXPECT_EQ(nonce(P().address()), 2u);
}

TEST_P(LedgerConformance, TxChecksAreOrderedSignatureThenNonceThenOperation) {
  // Bad signature and bad nonce: the signature is reported.
  UnsignedTx skipped = must(L().prepare(P().address(), approve_op(R().address()), 5));
  expect_rejected_tx(sign_tx(R(), skipped), LedgerErrc::bad_signature);
  // Bad nonce and an invalid operation (approve to the zero address): the nonce is reported.
  expect_rejected_tx(make_tx(P(), Approve{Address(), tokens(1)}, 3), LedgerErrc::bad_nonce);
  // A rejected operation does not consume the nonce.
  expect_rejected(P(), Approve{Address(), tokens(1)}, LedgerErrc::invalid_argument);
  EXPECT_EQ(nonce(P().address()), 0u);
}

// ==== Token =====================================================================================

TEST_P(LedgerConformance, TokenMovesAreLockedUntilTheSaleIsFinalizedButApproveIsNot) {
  expect_rejected(early(), Transfer{P().address(), tokens(1)}, LedgerErrc::transfers_locked);
  // Checked before the recipient and the balance.
  expect_rejected(early(), Transfer{Address(), tokens(1)}, LedgerErrc::transfers_locked);
  expect_rejected(P(), Transfer{R().address(), tokens(1)}, LedgerErrc::transfers_locked);
  exec(early(), Approve{P().address(), tokens(10)});
  EXPECT_AMOUNT(allowance(early().address(), P().address()), tokens(10));
  expect_rejected(P(), TransferFrom{early().address(), R().address(), tokens(1)},
                  LedgerErrc::transfers_locked);
  expect_rejected(P(), TransferFrom{early().address(), Address(), tokens(1)},
                  LedgerErrc::transfers_locked);
  expect_rejected(early(), Deposit{tokens(1)}, LedgerErrc::transfers_locked);
  // withdraw has no lock; with an empty wallet it fails on funds.
  expect_rejected(early(), Withdraw{tokens(1)}, LedgerErrc::insufficient_funds);

  advance_to_sale_end();
  exec(S(), FinalizeSale{});
  exec(early(), Transfer{P().address(), tokens(1)});
  exec(P(), TransferFrom{early().address(), R().address(), tokens(2)});
  exec(early(), Deposit{tokens(3)});
  EXPECT_AMOUNT(balance(P().address()), tokens(1));
  EXPECT_AMOUNT(balance(R().address()), tokens(2));
  EXPECT_AMOUNT(wallet(early().address()).balance, tokens(3));
  EXPECT_AMOUNT(balance(early().address()), tokens(kEarlyAdopterTokens - 6));
}

TEST_P(LedgerConformance, TokenTransferMovesTheExactAmountAndRecordsTheEvent) {
  finalize_and_fund();
  Amount a = units(u256("123456789012345678901"));
  Receipt r = exec(P(), Transfer{R().address(), a});
  EXPECT_AMOUNT(balance(P().address()), minus(tokens(kFundTokens - kWalletTokens), a));
  EXPECT_AMOUNT(balance(R().address()), plus(tokens(kFundTokens - kWalletTokens), a));
  const Event& e = the_event(r.events, EventKind::transfer);
  EXPECT_TRUE(field_is_address(e, "from", P().address()));
  EXPECT_TRUE(field_is_address(e, "to", R().address()));
  EXPECT_TRUE(field_is_amount(e, "amount", a));
  EXPECT_EQ(e.tx_id, r.tx_id);
  EXPECT_EQ(e.block, r.block);
  // A transfer to a new account creates it.
  Address fresh = must(PrivateKey::generate()).address();
  exec(P(), Transfer{fresh, units(1)});
  EXPECT_AMOUNT(balance(fresh), units(1));
}

TEST_P(LedgerConformance, TokenTransferOfTheWholeBalanceOfZeroAndToSelf) {
  finalize_and_fund();
  Amount all = balance(P().address());
  exec(P(), Transfer{P().address(), all});  // to self: nothing moves
  EXPECT_AMOUNT(balance(P().address()), all);
  exec(P(), Transfer{R().address(), Amount()});  // zero: allowed, nothing moves
  EXPECT_AMOUNT(balance(P().address()), all);
  exec(P(), Transfer{R2().address(), all});
  EXPECT_AMOUNT(balance(P().address()), Amount());
  EXPECT_AMOUNT(balance(R2().address()), plus(all, all));
  expect_rejected(P(), Transfer{R().address(), units(1)}, LedgerErrc::insufficient_funds);
}

TEST_P(LedgerConformance, TokenTransferRejectsZeroRecipientAndOverdraft) {
  finalize_and_fund();
  Amount held = balance(P().address());
  expect_rejected(P(), Transfer{Address(), units(1)}, LedgerErrc::invalid_argument);
  expect_rejected(P(), Transfer{R().address(), plus(held, units(1))},
                  LedgerErrc::insufficient_funds);
  expect_rejected(P(), Transfer{R().address(), units(U256::max())}, LedgerErrc::insufficient_funds);
  expect_rejected(S(), Transfer{R().address(), units(1)}, LedgerErrc::insufficient_funds);
  // A receiver whose balance plus the amount would not fit in 256 bits can never be reached,
  // since no one holds more than the supply; the sender's balance check comes first.
  expect_rejected(P(), Transfer{early().address(), units(U256::max())},
                  LedgerErrc::insufficient_funds);
}

TEST_P(LedgerConformance, TokenApproveSetsOverwritesAndRecordsTheAllowance) {
  Receipt r = exec(P(), Approve{R().address(), tokens(100)});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(100));
  const Event& e = the_event(r.events, EventKind::approval);
  EXPECT_TRUE(field_is_address(e, "owner", P().address()));
  EXPECT_TRUE(field_is_address(e, "spender", R().address()));
  EXPECT_TRUE(field_is_amount(e, "amount", tokens(100)));
  exec(P(), Approve{R().address(), tokens(40)});  // set, not added
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(40));
  EXPECT_AMOUNT(allowance(R().address(), P().address()), Amount());
  exec(P(), Approve{R().address(), Amount()});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), Amount());
  expect_rejected(P(), Approve{Address(), tokens(1)}, LedgerErrc::invalid_argument);
  // Approving more than one holds is allowed (ERC20).
  exec(S(), Approve{R().address(), units(U256::max())});
  EXPECT_AMOUNT(allowance(S().address(), R().address()), units(U256::max()));
}

TEST_P(LedgerConformance, TokenTransferFromSpendsAndDecreasesTheAllowance) {
  finalize_and_fund();
  exec(P(), Approve{R().address(), tokens(1000)});
  Amount p0 = balance(P().address()), q0 = balance(R2().address());
  Receipt r = exec(R(), TransferFrom{P().address(), R2().address(), tokens(300)});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), tokens(700));
  EXPECT_AMOUNT(balance(P().address()), minus(p0, tokens(300)));
  EXPECT_AMOUNT(balance(R2().address()), plus(q0, tokens(300)));
  const Event& e = the_event(r.events, EventKind::transfer);
  EXPECT_TRUE(field_is_address(e, "from", P().address()));
  EXPECT_TRUE(field_is_address(e, "to", R2().address()));
  EXPECT_TRUE(field_is_amount(e, "amount", tokens(300)));
  EXPECT_TRUE(field_is_address(e, "spender", R().address()));

  expect_rejected(R(), TransferFrom{P().address(), R2().address(), plus(tokens(700), units(1))},
                  LedgerErrc::insufficient_funds);
  expect_rejected(R(), TransferFrom{P().address(), Address(), tokens(1)},
                  LedgerErrc::invalid_argument);
  expect_rejected(S(), TransferFrom{P().address(), S().address(), units(1)},
                  LedgerErrc::insufficient_funds);  // no allowance at all
  expect_rejected(R(), TransferFrom{R2().address(), R().address(), units(1)},
                  LedgerErrc::insufficient_funds);  // allowance of another owner
  exec(R(), TransferFrom{P().address(), R().address(), tokens(700)});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), Amount());
  expect_rejected(R(), TransferFrom{P().address(), R().address(), units(1)},
                  LedgerErrc::insufficient_funds);
}

TEST_P(LedgerConformance, TokenInfiniteAllowanceNeverDecreasesButCannotOverdraw) {
  finalize_and_fund();
  const Amount infinite = units(U256::max());
  exec(P(), Approve{R().address(), infinite});
  Amount held = balance(P().address());
  expect_rejected(R(), TransferFrom{P().address(), R2().address(), plus(held, units(1))},
                  LedgerErrc::insufficient_funds);
  expect_rejected(R(), TransferFrom{P().address(), R2().address(), infinite},
                  LedgerErrc::insufficient_funds);
  exec(R(), TransferFrom{P().address(), R2().address(), tokens(5)});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), infinite);
  exec(R(), TransferFrom{P().address(), R2().address(), minus(held, tokens(5))});
  EXPECT_AMOUNT(allowance(P().address(), R().address()), infinite);
  EXPECT_AMOUNT(balance(P().address()), Amount());
  // Just below infinite is an ordinary allowance: it decreases.
  const Amount almost = units(U256::max().wrapping_sub(U256(1)));
  exec(R2(), Approve{R().address(), almost});
  exec(R(), TransferFrom{R2().address(), R().address(), units(10)});
  EXPECT_AMOUNT(allowance(R2().address(), R().address()),
                units(U256::max().wrapping_sub(U256(11))));
}

// ==== Crowd sale ================================================================================

TEST_P(LedgerConformance, SaleBuyPaysTheTreasuryAndTakesTokensFromThePool) {
  Amount value = must(Amount::parse("1.5"));
  Amount bought_tokens = units(value.base().checked_mul(U256(kRate)).value());
  Receipt r = exec(P(), Buy{value});
  EXPECT_AMOUNT(native(P().address()), minus(tokens(kDevNative), value));
  EXPECT_AMOUNT(native(treasury().address()), value);
  EXPECT_AMOUNT(balance(P().address()), bought_tokens);
  EXPECT_AMOUNT(must(L().bought(P().address())), bought_tokens);
  SaleView s = sale();
  EXPECT_AMOUNT(s.raised, value);
  EXPECT_AMOUNT(s.sold, bought_tokens);
  EXPECT_AMOUNT(s.pool, minus(tokens(kSaleTokens), bought_tokens));
  const Event& e = the_event(r.events, EventKind::purchase);
  EXPECT_TRUE(field_is_address(e, "buyer", P().address()));
  EXPECT_TRUE(field_is_amount(e, "value", value));
  EXPECT_TRUE(field_is_amount(e, "tokens", bought_tokens));
  // A second purchase adds to what the buyer bought.
  exec(P(), Buy{units(7)});
  EXPECT_AMOUNT(must(L().bought(P().address())), plus(bought_tokens, units(7 * kRate)));
  EXPECT_AMOUNT(sale().raised, plus(value, units(7)));
}

TEST_P(LedgerConformance, SaleBuyRejectsZeroOverdraftAndTheHardCap) {
  expect_rejected(P(), Buy{Amount()}, LedgerErrc::invalid_argument);
  // More native coin than held (and above the cap: funds are checked first).
  expect_rejected(P(), Buy{plus(tokens(kDevNative), units(1))}, LedgerErrc::insufficient_funds);
  expect_rejected(spare(), Buy{units(1)}, LedgerErrc::insufficient_funds);
  expect_rejected(P(), Buy{plus(tokens(kHardCapNative), units(1))}, LedgerErrc::hard_cap_exceeded);
  exec(P(), Buy{tokens(30)});
  expect_rejected(R(), Buy{plus(tokens(20), units(1))}, LedgerErrc::hard_cap_exceeded);
  exec(R(), Buy{tokens(20)});  // exactly to the cap
  EXPECT_AMOUNT(sale().raised, tokens(kHardCapNative));
  expect_rejected(R2(), Buy{units(1)}, LedgerErrc::hard_cap_exceeded);
}

TEST_P(LedgerConformance, SaleBuyBeforeTheStartIsRejected) {
  start(GenesisOptions{.sale_delay_ms = 3'600'000});
  expect_rejected(P(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
  advance_ms(3'599'000);
  expect_rejected(P(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
  // Checked before the value and the funds.
  expect_rejected(P(), Buy{Amount()}, LedgerErrc::sale_not_open);
  expect_rejected(spare(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
  advance_ms(1'000);  // start is inclusive
  exec(P(), Buy{tokens(1)});
}

TEST_P(LedgerConformance, SaleBuyAtTheEndOfTheWindowIsRejected) {
  advance_ms(kDayMs - 1'000);
  exec(P(), Buy{tokens(1)});
  advance_ms(1'000);  // end is exclusive
  expect_rejected(P(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
  advance_ms(kDayMs);
  expect_rejected(P(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
}

TEST_P(LedgerConformance, SaleFinalizeWaitsForTheEndThenUnlocksOnce) {
  exec(P(), Buy{tokens(10)});
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  advance_ms(kDayMs - 1'000);
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  advance_ms(1'000);
  Amount sold = sale().sold;
  Amount unsold = minus(tokens(kSaleTokens), sold);
  Receipt r = exec(S(), FinalizeSale{});  // anyone may finalize
  SaleView s = sale();
  EXPECT_TRUE(s.finalized);
  EXPECT_AMOUNT(s.pool, Amount());
  EXPECT_AMOUNT(s.unclaimed, unsold);
  EXPECT_AMOUNT(s.sold, sold);
  const Event& e = the_event(r.events, EventKind::sale_finalized);
  EXPECT_TRUE(field_is_amount(e, "sold", sold));
  EXPECT_TRUE(field_is_amount(e, "unsold", unsold));
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  expect_rejected(P(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
}

TEST_P(LedgerConformance, SaleFinalizesBeforeTheEndOnceTheHardCapIsReached) {
  exec(P(), Buy{tokens(30)});
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  exec(R(), Buy{tokens(20)});
  exec(S(), FinalizeSale{});
  EXPECT_TRUE(sale().finalized);
  EXPECT_LT(now_ms(), kGenesisMs + kDayMs);
  // Inside the window, but finalized: not open (rather than over the cap).
  expect_rejected(R2(), Buy{tokens(1)}, LedgerErrc::sale_not_open);
  exec(P(), Transfer{R2().address(), tokens(1)});
}

TEST_P(LedgerConformance, SaleWithNothingSoldKeepsTheUnsoldTokensCounted) {
  advance_to_sale_end();
  exec(P(), FinalizeSale{});
  SaleView s = sale();
  EXPECT_AMOUNT(s.sold, Amount());
  EXPECT_AMOUNT(s.unclaimed, tokens(kSaleTokens));
  EXPECT_AMOUNT(s.pool, Amount());
  expect_rejected(P(), ClaimUnsold{}, LedgerErrc::nothing_to_claim);
  EXPECT_AMOUNT(must(L().supply()).unclaimed, tokens(kSaleTokens));
}

TEST_P(LedgerConformance, SaleClaimUnsoldSharesProRataRoundingDown) {
  // Three buyers: 3 and 5 native tokens and 7 native base units.
  const PrivateKey& a = dev(4);
  const PrivateKey& b = dev(5);
  const PrivateKey& c = dev(6);
  exec(a, Buy{tokens(3)});
  exec(b, Buy{tokens(5)});
  exec(c, Buy{units(7)});
  expect_rejected(a, ClaimUnsold{}, LedgerErrc::sale_not_finalized);
  advance_to_sale_end();
  exec(S(), FinalizeSale{});
  SaleView s = sale();
  EXPECT_AMOUNT(s.sold, units(u256("80000000000000000070000")));
  EXPECT_AMOUNT(s.unclaimed, units(u256("899919999999999999999930000")));
  // share = floor(unsold * bought / sold), computed independently.
  const Amount share_a = units(u256("337469999999999999704687500"));
  const Amount share_b = units(u256("562449999999999999507812500"));
  const Amount share_c = units(u256("787429999"));
  const Amount bought_a = units(tokens(3).base().checked_mul(U256(kRate)).value());
  const Amount bought_b = units(tokens(5).base().checked_mul(U256(kRate)).value());
  EXPECT_AMOUNT(must(L().bought(a.address())), bought_a);
  EXPECT_AMOUNT(share_a, s.unclaimed.mul_div(bought_a.base(), s.sold.base()).value());
  EXPECT_AMOUNT(share_b, s.unclaimed.mul_div(bought_b.base(), s.sold.base()).value());
  Receipt ra = exec(a, ClaimUnsold{});
  EXPECT_AMOUNT(balance(a.address()), plus(bought_a, share_a));
  const Event& e = the_event(ra.events, EventKind::unsold_claimed);
  EXPECT_TRUE(field_is_address(e, "buyer", a.address()));
  EXPECT_TRUE(field_is_amount(e, "amount", share_a));
  exec(b, ClaimUnsold{});
  exec(c, ClaimUnsold{});
  EXPECT_AMOUNT(balance(b.address()), plus(bought_b, share_b));
  EXPECT_AMOUNT(balance(c.address()), plus(units(7 * kRate), share_c));
  // The rounding dust (one base unit here) stays in unclaimed, counted.
  EXPECT_AMOUNT(sale().unclaimed, units(1));
  expect_rejected(a, ClaimUnsold{}, LedgerErrc::nothing_to_claim);
  expect_rejected(S(), ClaimUnsold{}, LedgerErrc::nothing_to_claim);
}

// R2: "tokens become transferable once the funding has completed successfully". With a soft cap
// the coin stays with the sale until finalize, which pays the treasury only once the soft cap
// was reached; a sale that ends below it is never finalized: its buyers take their coin back,
// and transfers never unlock.
TEST_P(LedgerConformance, SaleSoftCapReachedHoldsTheCoinUntilFinalizePaysTheTreasury) {
  start(GenesisOptions{.soft_cap_native = 10});
  EXPECT_AMOUNT(sale().soft_cap, tokens(10));
  exec(P(), Buy{tokens(6)});
  exec(R(), Buy{tokens(4)});  // exactly the soft cap
  EXPECT_AMOUNT(native(treasury().address()), Amount());
  EXPECT_AMOUNT(native(P().address()), minus(tokens(kDevNative), tokens(6)));
  EXPECT_AMOUNT(sale().raised, tokens(10));
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);  // the window is open
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  advance_to_sale_end();
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);  // the soft cap was reached
  Receipt r = exec(S(), FinalizeSale{});
  the_event(r.events, EventKind::sale_finalized);
  EXPECT_AMOUNT(native(treasury().address()), tokens(10));
  SaleView s = sale();
  EXPECT_TRUE(s.finalized);
  EXPECT_AMOUNT(s.raised, tokens(10));
  EXPECT_AMOUNT(s.refunded, Amount());
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);
  exec(P(), Transfer{R2().address(), tokens(1)});
}

TEST_P(LedgerConformance, SaleBelowItsSoftCapRefundsEveryBuyerOnceAndNeverUnlocks) {
  start(GenesisOptions{.soft_cap_native = 10});
  exec(P(), Buy{tokens(3)});
  exec(P(), Buy{units(7)});
  exec(R(), Buy{tokens(2)});
  const Amount paid_p = plus(tokens(3), units(7));
  const Amount bought_p = units(paid_p.base().checked_mul(U256(kRate)).value());
  advance_ms(kDayMs - 1'000);
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);  // not ended yet
  advance_ms(1'000);
  // Ended below the soft cap: failed.
  EXPECT_TRUE(sale().failed_at(now_ms()));
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  expect_rejected(P(), Transfer{R2().address(), units(1)}, LedgerErrc::transfers_locked);
  expect_rejected(P(), Deposit{units(1)}, LedgerErrc::transfers_locked);
  expect_rejected(P(), ClaimUnsold{}, LedgerErrc::sale_not_finalized);
  expect_rejected(R2(), Buy{tokens(10)}, LedgerErrc::sale_not_open);
  expect_rejected(S(), Refund{}, LedgerErrc::nothing_to_claim);  // never bought

  Receipt r = exec(P(), Refund{});
  const Event& e = the_event(r.events, EventKind::refunded);
  EXPECT_TRUE(field_is_address(e, "buyer", P().address()));
  EXPECT_TRUE(field_is_amount(e, "value", paid_p));
  EXPECT_TRUE(field_is_amount(e, "tokens", bought_p));
  EXPECT_AMOUNT(native(P().address()), tokens(kDevNative));
  EXPECT_AMOUNT(balance(P().address()), Amount());
  EXPECT_AMOUNT(must(L().bought(P().address())), Amount());
  SaleView s = sale();
  EXPECT_AMOUNT(s.raised, tokens(2));
  EXPECT_AMOUNT(s.refunded, paid_p);
  EXPECT_AMOUNT(s.sold, units(tokens(2).base().checked_mul(U256(kRate)).value()));
  expect_rejected(P(), Refund{}, LedgerErrc::nothing_to_claim);  // once

  exec(R(), Refund{});
  EXPECT_AMOUNT(native(R().address()), tokens(kDevNative));
  s = sale();
  EXPECT_AMOUNT(s.raised, Amount());
  EXPECT_AMOUNT(s.sold, Amount());
  EXPECT_AMOUNT(s.pool, tokens(kSaleTokens));
  EXPECT_AMOUNT(s.refunded, plus(paid_p, tokens(2)));
  EXPECT_AMOUNT(native(treasury().address()), Amount());
  // Still failed, a day later: never finalized, never unlocked.
  advance_ms(kDayMs);
  expect_rejected(S(), FinalizeSale{}, LedgerErrc::sale_not_finalizable);
  expect_rejected(early(), Transfer{R2().address(), tokens(1)}, LedgerErrc::transfers_locked);
  EXPECT_FALSE(sale().finalized);
}

TEST_P(LedgerConformance, SaleWithoutASoftCapNeverRefunds) {
  exec(P(), Buy{tokens(1)});
  advance_to_sale_end();
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);
  exec(S(), FinalizeSale{});
  expect_rejected(P(), Refund{}, LedgerErrc::sale_not_refundable);
  EXPECT_AMOUNT(native(treasury().address()), tokens(1));
}

TEST_P(LedgerConformance, GenesisSoftCapAboveTheHardCapIsRefused) {
  GenesisConfig g = genesis();
  g.sale.soft_cap = plus(g.sale.hard_cap, units(1));
  auto h = GetParam().make(g);
  ASSERT_FALSE(h) << "the genesis was accepted";
  EXPECT_EQ(h.error().code(), make_error_code(LedgerErrc::invalid_argument)) << h.error().message();
  g.sale.soft_cap = g.sale.hard_cap;  // at most the hard cap: accepted
  EXPECT_TRUE(GetParam().make(g));
}

// ==== Centralizer wallets =======================================================================

TEST_P(LedgerConformance, WalletDepositAndWithdrawMoveTokensBetweenBalanceAndWallet) {
  finalize_and_fund();
  Amount b0 = balance(P().address());
  EXPECT_AMOUNT(wallet(P().address()).balance, tokens(kWalletTokens));
  Amount d = units(u256("5000000000000000001"));
  Receipt r = exec(P(), Deposit{d});
  EXPECT_AMOUNT(balance(P().address()), minus(b0, d));
  EXPECT_AMOUNT(wallet(P().address()).balance, plus(tokens(kWalletTokens), d));
  EXPECT_AMOUNT(wallet(P().address()).reserved, Amount());
  const Event& e = the_event(r.events, EventKind::deposit);
  EXPECT_TRUE(field_is_address(e, "account", P().address()));
  EXPECT_TRUE(field_is_amount(e, "amount", d));
  Amount w = plus(tokens(kWalletTokens), d);
  Receipt r2 = exec(P(), Withdraw{w});  // everything back
  EXPECT_AMOUNT(wallet(P().address()).balance, Amount());
  EXPECT_AMOUNT(balance(P().address()), plus(b0, tokens(kWalletTokens)));
  const Event& e2 = the_event(r2.events, EventKind::withdrawal);
  EXPECT_TRUE(field_is_address(e2, "account", P().address()));
  EXPECT_TRUE(field_is_amount(e2, "amount", w));
}

TEST_P(LedgerConformance, WalletRejectsZeroAmountsAndOverdrafts) {
  finalize_and_fund();
  Amount held = balance(P().address());
  expect_rejected(P(), Deposit{Amount()}, LedgerErrc::invalid_argument);
  expect_rejected(P(), Deposit{plus(held, units(1))}, LedgerErrc::insufficient_funds);
  expect_rejected(P(), Deposit{units(U256::max())}, LedgerErrc::insufficient_funds);
  expect_rejected(P(), Withdraw{Amount()}, LedgerErrc::invalid_argument);
  expect_rejected(P(), Withdraw{plus(tokens(kWalletTokens), units(1))},
                  LedgerErrc::insufficient_funds);
  expect_rejected(S(), Withdraw{units(1)}, LedgerErrc::insufficient_funds);
  exec(P(), Deposit{held});  // the whole balance
  EXPECT_AMOUNT(balance(P().address()), Amount());
}

TEST_P(LedgerConformance, WalletReservedTokensCannotBeWithdrawn) {
  finalize_and_fund();
  open_standard_deal();
  WalletView w = wallet(R().address());
  EXPECT_AMOUNT(w.balance, minus(tokens(kWalletTokens), standard_deposit()));
  EXPECT_AMOUNT(w.reserved, standard_deposit());
  expect_rejected(R(), Withdraw{plus(w.balance, units(1))}, LedgerErrc::insufficient_funds);
  exec(R(), Withdraw{w.balance});
  EXPECT_AMOUNT(wallet(R().address()).balance, Amount());
  EXPECT_AMOUNT(wallet(R().address()).reserved, standard_deposit());
}

// ==== Orders ====================================================================================

TEST_P(LedgerConformance, OrderCancelledByItsOwnerOpensNoDealAndCannotBeCancelledTwice) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  Hash h = offer.struct_hash();
  EXPECT_FALSE(must(L().order_cancelled(P().address(), h)));
  Receipt r = exec(P(), CancelOrder{h});
  EXPECT_TRUE(must(L().order_cancelled(P().address(), h)));
  const Event& e = the_event(r.events, EventKind::order_cancelled);
  EXPECT_TRUE(field_is_address(e, "owner", P().address()));
  EXPECT_TRUE(field_is_hash(e, "order", h));
  expect_rejected(P(), CancelOrder{h}, LedgerErrc::bad_order);
  expect_rejected(market(), open_op(P(), offer, R(), request_of(R())), LedgerErrc::bad_order);

  Request request = request_of(R());
  exec(R(), CancelOrder{request.struct_hash()});
  expect_rejected(market(), open_op(P(), offer_of(P()), R(), request), LedgerErrc::bad_order);
}

// Regression: the market's off-chain cancel was signed over CancelOrder(bytes32 orderHash,uint64
// nonce) at nonce 0 under the ledger domain, byte for byte the embedded ledger's cancelOrder
// transaction at nonce 0, so whoever held a signed cancel could submit it as the owner's first
// transaction. The off-chain cancel (OrderCancel) is a type of its own: its digest is no
// transaction's, and a ledger refuses it as one.
TEST_P(LedgerConformance, OrderCancelSignedOffChainIsNotALedgerTransaction) {
  const Hash order = offer_of(P()).struct_hash();
  const Hash off_chain =
      crypto::eip712::digest(L().domain().separator(), OrderCancel{order}.struct_hash());
  const Signature off_chain_sig = must(crypto::sign(P(), off_chain));
  ASSERT_EQ(nonce(P().address()), 0u);
  UnsignedTx tx = must(L().prepare(P().address(), CancelOrder{order}));
  EXPECT_NE(tx.digest, off_chain);
  EXPECT_NE(must(L().prepare(P().address(), CancelOrder{order}, 1)).digest, off_chain);
  expect_rejected_tx(SignedTx{tx, off_chain_sig}, LedgerErrc::bad_signature);
  EXPECT_FALSE(must(L().order_cancelled(P().address(), order)));
  // The owner's signature over the transaction itself is what cancels on the ledger.
  exec_tx(sign_tx(P(), tx));
  EXPECT_TRUE(must(L().order_cancelled(P().address(), order)));
}

TEST_P(LedgerConformance, OrderCancelledBySomeoneElseIsNotCancelled) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  Hash h = offer.struct_hash();
  exec(S(), CancelOrder{h});  // records (S, h): S owns no such order
  EXPECT_TRUE(must(L().order_cancelled(S().address(), h)));
  EXPECT_FALSE(must(L().order_cancelled(P().address(), h)));
  open_deal(P(), offer, R(), request_of(R()));
}

// ==== openDeal ==================================================================================

TEST_P(LedgerConformance, OpenDealReservesTheCostAndCreatesTheDeal) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  Request request = request_of(R());
  Amount m0 = wallet(market().address()).balance, p0 = wallet(P().address()).balance;
  Receipt r = exec(market(), open_op(P(), offer, R(), request));
  ASSERT_TRUE(r.deal_id.has_value());
  Hash oh = offer.struct_hash(), rh = request.struct_hash();
  // keccak256(offerHash || requestHash || uint256(fill)), fill = 0.
  std::vector<uint8_t> pre(oh.bytes().begin(), oh.bytes().end());
  pre.insert(pre.end(), rh.bytes().begin(), rh.bytes().end());
  pre.resize(96, 0);
  EXPECT_EQ(*r.deal_id, keccak256(ByteView(pre)));
  EXPECT_EQ(*r.deal_id, deal_id_for(oh, rh, 0));
  Hash id = *r.deal_id;
  uint64_t block_s = static_cast<uint64_t>(must(L().block(r.block)).timestamp_ms / 1000);
  EXPECT_EQ(block_s, now_s());

  DealView d = deal(id);
  EXPECT_EQ(d.id, id);
  EXPECT_EQ(d.offer_hash, oh);
  EXPECT_EQ(d.request_hash, rh);
  EXPECT_EQ(d.provider, P().address());
  EXPECT_EQ(d.requester, R().address());
  EXPECT_EQ(d.market, market().address());
  EXPECT_EQ(d.fee_bps, kFeeBps);
  EXPECT_EQ(d.price_per_second, U256(kDealPrice));
  EXPECT_EQ(d.start, block_s);
  EXPECT_EQ(d.duration, kDuration);
  EXPECT_AMOUNT(d.deposit, standard_deposit());
  EXPECT_AMOUNT(d.claimed, Amount());
  EXPECT_AMOUNT(d.admitted, Amount());
  EXPECT_EQ(d.state, DealState::open);
  EXPECT_FALSE(d.rated_by_provider);
  EXPECT_FALSE(d.rated_by_requester);

  EXPECT_AMOUNT(wallet(R().address()).balance, minus(tokens(kWalletTokens), d.deposit));
  EXPECT_AMOUNT(wallet(R().address()).reserved, d.deposit);
  EXPECT_AMOUNT(wallet(P().address()).balance, p0);
  EXPECT_AMOUNT(wallet(market().address()).balance, m0);

  const Event& e = the_event(r.events, EventKind::deal_opened);
  EXPECT_EQ(e.deal, std::optional<Hash>(id));
  EXPECT_TRUE(field_is_address(e, "provider", P().address()));
  EXPECT_TRUE(field_is_address(e, "requester", R().address()));
  EXPECT_TRUE(field_is_address(e, "market", market().address()));
  EXPECT_TRUE(field_is_number(e, "price", U256(kDealPrice)));
  EXPECT_TRUE(field_is_number(e, "duration", U256(kDuration)));
  EXPECT_TRUE(field_is_amount(e, "deposit", standard_deposit()));
  EXPECT_TRUE(field_is_number(e, "start", U256(block_s)));
}

TEST_P(LedgerConformance, OpenDealStartsAtTheRequestedStartWhenLater) {
  finalize_and_fund();
  Request request = request_of(R());
  request.start = now_s() + 600;
  Hash id = open_deal(P(), offer_of(P()), R(), request);
  EXPECT_EQ(deal(id).start, now_s() + 600);
  Request past = request_of(R2());
  past.start = now_s() - 600;  // in the past: the deal starts at the block's time
  Receipt r = exec(market(), open_op(P2(), offer_of(P2()), R2(), past));
  ASSERT_TRUE(r.deal_id.has_value());
  EXPECT_EQ(deal(*r.deal_id).start,
            static_cast<uint64_t>(must(L().block(r.block)).timestamp_ms / 1000));
  EXPECT_EQ(deal(*r.deal_id).start, now_s());
}

TEST_P(LedgerConformance, OpenDealMustBeSentByTheMarketBothOrdersName) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  Request request = request_of(R());
  expect_rejected(P(), open_op(P(), offer, R(), request), LedgerErrc::not_a_party);
  expect_rejected(R(), open_op(P(), offer, R(), request), LedgerErrc::not_a_party);
  expect_rejected(S(), open_op(P(), offer, R(), request), LedgerErrc::not_a_party);
  // Checked before the orders: a stranger's garbage signatures still say not_a_party.
  expect_rejected(S(), open_op(S(), offer, S(), request), LedgerErrc::not_a_party);
  // The orders name different markets: neither may open the deal.
  Offer elsewhere = offer_of(P());
  elsewhere.market = S().address();
  expect_rejected(market(), open_op(P(), elsewhere, R(), request), LedgerErrc::not_a_party);
  expect_rejected(S(), open_op(P(), elsewhere, R(), request), LedgerErrc::not_a_party);
  // Same market, different fees.
  Offer dearer = offer_of(P());
  dearer.fee_bps = kFeeBps + 50;
  expect_rejected(market(), open_op(P(), dearer, R(), request), LedgerErrc::terms_mismatch);
  open_deal(P(), offer, R(), request);
}

TEST_P(LedgerConformance, OpenDealRejectsTamperedForeignExpiredAndInvalidOrders) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  Request request = request_of(R());
  // The offer changed after its provider signed it.
  {
    OpenDeal op = open_op(P(), offer, R(), request);
    op.offer.price_per_second = U256(kOfferPrice - 1);
    expect_rejected(market(), op, LedgerErrc::bad_order);
  }
  // The request changed after its requester signed it.
  {
    OpenDeal op = open_op(P(), offer, R(), request);
    op.request.max_price_per_second = U256(kMaxPrice * 10);
    expect_rejected(market(), op, LedgerErrc::bad_order);
  }
  // Signed by someone else than the owner.
  expect_rejected(market(), open_op(R(), offer, R(), request), LedgerErrc::bad_order);
  expect_rejected(market(), open_op(P(), offer, P(), request), LedgerErrc::bad_order);
  expect_rejected(market(), open_op(S(), offer, S(), request), LedgerErrc::bad_order);
  // A signature over the offer used for the request.
  {
    OpenDeal op = open_op(P(), offer, R(), request);
    op.request_signature = op.offer_signature;
    expect_rejected(market(), op, LedgerErrc::bad_order);
  }
  // Expired (now_s > expiry).
  Offer old_offer = offer_of(P());
  old_offer.expiry = now_s() - 1;
  expect_rejected(market(), open_op(P(), old_offer, R(), request), LedgerErrc::bad_order);
  Request old_request = request_of(R());
  old_request.expiry = now_s() - 1;
  expect_rejected(market(), open_op(P(), offer, R(), old_request), LedgerErrc::bad_order);
  // Invalid fields: a request for two scopes; fees above 100 % on both orders.
  Request two_scopes = request_of(R());
  two_scopes.scope = scope::crawling | scope::general;
  expect_rejected(market(), open_op(P(), offer, R(), two_scopes), LedgerErrc::bad_order);
  Offer greedy = offer_of(P());
  greedy.fee_bps = kMaxFeeBps + 1;
  Request greedy_request = request_of(R());
  greedy_request.fee_bps = kMaxFeeBps + 1;
  expect_rejected(market(), open_op(P(), greedy, R(), greedy_request), LedgerErrc::bad_order);
  // Orders are checked before the terms: a tampered offer at a price that does not fit.
  {
    OpenDeal op = open_op(P(), offer, R(), request, U256(kMaxPrice + 1));
    op.offer.region = "Hamburg";
    expect_rejected(market(), op, LedgerErrc::bad_order);
  }
  open_deal(P(), offer, R(), request);
}

TEST_P(LedgerConformance, OpenDealAcceptsOrdersUpToTheirExpirySecond) {
  finalize_and_fund();
  Offer offer = offer_of(P());
  offer.expiry = now_s();
  Request request = request_of(R());
  request.expiry = now_s();
  open_deal(P(), offer, R(), request);
}

TEST_P(LedgerConformance, OpenDealRejectsTermsThatDoNotFitTheSignedOrders) {
  finalize_and_fund();
  struct Case {
    const char* what;
    std::function<void(Offer&, Request&, U256&)> change;
  };
  const uint64_t now = now_s();
  std::vector<Case> cases = {
      {"price below the offer", [](Offer&, Request&, U256& p) { p = U256(kOfferPrice - 1); }},
      {"price above the request's max", [](Offer&, Request&, U256& p) { p = U256(kMaxPrice + 1); }},
      {"duration below the offer's min", [](Offer&, Request& r, U256&) { r.duration = 30; }},
      {"duration above the offer's max",
       [](Offer& o, Request&, U256&) { o.max_duration = kDuration - 1; }},
      {"protocol not served", [](Offer&, Request& r, U256&) { r.protocols = protocol::vpn; }},
      {"one of the protocols not served",
       [](Offer&, Request& r, U256&) { r.protocols = protocol::http | protocol::smtp; }},
      {"scope not allowed", [](Offer&, Request& r, U256&) { r.scope = scope::email; }},
      {"country not in the list",
       [](Offer&, Request& r, U256&) {
         r.countries = {parse_country("US").value(), parse_country("FR").value()};
       }},
      {"region", [](Offer&, Request& r, U256&) { r.region = "Munich"; }},
      {"asn", [](Offer&, Request& r, U256&) { r.asn = 64'500; }},
      {"ip type",
       [](Offer&, Request& r, U256&) {
         r.ip_types = static_cast<uint8_t>(1u << static_cast<unsigned>(IpType::datacenter));
       }},
      {"bandwidth", [](Offer&, Request& r, U256&) { r.min_bandwidth_kbps = 100'000; }},
      {"offer ends before the rental",
       [now](Offer& o, Request&, U256&) { o.available_until = now + 600; }},
      {"offer starts after the rental",
       [now](Offer& o, Request&, U256&) { o.available_from = now + 7200; }},
      {"budget below the cost",
       [](Offer&, Request& r, U256&) { r.budget = U256(kDealPrice * kDuration - 1); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Offer offer = offer_of(P());
    Request request = request_of(R());
    U256 price(kDealPrice);
    c.change(offer, request, price);
    expect_rejected(market(), open_op(P(), offer, R(), request, price), LedgerErrc::terms_mismatch);
  }
  // Provider and requester the same account.
  expect_rejected(market(), open_op(R(), offer_of(R()), R(), request_of(R())),
                  LedgerErrc::terms_mismatch);
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
}

TEST_P(LedgerConformance, OpenDealAcceptsThePriceBoundsAndTheWholeBudget) {
  finalize_and_fund();
  Request at_min = request_of(R());
  at_min.budget = U256(kOfferPrice * kDuration);  // exactly the cost
  Hash a = open_deal(P(), offer_of(P()), R(), at_min, U256(kOfferPrice));
  EXPECT_AMOUNT(deal(a).deposit, units(U256(kOfferPrice * kDuration)));
  Hash b = open_deal(P2(), offer_of(P2()), R(), request_of(R()), U256(kMaxPrice));
  EXPECT_AMOUNT(deal(b).deposit, units(U256(kMaxPrice * kDuration)));
  EXPECT_AMOUNT(wallet(R().address()).reserved, units(U256((kOfferPrice + kMaxPrice) * kDuration)));
}

TEST_P(LedgerConformance, OpenDealNeedsTheRequesterWalletToCoverTheCost) {
  finalize_and_fund();
  // cost = price * 1000 s; 1e20 * 1000 = 100,000 IPSX = the whole wallet.
  const U256 price = u256("100000000000000000000");
  Offer offer = offer_of(P());
  offer.price_per_second = price;
  Request request = request_of(R());
  request.duration = 1000;
  request.max_price_per_second = price.checked_add(U256(1)).value();
  request.budget = tokens(1'000'000).base();
  expect_rejected(market(), open_op(P(), offer, R(), request, price.checked_add(U256(1)).value()),
                  LedgerErrc::insufficient_funds);
  // The token balance does not count, only the wallet.
  EXPECT_GT(balance(R().address()), tokens(kWalletTokens));
  Hash id = open_deal(P(), offer, R(), request, price);
  EXPECT_AMOUNT(deal(id).deposit, tokens(kWalletTokens));
  EXPECT_AMOUNT(wallet(R().address()).balance, Amount());
  EXPECT_AMOUNT(wallet(R().address()).reserved, tokens(kWalletTokens));
}

TEST_P(LedgerConformance, OpenDealWhosePriceTimesDurationOverflowsIsRejected) {
  finalize_and_fund();
  const U256 huge = U256::max().checked_div(U256(1000)).value();
  Offer offer = offer_of(P());
  offer.price_per_second = huge;
  Request request = request_of(R());
  request.max_price_per_second = huge;
  request.budget = U256::max();
  expect_rejected(market(), open_op(P(), offer, R(), request, huge), LedgerErrc::overflow);
}

TEST_P(LedgerConformance, OpenDealFillsARequestUpToItsCountWithFillNumberedIds) {
  finalize_and_fund(5);
  Request request = request_of(R());
  request.count = 2;
  Offer o1 = offer_of(P()), o2 = offer_of(P2()), o3 = offer_of(dev(4));
  Hash d0 = open_deal(P(), o1, R(), request, U256(kDealPrice), 0);
  Hash d1 = open_deal(P2(), o2, R(), request, U256(kDealPrice), 1);
  EXPECT_NE(d0, d1);
  EXPECT_EQ(d1, deal_id_for(o2.struct_hash(), request.struct_hash(), 1));
  expect_rejected_at(market(), open_op(dev(4), o3, R(), request), LedgerErrc::order_exhausted,
                     "request");
  // Closing a deal does not give the request its count back.
  exec(P(), CloseDeal{d0, Amount(), std::nullopt, CloseReason::completed});
  expect_rejected(market(), open_op(dev(4), o3, R(), request), LedgerErrc::order_exhausted);
}

// Regression: the market could open N deals of one request of count N on one offer of capacity
// N, and the ledger took them all (the requester reserved N deposits for one IP).
TEST_P(LedgerConformance, OpenDealFillsARequestFromDistinctOffersOnly) {
  finalize_and_fund();
  Request request = request_of(R());
  request.count = 3;
  Offer offer = offer_of(P());
  offer.capacity = 3;
  Hash d0 = open_deal(P(), offer, R(), request, U256(kDealPrice), 0);
  expect_rejected_at(market(), open_op(P(), offer, R(), request), LedgerErrc::order_exhausted,
                     "request");
  EXPECT_AMOUNT(wallet(R().address()).reserved, standard_deposit());
  Offer other = offer_of(P2());
  open_deal(P2(), other, R(), request, U256(kDealPrice), 1);  // another offer still fills it
  // Closing the deal does not give the pair back, as it does not give the count back.
  exec(P(), CloseDeal{d0, Amount(), std::nullopt, CloseReason::completed});
  expect_rejected(market(), open_op(P(), offer, R(), request), LedgerErrc::order_exhausted);
  // The offer still serves other requests up to its capacity.
  open_deal(P(), offer, R2(), request_of(R2()));
}

TEST_P(LedgerConformance, OpenDealForADistinctSubnetsRequestRefusesASecondIpOfTheSameSubnet) {
  finalize_and_fund(5);
  auto offer_at = [&](const PrivateKey& provider, const std::string& ip) {
    Offer o = offer_of(provider);
    o.ip = must(parse_ip(ip));
    return o;
  };
  Request v4 = request_of(R());
  v4.count = 3;
  v4.distinct_subnets = true;
  open_deal(P(), offer_at(P(), "203.0.113.1"), R(), v4, U256(kDealPrice), 0);
  expect_rejected(market(), open_op(P2(), offer_at(P2(), "203.0.113.200"), R(), v4),
                  LedgerErrc::terms_mismatch);  // the same /24
  open_deal(P2(), offer_at(P2(), "203.0.112.1"), R(), v4, U256(kDealPrice), 1);

  Request v6 = request_of(R2());
  v6.count = 2;
  v6.distinct_subnets = true;
  open_deal(P(), offer_at(P(), "2001:db8:1::1"), R2(), v6, U256(kDealPrice), 0);
  expect_rejected(market(), open_op(P2(), offer_at(P2(), "2001:db8:1:ffff::2"), R2(), v6),
                  LedgerErrc::terms_mismatch);  // the same /48
  open_deal(dev(4), offer_at(dev(4), "2001:db8:2::1"), R2(), v6, U256(kDealPrice), 1);

  // Without the flag, two IPs of one /24 from distinct offers fill one request.
  Request any = request_of(R());
  any.count = 2;
  open_deal(P(), offer_at(P(), "198.51.100.1"), R(), any, U256(kDealPrice), 0);
  open_deal(P2(), offer_at(P2(), "198.51.100.2"), R(), any, U256(kDealPrice), 1);
}

// The minimum ratings are checked against the ledger's own ratings with the market's rule
// (ledger/rating.h): ⌊(5 · 300 + 100 · sum) / (5 + count)⌋, 300 with no votes.
TEST_P(LedgerConformance, OpenDealChecksTheMinimumRatingsAgainstTheLedgersRatings) {
  finalize_and_fund();
  auto with_min_provider = [&](uint16_t min) {
    Request r = request_of(R());
    r.min_provider_rating = min;
    return r;
  };
  auto with_min_requester = [&](uint16_t min) {
    Offer o = offer_of(P());
    o.min_requester_rating = min;
    return o;
  };
  // Newcomers stand at 300.
  Offer offer = offer_of(P());
  expect_rejected_at(market(), open_op(P(), offer, R(), with_min_provider(301)),
                     LedgerErrc::terms_mismatch, "request.minProviderRating");
  Offer picky = with_min_requester(301);
  expect_rejected_at(market(), open_op(P(), picky, R(), request_of(R())),
                     LedgerErrc::terms_mismatch, "offer.minRequesterRating");
  Offer at300 = with_min_requester(300);
  Hash id = open_deal(P(), at300, R(), with_min_provider(300));
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  // One vote each: the provider 1 star, (1500 + 100) / 6 = 266; the requester 5, 2000 / 6 = 333.
  exec(R(), Rate{id, 1});
  exec(P(), Rate{id, 5});
  EXPECT_EQ(rating(P().address()).count, 1u);
  EXPECT_EQ(rating(P().address()).sum, 1u);
  expect_rejected(market(), open_op(P(), offer, R(), with_min_provider(267)),
                  LedgerErrc::terms_mismatch);
  open_deal(P(), offer, R(), with_min_provider(266));
  Offer o334 = with_min_requester(334);
  expect_rejected(market(), open_op(P(), o334, R(), request_of(R())), LedgerErrc::terms_mismatch);
  open_deal(P(), with_min_requester(333), R(), request_of(R()));
}

TEST_P(LedgerConformance, OpenDealSpendsTheRequestBudgetAcrossItsDeals) {
  finalize_and_fund();
  Request request = request_of(R());
  request.count = 2;
  request.budget = U256((kDealPrice + kOfferPrice) * kDuration);
  open_deal(P(), offer_of(P()), R(), request, U256(kDealPrice), 0);
  Offer o2 = offer_of(P2());
  expect_rejected(market(), open_op(P2(), o2, R(), request, U256(kDealPrice)),
                  LedgerErrc::terms_mismatch);
  open_deal(P2(), o2, R(), request, U256(kOfferPrice), 1);  // exactly the rest of the budget
}

TEST_P(LedgerConformance, OpenDealRespectsOfferCapacityAndFreesItOnClose) {
  finalize_and_fund(5);
  Offer offer = offer_of(P());
  offer.capacity = 2;
  Hash a = open_deal(P(), offer, R(), request_of(R()));
  open_deal(P(), offer, R2(), request_of(R2()));
  Request third = request_of(dev(4));
  expect_rejected_at(market(), open_op(P(), offer, dev(4), third), LedgerErrc::order_exhausted,
                     "offer");
  exec(P(), CloseDeal{a, Amount(), std::nullopt, CloseReason::completed});
  open_deal(P(), offer, dev(4), third);
  expect_rejected(market(), open_op(P(), offer, R(), request_of(R())), LedgerErrc::order_exhausted);
}

TEST_P(LedgerConformance, OpenDealOnAnExclusiveOfferTakesOneDealAtATime) {
  finalize_and_fund();
  Offer offer = offer_of(P());  // capacity 1
  Hash a = open_deal(P(), offer, R(), request_of(R()));
  Request second = request_of(R2());
  expect_rejected_at(market(), open_op(P(), offer, R2(), second), LedgerErrc::order_exhausted,
                     "offer");
  // A deal in its challenge period is not closed: it still holds the place.
  exec(R(), UncooperativeClose{a, Amount(), CloseReason::requester_closed});
  expect_rejected(market(), open_op(P(), offer, R2(), second), LedgerErrc::order_exhausted);
  advance_ms(kChallengeMs);
  exec(S(), Settle{a});
  open_deal(P(), offer, R2(), second);
}

TEST_P(LedgerConformance, OpenDealExclusiveRequestsNeedAnIdleOfferAndBlockIt) {
  finalize_and_fund();
  Offer busy = offer_of(P());
  busy.capacity = 3;
  open_deal(P(), busy, R(), request_of(R()));
  Request exclusive = request_of(R2());
  exclusive.exclusive = true;
  expect_rejected(market(), open_op(P(), busy, R2(), exclusive), LedgerErrc::order_exhausted);

  Offer idle = offer_of(P2());
  idle.capacity = 3;
  Hash x = open_deal(P2(), idle, R2(), exclusive);
  Request shared = request_of(R());
  expect_rejected(market(), open_op(P2(), idle, R(), shared), LedgerErrc::order_exhausted);
  exec(P2(), CloseDeal{x, Amount(), std::nullopt, CloseReason::completed});
  open_deal(P2(), idle, R(), shared);
}

// ==== claim =====================================================================================

TEST_P(LedgerConformance, ClaimPaysTheIncrementWithTheCommissionRoundedDown) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  DealMoney m0 = money(id);
  const Amount a1 = units(1'234'567);
  Receipt r1 = exec(P(), Claim{id, a1, proof_sig(R(), id, a1)});
  expect_payout(m0, id, a1, false);
  // floor(1234567 * 250 / 10000) = floor(30864.175) = 30864 to the market, 1203703 to P.
  EXPECT_AMOUNT(wallet(market().address()).balance, units(30'864));
  EXPECT_AMOUNT(wallet(P().address()).balance, plus(tokens(kWalletTokens), units(1'203'703)));
  EXPECT_EQ(deal(id).state, DealState::open);
  const Event& e1 = the_event(r1.events, EventKind::claimed);
  EXPECT_EQ(e1.deal, std::optional<Hash>(id));
  EXPECT_TRUE(field_is_amount(e1, "amount", a1));
  EXPECT_TRUE(field_is_amount(e1, "paid", a1));
  EXPECT_TRUE(field_is_amount(e1, "fee", units(30'864)));

  // A higher cumulative proof pays only the increment: 765433, fee floor(19135.825) = 19135.
  DealMoney m1 = money(id);
  const Amount a2 = units(2'000'000);
  Receipt r2 = exec(P(), Claim{id, a2, proof_sig(R(), id, a2)});
  expect_payout(m1, id, a2, false);
  EXPECT_AMOUNT(wallet(market().address()).balance, units(30'864 + 19'135));
  const Event& e2 = the_event(r2.events, EventKind::claimed);
  EXPECT_TRUE(field_is_amount(e2, "paid", units(765'433)));
  EXPECT_TRUE(field_is_amount(e2, "fee", units(19'135)));

  // Up to the whole deposit.
  DealMoney m2 = money(id);
  exec(P(), Claim{id, standard_deposit(), proof_sig(R(), id, standard_deposit())});
  expect_payout(m2, id, standard_deposit(), false);
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
}

TEST_P(LedgerConformance, ClaimRejectsStrangersBadProofsAndClosedDeals) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  const Amount a = units(1000);
  expect_rejected(P(), Claim{random_hash(), a, proof_sig(R(), id, a)}, LedgerErrc::unknown_deal);
  expect_rejected(S(), Claim{random_hash(), a, proof_sig(R(), id, a)}, LedgerErrc::unknown_deal);
  expect_rejected(S(), Claim{id, a, proof_sig(R(), id, a)}, LedgerErrc::not_a_party);
  expect_rejected(R(), Claim{id, a, proof_sig(R(), id, a)}, LedgerErrc::not_a_party);
  expect_rejected(market(), Claim{id, a, proof_sig(R(), id, a)}, LedgerErrc::not_a_party);
  // Proofs not by the requester, or not for this deal and amount.
  expect_rejected(P(), Claim{id, a, proof_sig(P(), id, a)}, LedgerErrc::bad_balance_proof);
  expect_rejected(P(), Claim{id, a, proof_sig(S(), id, a)}, LedgerErrc::bad_balance_proof);
  expect_rejected(P(), Claim{id, units(2000), proof_sig(R(), id, a)},
                  LedgerErrc::bad_balance_proof);
  expect_rejected(P(), Claim{id, a, proof_sig(R(), random_hash(), a)},
                  LedgerErrc::bad_balance_proof);
  expect_rejected(P(), Claim{id, a, consent_sig(R(), id, a)}, LedgerErrc::bad_balance_proof);
  // Amounts: not above what is claimed, or above the deposit.
  expect_rejected(P(), Claim{id, Amount(), proof_sig(R(), id, Amount())},
                  LedgerErrc::bad_balance_proof);
  Amount over = plus(standard_deposit(), units(1));
  expect_rejected(P(), Claim{id, over, proof_sig(R(), id, over)}, LedgerErrc::bad_balance_proof);
  Amount huge = units(U256::max());
  expect_rejected(P(), Claim{id, huge, proof_sig(R(), id, huge)}, LedgerErrc::bad_balance_proof);
  exec(P(), Claim{id, a, proof_sig(R(), id, a)});
  expect_rejected(P(), Claim{id, a, proof_sig(R(), id, a)}, LedgerErrc::bad_balance_proof);
  expect_rejected(P(), Claim{id, units(999), proof_sig(R(), id, units(999))},
                  LedgerErrc::bad_balance_proof);
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  expect_rejected(P(), Claim{id, units(2000), proof_sig(R(), id, units(2000))},
                  LedgerErrc::deal_state);
}

// ==== recordUsage
// =================================================================================

// The root of a deal's usage log, as the requester signed it (UsageReceipt), goes on the ledger by
// the provider's hand, only growing; a receipt not by the requester, or not for these values, does
// not.
TEST_P(LedgerConformance, RecordUsagePutsTheRequestersSignedRootOnTheDealOnlyGrowing) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  EXPECT_EQ(deal(id).usage_count, 0u);
  EXPECT_TRUE(deal(id).usage_root.is_zero());
  const Hash root = random_hash(), later = random_hash();
  auto receipt = [&](const PrivateKey& k, uint64_t count, const Hash& r) {
    return sign_struct(k, UsageReceipt{id, count, r}.struct_hash());
  };
  expect_rejected(P(), RecordUsage{random_hash(), 3, root, receipt(R(), 3, root)},
                  LedgerErrc::unknown_deal);
  expect_rejected(P(), RecordUsage{id, 3, root, receipt(P(), 3, root)}, LedgerErrc::bad_signature);
  expect_rejected(P(), RecordUsage{id, 3, later, receipt(R(), 3, root)}, LedgerErrc::bad_signature);
  expect_rejected(P(), RecordUsage{id, 4, root, receipt(R(), 3, root)}, LedgerErrc::bad_signature);
  expect_rejected(P(), RecordUsage{id, 0, root, receipt(R(), 0, root)},
                  LedgerErrc::invalid_argument);
  Receipt r = exec(P(), RecordUsage{id, 3, root, receipt(R(), 3, root)});
  const Event& e = the_event(r.events, EventKind::usage_recorded);
  EXPECT_EQ(e.deal, std::optional<Hash>(id));
  EXPECT_TRUE(field_is_text(e, "count", "3"));
  EXPECT_TRUE(field_is_text(e, "root", root.hex()));
  EXPECT_EQ(deal(id).usage_count, 3u);
  EXPECT_EQ(deal(id).usage_root, root);
  // Not the same or fewer records again; more, even once the deal is closed.
  expect_rejected(P(), RecordUsage{id, 3, root, receipt(R(), 3, root)},
                  LedgerErrc::invalid_argument);
  expect_rejected(P(), RecordUsage{id, 2, later, receipt(R(), 2, later)},
                  LedgerErrc::invalid_argument);
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  exec(P(), RecordUsage{id, 5, later, receipt(R(), 5, later)});
  EXPECT_EQ(deal(id).usage_count, 5u);
  EXPECT_EQ(deal(id).usage_root, later);
}

// Only the provider records usage: the requester (or anyone else) recording a receipt it signed
// for a bogus log with the largest count would otherwise bar every genuine receipt for good.
TEST_P(LedgerConformance, RecordUsageIsTheProvidersAloneSoTheRequesterCannotBarTheGenuineRoot) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  const Hash bogus = random_hash(), genuine = random_hash();
  auto receipt = [&](uint64_t count, const Hash& r) {
    return sign_struct(R(), UsageReceipt{id, count, r}.struct_hash());
  };
  const uint64_t most = std::numeric_limits<uint64_t>::max();
  expect_rejected(R(), RecordUsage{id, most, bogus, receipt(most, bogus)}, LedgerErrc::not_a_party);
  expect_rejected(S(), RecordUsage{id, most, bogus, receipt(most, bogus)}, LedgerErrc::not_a_party);
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  expect_rejected(R(), RecordUsage{id, most, bogus, receipt(most, bogus)}, LedgerErrc::not_a_party);
  EXPECT_EQ(deal(id).usage_count, 0u);
  exec(P(), RecordUsage{id, 4, genuine, receipt(4, genuine)});
  EXPECT_EQ(deal(id).usage_count, 4u);
  EXPECT_EQ(deal(id).usage_root, genuine);
}

// A receipt binds its deal: the requester's receipt for one deal does not record on another of
// the same provider and requester, even by the provider (the signature covers the deal id).
TEST_P(LedgerConformance, RecordUsageRefusesTheRequestersReceiptForAnotherDeal) {
  finalize_and_fund();
  Request request = request_of(R());
  request.count = 2;
  Offer first = offer_of(P()), second = offer_of(P());
  second.nonce += 1;
  Hash a = open_deal(P(), first, R(), request, U256(kDealPrice), 0);
  Hash b = open_deal(P(), second, R(), request, U256(kDealPrice), 1);
  const Hash root = random_hash();
  crypto::Signature for_a = sign_struct(R(), UsageReceipt{a, 7, root}.struct_hash());
  expect_rejected(P(), RecordUsage{b, 7, root, for_a}, LedgerErrc::bad_signature);
  EXPECT_EQ(deal(b).usage_count, 0u);
  exec(P(), RecordUsage{a, 7, root, for_a});
  EXPECT_EQ(deal(a).usage_root, root);
}

// ==== closeDeal (provider) ======================================================================

TEST_P(LedgerConformance, CloseDealByTheProviderWithoutAProofRefundsTheRest) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealMoney m = money(id);
  // Without a proof the amount is not used.
  Receipt r = exec(P(), CloseDeal{id, units(5000), std::nullopt, CloseReason::provider_closed});
  expect_payout(m, id, units(1000), true);
  EXPECT_EQ(deal(id).reason, CloseReason::provider_closed);
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
  EXPECT_AMOUNT(wallet(R().address()).balance, minus(tokens(kWalletTokens), units(1000)));
  const Event& e = the_event(r.events, EventKind::deal_closed);
  EXPECT_EQ(e.deal, std::optional<Hash>(id));
  EXPECT_TRUE(field_is_text(e, "how", "provider"));
  EXPECT_TRUE(field_is_reason(e, CloseReason::provider_closed));
  EXPECT_TRUE(field_is_amount(e, "paid", units(1000)));
  EXPECT_TRUE(field_is_amount(e, "refunded", minus(standard_deposit(), units(1000))));
}

TEST_P(LedgerConformance, CloseDealByTheProviderWithAFinalProofPaysThenRefunds) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealMoney m = money(id);
  const Amount last = units(5'000'000);
  Receipt r = exec(P(), CloseDeal{id, last, proof_sig(R(), id, last), CloseReason::completed});
  expect_payout(m, id, last, true);
  const Event& e = the_event(r.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_text(e, "how", "provider"));
  EXPECT_TRUE(field_is_reason(e, CloseReason::completed));
  EXPECT_TRUE(field_is_amount(e, "paid", last));
  EXPECT_TRUE(field_is_amount(e, "refunded", minus(standard_deposit(), last)));
}

TEST_P(LedgerConformance, CloseDealRejectsOthersBadProofsAndASecondClose) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  const Amount a = units(1000);
  exec(P(), Claim{id, a, proof_sig(R(), id, a)});
  auto close_with = [&](const Amount& x, const PrivateKey& signer) {
    return CloseDeal{id, x, proof_sig(signer, id, x), CloseReason::completed};
  };
  expect_rejected(P(), CloseDeal{random_hash(), Amount(), std::nullopt, CloseReason::completed},
                  LedgerErrc::unknown_deal);
  expect_rejected(R(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed},
                  LedgerErrc::not_a_party);
  expect_rejected(S(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed},
                  LedgerErrc::not_a_party);
  expect_rejected(market(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed},
                  LedgerErrc::not_a_party);
  expect_rejected(P(), close_with(units(2000), P()), LedgerErrc::bad_balance_proof);
  expect_rejected(P(), close_with(units(999), R()), LedgerErrc::bad_balance_proof);
  expect_rejected(P(), close_with(plus(standard_deposit(), units(1)), R()),
                  LedgerErrc::bad_balance_proof);
  // A proof equal to what is claimed is allowed and pays nothing.
  DealMoney m = money(id);
  exec(P(), close_with(a, R()));
  expect_payout(m, id, a, true);
  expect_rejected(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed},
                  LedgerErrc::deal_state);
}

// ==== cooperativeClose ==========================================================================

TEST_P(LedgerConformance, CooperativeCloseByTheRequesterPaysAndRefundsAtOnce) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealMoney m = money(id);
  const Amount final_amount = units(3'333'333);
  Receipt r = exec(
      R(), CooperativeClose{id, final_amount, proof_sig(R(), id, final_amount),
                            consent_sig(P(), id, final_amount), CloseReason::requester_closed});
  expect_payout(m, id, final_amount, true);
  EXPECT_EQ(deal(id).reason, CloseReason::requester_closed);
  const Event& e = the_event(r.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_text(e, "how", "cooperative"));
  EXPECT_TRUE(field_is_reason(e, CloseReason::requester_closed));
  EXPECT_TRUE(field_is_amount(e, "paid", final_amount));
  EXPECT_TRUE(field_is_amount(e, "refunded", minus(standard_deposit(), final_amount)));
}

TEST_P(LedgerConformance, CooperativeCloseByTheProviderAtTheClaimedAmountPaysNothingMore) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  DealMoney m = money(id);
  exec(P(), CooperativeClose{id, Amount(), proof_sig(R(), id, Amount()),
                             consent_sig(P(), id, Amount()), CloseReason::provider_failed});
  expect_payout(m, id, Amount(), true);
  EXPECT_AMOUNT(wallet(R().address()).balance, tokens(kWalletTokens));
}

TEST_P(LedgerConformance, CooperativeCloseRejectsEachWrongSignatureAndAmount) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  const Amount x = units(2000);
  auto coop = [&](const Amount& amount, const Signature& rs, const Signature& ps) {
    return CooperativeClose{id, amount, rs, ps, CloseReason::completed};
  };
  const Signature good_r = proof_sig(R(), id, x), good_p = consent_sig(P(), id, x);
  expect_rejected(R(), CooperativeClose{random_hash(), x, good_r, good_p, CloseReason::completed},
                  LedgerErrc::unknown_deal);
  expect_rejected(S(), coop(x, good_r, good_p), LedgerErrc::not_a_party);
  expect_rejected(market(), coop(x, good_r, good_p), LedgerErrc::not_a_party);
  // The requester's proof wrong.
  expect_rejected(R(), coop(x, proof_sig(P(), id, x), good_p), LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(x, proof_sig(S(), id, x), good_p), LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(x, proof_sig(R(), id, units(3000)), good_p),
                  LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(x, consent_sig(R(), id, x), good_p), LedgerErrc::bad_balance_proof);
  // The provider's consent wrong.
  expect_rejected(R(), coop(x, good_r, consent_sig(R(), id, x)), LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(x, good_r, consent_sig(S(), id, x)), LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(x, good_r, consent_sig(P(), id, units(3000))),
                  LedgerErrc::bad_balance_proof);
  expect_rejected(P(), coop(x, good_r, proof_sig(P(), id, x)), LedgerErrc::bad_balance_proof);
  // Amounts outside [claimed, deposit], signed correctly.
  const Amount low = units(999), high = plus(standard_deposit(), units(1));
  expect_rejected(R(), coop(low, proof_sig(R(), id, low), consent_sig(P(), id, low)),
                  LedgerErrc::bad_balance_proof);
  expect_rejected(R(), coop(high, proof_sig(R(), id, high), consent_sig(P(), id, high)),
                  LedgerErrc::bad_balance_proof);
  exec(P(), coop(x, good_r, good_p));
  expect_rejected(R(), coop(x, good_r, good_p), LedgerErrc::deal_state);
}

// ==== uncooperativeClose and settle =============================================================

TEST_P(LedgerConformance, UncooperativeCloseStartsTheChallengePeriodAndSettleEndsIt) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealMoney m = money(id);
  Receipt r = exec(R(), UncooperativeClose{id, units(2000), CloseReason::unpaid});
  int64_t ends = must(L().block(r.block)).timestamp_ms + kChallengeMs;
  DealView d = deal(id);
  EXPECT_EQ(d.state, DealState::closing);
  EXPECT_AMOUNT(d.admitted, units(2000));
  EXPECT_EQ(d.challenge_ends_ms, ends);
  expect_payout(m, id, units(1000), false);  // nothing moves yet
  const Event& e = the_event(r.events, EventKind::deal_closing);
  EXPECT_TRUE(field_is_amount(e, "admitted", units(2000)));
  EXPECT_TRUE(field_is_number(e, "challenge_ends", U256(static_cast<uint64_t>(ends))));

  expect_rejected(R(), UncooperativeClose{id, units(2000), CloseReason::unpaid},
                  LedgerErrc::deal_state);
  expect_rejected(S(), Settle{id}, LedgerErrc::challenge_period);
  advance_ms(kChallengeMs - 1'000);
  expect_rejected(S(), Settle{id}, LedgerErrc::challenge_period);
  advance_ms(1'000);
  Receipt rs = exec(S(), Settle{id});  // anyone may settle
  expect_payout(m, id, units(2000), true);
  EXPECT_EQ(deal(id).reason, CloseReason::unpaid);
  const Event& c = the_event(rs.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_text(c, "how", "settled"));
  EXPECT_TRUE(field_is_amount(c, "paid", units(2000)));
  EXPECT_TRUE(field_is_amount(c, "refunded", minus(standard_deposit(), units(2000))));
  expect_rejected(S(), Settle{id}, LedgerErrc::deal_state);
  expect_rejected(R(), UncooperativeClose{id, units(2000), CloseReason::unpaid},
                  LedgerErrc::deal_state);
}

TEST_P(LedgerConformance, UncooperativeCloseAndSettleRejections) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  auto uncoop = [&](const Amount& a) {
    return UncooperativeClose{id, a, CloseReason::requester_closed};
  };
  expect_rejected(R(), UncooperativeClose{random_hash(), units(1000), CloseReason::unpaid},
                  LedgerErrc::unknown_deal);
  expect_rejected(P(), uncoop(units(1000)), LedgerErrc::not_a_party);
  expect_rejected(S(), uncoop(units(1000)), LedgerErrc::not_a_party);
  expect_rejected(market(), uncoop(units(1000)), LedgerErrc::not_a_party);
  expect_rejected(R(), uncoop(units(999)), LedgerErrc::bad_balance_proof);
  expect_rejected(R(), uncoop(plus(standard_deposit(), units(1))), LedgerErrc::bad_balance_proof);
  expect_rejected(S(), Settle{id}, LedgerErrc::deal_state);  // open, not closing
  expect_rejected(S(), Settle{random_hash()}, LedgerErrc::unknown_deal);
  exec(R(), uncoop(units(1000)));  // admitting exactly what was claimed is allowed
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  expect_rejected(R(), uncoop(units(1000)), LedgerErrc::deal_state);
  expect_rejected(S(), Settle{id}, LedgerErrc::deal_state);
}

TEST_P(LedgerConformance, SettleHonoursTheProvidersHigherClaimOverTheAdmittedAmount) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealMoney m = money(id);
  // The requester signed 5000 but admits 1500; the provider claims the signed proof in time.
  exec(R(), UncooperativeClose{id, units(1500), CloseReason::unpaid});
  advance_ms(kChallengeMs / 2);
  exec(P(), Claim{id, units(5000), proof_sig(R(), id, units(5000))});
  EXPECT_EQ(deal(id).state, DealState::closing);
  advance_ms(kChallengeMs / 2);
  Receipt r = exec(R(), Settle{id});
  expect_payout(m, id, units(5000), true);
  const Event& c = the_event(r.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_amount(c, "paid", units(5000)));
  EXPECT_TRUE(field_is_amount(c, "refunded", minus(standard_deposit(), units(5000))));
}

TEST_P(LedgerConformance, SettleAfterALowerProviderClaimPaysUpToTheAdmittedAmount) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(R(), UncooperativeClose{id, units(4000), CloseReason::unpaid});
  exec(P(), Claim{id, units(2500), proof_sig(R(), id, units(2500))});
  advance_ms(kChallengeMs);
  // The commission is taken per payment: floor(2500 * 2.5 %) = 62, then floor(1500 * 2.5 %) = 37.
  DealMoney m = money(id);
  EXPECT_AMOUNT(m.market.balance, units(62));
  exec(P(), Settle{id});
  expect_payout(m, id, units(4000), true);
  EXPECT_AMOUNT(wallet(market().address()).balance, units(62 + 37));
}

// R3: a deal both parties abandon does not keep the requester's deposit reserved forever.
TEST_P(LedgerConformance, SettleOfAnOpenDealByAnyoneAfterItsEndPlusTheChallengePeriod) {
  finalize_and_fund();
  Offer offer = offer_of(P());  // capacity 1
  Hash id = open_deal(P(), offer, R(), request_of(R()));
  exec(P(), Claim{id, units(1000), proof_sig(R(), id, units(1000))});
  DealView d = deal(id);
  int64_t settleable_ms = static_cast<int64_t>(d.start + d.duration) * 1000 + kChallengeMs;
  advance_ms(settleable_ms - now_ms() - 1'000);
  expect_rejected(S(), Settle{id}, LedgerErrc::deal_state);  // one second early
  EXPECT_EQ(deal(id).state, DealState::open);
  expect_rejected(market(), open_op(P(), offer, R2(), request_of(R2())),
                  LedgerErrc::order_exhausted);
  advance_ms(1'000);
  DealMoney m = money(id);
  Receipt r = exec(S(), Settle{id});        // a third party, on time
  expect_payout(m, id, units(1000), true);  // nothing more paid, the rest refunded
  EXPECT_EQ(deal(id).reason, CloseReason::completed);
  EXPECT_EQ(std::count_if(r.events.begin(), r.events.end(),
                          [](const Event& e) { return e.kind == EventKind::claimed; }),
            0);
  const Event& c = the_event(r.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_text(c, "how", "settled"));
  EXPECT_TRUE(field_is_reason(c, CloseReason::completed));
  EXPECT_TRUE(field_is_amount(c, "paid", units(1000)));
  EXPECT_TRUE(field_is_amount(c, "refunded", minus(standard_deposit(), units(1000))));
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
  expect_rejected(S(), Settle{id}, LedgerErrc::deal_state);
  expect_rejected(P(), Claim{id, units(2000), proof_sig(R(), id, units(2000))},
                  LedgerErrc::deal_state);
  open_deal(P(), offer, R2(), request_of(R2()));  // the offer's place is free again
}

TEST_P(LedgerConformance, SettleOfAnOpenDealWithNothingClaimedRefundsAllAsExpired) {
  finalize_and_fund();
  Request request = request_of(R());
  request.start = now_s() + 600;  // starts later: its end counts from its start
  Hash id = open_deal(P(), offer_of(P()), R(), request);
  DealView d = deal(id);
  EXPECT_EQ(d.start, request.start);
  int64_t settleable_ms = static_cast<int64_t>(d.start + d.duration) * 1000 + kChallengeMs;
  advance_ms(settleable_ms - now_ms() - 1'000);
  expect_rejected(R(), Settle{id}, LedgerErrc::deal_state);
  advance_ms(1'000);
  DealMoney m = money(id);
  Receipt r = exec(R(), Settle{id});
  expect_payout(m, id, Amount(), true);
  EXPECT_EQ(deal(id).reason, CloseReason::expired);
  const Event& c = the_event(r.events, EventKind::deal_closed);
  EXPECT_TRUE(field_is_text(c, "how", "settled"));
  EXPECT_TRUE(field_is_reason(c, CloseReason::expired));
  EXPECT_TRUE(field_is_amount(c, "paid", Amount()));
  EXPECT_TRUE(field_is_amount(c, "refunded", standard_deposit()));
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
}

TEST_P(LedgerConformance, DuringTheChallengePeriodTheProviderOrBothPartiesMayClose) {
  finalize_and_fund();
  Hash a = open_standard_deal();
  exec(R(), UncooperativeClose{a, units(100), CloseReason::unpaid});
  DealMoney ma = money(a);
  exec(P(), CloseDeal{a, units(3000), proof_sig(R(), a, units(3000)), CloseReason::completed});
  expect_payout(ma, a, units(3000), true);
  advance_ms(kChallengeMs);
  expect_rejected(S(), Settle{a}, LedgerErrc::deal_state);

  Hash b = open_deal(P2(), offer_of(P2()), R2(), request_of(R2()));
  exec(R2(), UncooperativeClose{b, units(100), CloseReason::unpaid});
  DealMoney mb = money(b);
  exec(P2(), CooperativeClose{b, units(700), proof_sig(R2(), b, units(700)),
                              consent_sig(P2(), b, units(700)), CloseReason::completed});
  expect_payout(mb, b, units(700), true);
}

// ==== Close reasons =============================================================================

// Regression: the embedded ledger accepted a close reason above 6 (expired), which the contract
// refuses. Every close now refuses it with invalid_argument, before any other check (even of the
// deal's existence), on every backend.
TEST_P(LedgerConformance, CloseReasonAboveExpiredIsRejectedWithInvalidArgumentBeforeAnythingElse) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  const Amount a = units(1000);
  for (unsigned n : {7u, 8u, 255u}) {
    SCOPED_TRACE("reason " + std::to_string(n));
    const auto bad = static_cast<CloseReason>(n);
    expect_rejected(P(), CloseDeal{id, Amount(), std::nullopt, bad}, LedgerErrc::invalid_argument);
    expect_rejected(P(), CloseDeal{id, a, proof_sig(R(), id, a), bad},
                    LedgerErrc::invalid_argument);
    expect_rejected(R(),
                    CooperativeClose{id, a, proof_sig(R(), id, a), consent_sig(P(), id, a), bad},
                    LedgerErrc::invalid_argument);
    expect_rejected(R(), UncooperativeClose{id, a, bad}, LedgerErrc::invalid_argument);
    // First of all the checks: an unknown deal, a stranger, a bad proof.
    const Hash nowhere = random_hash();
    expect_rejected(S(), CloseDeal{nowhere, Amount(), std::nullopt, bad},
                    LedgerErrc::invalid_argument);
    expect_rejected(
        S(),
        CooperativeClose{nowhere, a, proof_sig(S(), nowhere, a), consent_sig(S(), nowhere, a), bad},
        LedgerErrc::invalid_argument);
    expect_rejected(S(), UncooperativeClose{nowhere, a, bad}, LedgerErrc::invalid_argument);
  }
  EXPECT_EQ(deal(id).state, DealState::open);
  // The largest reason is valid, in each kind of close.
  Receipt r = exec(R(), UncooperativeClose{id, a, kMaxCloseReason});
  EXPECT_EQ(deal(id).reason, CloseReason::expired);
  EXPECT_TRUE(field_is_reason(the_event(r.events, EventKind::deal_closing), CloseReason::expired));
  expect_rejected(P(), CloseDeal{id, Amount(), std::nullopt, static_cast<CloseReason>(7)},
                  LedgerErrc::invalid_argument);
  r = exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::expired});
  EXPECT_TRUE(field_is_reason(the_event(r.events, EventKind::deal_closed), CloseReason::expired));
  // A closed deal: still invalid_argument, not deal_state.
  expect_rejected(P(), CloseDeal{id, Amount(), std::nullopt, static_cast<CloseReason>(7)},
                  LedgerErrc::invalid_argument);
  Hash b = open_deal(P2(), offer_of(P2()), R2(), request_of(R2()));
  r = exec(R2(), CooperativeClose{b, a, proof_sig(R2(), b, a), consent_sig(P2(), b, a),
                                  CloseReason::expired});
  EXPECT_EQ(deal(b).reason, CloseReason::expired);
}

// ==== rate ======================================================================================

TEST_P(LedgerConformance, RateOnceByEachPartyOfAClosedDeal) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  Receipt r = exec(R(), Rate{id, 4});
  EXPECT_EQ(rating(P().address()).count, 1u);
  EXPECT_EQ(rating(P().address()).sum, 4u);
  EXPECT_EQ(rating(R().address()).count, 0u);
  EXPECT_TRUE(deal(id).rated_by_requester);
  EXPECT_FALSE(deal(id).rated_by_provider);
  const Event& e = the_event(r.events, EventKind::rated);
  EXPECT_TRUE(field_is_address(e, "by", R().address()));
  EXPECT_TRUE(field_is_address(e, "of", P().address()));
  EXPECT_TRUE(field_is_number(e, "score", U256(4)));
  exec(P(), Rate{id, 1});
  EXPECT_EQ(rating(R().address()).count, 1u);
  EXPECT_EQ(rating(R().address()).sum, 1u);
  EXPECT_TRUE(deal(id).rated_by_provider);
  expect_rejected(R(), Rate{id, 5}, LedgerErrc::already_rated);
  expect_rejected(P(), Rate{id, 5}, LedgerErrc::already_rated);
  // The score is checked before the repetition.
  expect_rejected(R(), Rate{id, 6}, LedgerErrc::bad_rating);

  // Ratings accumulate over deals.
  Hash id2 = open_deal(P(), offer_of(P()), R2(), request_of(R2()));
  exec(P(), CloseDeal{id2, Amount(), std::nullopt, CloseReason::completed});
  exec(R2(), Rate{id2, 5});
  EXPECT_EQ(rating(P().address()).count, 2u);
  EXPECT_EQ(rating(P().address()).sum, 9u);
}

TEST_P(LedgerConformance, RateRejectsBadScoresStrangersAndUnclosedDeals) {
  finalize_and_fund();
  Hash id = open_standard_deal();
  expect_rejected(R(), Rate{random_hash(), 3}, LedgerErrc::unknown_deal);
  expect_rejected(R(), Rate{id, 3}, LedgerErrc::deal_state);
  // The state is checked before the party.
  expect_rejected(S(), Rate{id, 3}, LedgerErrc::deal_state);
  exec(R(), UncooperativeClose{id, Amount(), CloseReason::unpaid});
  expect_rejected(P(), Rate{id, 3}, LedgerErrc::deal_state);
  advance_ms(kChallengeMs);
  exec(S(), Settle{id});
  expect_rejected(S(), Rate{id, 3}, LedgerErrc::not_a_party);
  expect_rejected(market(), Rate{id, 3}, LedgerErrc::not_a_party);
  expect_rejected(R(), Rate{id, 0}, LedgerErrc::bad_rating);
  expect_rejected(R(), Rate{id, 6}, LedgerErrc::bad_rating);
  expect_rejected(P(), Rate{id, 255}, LedgerErrc::bad_rating);
  exec(R(), Rate{id, 1});
  exec(P(), Rate{id, 5});
}

// ==== batch ====================================================================================

TEST_P(LedgerConformance, BatchOpensSeveralDealsInOneTransactionInOrder) {
  finalize_and_fund();
  Offer o1 = offer_of(P()), o2 = offer_of(P2());
  Request q1 = request_of(R()), q2 = request_of(R2());
  uint64_t n = nonce(market().address());
  Receipt r = exec(market(), Batch{{open_op(P(), o1, R(), q1), open_op(P2(), o2, R2(), q2)}});
  EXPECT_EQ(nonce(market().address()), n + 1) << "a batch is one transaction";
  Hash a = deal_id_for(o1.struct_hash(), q1.struct_hash(), 0);
  Hash b = deal_id_for(o2.struct_hash(), q2.struct_hash(), 0);
  std::vector<Hash> opened;
  for (const Event& e : r.events)
    if (e.kind == EventKind::deal_opened && e.deal) opened.push_back(*e.deal);
  EXPECT_EQ(opened, (std::vector<Hash>{a, b}));
  EXPECT_EQ(deal(a).provider, P().address());
  EXPECT_EQ(deal(b).requester, R2().address());
  EXPECT_AMOUNT(wallet(R().address()).reserved, standard_deposit());
  EXPECT_AMOUNT(wallet(R2().address()).reserved, standard_deposit());
}

TEST_P(LedgerConformance, BatchClaimsAndClosesAProvidersDealsAsEachAlone) {
  finalize_and_fund();
  auto [a, b] = two_deals_of_P();
  WalletView p0 = wallet(P().address()), m0 = wallet(market().address());
  WalletView r0 = wallet(R().address()), r20 = wallet(R2().address());
  const Amount x = units(1'234'567), y = units(2'000'000);
  Receipt r =
      exec(P(), Batch{{Claim{a, x, proof_sig(R(), a, x)}, Claim{b, y, proof_sig(R2(), b, y)},
                       CloseDeal{a, Amount(), std::nullopt, CloseReason::completed},
                       CloseDeal{b, Amount(), std::nullopt, CloseReason::completed}}});
  EXPECT_EQ(deal(a).state, DealState::closed);
  EXPECT_EQ(deal(b).state, DealState::closed);
  EXPECT_AMOUNT(deal(a).claimed, x);
  EXPECT_AMOUNT(deal(b).claimed, y);
  // Commissions floor(x * 250 / 10000) = 30864 and floor(y * 250 / 10000) = 50000.
  EXPECT_AMOUNT(wallet(market().address()).balance, plus(m0.balance, units(30'864 + 50'000)));
  EXPECT_AMOUNT(wallet(P().address()).balance,
                plus(p0.balance, units(1'234'567 - 30'864 + 2'000'000 - 50'000)));
  EXPECT_AMOUNT(wallet(R().address()).balance, plus(r0.balance, minus(r0.reserved, x)));
  EXPECT_AMOUNT(wallet(R2().address()).balance, plus(r20.balance, minus(r20.reserved, y)));
  EXPECT_AMOUNT(wallet(R().address()).reserved, Amount());
  // Each operation's events, in the batch's order.
  std::vector<std::pair<EventKind, Hash>> got;
  for (const Event& e : r.events)
    if (e.deal) got.emplace_back(e.kind, *e.deal);
  EXPECT_EQ(got, (std::vector<std::pair<EventKind, Hash>>{{EventKind::claimed, a},
                                                          {EventKind::claimed, b},
                                                          {EventKind::deal_closed, a},
                                                          {EventKind::deal_closed, b}}));
}

TEST_P(LedgerConformance, BatchIsAllOrNoneAndNamesNothingOfAFailedOperation) {
  finalize_and_fund();
  auto [a, b] = two_deals_of_P();
  const Amount x = units(1000);
  // The second claim's proof is the provider's own: the first claim, valid alone, is undone too
  // (expect_rejected checks that nothing observable changed, the nonce included).
  expect_rejected(P(),
                  Batch{{Claim{a, x, proof_sig(R(), a, x)}, Claim{b, x, proof_sig(P(), b, x)}}},
                  LedgerErrc::bad_balance_proof);
  expect_rejected(P(),
                  Batch{{Claim{a, x, proof_sig(R(), a, x)},
                         CloseDeal{a, Amount(), std::nullopt, CloseReason::completed},
                         Claim{a, units(2000), proof_sig(R(), a, units(2000))}}},
                  LedgerErrc::deal_state);
  // A deal opened and acted on in one batch: its terms are not known before it is open.
  Offer third = offer_of(P2());
  Request q = request_of(R());
  q.nonce += 1;
  Hash c = deal_id_for(third.struct_hash(), q.struct_hash(), 0);
  expect_rejected(market(), Batch{{open_op(P2(), third, R(), q), Settle{c}}},
                  LedgerErrc::unknown_deal);
  EXPECT_EQ(deal(a).claimed, Amount());
  exec(P(), Batch{{Claim{a, x, proof_sig(R(), a, x)}}});
  EXPECT_EQ(deal(a).claimed, x);
}

// The market's openDeals, sent with submit_as back to back (a backend may send those queued
// together as one batch): each is answered alone, with its own deal and only its own events, and
// a refused one in the middle with its own error, the others' deals opened all the same.
TEST_P(LedgerConformance, SubmitAsAnswersEachQueuedOpenDealWithItsOwnDeal) {
  finalize_and_fund();
  auto key = std::make_shared<const PrivateKey>(market().clone());
  std::vector<OpenDeal> ops;
  std::vector<Hash> ids;
  for (size_t i = 0; i < 4; ++i) {
    Offer o = offer_of(i % 2 ? P2() : P());
    o.nonce += 10 + i;
    o.ip = parse_ip("198.51.100." + std::to_string(10 + i)).value();
    // The third one's requester has no wallet: refused, insufficient funds.
    const PrivateKey& r = i == 2 ? dev(5) : (i % 2 ? R2() : R());
    Request q = request_of(r);
    q.nonce += 10 + i;
    ops.push_back(open_op(i % 2 ? P2() : P(), o, r, q));
    ids.push_back(deal_id_for(o.struct_hash(), q.struct_hash(), 0));
  }
  auto results = submit_all_as(key, std::vector<Op>(ops.begin(), ops.end()));
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE(i);
    if (i == 2) {
      ASSERT_FALSE(results[i]);
      EXPECT_EQ(results[i].error().code(), make_error_code(LedgerErrc::insufficient_funds));
      EXPECT_FALSE(L().deal(ids[i]));
      continue;
    }
    ASSERT_TRUE(results[i]) << results[i].error().message();
    EXPECT_EQ(results[i]->deal_id, std::optional<Hash>(ids[i]));
    ASSERT_EQ(results[i]->events.size(), 1u);
    EXPECT_EQ(results[i]->events[0].kind, EventKind::deal_opened);
    EXPECT_EQ(results[i]->events[0].deal, std::optional<Hash>(ids[i]));
    EXPECT_EQ(deal(ids[i]).state, DealState::open);
  }
  check_invariants();
}

// Attack: spending the same money twice inside one transaction, where each operation alone is
// valid (the same balance proof claimed twice; the whole wallet withdrawn twice). Each later
// operation sees the earlier one's effect, so the second is refused and the first undone.
TEST_P(LedgerConformance, BatchCannotSpendTheSameMoneyTwice) {
  finalize_and_fund();
  Hash a = open_standard_deal();
  const Amount x = units(5000);
  Op claim = Claim{a, x, proof_sig(R(), a, x)};
  expect_rejected(P(), Batch{{claim, claim}}, LedgerErrc::bad_balance_proof);
  EXPECT_EQ(deal(a).claimed, Amount());
  const Amount all = wallet(R().address()).balance;
  expect_rejected(R(), Batch{{Withdraw{all}, Withdraw{all}}}, LedgerErrc::insufficient_funds);
  EXPECT_AMOUNT(wallet(R().address()).balance, all);
  // Each alone, once: accepted.
  exec(P(), Batch{{claim}});
  exec(R(), Batch{{Withdraw{all}}});
  EXPECT_AMOUNT(deal(a).claimed, x);
  EXPECT_AMOUNT(wallet(R().address()).balance, Amount());
}

TEST_P(LedgerConformance, BatchRefusesEmptyLongNestedAndNonCentralizerOperations) {
  finalize_and_fund();
  Hash a = open_standard_deal();
  Op claim = Claim{a, units(10), proof_sig(R(), a, units(10))};
  expect_rejected(P(), Batch{}, LedgerErrc::invalid_argument);
  expect_rejected(P(), Batch{std::vector<Op>(kMaxBatchOps + 1, Rate{a, 5})},
                  LedgerErrc::invalid_argument);
  expect_rejected(P(), Batch{{claim, Batch{{Rate{a, 5}}}}}, LedgerErrc::invalid_argument);
  expect_rejected(P(), Batch{{claim, Transfer{R().address(), units(1)}}},
                  LedgerErrc::invalid_argument);
  // Wallet operations may be batched: a deposit and a withdrawal in one.
  Amount before = wallet(P().address()).balance;
  exec(P(), Batch{{Withdraw{units(7)}, Deposit{units(3)}, claim}});
  EXPECT_AMOUNT(wallet(P().address()).balance, plus(minus(before, units(4)), units(10)));
}

// ==== Queries: blocks, transactions, events =====================================================

TEST_P(LedgerConformance, QueryBlocksFormAHashChainAndHoldTheirTransactions) {
  uint64_t h0 = must(L().height());
  std::vector<Receipt> receipts;
  std::vector<SignedTx> txs;
  for (int i = 0; i < 3; ++i) {
    txs.push_back(make_tx(i == 1 ? R() : P(), approve_op(S().address(), 1 + i)));
    receipts.push_back(exec_tx(txs.back()));
    advance_ms(2'000);
  }
  for (size_t i = 0; i < receipts.size(); ++i) {
    const Receipt& r = receipts[i];
    EXPECT_EQ(r.tx_id, txs[i].id());
    EXPECT_GT(r.block, h0);
    if (i > 0) {
      EXPECT_GT(r.block, receipts[i - 1].block);
    }
    BlockView b = must(L().block(r.block));
    EXPECT_EQ(b.number, r.block);
    ASSERT_LT(r.index, b.txs.size());
    EXPECT_EQ(b.txs[r.index], r.tx_id);
  }
  uint64_t h = must(L().height());
  EXPECT_GE(h, receipts.back().block);
  int64_t last_ts = 0;
  for (uint64_t n = 0; n <= h; ++n) {
    BlockView b = must(L().block(n));
    EXPECT_EQ(b.number, n);
    EXPECT_GE(b.timestamp_ms, last_ts);
    last_ts = b.timestamp_ms;
    if (n > 0) {
      EXPECT_EQ(b.parent, must(L().block(n - 1)).hash) << "block " << n;
    }
  }
  // Each block carries the time of the clock when it was made.
  EXPECT_EQ(must(L().block(receipts[2].block)).timestamp_ms, now_ms() - 2'000);
  EXPECT_EQ(must(L().block(receipts[0].block)).timestamp_ms, kGenesisMs);
  EXPECT_FALSE(L().block(h + 1000).has_value());
}

TEST_P(LedgerConformance, QueryTransactionsOfAnAccountListItsAcceptedTransactions) {
  std::vector<Receipt> rs;
  for (uint64_t i = 0; i < 3; ++i) rs.push_back(exec(P(), approve_op(R().address(), i + 1)));
  expect_rejected(P(), Approve{Address(), tokens(1)}, LedgerErrc::invalid_argument);
  auto all = must(L().transactions_of(P().address(), kAll));
  ASSERT_EQ(all.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(all[i].id, rs[i].tx_id);
    EXPECT_EQ(all[i].block, rs[i].block);
    EXPECT_EQ(all[i].index, rs[i].index);
    EXPECT_EQ(all[i].from, P().address());
    EXPECT_EQ(all[i].nonce, i);
    EXPECT_EQ(all[i].op, "approve");
  }
  auto newest = must(L().transactions_of(P().address(), 2));
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].nonce, 1u);
  EXPECT_EQ(newest[1].nonce, 2u);
  EXPECT_TRUE(must(L().transactions_of(R().address(), kAll)).empty());
}

TEST_P(LedgerConformance, QueryATransactionByItsId) {
  Receipt r = exec(P(), approve_op(R().address(), 7));
  auto found = must(L().transaction(r.tx_id));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, r.tx_id);
  EXPECT_EQ(found->block, r.block);
  EXPECT_EQ(found->index, r.index);
  EXPECT_EQ(found->from, P().address());
  EXPECT_EQ(found->op, "approve");
  // The block lists it.
  auto b = must(L().block(r.block));
  EXPECT_NE(std::find(b.txs.begin(), b.txs.end(), r.tx_id), b.txs.end());
  EXPECT_FALSE(must(L().transaction(Hash{})).has_value());
}

TEST_P(LedgerConformance, QueryEventsOfAnAccountNewestLast) {
  finalize_and_fund();
  Receipt r1 = exec(P(), Transfer{R2().address(), units(11)});
  Receipt r2 = exec(R(), Transfer{R2().address(), units(22)});
  auto events = must(L().events_of_account(R2().address(), kAll));
  ASSERT_GE(events.size(), 2u);
  const Event& a = events[events.size() - 2];
  const Event& b = events.back();
  EXPECT_EQ(a.kind, EventKind::transfer);
  EXPECT_EQ(a.tx_id, r1.tx_id);
  EXPECT_TRUE(field_is_amount(a, "amount", units(11)));
  EXPECT_EQ(b.tx_id, r2.tx_id);
  EXPECT_TRUE(field_is_address(b, "from", R().address()));
  EXPECT_NE(std::find(b.accounts.begin(), b.accounts.end(), R2().address()), b.accounts.end());
  auto last = must(L().events_of_account(R2().address(), 1));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].tx_id, r2.tx_id);
  auto sender = must(L().events_of_account(P().address(), kAll));
  ASSERT_FALSE(sender.empty());
  EXPECT_EQ(sender.back().tx_id, r1.tx_id);
}

TEST_P(LedgerConformance, QueryEventsOfADealInOrderForTheDealAndItsParties) {
  finalize_and_fund();
  Receipt open = exec(market(), open_op(P(), offer_of(P()), R(), request_of(R())));
  ASSERT_TRUE(open.deal_id.has_value());
  Hash id = *open.deal_id;
  Receipt claim = exec(P(), Claim{id, units(500), proof_sig(R(), id, units(500))});
  Receipt close = exec(P(), CloseDeal{id, Amount(), std::nullopt, CloseReason::completed});
  auto events = must(L().events_of_deal(id));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, EventKind::deal_opened);
  EXPECT_EQ(events[1].kind, EventKind::claimed);
  EXPECT_EQ(events[2].kind, EventKind::deal_closed);
  EXPECT_EQ(events[0].tx_id, open.tx_id);
  EXPECT_EQ(events[1].tx_id, claim.tx_id);
  EXPECT_EQ(events[2].tx_id, close.tx_id);
  EXPECT_EQ(events[2].block, close.block);
  for (const Event& e : events) EXPECT_EQ(e.deal, std::optional<Hash>(id));
  EXPECT_TRUE(field_is_address(events[0], "provider", P().address()));
  EXPECT_TRUE(field_is_amount(events[1], "amount", units(500)));
  EXPECT_TRUE(field_is_text(events[2], "how", "provider"));
  EXPECT_TRUE(field_is_amount(events[2], "refunded", minus(standard_deposit(), units(500))));
  // Each concerns both parties.
  for (const PrivateKey* party : {&P(), &R()}) {
    auto mine = must(L().events_of_account(party->address(), kAll));
    for (const Event& e : events) {
      bool found = std::any_of(mine.begin(), mine.end(), [&](const Event& x) {
        return x.tx_id == e.tx_id && x.kind == e.kind;
      });
      EXPECT_TRUE(found) << to_string(e.kind) << " missing for " << party->address().to_string();
    }
  }
  EXPECT_TRUE(must(L().events_of_deal(random_hash())).empty());
}

// ==== Property: random operations ===============================================================

// ~400 random operations over eight funded accounts and the market, many deliberately invalid.
// Each step's outcome is predicted from the state before it, by the rules of docs/ledger.md:
// accepted steps must have exactly the predicted effect (and keep the invariants), rejected ones
// the predicted error and no effect at all.
TEST_P(LedgerConformance, PropertyRandomOperationsFollowTheSpecAndConserveTheSupply) {
  finalize_and_fund(kDevs);
  std::mt19937_64 rng(0x1b5c2026);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto chance = [&](unsigned percent) { return rng() % 100 < percent; };
  std::vector<const PrivateKey*> people;
  for (size_t i = 0; i < kDevs; ++i) people.push_back(&dev(i));
  people.push_back(&market());
  auto anyone = [&]() -> const PrivateKey& { return *people[pick(people.size())]; };
  auto some_dev = [&]() -> const PrivateKey& { return dev(pick(kDevs)); };
  auto key_of = [&](const Address& a) -> const PrivateKey& {
    for (const PrivateKey* k : people) {
      if (k->address() == a) return *k;
    }
    throw StepFailed("unknown key");
  };
  // An amount near `limit`: zero, one, the limit, one more, a fraction of it, or 2^256-1.
  auto near = [&](const Amount& limit) -> Amount {
    switch (pick(7)) {
      case 0:
        return Amount();
      case 1:
        return units(1);
      case 2:
        return limit;
      case 3:
        return limit.add(units(1)).value_or(limit);
      case 4:
        return units(U256::max());
      default:
        return limit.mul_div(U256(1 + rng() % 1000), U256(1000)).value_or(limit);
    }
  };
  auto deal_amount = [&](const DealView& d) -> Amount {
    switch (pick(6)) {
      case 0:
        return d.claimed;
      case 1:
        return plus(d.claimed, units(1));
      case 2:
        return d.deposit;
      case 3:
        return plus(d.deposit, units(1));
      case 4:
        if (!d.claimed.is_zero()) return minus(d.claimed, units(1));
        [[fallthrough]];
      default:
        return plus(d.claimed,
                    minus(d.deposit, d.claimed).mul_div(U256(rng() % 1000), U256(1000)).value());
    }
  };

  std::vector<Hash> deals;
  std::vector<OpenDeal> opened;  // successful openDeals, replayed to hit order_exhausted
  std::map<std::string, int> accepted, rejected;
  // Submits `op`; `want` is the predicted rejection, or none for a predicted success. Returns
  // the receipt of an accepted step.
  auto attempt = [&](const PrivateKey& key, const Op& op,
                     std::optional<LedgerErrc> want) -> std::optional<Receipt> {
    const char* name = op_name(op);
    if (want) {
      expect_rejected(key, op, *want);
      ++rejected[name];
      return std::nullopt;
    }
    Receipt r = exec(key, op);
    ++accepted[name];
    return r;
  };
  // A deal to act on: mostly a live one, sometimes any, sometimes one that does not exist.
  auto choose_deal = [&]() -> std::optional<Hash> {
    if (deals.empty() || chance(4)) return std::nullopt;
    std::vector<Hash> live;
    for (const Hash& h : deals) {
      if (deal(h).state != DealState::closed) live.push_back(h);
    }
    if (!live.empty() && chance(75)) return live[pick(live.size())];
    return deals[pick(deals.size())];
  };

  for (int step = 0; step < 400; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    size_t kind = pick(104);
    if (kind < 14) {  // transfer
      const PrivateKey& from = some_dev();
      Address to = chance(5) ? Address() : anyone().address();
      Amount b_from = balance(from.address()), b_to = to.is_zero() ? Amount() : balance(to);
      Amount amt = near(b_from);
      std::optional<LedgerErrc> want;
      if (to.is_zero())
        want = LedgerErrc::invalid_argument;
      else if (amt > b_from)
        want = LedgerErrc::insufficient_funds;
      if (attempt(from, Transfer{to, amt}, want) && to != from.address()) {
        EXPECT_AMOUNT(balance(from.address()), minus(b_from, amt));
        EXPECT_AMOUNT(balance(to), plus(b_to, amt));
      }
    } else if (kind < 22) {  // approve
      const PrivateKey& owner = some_dev();
      Address spender = chance(5) ? Address() : anyone().address();
      Amount amt = chance(30) ? units(U256::max()) : near(balance(owner.address()));
      std::optional<LedgerErrc> want;
      if (spender.is_zero()) want = LedgerErrc::invalid_argument;
      if (attempt(owner, Approve{spender, amt}, want)) {
        EXPECT_AMOUNT(allowance(owner.address(), spender), amt);
      }
    } else if (kind < 32) {  // transferFrom
      const PrivateKey& spender = anyone();
      const PrivateKey& owner = some_dev();
      Address to = chance(5) ? Address() : anyone().address();
      Amount allowed = allowance(owner.address(), spender.address());
      Amount b_owner = balance(owner.address()), b_to = to.is_zero() ? Amount() : balance(to);
      Amount amt = near(chance(50) ? std::min(allowed, b_owner) : b_owner);
      std::optional<LedgerErrc> want;
      if (to.is_zero())
        want = LedgerErrc::invalid_argument;
      else if (amt > allowed || amt > b_owner)
        want = LedgerErrc::insufficient_funds;
      if (attempt(spender, TransferFrom{owner.address(), to, amt}, want)) {
        EXPECT_AMOUNT(allowance(owner.address(), spender.address()),
                      allowed == units(U256::max()) ? allowed : minus(allowed, amt));
        if (to != owner.address()) {
          EXPECT_AMOUNT(balance(owner.address()), minus(b_owner, amt));
          EXPECT_AMOUNT(balance(to), plus(b_to, amt));
        }
      }
    } else if (kind < 40) {  // deposit
      const PrivateKey& who = some_dev();
      Amount b = balance(who.address());
      WalletView w = wallet(who.address());
      Amount amt = near(b);
      std::optional<LedgerErrc> want;
      if (amt.is_zero())
        want = LedgerErrc::invalid_argument;
      else if (amt > b)
        want = LedgerErrc::insufficient_funds;
      if (attempt(who, Deposit{amt}, want)) {
        EXPECT_AMOUNT(balance(who.address()), minus(b, amt));
        EXPECT_AMOUNT(wallet(who.address()).balance, plus(w.balance, amt));
      }
    } else if (kind < 48) {  // withdraw
      const PrivateKey& who = anyone();
      Amount b = balance(who.address());
      WalletView w = wallet(who.address());
      Amount amt = near(w.balance);
      std::optional<LedgerErrc> want;
      if (amt.is_zero())
        want = LedgerErrc::invalid_argument;
      else if (amt > w.balance)
        want = LedgerErrc::insufficient_funds;
      if (attempt(who, Withdraw{amt}, want)) {
        EXPECT_AMOUNT(balance(who.address()), plus(b, amt));
        EXPECT_AMOUNT(wallet(who.address()).balance, minus(w.balance, amt));
        EXPECT_AMOUNT(wallet(who.address()).reserved, w.reserved);
      }
    } else if (kind < 64) {  // openDeal
      size_t fault = pick(16);
      const PrivateKey& sender = fault == 0 ? some_dev() : market();
      std::optional<LedgerErrc> want;
      OpenDeal op;
      const PrivateKey* requester = nullptr;
      if (fault == 1 && !opened.empty()) {  // the same orders again: the request is used up
        op = opened[pick(opened.size())];
        requester = &key_of(op.request.requester);
        want = LedgerErrc::order_exhausted;
      } else {
        const PrivateKey& p = some_dev();
        const PrivateKey& q = chance(5) ? p : some_dev();
        requester = &q;
        Offer offer = offer_of(p);
        offer.capacity = static_cast<uint32_t>(1 + pick(2));
        Request request = request_of(q);
        request.duration = 60 + pick(600);
        U256 lo(kOfferPrice), hi(kMaxPrice);
        if (chance(10)) {  // expensive: may exceed the wallet
          lo = hi = u256("300000000000000000000");
          offer.price_per_second = lo;
          request.max_price_per_second = hi;
          request.budget = U256::max();
        }
        U256 price = lo.checked_add(U256(rng() % 1000)).value();
        if (price > hi) price = hi;
        bool price_fits = true;
        if (chance(5)) {
          price = lo.checked_sub(U256(1)).value();
          price_fits = false;
        } else if (chance(5)) {
          price = hi.checked_add(U256(1)).value();
          price_fits = false;
        }
        op = open_op(p, offer, q, request, price);
        bool tampered = fault == 2;
        if (tampered) op.offer.asn += 1;
        Amount cost = units(price.checked_mul(U256(request.duration)).value());
        if (tampered)
          want = LedgerErrc::bad_order;
        else if (&p == &q || !price_fits)
          want = LedgerErrc::terms_mismatch;
        else if (cost > wallet(q.address()).balance)
          want = LedgerErrc::insufficient_funds;
      }
      if (&sender != &market()) want = LedgerErrc::not_a_party;
      WalletView w = wallet(requester->address());
      if (attempt(sender, op, want)) {
        Hash id = deal_id_for(op.offer.struct_hash(), op.request.struct_hash(), 0);
        DealView d = deal(id);
        Amount cost = units(op.price_per_second.checked_mul(U256(op.request.duration)).value());
        EXPECT_EQ(d.state, DealState::open);
        EXPECT_AMOUNT(d.deposit, cost);
        EXPECT_AMOUNT(wallet(requester->address()).balance, minus(w.balance, cost));
        EXPECT_AMOUNT(wallet(requester->address()).reserved, plus(w.reserved, cost));
        deals.push_back(id);
        opened.push_back(op);
      }
    } else if (kind < 74) {  // claim
      auto id = choose_deal();
      const PrivateKey& signer = chance(85) ? R() : anyone();
      if (!id) {
        attempt(P(), Claim{random_hash(), units(1), proof_sig(signer, Hash(), units(1))},
                LedgerErrc::unknown_deal);
        continue;
      }
      DealMoney m = money(*id);
      const PrivateKey& sender = chance(80) ? key_of(m.deal.provider) : anyone();
      const PrivateKey& proof_by = chance(85) ? key_of(m.deal.requester) : anyone();
      Amount amt = deal_amount(m.deal);
      std::optional<LedgerErrc> want;
      if (sender.address() != m.deal.provider)
        want = LedgerErrc::not_a_party;
      else if (m.deal.state == DealState::closed)
        want = LedgerErrc::deal_state;
      else if (proof_by.address() != m.deal.requester || amt <= m.deal.claimed ||
               amt > m.deal.deposit) {
        want = LedgerErrc::bad_balance_proof;
      }
      if (attempt(sender, Claim{*id, amt, proof_sig(proof_by, *id, amt)}, want)) {
        expect_payout(m, *id, amt, false);
        EXPECT_EQ(deal(*id).state, m.deal.state);
      }
    } else if (kind < 80) {  // closeDeal
      auto id = choose_deal();
      if (!id) continue;
      DealMoney m = money(*id);
      const PrivateKey& sender = chance(80) ? key_of(m.deal.provider) : anyone();
      bool with_proof = chance(50);
      const PrivateKey& proof_by = chance(85) ? key_of(m.deal.requester) : anyone();
      Amount amt = deal_amount(m.deal);
      std::optional<Signature> sig;
      if (with_proof) sig = proof_sig(proof_by, *id, amt);
      std::optional<LedgerErrc> want;
      if (sender.address() != m.deal.provider)
        want = LedgerErrc::not_a_party;
      else if (m.deal.state == DealState::closed)
        want = LedgerErrc::deal_state;
      else if (with_proof && (proof_by.address() != m.deal.requester || amt < m.deal.claimed ||
                              amt > m.deal.deposit)) {
        want = LedgerErrc::bad_balance_proof;
      }
      if (attempt(sender, CloseDeal{*id, amt, sig, CloseReason::completed}, want)) {
        expect_payout(m, *id, with_proof ? amt : m.deal.claimed, true);
      }
    } else if (kind < 85) {  // cooperativeClose
      auto id = choose_deal();
      if (!id) continue;
      DealMoney m = money(*id);
      const PrivateKey& sender = chance(45)   ? key_of(m.deal.provider)
                                 : chance(80) ? key_of(m.deal.requester)
                                              : anyone();
      const PrivateKey& rs = chance(85) ? key_of(m.deal.requester) : anyone();
      const PrivateKey& ps = chance(85) ? key_of(m.deal.provider) : anyone();
      Amount amt = deal_amount(m.deal);
      std::optional<LedgerErrc> want;
      if (sender.address() != m.deal.provider && sender.address() != m.deal.requester) {
        want = LedgerErrc::not_a_party;
      } else if (m.deal.state == DealState::closed) {
        want = LedgerErrc::deal_state;
      } else if (rs.address() != m.deal.requester || ps.address() != m.deal.provider ||
                 amt < m.deal.claimed || amt > m.deal.deposit) {
        want = LedgerErrc::bad_balance_proof;
      }
      if (attempt(sender,
                  CooperativeClose{*id, amt, proof_sig(rs, *id, amt), consent_sig(ps, *id, amt),
                                   CloseReason::completed},
                  want)) {
        expect_payout(m, *id, amt, true);
      }
    } else if (kind < 91) {  // uncooperativeClose
      auto id = choose_deal();
      if (!id) continue;
      DealMoney m = money(*id);
      const PrivateKey& sender = chance(80) ? key_of(m.deal.requester) : anyone();
      Amount amt = deal_amount(m.deal);
      std::optional<LedgerErrc> want;
      if (sender.address() != m.deal.requester)
        want = LedgerErrc::not_a_party;
      else if (m.deal.state != DealState::open)
        want = LedgerErrc::deal_state;
      else if (amt < m.deal.claimed || amt > m.deal.deposit)
        want = LedgerErrc::bad_balance_proof;
      if (auto r = attempt(sender, UncooperativeClose{*id, amt, CloseReason::unpaid}, want)) {
        DealView d = deal(*id);
        EXPECT_EQ(d.state, DealState::closing);
        EXPECT_AMOUNT(d.admitted, amt);
        EXPECT_EQ(d.challenge_ends_ms, must(L().block(r->block)).timestamp_ms + kChallengeMs);
        expect_payout(m, *id, m.deal.claimed, false);
      }
    } else if (kind < 96) {  // settle, mostly of a deal in its challenge period
      auto id = choose_deal();
      std::vector<Hash> closing;
      for (const Hash& h : deals) {
        if (deal(h).state == DealState::closing) closing.push_back(h);
      }
      if (id && !closing.empty() && chance(70)) id = closing[pick(closing.size())];
      const PrivateKey& sender = anyone();
      if (!id) {
        attempt(sender, Settle{random_hash()}, LedgerErrc::unknown_deal);
        continue;
      }
      DealMoney m = money(*id);
      std::optional<LedgerErrc> want;
      bool open = m.deal.state == DealState::open;
      if (open) {  // settleable once its end plus the challenge period has come
        int64_t ends = static_cast<int64_t>(m.deal.start + m.deal.duration) * 1000 + kChallengeMs;
        if (now_ms() < ends) want = LedgerErrc::deal_state;
      } else if (m.deal.state != DealState::closing) {
        want = LedgerErrc::deal_state;
      } else if (now_ms() < m.deal.challenge_ends_ms) {
        want = LedgerErrc::challenge_period;
      }
      if (attempt(sender, Settle{*id}, want)) {
        expect_payout(m, *id, open ? m.deal.claimed : std::max(m.deal.claimed, m.deal.admitted),
                      true);
        if (open) {
          EXPECT_EQ(deal(*id).reason,
                    m.deal.claimed.is_zero() ? CloseReason::expired : CloseReason::completed);
        }
      }
    } else if (kind < 101) {  // rate
      auto id = choose_deal();
      if (!id) continue;
      DealView d = deal(*id);
      const PrivateKey& sender = chance(45)   ? key_of(d.provider)
                                 : chance(80) ? key_of(d.requester)
                                              : anyone();
      uint8_t score = static_cast<uint8_t>(pick(7));
      bool by_provider = sender.address() == d.provider;
      Address other = by_provider ? d.requester : d.provider;
      RatingView before = rating(other);
      std::optional<LedgerErrc> want;
      if (d.state != DealState::closed)
        want = LedgerErrc::deal_state;
      else if (!by_provider && sender.address() != d.requester)
        want = LedgerErrc::not_a_party;
      else if (score < 1 || score > 5)
        want = LedgerErrc::bad_rating;
      else if (by_provider ? d.rated_by_provider : d.rated_by_requester) {
        want = LedgerErrc::already_rated;
      }
      if (attempt(sender, Rate{*id, score}, want)) {
        EXPECT_EQ(rating(other).count, before.count + 1);
        EXPECT_EQ(rating(other).sum, before.sum + score);
        DealView after = deal(*id);
        EXPECT_TRUE(by_provider ? after.rated_by_provider : after.rated_by_requester);
      }
    } else {
      // A tenth of the challenge period or more, so that some closes become settleable.
      advance_ms(kChallengeMs / 10 * static_cast<int64_t>(1 + pick(12)));
    }
    if (::testing::Test::HasFatalFailure()) return;
  }

  int total_accepted = 0, total_rejected = 0;
  std::ostringstream mix;
  for (const auto& [name, n] : accepted) {
    total_accepted += n;
    mix << name << "+" << n << " ";
  }
  for (const auto& [name, n] : rejected) {
    total_rejected += n;
    mix << name << "-" << n << " ";
  }
  // The sequence must exercise both outcomes broadly, deals included.
  EXPECT_GE(total_accepted, 100) << mix.str();
  EXPECT_GE(total_rejected, 60) << mix.str();
  for (const char* op : {"transfer", "transferFrom", "deposit", "withdraw", "openDeal", "claim",
                         "closeDeal", "cooperativeClose", "uncooperativeClose", "settle"}) {
    EXPECT_GE(accepted[op], 1) << op << " never accepted: " << mix.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LedgerConformance,
                         ::testing::ValuesIn(ipsx::ledger::conformance_backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace ipsx::ledger::conformance
