// The SDK against a real node: the node's router and HTTP server over an embedded ledger and a
// market, serving on a loopback port from a thread of this process; the SDK (C++ and C) talks to
// it over real sockets. Signed orders become a deal; each kind of failure keeps its code. And the
// data plane over it: a gateway that leases through the node, a provider's exit that learns its
// deals from the node, curl through them. The clock is the system's, as the exit's and the
// gateway's are, moved forward only to skip a challenge period.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/live_node.h"
#include "client/ipsx.h"
#include "client/node_client.h"
#include "client/signer.h"
#include "core/hex.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "eth/ethereum_abi.h"
#include "eth/transaction.h"
#include "http/http_client.h"
#include "ledger/embedded_ledger.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"
#include "market/market.h"
#include "net/dataplane_test_util.h"
#include "sdk/dataplane.h"
#include "sdk/settlement.h"
#include "sdk/usage_store.h"

namespace ipsx::sdk {
namespace {

using json = nlohmann::json;

using ledger::testing::named_key;
crypto::PrivateKey key(const std::string& name) {
  return named_key(name);
}

// The system's clock, which a test may move forward: a wait the ledger imposes (a challenge
// period) passes at once instead of being slept through. Thread-safe.
class JumpClock final : public Clock {
 public:
  Timestamp now() const override { return system_.now() + Millis(offset_ms_.load()); }
  void jump(Millis d) { offset_ms_.fetch_add(d.count()); }

 private:
  SystemClock system_;
  std::atomic<int64_t> offset_ms_{0};
};

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api::testing::LiveNodeOptions o;
    o.market = config_;
    o.challenge_period = challenge_period_;
    live_ = std::make_unique<api::testing::LiveNode>(clock_, o);
    ledger_ = &live_->ledger();
    market_ = &live_->market();
    url_ = live_->url();
  }
  void TearDown() override { live_.reset(); }
  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(clock_.now())); }

  Offer offer(uint64_t price) const {
    Offer o;
    o.ip = parse_ip("127.0.0.2").value();
    o.country = parse_country("DE").value();
    o.protocols = protocol::http;
    o.scopes = scope::crawling;
    o.min_duration = 5;
    o.max_duration = 3600;
    o.price_per_second = U256(price);
    o.market = market_->address();
    o.expiry = now_s() + 3600;
    o.nonce = 1;
    return o;
  }
  Request request(uint64_t max_price) const {
    Request r;
    r.countries = {parse_country("DE").value()};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = 60;
    r.max_price_per_second = U256(max_price);
    r.budget = U256(max_price * 60);
    r.market = market_->address();
    r.expiry = now_s() + 3600;
    r.nonce = 1;
    return r;
  }
  Signer signer(const std::string& name) const {
    return Signer(key(name), ledger_->domain().separator());
  }

  market::MarketConfig config_;
  std::optional<Millis> challenge_period_;
  ledger::testing::TempDir dir_;  // the test's own files (the provider's proofs)
  JumpClock clock_;
  std::unique_ptr<api::testing::LiveNode> live_;
  ledger::EmbeddedLedger* ledger_ = nullptr;
  market::Market* market_ = nullptr;
  std::string url_;
};

TEST_F(SdkTest, SignedOrdersBecomeADeal) {
  auto node = NodeClient::connect(url_).value();
  auto health = node->health();
  ASSERT_TRUE(health) << health.error().message();
  EXPECT_EQ((*health)["market"], market_->address().to_string());

  auto placed_offer = node->place_order(signer("provider").offer(offer(10)).value());
  ASSERT_TRUE(placed_offer) << placed_offer.error().message();
  EXPECT_TRUE((*placed_offer)["accepted"].get<bool>());

  auto depth = node->depth("DE", "residential", 5);
  ASSERT_TRUE(depth) << depth.error().message();
  EXPECT_EQ((*depth)["offers"]["residential"].size(), 1u) << depth->dump();

  auto placed_request = node->place_order(signer("requester").request(request(12)).value());
  ASSERT_TRUE(placed_request) << placed_request.error().message();
  ASSERT_EQ((*placed_request)["deals"].size(), 1u) << placed_request->dump();

  auto block = node->latest_block();
  ASSERT_TRUE(block) << block.error().message();
  EXPECT_TRUE(block->is_object());
}

TEST_F(SdkTest, ApiErrorsKeepTheirCodeAndField) {
  auto node = NodeClient::connect(url_).value();
  // Signed by one wallet, claimed by another: bad_signature.
  json forged = signer("provider").offer(offer(10)).value();
  forged["offer"]["provider"] = key("someone").address().to_string();
  auto r = node->place_order(forged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::bad_signature) << r.error().message();

  // Placed twice: duplicate_order.
  json good = signer("provider").offer(offer(10)).value();
  ASSERT_TRUE(node->place_order(good));
  r = node->place_order(good);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::duplicate_order) << r.error().message();

  // A field the node refuses names it.
  r = node->get("/v1/market/depth?country=ZZZ");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("country"), std::string::npos) << r.error().message();

  r = node->get("/v1/no/such/route");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::not_found);

  r = node->call("POST", "/v1/orders", "{not json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::malformed_json);

  // The connection survives error answers.
  EXPECT_TRUE(node->health());
}

TEST_F(SdkTest, SignerChecksFieldsBeforeSigning) {
  Offer o = offer(10);
  o.max_duration = 31 * 86'400;  // over 30 days
  auto s = signer("provider").offer(o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("maxDuration"), std::string::npos) << s.error().message();
}

