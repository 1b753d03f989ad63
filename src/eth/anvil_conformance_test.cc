// The ledger conformance suite (src/ledger/conformance_test.cc, compiled into this program
// unchanged) on the Ethereum backend: each test gets its own anvil, the contracts deployed from
// the build's JSON at the genesis time, the genesis' native coin set with anvil_setBalance, zero
// gas price and base fee (so native coin is conserved exactly), and the test's clock pinned as
// every block's timestamp.
#include <gtest/gtest.h>

#include "eth/anvil_harness.h"
#include "ledger/conformance.h"
#include "ledger/conformance_util.h"

namespace ipsx::ledger {

std::vector<ConformanceBackend> conformance_backends() {
  return {{"anvil", [](const GenesisConfig& g) -> Result<std::unique_ptr<LedgerHarness>> {
             auto h = eth::testing::AnvilHarness::create(g);
             if (!h) return std::unexpected(h.error());
             return std::unique_ptr<LedgerHarness>(std::move(*h));
           }}};
}

namespace conformance {

// Ethereum only: the market's openDeals queued while the ledger sends (here: held) go as one
// transaction, a batch, each answered with its own deal; a batch the ledger refuses (one of its
// requesters cannot pay) is sent again one by one, each with its own outcome.
TEST_P(LedgerConformance, EthereumSendsTheMarketsQueuedOpenDealsAsOneBatch) {
  finalize_and_fund();
  auto& eth = dynamic_cast<eth::testing::AnvilHarness&>(H()).eth_ledger();
  auto key = std::make_shared<const PrivateKey>(market().clone());
  uint32_t ip = 10;
  auto fills = [&](std::vector<const PrivateKey*> requesters, std::vector<Hash>* ids) {
    std::vector<Op> ops;
    for (const PrivateKey* r : requesters) {
      Offer o = offer_of(P());
      o.nonce += ip;
      o.ip = parse_ip("198.51.100." + std::to_string(ip++)).value();
      Request q = request_of(*r);
      q.nonce += ip;
      ids->push_back(deal_id_for(o.struct_hash(), q.struct_hash(), 0));
      ops.push_back(open_op(P(), o, *r, q));
    }
    eth.hold_sends(true);  // every one queued behind the hold, then released together
    return submit_all_as(key, std::move(ops), [&] { eth.hold_sends(false); });
  };
  std::vector<Hash> ids;
  auto r = fills({&R(), &R2(), &R(), &R2(), &R()}, &ids);
  for (size_t i = 0; i < r.size(); ++i) {
    ASSERT_TRUE(r[i]) << i << ": " << r[i].error().message();
    EXPECT_EQ(r[i]->deal_id, std::optional<Hash>(ids[i]));
    EXPECT_EQ(r[i]->chain_tx, r[0]->chain_tx) << "not in the one batch: " << i;
    ASSERT_EQ(r[i]->events.size(), 1u);
    EXPECT_EQ(r[i]->events[0].deal, std::optional<Hash>(ids[i]));
    EXPECT_EQ(deal(ids[i]).requester, i % 2 ? R2().address() : R().address());
  }
  EXPECT_EQ(eth.keeper_stats().batches, 1u);
  EXPECT_EQ(eth.keeper_stats().batched, 5u);

  std::vector<Hash> more;
  auto s = fills({&R(), &dev(5), &R2()}, &more);  // dev(5) has no wallet
  ASSERT_TRUE(s[0]) << s[0].error().message();
  ASSERT_FALSE(s[1]);
  EXPECT_EQ(s[1].error().code(), make_error_code(LedgerErrc::insufficient_funds));
  ASSERT_TRUE(s[2]) << s[2].error().message();
  EXPECT_NE(s[0]->chain_tx, s[2]->chain_tx) << "sent alone after the batch was refused";
  EXPECT_EQ(s[2]->deal_id, std::optional<Hash>(more[2]));
  EXPECT_EQ(eth.keeper_stats().batches_refused, 1u);
  check_invariants();
}

// Ethereum only: a deal call carries the deal's terms as they were when it was prepared. One
// prepared before its deal opened (zero terms) and submitted after is refused as unknown_deal,
// saying to prepare it again (it used to be a bad_signature, which named nothing the user did),
// and prepared again it goes through.
TEST_P(LedgerConformance, EthereumADealCallPreparedBeforeItsDealOpenedIsToBePreparedAgain) {
  finalize_and_fund();
  Offer o = offer_of(P());
  Request q = request_of(R());
  Hash id = deal_id_for(o.struct_hash(), q.struct_hash(), 0);
  const Amount x = units(1000);
  SignedTx early = make_tx(P(), Claim{id, x, proof_sig(R(), id, x)});
  open_deal(P(), o, R(), q);
  expect_rejected_tx(early, LedgerErrc::unknown_deal);
  auto r = L().submit(early);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("prepare it again"), std::string::npos) << r.error().message();
  exec(P(), Claim{id, x, proof_sig(R(), id, x)});
  EXPECT_EQ(deal(id).claimed, x);
}

}  // namespace conformance

}  // namespace ipsx::ledger
