// The Ethereum backend on anvil where the conformance suite cannot reach on every backend: what
// the contracts report that the embedded ledger has no counterpart for.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

#include "core/keccak.h"
#include "eth/anvil_harness.h"
#include "eth/contracts.h"
#include "ledger/test_util.h"

namespace ipsx::eth {
namespace {

using testing::AnvilHarness;

ledger::GenesisConfig genesis() {
  auto key = [] { return crypto::PrivateKey::generate().value().address(); };
  ledger::GenesisConfig g;
  g.time = from_unix_ms(1'767'225'600'000);
  g.early_adopters = key();
  g.bounty = key();
  g.team = key();
  g.sale = {U256(10'000), Amount::from_tokens(50).value(),
            g.time,       g.time + Millis(86'400'000),
            key(),        Amount()};
  return g;
}

// The storage slot of `holder`'s balance in an OpenZeppelin ERC20 (`_balances` is slot 0).
std::string balance_slot(const Address& holder) {
  std::array<uint8_t, 64> key{};
  std::copy(holder.data(), holder.data() + 20, key.begin() + 12);
  return keccak256(ByteView(key)).hex();
}

std::string word(const U256& v) {
  return "0x" + to_hex(v.to_be_bytes(), false);
}

// Regression: a genesis sale window in milliseconds was truncated to seconds on deploy, so the
// Ethereum sale opened and closed up to a second apart from the embedded ledger's. Refused now.
TEST(EthereumDeploy, ASaleWindowThatIsNotWholeSecondsIsRefusedNotTruncated) {
  ledger::GenesisConfig g = genesis();
  auto p = deploy_params(g);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->sale_start, 1'767'225'600u);
  g.sale.end = g.sale.end + Millis(500);
  auto bad = deploy_params(g);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ledger::LedgerErrc::invalid_argument);
  EXPECT_NE(bad.error().message().find("sale.end must be a whole second"), std::string::npos)
      << bad.error().message();
}

// Regression: EthereumLedger::supply() dropped the contract's `conserved` flag. On Ethereum the
// accounts' part is what the contracts do not hold, so the parts summed to the total whatever
// the contracts held, and a Centralizer holding tokens its wallets do not account for still
// passed as conserved.
TEST(EthereumSupply, ContractsHoldingOtherThanTheirBooksSayAreNotConserved) {
  auto h = AnvilHarness::create(genesis());
  ASSERT_TRUE(h) << h.error().message();
  ledger::Ledger& l = (*h)->ledger();
  const Deployment& d = (*h)->eth_ledger().deployment();
  ledger::SupplyView before = l.supply().value();
  ASSERT_TRUE(before.conserved());
  ASSERT_TRUE(before.holdings_match);

  // Move one token of the sale pool, which the token contract holds, to the Centralizer's
  // balance behind the contracts' backs: the parts still sum to the total.
  const U256 one = Amount::from_tokens(1).value().base();
  const U256 pool = l.balance_of(d.token).value().base();
  RpcClient& rpc = *(*h)->rpc();
  auto set = [&](const Address& holder, const U256& v) {
    auto r =
        rpc.request("anvil_setStorageAt",
                    nlohmann::json::array({d.token.to_lower_hex(), balance_slot(holder), word(v)}));
    ASSERT_TRUE(r) << r.error().message();
  };
  set(d.token, *pool.checked_sub(one));
  set(d.centralizer, one);
  ASSERT_EQ(l.balance_of(d.centralizer).value().base(), one) << "not the ERC20 balance slot";

  ledger::SupplyView after = l.supply().value();
  Amount parts = after.accounts;
  for (const Amount* a :
       {&after.wallet_balances, &after.wallet_reserved, &after.sale_pool, &after.unclaimed}) {
    parts = parts.add(*a).value();
  }
  EXPECT_EQ(parts, after.total);  // what conserved() alone used to see
  EXPECT_FALSE(after.holdings_match);
  EXPECT_FALSE(after.conserved());
}

// Regression (#19): on a chain that makes a block only when a transaction arrives (anvil run by
// hand), every check ran at the latest block's own time, so an idle chain refused a purchase in
// a sale that had opened since its last block (sale_not_open) until somebody mined one by hand.
// Checks run at the time the next block will have.
TEST(EthereumChainTime, AnIdleChainSellsInASaleThatOpenedSinceItsLastBlock) {
  int64_t now_s = to_unix_seconds(SystemClock().now());
  crypto::PrivateKey buyer = crypto::PrivateKey::generate().value();
  ledger::GenesisConfig g = genesis();
  g.time = from_unix_ms(now_s * 1000);
  g.sale.start = from_unix_ms((now_s + 3) * 1000);
  g.sale.end = g.sale.start + Millis(3'600'000);
  g.native = {{buyer.address(), Amount::from_tokens(10).value()}};
  auto h = AnvilHarness::create(g, {}, /*wall_clock=*/true);
  ASSERT_TRUE(h) << h.error().message();
  ledger::Ledger& l = (*h)->ledger();
  uint64_t head = l.height().value();
  auto head_time = l.block(head).value().timestamp_ms;
  ASSERT_LT(head_time, to_unix_ms(g.sale.start)) << "the deployment's blocks are before the sale";
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(
      std::chrono::milliseconds(to_unix_ms(g.sale.start) + 1'200)));
  ASSERT_EQ(l.height().value(), head) << "the chain made no block while it idled";

  auto tx = l.prepare(buyer.address(), ledger::Buy{Amount::from_tokens(1).value()}, std::nullopt);
  ASSERT_TRUE(tx) << tx.error().message();
  auto receipt = l.submit(ledger::testing::sign_tx(buyer, *tx));
  ASSERT_TRUE(receipt) << receipt.error().message();
  EXPECT_EQ(l.bought(buyer.address()).value(), Amount::from_tokens(10'000).value());  // rate 10,000
  EXPECT_GE(l.block(l.height().value()).value().timestamp_ms, to_unix_ms(g.sale.start));
}

// #19: the market's openDeal transactions are submitted without waiting (Ledger::submit_as),
// each prepared in the sequencer's turn: a refused one in the middle (here a purchase the
// account cannot pay for) takes no nonce, so the one after it is not left with a gap the node
// would park it behind, on a chain that mines on its own clock.
TEST(EthereumSubmitAs, ARefusedTransactionBetweenOthersLeavesNoNonceGap) {
  int64_t now_s = to_unix_seconds(SystemClock().now());
  auto buyer = std::make_shared<const crypto::PrivateKey>(crypto::PrivateKey::generate().value());
  ledger::GenesisConfig g = genesis();
  g.time = from_unix_ms(now_s * 1000);
  g.sale.start = g.time;
  g.sale.end = g.time + Millis(3'600'000);
  g.native = {{buyer->address(), Amount::from_tokens(10).value()}};
  auto h = AnvilHarness::create(g, {"--block-time", "1"}, /*wall_clock=*/true);
  ASSERT_TRUE(h) << h.error().message();
  ledger::Ledger& l = (*h)->ledger();
  uint64_t nonce = l.nonce_of(buyer->address()).value();
  std::vector<std::promise<Result<ledger::Receipt>>> done(3);
  const uint64_t eth[] = {1, 20, 2};  // 20 ETH: more than the account holds
  for (size_t i = 0; i < 3; ++i) {
    l.submit_as(buyer, ledger::Buy{Amount::from_tokens(eth[i]).value()},
                [&done, i](Result<ledger::Receipt> r) { done[i].set_value(std::move(r)); });
  }
  std::vector<Result<ledger::Receipt>> r;
  for (auto& d : done) r.push_back(d.get_future().get());
  ASSERT_TRUE(r[0]) << r[0].error().message();
  ASSERT_FALSE(r[1]);
  EXPECT_EQ(r[1].error().code(), ledger::LedgerErrc::insufficient_funds) << r[1].error().message();
  ASSERT_TRUE(r[2]) << r[2].error().message();
  EXPECT_EQ(l.transaction(r[0]->tx_id).value()->nonce, nonce);
  EXPECT_EQ(l.transaction(r[2]->tx_id).value()->nonce, nonce + 1);
  EXPECT_EQ(l.bought(buyer->address()).value(), Amount::from_tokens(30'000).value());
}

// #19: a user pastes a transaction's hash into `cast tx` or a block explorer, so receipts, the
// transaction lookup and events carry the chain's own hash beside the ledger's id (which stays
// SignedTx::id(), the same on every backend), and it is the hash the chain knows.
TEST(EthereumChainTx, ReceiptsRecordsAndEventsNameTheChainsTransactionHash) {
  crypto::PrivateKey buyer = crypto::PrivateKey::generate().value();
  int64_t now_s = to_unix_seconds(SystemClock().now());
  ledger::GenesisConfig g = genesis();
  g.time = from_unix_ms(now_s * 1000);
  g.sale.start = g.time;
  g.sale.end = g.time + Millis(3'600'000);
  g.native = {{buyer.address(), Amount::from_tokens(10).value()}};
  auto h = AnvilHarness::create(g, {}, /*wall_clock=*/true);
  ASSERT_TRUE(h) << h.error().message();
  ledger::Ledger& l = (*h)->ledger();
  auto tx = l.prepare(buyer.address(), ledger::Buy{Amount::from_tokens(1).value()}, std::nullopt);
  ASSERT_TRUE(tx) << tx.error().message();
  ledger::SignedTx signed_tx = ledger::testing::sign_tx(buyer, *tx);
  auto r = l.submit(signed_tx);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->tx_id, signed_tx.id());
  ASSERT_TRUE(r->chain_tx);
  EXPECT_NE(*r->chain_tx, r->tx_id);

  auto on_chain = (*h)->rpc()->receipt(*r->chain_tx);
  ASSERT_TRUE(on_chain) << on_chain.error().message();
  ASSERT_TRUE(*on_chain) << "the chain does not know " << r->chain_tx->hex();
  EXPECT_EQ((*on_chain)->block, r->block);
  EXPECT_EQ((*on_chain)->index, r->index);
  EXPECT_EQ((*on_chain)->from, buyer.address());

  auto record = l.transaction(r->tx_id);
  ASSERT_TRUE(record) << record.error().message();
  ASSERT_TRUE(*record);
  EXPECT_EQ((*record)->chain_tx, r->chain_tx);
  auto events = l.events_of_account(buyer.address(), 10);
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_FALSE(events->empty());
  for (const ledger::Event& e : *events) {
    EXPECT_EQ(e.tx_id, r->tx_id);
    EXPECT_EQ(e.chain_tx, r->chain_tx);
  }
}

}  // namespace
}  // namespace ipsx::eth
