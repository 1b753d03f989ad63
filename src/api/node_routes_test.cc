// The node's routes over a real embedded ledger and market, through the router (no sockets):
// signed orders placed into a deal, and each kind of bad input mapped to its status, code and
// field.
#include "api/node_routes.h"

#include <gtest/gtest.h>

#include "core/keccak.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"

namespace ipsx::api {
namespace {

using json = nlohmann::json;
using ledger::testing::sign_tx;

crypto::PrivateKey key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

class NodeRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_.chain_id = 1337;
    g_.time = clock_.now();
    g_.early_adopters = key("early").address();
    g_.bounty = key("bounty").address();
    g_.team = key("team").address();
    g_.sale = {U256(10'000), Amount::from_tokens(1000).value(), g_.time, g_.time + Millis(1000),
               key("treasury").address()};
    ledger::EmbeddedOptions o;
    o.data_dir = dir_.path();
    o.verify_threads = 1;
    ledger_ = ledger::EmbeddedLedger::open(o, &g_, clock_).value();
    clock_.advance(Millis(2000));
    exec(key("team"), ledger::FinalizeSale{});
    exec(key("early"), ledger::Transfer{requester_.address(), Amount::from_tokens(100).value()});
    exec(requester_, ledger::Deposit{Amount::from_tokens(100).value()});
    market_ = std::make_unique<market::Market>(*ledger_, key("market"), clock_);
    node_ = std::make_unique<NodeContext>(NodeContext{*market_, *ledger_, "openapi: 3.0.3\n"});
    add_node_routes(router_, *node_);
  }
  void exec(const crypto::PrivateKey& k, ledger::Op op) {
    auto tx = ledger_->prepare(k.address(), std::move(op)).value();
    ASSERT_TRUE(ledger_->submit(sign_tx(k, tx)));
  }
  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(clock_.now())); }
  std::string sign(const crypto::PrivateKey& k, const Hash& struct_hash) {
    return crypto::sign(k, crypto::eip712::digest(ledger_->domain().separator(), struct_hash))
        .value()
        .to_hex();
  }
  json offer(uint64_t price) {
    ledger::Offer o;
    o.provider = provider_.address();
    o.ip = ledger::parse_ip("127.0.0.2").value();
    o.country = ledger::parse_country("DE").value();
    o.protocols = ledger::protocol::http;
    o.scopes = ledger::scope::crawling;
    o.capacity = 1;
    o.min_duration = 5;
    o.max_duration = 3600;
    o.price_per_second = U256(price);
    o.market = market_->address();
    o.expiry = now_s() + 3600;
    o.nonce = 1;
    return {{"offer", ledger::to_json(o)}, {"signature", sign(provider_, o.struct_hash())}};
  }
  json request(uint64_t max_price) {
    ledger::Request r;
    r.requester = requester_.address();
    r.countries = {ledger::parse_country("DE").value()};
    r.protocols = ledger::protocol::http;
    r.scope = ledger::scope::crawling;
    r.duration = 60;
    r.max_price_per_second = U256(max_price);
    r.budget = U256(max_price * 60);
    r.market = market_->address();
    r.expiry = now_s() + 3600;
    r.nonce = 1;
    return {{"request", ledger::to_json(r)}, {"signature", sign(requester_, r.struct_hash())}};
  }
  std::pair<int, json> call(const std::string& method, const std::string& target,
                            const std::string& body = "") {
    HttpResponse r = router_.dispatch({method, target, body});
    return {r.status, json::parse(r.body)};
  }

  ledger::testing::TempDir dir_;
  ManualClock clock_{from_unix_ms(1'767'225'600'000)};
  ledger::GenesisConfig g_;
  std::unique_ptr<ledger::EmbeddedLedger> ledger_;
  std::unique_ptr<market::Market> market_;
  std::unique_ptr<NodeContext> node_;
  Router router_;
  crypto::PrivateKey provider_ = key("provider");
  crypto::PrivateKey requester_ = key("requester");
};