// On Ethereum the node builds the transaction (gas, fees, the contract call); the wallet decodes
// what it is asked to sign and refuses anything but this operation on this chain's contracts.
TEST(SdkSigner, ChecksAnEthereumTransactionBeforeSigningIt) {
  const uint64_t chain = 31337;
  const Address token = key("token").address();
  const Address centralizer = key("centralizer").address();
  Signer wallet = Signer::for_chain(key("requester"), chain, centralizer, token);
  const ledger::Op transfer =
      ledger::Transfer{key("friend").address(), Amount::from_tokens(2).value()};
  const ledger::Op deposit = ledger::Deposit{Amount::from_tokens(5).value()};
  // What an honest node prepares: the call that performs `op`, with sane fees.
  auto honest = [&](const ledger::Op& op) {
    auto call = eth::ipsx_abi::ledger_call(token, centralizer, op).value();
    eth::DynamicFeeTx tx;
    tx.chain_id = chain;
    tx.nonce = 7;
    tx.max_priority_fee_per_gas = U256(1'000'000'000);
    tx.max_fee_per_gas = U256(30'000'000'000ULL);
    tx.gas_limit = 120'000;
    tx.to = call.to;
    tx.value = call.value;
    tx.data = call.data;
    return tx;
  };
  auto prepared = [&](const eth::DynamicFeeTx& tx, const ledger::Op& op) {
    Bytes payload = eth::signing_payload(tx);
    return json{{"chainId", chain},
                {"from", wallet.address().to_string()},
                {"nonce", uint64_t{7}},
                {"op", ledger::to_json(op)},
                {"digest", keccak256(payload).hex()},
                {"ledger", "ethereum"},
                {"signingPayload", to_hex(payload)}};
  };
  auto refusal = [&](const json& p, const ledger::Op& op, const Signer& s) {
    auto r = s.transaction(p, op);
    return r ? std::string("signed") : r.error().message();
  };

  for (const ledger::Op& op : {transfer, deposit}) {
    json p = prepared(honest(op), op);
    auto body = wallet.transaction(p, op);
    ASSERT_TRUE(body) << body.error().message();
    auto sig = crypto::Signature::from_hex((*body)["signature"].get<std::string>()).value();
    EXPECT_EQ(crypto::recover(Hash::from_hex(p["digest"].get<std::string>()).value(), sig).value(),
              wallet.address());
  }

  // An operation on a deal carries the deal's terms after its id (the Centralizer keeps their
  // hash): the wallet takes them from the call data and checks the rest is the operation's.
  eth::ipsx_abi::DealTerms terms;
  terms.offer_hash = keccak256(std::string("an offer"));
  terms.provider = key("provider").address();
  terms.requester = wallet.address();
  terms.market = key("market").address();
  terms.fee_bps = 250;
  terms.start = 1'800'000'000;
  terms.duration = 60;
  terms.price_per_second = U256(1'000);
  const Hash deal = eth::ipsx_abi::deal_id(terms);
  const ledger::Op close =
      ledger::UncooperativeClose{deal, Amount::from_base(U256(10)), ledger::CloseReason::completed};
  auto with_terms = [&](const ledger::Op& op, const Hash& id) {
    eth::DynamicFeeTx tx = honest(deposit);
    ledger::Op named = op;
    std::get<ledger::UncooperativeClose>(named).deal_id = id;
    tx.data = eth::ipsx_abi::ledger_call(token, centralizer, named, &terms).value().data;
    tx.to = centralizer;
    return tx;
  };
  EXPECT_EQ(refusal(prepared(with_terms(close, deal), close), close, wallet), "signed");
  EXPECT_NE(refusal(prepared(with_terms(close, Hash{}), close), close, wallet).find("call data"),
            std::string::npos);
  // Terms that are another deal's, for the deal the operation names: a node that lies about a
  // deal's terms is caught before the user signs (the call would only revert, at the user's gas).
  ledger::Op other = close;
  std::get<ledger::UncooperativeClose>(other).deal_id = keccak256(std::string("another deal"));
  EXPECT_NE(refusal(prepared(with_terms(other, keccak256(std::string("another deal"))), other),
                    other, wallet)
                .find("carries the terms of deal"),
            std::string::npos);

  auto changed = [&](auto edit) {
    eth::DynamicFeeTx tx = honest(transfer);
    edit(tx);
    return refusal(prepared(tx, transfer), transfer, wallet);
  };
  EXPECT_NE(changed([](auto& tx) { tx.chain_id = 1; }).find("chain 1"), std::string::npos);
  EXPECT_NE(changed([](auto& tx) { tx.nonce = 8; }).find("nonce 8"), std::string::npos);
  EXPECT_NE(changed([&](auto& tx) { tx.to = centralizer; }).find("not the"), std::string::npos);
  EXPECT_NE(changed([](auto& tx) { tx.data.back() ^= 1; }).find("call data"), std::string::npos);
  EXPECT_NE(changed([](auto& tx) { tx.value = U256(1); }).find("sends 1 wei"), std::string::npos);
  EXPECT_NE(changed([](auto& tx) { tx.access_list.push_back({}); }).find("access list"),
            std::string::npos);
  EXPECT_NE(changed([](auto& tx) {
              tx.max_fee_per_gas = U256(1'000'000'000'000ULL);
            }).find("above this wallet's limit"),
            std::string::npos);
  // Another operation than the one asked for (the fields say deposit, the payload transfers).
  json swapped = prepared(honest(transfer), deposit);
  EXPECT_NE(refusal(swapped, deposit, wallet).find("not the"), std::string::npos);
  // A digest that is not the payload's, or no payload at all.
  json p = prepared(honest(transfer), transfer);
  json bad_digest = p;
  bad_digest["digest"] = Hash{}.hex();
  EXPECT_NE(refusal(bad_digest, transfer, wallet).find("not its payload's"), std::string::npos);
  json bare = p;
  bare.erase("signingPayload");
  EXPECT_NE(refusal(bare, transfer, wallet).find("no signingPayload"), std::string::npos);
  // A wallet that was not told the token refuses token calls; one with no chain refuses all.
  Signer no_token = Signer::for_chain(key("requester"), chain, centralizer);
  EXPECT_NE(refusal(p, transfer, no_token).find("not told its address"), std::string::npos);
  EXPECT_EQ(refusal(prepared(honest(deposit), deposit), deposit, no_token), "signed");
  Signer bare_domain(key("requester"), ledger_domain(chain, centralizer).separator());
  EXPECT_NE(refusal(p, transfer, bare_domain).find("contracts"), std::string::npos);
  // The fee limit is the wallet's to set.
  Signer frugal = Signer::for_chain(key("requester"), chain, centralizer, token);
  frugal.limit_fee(U256(1'000'000));
  EXPECT_NE(refusal(p, transfer, frugal).find("limit of 1000000 wei"), std::string::npos);
}

TEST_F(SdkTest, LedgerTransactionsGoThroughTheNode) {
  auto node = NodeClient::connect(url_).value();
  Signer requester = signer("requester");
  const Address to = key("friend").address();
  ledger::Op op = ledger::Withdraw{Amount::from_tokens(3).value()};
  auto sent = send_transaction(*node, requester, op);
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ((*sent)["op"], "withdraw");
  EXPECT_GT((*sent)["block"].get<uint64_t>(), 0u);
  EXPECT_EQ(ledger_->wallet(requester.address()).value().balance, Amount::from_tokens(97).value());

  // The signer refuses a prepared transaction that is not what it was asked to sign.
  json prepared = node->post("/v1/ledger/transactions/prepare",
                             {{"from", requester.address().to_string()},
                              {"op", ledger::to_json(ledger::Op(
                                         ledger::Transfer{to, Amount::from_tokens(2).value()}))}})
                      .value();
  EXPECT_EQ(prepared["ledger"], "embedded");
  EXPECT_EQ(prepared["nonce"], 2u);
  ledger::Op asked = ledger::Transfer{to, Amount::from_tokens(1).value()};
  EXPECT_FALSE(requester.transaction(prepared, asked));  // another amount
  json tampered = prepared;
  tampered["digest"] = Hash{}.hex();
  ledger::Op transfer2 = ledger::Transfer{to, Amount::from_tokens(2).value()};
  EXPECT_FALSE(requester.transaction(tampered, transfer2));          // a digest not of its fields
  EXPECT_FALSE(signer("someone").transaction(prepared, transfer2));  // another wallet's

  // Transfers are open (the sale is over): sent once, then the same body is a replay.
  json body = requester.transaction(prepared, transfer2).value();
  auto r = node->post("/v1/ledger/transactions", body);
  ASSERT_TRUE(r) << r.error().message();
  r = node->post("/v1/ledger/transactions", body);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::bad_nonce) << r.error().message();
  EXPECT_EQ(ledger_->balance_of(to).value(), Amount::from_tokens(2).value());

  // Signed by one wallet, sent as another's: bad_signature, nothing changes.
  json forged = signer("someone")
                    .transaction(node->post("/v1/ledger/transactions/prepare",
                                            {{"from", key("someone").address().to_string()},
                                             {"op", ledger::to_json(transfer2)}})
                                     .value(),
                                 transfer2)
                    .value();
  forged["from"] = requester.address().to_string();
  forged["nonce"] = 3;
  forged.erase("digest");  // a given digest must be of the fields (invalid_field otherwise)
  r = node->post("/v1/ledger/transactions", forged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::bad_signature) << r.error().message();
  // The ledger's own refusals keep their reason.
  r = node->post(
      "/v1/ledger/transactions",
      requester
          .transaction(
              node->post("/v1/ledger/transactions/prepare",
                         {{"from", requester.address().to_string()},
                          {"op", {{"op", "rate"}, {"dealId", Hash{}.hex()}, {"score", 5}}}})
                  .value(),
              ledger::Rate{Hash{}, 5})
          .value());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::unknown_deal) << r.error().message();
  r = node->post("/v1/ledger/transactions/prepare",
                 {{"from", requester.address().to_string()}, {"op", {{"op", "mint"}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), SdkErrc::invalid_field) << r.error().message();
  EXPECT_EQ(ledger_->nonce_of(requester.address()).value(), 3u);  // deposit, withdraw, transfer
}

// Settlement with short protocol timeouts, so that a close becomes final at once.
class SdkSettlementTest : public SdkTest {
 protected:
  SdkSettlementTest() {
    config_.timeouts.clock_skew = Millis(50);
    config_.timeouts.ready_timeout = Millis(1500);    // a deal starts on a whole second
    challenge_period_ = ledger::kMinChallengePeriod;  // jumped over, not waited for
  }
  void SetUp() override {
    SdkTest::SetUp();
    node_ = NodeClient::connect(url_).value();
    ASSERT_TRUE(node_->place_order(signer("provider").offer(offer(10)).value()));
    auto placed = node_->place_order(signer("requester").request(request(12)).value());
    ASSERT_TRUE(placed) << placed.error().message();
    ASSERT_EQ((*placed)["deals"].size(), 1u) << placed->dump();
    deal_ = Hash::from_hex((*placed)["deals"][0]["id"].get<std::string>()).value();
  }
  // Polls `s` until it has said `want` (or 10 s passed); every line said is kept in `said`.
  template <class S>
  bool poll_until(S& s, const std::string& want) {
    for (int i = 0; i < 200; ++i) {
      for (auto& l : s.poll(clock_.now())) said_ += l + "\n";
      if (said_.find(want) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::unique_ptr<NodeClient> node_;
  Hash deal_;
  std::string said_;
};

TEST_F(SdkSettlementTest, TheProviderClosesWithItsBestProofAndBothSidesRate) {
  Signer provider = signer("provider"), requester = signer("requester");
  StatusReporter provider_reports(*node_, provider, market::Party::provider);
  StatusReporter requester_reports(*node_, requester, market::Party::requester);
  auto ready = provider_reports.report(deal_, market::PartyState::ready);
  ASSERT_TRUE(ready) << ready.error().message();
  auto connected = requester_reports.report(deal_, market::PartyState::connected);
  ASSERT_TRUE(connected) << connected.error().message();

  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  RequesterSettlement requester_side(*node_, requester, fast);
  provider_side.watch(deal_);
  requester_side.watch(deal_);
  // Two proofs arrive; only the higher counts. The lower one arriving late changes nothing.
  provider_side.on_payment(deal_, U256(300), requester.balance_proof(deal_, U256(300)).value());
  provider_side.on_payment(deal_, U256(100), requester.balance_proof(deal_, U256(100)).value());
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(said_, "");  // the deal is still running
  EXPECT_EQ(ledger_->deal(deal_).value().state, ledger::DealState::open);

  ASSERT_TRUE(requester_reports.report(deal_, market::PartyState::closed));
  ASSERT_TRUE(poll_until(provider_side, "rated the requester 5/5")) << said_;
  EXPECT_NE(said_.find("settled on the ledger (requester_closed)"), std::string::npos) << said_;
  EXPECT_EQ(provider_side.pending(), 0u);
  auto d = ledger_->deal(deal_).value();
  EXPECT_EQ(d.state, ledger::DealState::closed);
  EXPECT_EQ(d.claimed, Amount::from_base(U256(300)));
  EXPECT_TRUE(d.rated_by_provider);
  EXPECT_EQ(ledger_->wallet(provider.address()).value().balance, Amount::from_base(U256(300)));
  // The requester got the rest of its deposit (60 s at 10) back.
  EXPECT_EQ(ledger_->wallet(requester.address()).value().reserved, Amount());

  ASSERT_TRUE(poll_until(requester_side, "rated the provider 5/5")) << said_;
  EXPECT_EQ(ledger_->rating(provider.address()).value().count, 1u);
  EXPECT_EQ(ledger_->rating(requester.address()).value().count, 1u);
  EXPECT_EQ(requester_side.pending(), 0u);
}

TEST_F(SdkSettlementTest, TheRequesterGetsItsDepositBackFromAProviderThatNeverCame) {
  // The provider never reports ready: the market closes the deal (provider_failed), and the
  // provider never closes it on the ledger either.
  SettlementOptions fast;
  fast.check_every = Millis(0);
  fast.provider_grace = Millis(0);
  Signer requester = signer("requester");
  RequesterSettlement requester_side(*node_, requester, fast);
  std::vector<std::string> ended;  // the gateway stops using the deal once the ledger closes it
  requester_side.on_ended = [&](const Hash&, const std::string& why) { ended.push_back(why); };
  requester_side.watch(deal_);
  ASSERT_TRUE(poll_until(requester_side, "uncooperative close started")) << said_;
  for (auto& l : requester_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(ended, std::vector<std::string>{"the deal is closing on the ledger"});
  EXPECT_EQ(ledger_->deal(deal_).value().state, ledger::DealState::closing);
  clock_.jump(live_->genesis().challenge_period);
  ASSERT_TRUE(poll_until(requester_side, "rated the provider 1/5")) << said_;
  EXPECT_NE(said_.find("settled after the challenge period"), std::string::npos) << said_;
  auto d = ledger_->deal(deal_).value();
  EXPECT_EQ(d.state, ledger::DealState::closed);
  EXPECT_EQ(d.reason, ledger::CloseReason::provider_failed);
  EXPECT_EQ(ledger_->wallet(requester.address()).value().reserved, Amount());
  EXPECT_EQ(ledger_->wallet(requester.address()).value().balance, Amount::from_tokens(100).value());
}

TEST_F(SdkSettlementTest, TheWatchtowerAnswersARequesterWhoClosesAdmittingNothing) {
  // The requester pays balance proofs up to 400, then starts an uncooperative close admitting 0
  // while the deal runs. The provider's watchtower claims its best proof inside the challenge
  // period, tells the exit to cut the deal, and settles once the period is over: it is paid what
  // the proofs say, not what the requester admitted.
  Signer provider = signer("provider"), requester = signer("requester");
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  std::vector<std::string> ended;
  provider_side.on_ended = [&](const Hash& d, const std::string& why) {
    EXPECT_EQ(d, deal_);
    ended.push_back(why);
  };
  provider_side.watch(deal_);
  provider_side.on_payment(deal_, U256(400), requester.balance_proof(deal_, U256(400)).value());
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(said_, "");  // 400 is under a minute of the price (10/s): nothing to claim yet
  EXPECT_TRUE(ended.empty());

  live_->exec(key("requester"),
              ledger::UncooperativeClose{deal_, Amount(), ledger::CloseReason::completed});
  ASSERT_TRUE(poll_until(provider_side, "claimed our balance proof of")) << said_;
  EXPECT_EQ(ended, std::vector<std::string>{"the requester closed it on the ledger"});
  EXPECT_EQ(ledger_->deal(deal_).value().claimed, Amount::from_base(U256(400)));
  clock_.jump(live_->genesis().challenge_period);
  ASSERT_TRUE(poll_until(provider_side, "rated the requester")) << said_;
  EXPECT_NE(said_.find("settled after the challenge period"), std::string::npos) << said_;
  auto d = ledger_->deal(deal_).value();
  EXPECT_EQ(d.state, ledger::DealState::closed);
  EXPECT_EQ(d.claimed, Amount::from_base(U256(400)));
  EXPECT_EQ(ledger_->wallet(provider.address()).value().balance, Amount::from_base(U256(400)));
  EXPECT_EQ(ledger_->wallet(requester.address()).value().reserved, Amount());
  EXPECT_EQ(ended.size(), 1u);  // told once
}

// What one check decides for several deals goes as one batch transaction; a batch the ledger
// refuses goes again one by one, so one deal's bad proof costs the others nothing.
TEST_F(SdkSettlementTest, OneChecksClaimsGoAsOneBatchAndABadOneDoesNotHoldTheOthers) {
  Signer provider = signer("provider"), requester = signer("requester");
  std::vector<Hash> deals{deal_};
  for (uint64_t n : {2, 3}) {  // two more deals, on the provider's other IPs
    Offer o = offer(10);
    o.ip = parse_ip("127.0.0." + std::to_string(1 + n)).value();
    o.nonce = n;
    ASSERT_TRUE(node_->place_order(provider.offer(o).value()));
    Request r = request(12);
    r.nonce = n;
    auto placed = node_->place_order(requester.request(r).value());
    ASSERT_TRUE(placed) << placed.error().message();
    ASSERT_EQ((*placed)["deals"].size(), 1u) << placed->dump();
    deals.push_back(Hash::from_hex((*placed)["deals"][0]["id"].get<std::string>()).value());
  }
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  for (const Hash& d : deals) {
    provider_side.watch(d);
    provider_side.on_payment(d, U256(400), requester.balance_proof(d, U256(400)).value());
    live_->exec(key("requester"),
                ledger::UncooperativeClose{d, Amount(), ledger::CloseReason::completed});
  }
  const uint64_t nonce = ledger_->nonce_of(provider.address()).value();
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(ledger_->nonce_of(provider.address()).value(), nonce + 1) << "one transaction\n"
                                                                      << said_;
  for (const Hash& d : deals)
    EXPECT_EQ(ledger_->deal(d).value().claimed, Amount::from_base(U256(400))) << said_;
  auto claims = ledger_->events_of_deal(deals[0]).value();
  auto later = ledger_->events_of_deal(deals[2]).value();
  EXPECT_EQ(claims.back().tx_id, later.back().tx_id) << "the claims are one transaction's";

  // A proof the provider signed itself (a bug, or a forged one stored) beside a good one.
  provider_side.on_payment(deals[1], U256(500),
                           provider.balance_proof(deals[1], U256(500)).value());
  provider_side.on_payment(deals[2], U256(500),
                           requester.balance_proof(deals[2], U256(500)).value());
  said_.clear();
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(ledger_->deal(deals[2]).value().claimed, Amount::from_base(U256(500))) << said_;
  EXPECT_EQ(ledger_->deal(deals[1]).value().claimed, Amount::from_base(U256(400))) << said_;
  EXPECT_NE(said_.find("answering the requester's close with our proof"), std::string::npos)
      << said_;
  // The refused batch took no nonce; the good claim went alone, the bad one was refused.
  EXPECT_EQ(ledger_->nonce_of(provider.address()).value(), nonce + 2) << said_;
}

// At the close, the watchtower puts the root of the usage log the requester signed for on the
// ledger (RecordUsage), once per larger receipt; a receipt not larger than the ledger's is not
// sent again.
TEST_F(SdkSettlementTest, TheClosePutsTheRequestersUsageRootOnTheLedger) {
  Signer provider = signer("provider"), requester = signer("requester");
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  const Hash root = keccak256(std::string("the log's root"));
  std::optional<std::pair<UsageReceipt, crypto::Signature>> held;
  provider_side.usage_receipt = [&](const Hash& d) {
    EXPECT_EQ(d, deal_);
    return held;
  };
  provider_side.watch(deal_);
  auto sign_receipt = [&](uint64_t count) {
    UsageReceipt r{deal_, count, root};
    return std::pair{
        r, crypto::sign(key("requester"),
                        crypto::eip712::digest(requester.domain_separator(), r.struct_hash()))
               .value()};
  };
  held = sign_receipt(3);
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(ledger_->deal(deal_).value().usage_count, 0u) << "not while the deal runs";
  live_->exec(key("requester"),
              ledger::UncooperativeClose{deal_, Amount(), ledger::CloseReason::completed});
  ASSERT_TRUE(poll_until(provider_side, "the root of its usage log (3 records")) << said_;
  auto d = ledger_->deal(deal_).value();
  EXPECT_EQ(d.usage_count, 3u);
  EXPECT_EQ(d.usage_root, root);
  said_.clear();
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(said_.find("usage log"), std::string::npos) << "sent again: " << said_;
  held = sign_receipt(5);  // a last receipt arrived
  ASSERT_TRUE(poll_until(provider_side, "the root of its usage log (5 records")) << said_;
  EXPECT_EQ(ledger_->deal(deal_).value().usage_count, 5u);
}

// A usage receipt that arrives after the deal is closed and rated is still put on the ledger:
// the deal is done at once, and what it queued (its recordUsage) is sent before it is dropped.
TEST_F(SdkSettlementTest, AUsageReceiptAfterTheRatingIsStillPutOnTheLedger) {
  Signer provider = signer("provider"), requester = signer("requester");
  StatusReporter provider_reports(*node_, provider, market::Party::provider);
  StatusReporter requester_reports(*node_, requester, market::Party::requester);
  ASSERT_TRUE(provider_reports.report(deal_, market::PartyState::ready));
  ASSERT_TRUE(requester_reports.report(deal_, market::PartyState::connected));
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  std::optional<std::pair<UsageReceipt, crypto::Signature>> held;
  provider_side.usage_receipt = [&](const Hash&) { return held; };
  provider_side.watch(deal_);
  ASSERT_TRUE(requester_reports.report(deal_, market::PartyState::closed));
  ASSERT_TRUE(poll_until(provider_side, "rated the requester")) << said_;
  EXPECT_EQ(provider_side.pending(), 0u);
  const Hash root = keccak256(std::string("the log's root"));
  UsageReceipt late{deal_, 4, root};
  held = std::pair{
      late, crypto::sign(key("requester"),
                         crypto::eip712::digest(requester.domain_separator(), late.struct_hash()))
                .value()};
  provider_side.watch(deal_);
  ASSERT_TRUE(poll_until(provider_side, "the root of its usage log (4 records")) << said_;
  EXPECT_EQ(ledger_->deal(deal_).value().usage_count, 4u);
  EXPECT_EQ(provider_side.pending(), 0u);
}

TEST_F(SdkSettlementTest, TheWatchtowerClaimsOnceAMinuteOfThePriceIsUnclaimed) {
  Signer provider = signer("provider"), requester = signer("requester");
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast);
  provider_side.watch(deal_);
  provider_side.on_payment(deal_, U256(590), requester.balance_proof(deal_, U256(590)).value());
  for (auto& l : provider_side.poll(clock_.now())) said_ += l + "\n";
  EXPECT_EQ(said_, "");
  // 600 is 60 s at the deal's price of 10: claimed at once, not at claim_every.
  provider_side.on_payment(deal_, U256(600), requester.balance_proof(deal_, U256(600)).value());
  ASSERT_TRUE(poll_until(provider_side, "claimed 0.0000000000000006 IPSX")) << said_;
  EXPECT_EQ(ledger_->deal(deal_).value().claimed, Amount::from_base(U256(600)));
  EXPECT_EQ(ledger_->deal(deal_).value().state, ledger::DealState::open);
}

TEST_F(SdkSettlementTest, ARestartedProviderResumesFromItsStoredProofs) {
  Signer provider = signer("provider"), requester = signer("requester");
  auto path = std::filesystem::path(dir_.path()) / "provider" / "proofs.log";
  {
    auto store = ProofStore::open(path).value();
    ASSERT_TRUE(store->put(deal_, U256(250), requester.balance_proof(deal_, U256(250)).value()));
  }  // the provider dies here, before any claim
  live_->exec(key("requester"),
              ledger::UncooperativeClose{deal_, Amount(), ledger::CloseReason::completed});
  auto store = ProofStore::open(path).value();
  SettlementOptions fast;
  fast.check_every = Millis(0);
  ProviderSettlement provider_side(*node_, provider, fast, store.get());
  EXPECT_EQ(provider_side.pending(), 1u);  // watched from its stored proof alone
  ASSERT_TRUE(poll_until(provider_side, "claimed our balance proof of")) << said_;
  clock_.jump(live_->genesis().challenge_period);
  ASSERT_TRUE(poll_until(provider_side, "rated the requester")) << said_;
  EXPECT_EQ(ledger_->deal(deal_).value().claimed, Amount::from_base(U256(250)));
  EXPECT_TRUE(store->best().empty());  // settled: forgotten
  EXPECT_TRUE(ProofStore::open(path).value()->best().empty());
}

TEST(SdkProofStore, KeepsTheBestProofOfEachDealAcrossReopens) {
  ledger::testing::TempDir dir;
  auto path = std::filesystem::path(dir.path()) / "proofs.log";
  Hash a = Hash::from_hex(std::string(64, 'a')).value(),
       b = Hash::from_hex(std::string(64, 'b')).value();
  Signer signer(key("requester"), Hash{});
  auto sig = [&](uint64_t n) { return signer.balance_proof(a, U256(n)).value(); };
  {
    auto s = ProofStore::open(path).value();
    ASSERT_TRUE(s->put(a, U256(5), sig(5)));
    ASSERT_TRUE(s->put(a, U256(9), sig(9)));
    ASSERT_TRUE(s->put(a, U256(7), sig(7)));  // lower: ignored
    ASSERT_TRUE(s->put(b, U256(3), sig(3)));
    ASSERT_TRUE(s->forget(b));
  }
  {
    // A crash mid-append leaves a torn last line: it never counted, and is dropped.
    std::ofstream(path, std::ios::app) << "proof " << a.hex() << " 99";
  }
  auto s = ProofStore::open(path).value();
  auto best = s->best();
  ASSERT_EQ(best.size(), 1u);
  EXPECT_EQ(best.at(a).amount, U256(9));
  EXPECT_EQ(best.at(a).signature, sig(9));
  // Compacted: one line per deal kept.
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;

  // A file that is not ours is refused with the line named, and left as it was.
  std::ofstream(path, std::ios::app) << "hello world\n";
  auto bad = ProofStore::open(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), CoreErrc::parse_error);
  EXPECT_NE(bad.error().message().find(":2: not a proof record"), std::string::npos)
      << bad.error().message();
}

TEST(SdkSettlement, ScoresFollowWhoIsToBlame) {
  EXPECT_EQ(provider_score_for(ledger::CloseReason::completed), 5);
  EXPECT_EQ(provider_score_for(ledger::CloseReason::provider_failed), 1);
  EXPECT_EQ(requester_score_for(ledger::CloseReason::unpaid), 1);
  EXPECT_EQ(requester_score_for(ledger::CloseReason::requester_closed), 5);
  EXPECT_EQ(close_reason_from_string("provider_failed"), ledger::CloseReason::provider_failed);
  EXPECT_FALSE(close_reason_from_string("nope"));
}

TEST(SdkClient, TransportFailuresAreTheirOwn) {
  EXPECT_EQ(NodeClient::connect("ftp://127.0.0.1:1").error().code(), http::HttpErrc::bad_url);
  EXPECT_EQ(NodeClient::connect("http://127.0.0.1:99999").error().code(), http::HttpErrc::bad_url);
  EXPECT_EQ(NodeClient::connect("http://:80").error().code(), http::HttpErrc::bad_url);
  // A port nobody listens on (bound, then closed).
  auto node = NodeClient::connect("http://127.0.0.1:1").value();
  auto r = node->health();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), http::HttpErrc::unavailable) << r.error().message();
}

TEST(SdkClient, ParsesUrls) {
  auto u = http::parse_http_url("http://[::1]:8080/rpc").value();
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "8080");
  EXPECT_EQ(u.path, "/rpc");
  EXPECT_EQ(u.to_string(), "http://[::1]:8080/rpc");
  u = http::parse_http_url("http://node.example").value();
  EXPECT_EQ(u.port, "80");
  EXPECT_EQ(u.path, "/");
  EXPECT_FALSE(http::parse_http_url("http://a:b"));
  EXPECT_FALSE(http::parse_http_url("http://u@host/"));
  EXPECT_EQ(url_encode("a b/ü"), "a%20b%2F%C3%BC");
}

// A gateway that leases through the node and a provider's exit that learns its deals from the
// node: curl's request leaves from the leased IP, the requester's `connected` reaches the node,
// and filters nothing fits get a 503 with the order withdrawn.
TEST_F(SdkTest, GatewayLeasesThroughTheNode) {
  net::testing::EchoServer echo;
  auto node = NodeClient::connect(url_).value();

  // The provider: an offer for 127.0.0.2, an exit that finds its deals at the node, announced.
  crypto::PrivateKey provider_key = key("provider");
  Signer provider = signer("provider");
  Offer o = offer(10);
  o.protocols = protocol::http | protocol::https_connect;
  ASSERT_TRUE(node->place_order(provider.offer(o).value()));
  NodeDeals deals(url_, provider.address(), provider.domain_separator(),
                  {parse_ip("127.0.0.2").value()});
  net::ExitConfig ec;
  ec.policy.allow.push_back(parse_prefix("127.0.0.0/8").value());
  net::testing::IoThread exit_io;
  net::Exit exit(exit_io.io(), ec, deals, provider_key, clock_);
  ASSERT_TRUE(exit.start());
  ASSERT_TRUE(announce_exit(*node, provider, fmt::format("127.0.0.1:{}", exit.pair_port()),
                            now_s() + 300, 1));
  EXPECT_EQ(fetch_exit(*node, provider.address()).value(),
            fmt::format("127.0.0.1:{}", exit.pair_port()));

  // The requester's gateway.
  Signer requester = signer("requester");
  LeasePolicy policy;
  policy.duration_seconds = 60;
  policy.max_price_per_second = U256(12);
  policy.protocols = protocol::http;
  policy.scope = scope::crawling;
  policy.market = market_->address();
  NodeLeases leases(url_, requester, policy);
  net::GatewayConfig gc;
  gc.password = "pw";
  net::testing::IoThread gateway_io;
  net::Gateway gateway(gateway_io.io(), gc, key("requester"), &leases, clock_);
  gateway.on_lease_event = [&](const Hash& d, net::LeaseEvent e, const std::string& why) {
    leases.on_lease_event(d, e, why);
  };
  ASSERT_TRUE(gateway.start());

  auto curl = [&](const std::string& user) {
    return net::testing::run(
        fmt::format("curl -sS --max-time 20 -w '\n%{{http_code}}' -x 'http://{}:pw@127.0.0.1:{}' "
                    "'http://127.0.0.1:{}/'",
                    user, gateway.port(), echo.port()));
  };
  auto r = curl("country-de");
  EXPECT_EQ(r.output, "127.0.0.2\n\n200") << r.output;
  EXPECT_EQ(leases.totals().leases, 1u);

  // The deal, as the node has it: the requester's gateway reported `connected`.
  auto list = node->get("/v1/deals?party=" + requester.address().to_string()).value();
  ASSERT_EQ(list["deals"].size(), 1u) << list.dump();
  Hash deal = Hash::from_hex(list["deals"][0]["id"].get<std::string>()).value();
  std::string state;
  for (int i = 0; i < 100 && state != "connected"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto d = node->get("/v1/deals/" + deal.hex()).value();
    state = d["parties"]["requester"].value("state", "");
  }
  EXPECT_EQ(state, "connected");
  // The provider reports ready through its reporter, as `ipsx provide` does.
  StatusReporter reporter(*node, provider, market::Party::provider);
  ASSERT_TRUE(reporter.report(deal, market::PartyState::ready));
  EXPECT_EQ(fetch_deal(*node, deal).value().phase, "active");

  // Nothing fits: 503, and the request that matched nothing does not rest in the book.
  r = curl("country-fr");
  EXPECT_TRUE(r.output.ends_with("\n503")) << r.output;
  auto resting =
      node->get("/v1/orders?owner=" + requester.address().to_string() + "&state=resting").value();
  EXPECT_TRUE(resting["orders"].empty()) << resting.dump();
  EXPECT_EQ(leases.totals().nothing_fits, 1u);

  gateway.stop();
  exit.stop();
}

extern "C" int ipsx_c_header_check(void);

TEST(SdkC, HeaderCompilesAsC) {
  EXPECT_EQ(ipsx_c_header_check(), 0);
}

// The same flow through the C interface, as a binding would drive it.
TEST_F(SdkTest, CInterface) {
  char* error = nullptr;
  ipsx_client* client = nullptr;
  ASSERT_EQ(ipsx_client_open(url_.c_str(), 5000, &client, &error), IPSX_OK) << error;

  // The ledger's domain, as the node states it.
  char* health = nullptr;
  ASSERT_EQ(ipsx_client_call(client, "GET", "/v1/health", nullptr, &health, nullptr, &error),
            IPSX_OK)
      << error;
  const json h = json::parse(health);
  ipsx_free(health);
  const uint64_t chain = h["chainId"].get<uint64_t>();
  const std::string contract = h["verifyingContract"].get<std::string>();

  auto pk = key("provider");
  std::string hex = to_hex(ByteView(pk.secret().data(), pk.secret().size()));
  ipsx_signer* provider = nullptr;
  // Without the ledger's verifying address, a signer signs for no ledger the node keeps.
  ASSERT_EQ(ipsx_signer_open(hex.c_str(), chain, nullptr, &provider, &error), IPSX_OK) << error;
  {
    json doc = ledger::to_json(offer(11));
    doc.erase("provider");
    char* wrong = nullptr;
    ASSERT_EQ(ipsx_sign_offer(provider, doc.dump().c_str(), &wrong, &error), IPSX_OK) << error;
    char* answer = nullptr;
    char* code = nullptr;
    EXPECT_EQ(ipsx_client_call(client, "POST", "/v1/orders", wrong, &answer, &code, &error),
              IPSX_E_API);
    EXPECT_STREQ(code, "bad_signature");
    ipsx_free(code);
    ipsx_free(error);
    error = nullptr;
    ipsx_free(wrong);
    ipsx_signer_close(provider);
    provider = nullptr;
  }
  ASSERT_EQ(ipsx_signer_open(hex.c_str(), chain, contract.c_str(), &provider, &error), IPSX_OK)
      << error;
  char* address = nullptr;
  ASSERT_EQ(ipsx_signer_address(provider, &address, &error), IPSX_OK);
  EXPECT_EQ(std::string(address), key("provider").address().to_string());
  ipsx_free(address);

  json offer_doc = ledger::to_json(offer(10));
  offer_doc.erase("provider");  // filled in from the signer
  char* signed_offer = nullptr;
  ASSERT_EQ(ipsx_sign_offer(provider, offer_doc.dump().c_str(), &signed_offer, &error), IPSX_OK)
      << error;
  char* answer = nullptr;
  char* code = nullptr;
  ASSERT_EQ(ipsx_client_call(client, "POST", "/v1/orders", signed_offer, &answer, &code, &error),
            IPSX_OK)
      << error;
  EXPECT_TRUE(json::parse(answer)["accepted"].get<bool>());
  ipsx_free(answer);

  // Again: the node's duplicate_order comes back as IPSX_E_API with its code.
  EXPECT_EQ(ipsx_client_call(client, "POST", "/v1/orders", signed_offer, &answer, &code, &error),
            IPSX_E_API);
  EXPECT_STREQ(code, "duplicate_order");
  EXPECT_NE(std::string(error).find("409"), std::string::npos) << error;
  ipsx_free(code);
  ipsx_free(error);
  error = nullptr;
  ipsx_free(signed_offer);

  // Bad input at the C boundary.
  EXPECT_EQ(ipsx_sign_offer(provider, "{oops", &signed_offer, &error), IPSX_E_INVALID_ARGUMENT);
  ipsx_free(error);
  EXPECT_EQ(ipsx_sign_offer(provider, "{}", &signed_offer, &error), IPSX_E_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error).find("offer"), std::string::npos) << error;
  ipsx_free(error);
  ipsx_signer* bad = nullptr;  // a failed open leaves *out NULL (so never pass a live handle)
  EXPECT_EQ(ipsx_signer_open("0x12", 1337, nullptr, &bad, &error), IPSX_E_INVALID_ARGUMENT);
  EXPECT_EQ(bad, nullptr);
  ipsx_free(error);
  EXPECT_EQ(ipsx_client_call(nullptr, "GET", "/", nullptr, &answer, nullptr, &error),
            IPSX_E_INVALID_ARGUMENT);
  ipsx_free(error);

  // A balance proof verifies as the requester's.
  auto rk = key("requester");
  std::string rhex = to_hex(ByteView(rk.secret().data(), rk.secret().size()));
  ipsx_signer* requester = nullptr;
  ASSERT_EQ(ipsx_signer_open(rhex.c_str(), chain, contract.c_str(), &requester, &error), IPSX_OK);
  Hash deal = keccak256(std::string("deal"));
  char* sig = nullptr;
  ASSERT_EQ(ipsx_sign_balance_proof(requester, deal.hex().c_str(), "12345", &sig, &error), IPSX_OK)
      << error;
  auto parsed = crypto::Signature::from_hex(sig).value();
  Hash digest = crypto::eip712::digest(ledger_->domain().separator(),
                                       BalanceProof{deal, U256(12345)}.struct_hash());
  EXPECT_TRUE(crypto::verify(digest, parsed, rk.address()));
  ipsx_free(sig);

  // A ledger transaction in the node's two steps: prepared, checked and signed, sent.
  std::string op = R"({"op":"withdraw","amount":"2000000000000000000"})";
  std::string prepare = fmt::format(R"({{"from":"{}","op":{}}})", rk.address().to_string(), op);
  char* prepared = nullptr;
  ASSERT_EQ(ipsx_client_call(client, "POST", "/v1/ledger/transactions/prepare", prepare.c_str(),
                             &prepared, nullptr, &error),
            IPSX_OK)
      << error;
  char* body = nullptr;
  // Not what was asked (another amount): refused, with the reason.
  EXPECT_EQ(
      ipsx_sign_transaction(requester, prepared,
                            R"({"op":"withdraw","amount":"1000000000000000000"})", &body, &error),
      IPSX_E_REFUSED);
  EXPECT_EQ(body, nullptr);
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("not the operation asked for"), std::string::npos) << error;
  ipsx_free(error);
  error = nullptr;
  EXPECT_EQ(ipsx_sign_transaction(requester, prepared, R"({"op":"fly"})", &body, &error),
            IPSX_E_INVALID_ARGUMENT);
  ipsx_free(error);
  error = nullptr;
  ASSERT_EQ(ipsx_sign_transaction(requester, prepared, op.c_str(), &body, &error), IPSX_OK)
      << error;
  char* sent = nullptr;
  ASSERT_EQ(
      ipsx_client_call(client, "POST", "/v1/ledger/transactions", body, &sent, nullptr, &error),
      IPSX_OK)
      << error;
  EXPECT_EQ(json::parse(sent)["op"], "withdraw");
  EXPECT_EQ(ledger_->wallet(rk.address()).value().balance, Amount::from_tokens(98).value());
  ipsx_free(sent);
  ipsx_free(body);
  ipsx_free(prepared);
  EXPECT_EQ(ipsx_signer_limit_fee(requester, "12x", &error), IPSX_E_INVALID_ARGUMENT);
  ipsx_free(error);
  error = nullptr;
  EXPECT_EQ(ipsx_signer_set_token(requester, "0x12", &error), IPSX_E_INVALID_ARGUMENT);
  ipsx_free(error);
  error = nullptr;
  EXPECT_EQ(ipsx_signer_limit_fee(requester, "1000", &error), IPSX_OK);

  ipsx_signer_close(requester);
  ipsx_signer_close(provider);
  ipsx_client_close(client);
}

// An attack on the provider's agent: a node (or whoever answers in its place) announces a deal
// whose price for its time does not fit in 256 bits. Before, the agent saturated the deal's
// reservation at U256's maximum and the exit served it with no real cap; now no such deal is
// served, while the same deal at a sane price is.
TEST(NodeDealsAttack, ADealWhosePriceForItsTimeOverflowsIsNotServed) {
  Ip ip = parse_ip("127.0.0.2").value();
  Address provider = key("provider").address();
  NodeDeals deals("http://127.0.0.1:1", provider, Hash{}, {ip});
  DealInfo info;
  info.id.bytes()[0] = 1;
  info.provider = provider;
  info.requester = key("requester").address();
  info.offer.provider = provider;
  info.offer.ip = ip;
  info.start = 1'000;
  info.end = 1'060;
  info.price_per_second = U256::max();
  EXPECT_FALSE(deals.add(info));
  info.price_per_second = U256(10);
  auto d = deals.add(info);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->max_amount, Amount::from_base(U256(600)));
}

// The provider's usage log keeps only the record due next: an exit that lost count (one restarted
// that began a deal's log again at 0) cannot make the log unreadable, before or after a restart.
TEST(UsageStoreTest, OnlyTheRecordDueNextIsKept) {
  ledger::testing::TempDir dir;
  const Hash deal = keccak256("deal");
  auto rec = [&](uint64_t i) {
    UsageRecord r;
    r.deal_id = deal;
    r.index = i;
    r.opened_ms = 1'000;
    r.closed_ms = 2'000;
    r.host = "203.0.113.20";
    r.port = 80;
    return r;
  };
  {
    auto s = UsageStore::open(dir.path()).value();
    ASSERT_TRUE(s->append(rec(0)));
    ASSERT_TRUE(s->append(rec(1)));
    auto again = s->append(rec(0));
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message().find("record 2 is due"), std::string::npos)
        << again.error().message();
    EXPECT_EQ(s->records(deal).value().size(), 2u) << "still readable";
  }
  {
    auto s = UsageStore::open(dir.path()).value();  // a restart
    EXPECT_FALSE(s->append(rec(5)));
    ASSERT_TRUE(s->append(rec(2)));
    EXPECT_EQ(s->records(deal).value().size(), 3u);
  }
  // A crash tore the last line: it is not read back, and the next record does not join it.
  std::ofstream(std::filesystem::path(dir.path()) / (deal.hex() + ".records"), std::ios::app)
      << "{\"index\":3,\"ho";
  auto s = UsageStore::open(dir.path()).value();
  ASSERT_TRUE(s->append(rec(3)));
  auto read = s->records(deal);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read->size(), 4u);
}

}  // namespace
}  // namespace ipsx::sdk