TEST_F(NodeRoutesTest, AnOfferAndAMatchingRequestOpenADeal) {
  auto [s1, b1] = call("POST", "/v1/orders", offer(1'000).dump());
  EXPECT_EQ(s1, 201) << b1;
  EXPECT_EQ(b1["kind"], "offer");
  EXPECT_TRUE(b1["deals"].empty());
  auto [s2, b2] = call("POST", "/v1/orders", request(2'000).dump());
  EXPECT_EQ(s2, 201) << b2;
  ASSERT_EQ(b2["deals"].size(), 1u);
  EXPECT_EQ(b2["deals"][0]["pricePerSecond"], "1000");
  EXPECT_EQ(b2["deals"][0]["requester"], requester_.address().to_string());
  auto [s3, b3] = call("GET", "/v1/market/depth?country=DE");
  EXPECT_EQ(s3, 200) << b3;
  EXPECT_EQ(b3["openDeals"], 1);
  auto [s4, b4] = call("GET", "/v1/ledger/blocks/latest");
  EXPECT_EQ(s4, 200) << b4;
  EXPECT_EQ(b4["txs"].size(), 1u);  // the deal's opening
}

TEST_F(NodeRoutesTest, ADuplicateOrderIs409) {
  std::string body = offer(1'000).dump();
  EXPECT_EQ(call("POST", "/v1/orders", body).first, 201);
  auto [s, b] = call("POST", "/v1/orders", body);
  EXPECT_EQ(s, 409);
  EXPECT_EQ(b["error"]["code"], "duplicate_order");
}

TEST_F(NodeRoutesTest, ATamperedOrderIs422BadSignature) {
  json j = offer(1'000);
  j["offer"]["pricePerSecond"] = "1";
  auto [s, b] = call("POST", "/v1/orders", j.dump());
  EXPECT_EQ(s, 422) << b;
  EXPECT_EQ(b["error"]["code"], "bad_signature");
}

TEST_F(NodeRoutesTest, WrongTypesAndMissingFieldsAre400NamingTheField) {
  json j = offer(1'000);
  j["offer"]["capacity"] = json::array();
  auto [s1, b1] = call("POST", "/v1/orders", j.dump());
  EXPECT_EQ(s1, 400);
  EXPECT_EQ(b1["error"]["field"], "offer.capacity");
  j = offer(1'000);
  j.erase("signature");
  auto [s2, b2] = call("POST", "/v1/orders", j.dump());
  EXPECT_EQ(s2, 400);
  EXPECT_EQ(b2["error"]["field"], "signature");
  j = offer(1'000);
  j["signature"] = 7;
  EXPECT_EQ(call("POST", "/v1/orders", j.dump()).first, 400);
  auto [s3, b3] =
      call("POST", "/v1/orders", "{\"offer\": {}, \"request\": {}, \"signature\": \"0x\"}");
  EXPECT_EQ(s3, 400) << b3;
  EXPECT_EQ(call("POST", "/v1/orders", "{").second["error"]["code"], "malformed_json");
}

TEST_F(NodeRoutesTest, AnOrderForAnotherMarketIs422NamingTheField) {
  json j = offer(1'000);
  ledger::Offer o = ledger::offer_from_json(j["offer"]).value();
  o.market = key("other").address();
  j = {{"offer", ledger::to_json(o)}, {"signature", sign(provider_, o.struct_hash())}};
  auto [s, b] = call("POST", "/v1/orders", j.dump());
  EXPECT_EQ(s, 422) << b;
  EXPECT_EQ(b["error"]["code"], "invalid_order");
  EXPECT_EQ(b["error"]["field"], "offer.market");
}

TEST_F(NodeRoutesTest, DepthChecksItsQuery) {
  EXPECT_EQ(call("GET", "/v1/market/depth").second["error"]["field"], "country");
  EXPECT_EQ(call("GET", "/v1/market/depth?country=ZZZ").first, 400);
  EXPECT_EQ(call("GET", "/v1/market/depth?country=DE&levels=0").second["error"]["field"], "levels");
  EXPECT_EQ(call("GET", "/v1/market/depth?country=DE&type=cave").second["error"]["field"], "type");
  auto [s, b] = call("GET", "/v1/market/depth?country=DE&type=mobile&levels=3");
  EXPECT_EQ(s, 200) << b;
  EXPECT_TRUE(b["offers"].contains("mobile"));
  EXPECT_FALSE(b["offers"].contains("residential"));
}

TEST_F(NodeRoutesTest, HealthAndOpenApi) {
  auto [s, b] = call("GET", "/v1/health");
  EXPECT_EQ(s, 200);
  EXPECT_EQ(b["market"], market_->address().to_string());
  HttpResponse r = router_.dispatch({"GET", "/v1/openapi.yaml", ""});
  EXPECT_EQ(r.content_type, "application/yaml");
  EXPECT_EQ(r.body.rfind("openapi: 3", 0), 0u);
}

}  // namespace
}  // namespace ipsx::api
