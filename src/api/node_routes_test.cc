// The node's routes over a real embedded ledger and market, through the router (no sockets):
// signed orders placed into a deal, and each kind of bad input mapped to its status, code and
// field.
#include "api/node_routes_fixture.h"
#include "geo/geo.h"
#include "net/asio.h"

namespace ipsx::api {
namespace {

using testing::json;
using testing::key;
using testing::NodeRoutesTest;

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

// A batch ({"orders": [...]}) answers 200 with one result per order, in order, each what the
// order alone would have answered (its status inside); the good ones are placed, a bad one
// (tampered, repeated, malformed: its field named with its place in the batch) alone refused.
TEST_F(NodeRoutesTest, ABatchIsAnsweredOrderByOrder) {
  json tampered = offer(1'000, 2, "127.0.0.3");
  tampered["offer"]["pricePerSecond"] = "1";
  json malformed = offer(1'000, 3, "127.0.0.4");
  malformed["offer"]["capacity"] = "many";
  json batch = {{"orders", {offer(1'000), tampered, offer(1'000), malformed, request(2'000)}}};
  auto [s, b] = call("POST", "/v1/orders", batch.dump());
  ASSERT_EQ(s, 200) << b;
  const json& r = b["results"];
  ASSERT_EQ(r.size(), 5u) << b;
  EXPECT_EQ(r[0]["status"], 201);
  EXPECT_EQ(r[0]["accepted"], true);
  EXPECT_EQ(r[0]["kind"], "offer");
  EXPECT_EQ(r[1]["status"], 422);
  EXPECT_EQ(r[1]["accepted"], false);
  EXPECT_EQ(r[1]["error"]["code"], "bad_signature");
  EXPECT_EQ(r[2]["status"], 409);
  EXPECT_EQ(r[2]["error"]["code"], "duplicate_order");
  EXPECT_EQ(r[3]["status"], 400);
  EXPECT_EQ(r[3]["error"]["field"], "offer.capacity") << "its place in results says which";
  EXPECT_EQ(r[4]["status"], 201);
  ASSERT_EQ(r[4]["deals"].size(), 1u) << "the request fills the batch's first offer";
  auto [gs, order] = call("GET", "/v1/orders/" + r[0]["hash"].get<std::string>());
  EXPECT_EQ(gs, 200);
  EXPECT_EQ(order["deals"].size(), 1u);

  // The batch as a whole: only "orders", 1 to 100 of them.
  EXPECT_EQ(call("POST", "/v1/orders", json{{"orders", json::array()}}.dump()).first, 400);
  EXPECT_EQ(call("POST", "/v1/orders", json{{"orders", offer(1'000, 9)}}.dump()).first, 400);
  json many = {{"orders", json::array()}};
  for (int i = 0; i < 101; ++i) many["orders"].push_back(offer(1'000, 100 + i));
  auto [ms, mb] = call("POST", "/v1/orders", many.dump());
  EXPECT_EQ(ms, 400);
  EXPECT_EQ(mb["error"]["field"], "orders");
  json extra = {{"orders", {offer(1'000, 7)}}, {"signature", "0x00"}};
  EXPECT_EQ(call("POST", "/v1/orders", extra.dump()).first, 400);
  EXPECT_EQ(call("GET", "/v1/orders?side=offer").second["orders"].size(), 1u)
      << "nothing of the refused batches was placed";
}

// Attack on the batch shared among the workers (verify_then_queue): a full batch whose later
// part (verified on another thread than the first) holds a forged order, a repeat of an order
// in the first part and a malformed one. Each is refused alone at its own place, the repeat as
// a duplicate of the first part's copy (orders are placed in the batch's order whatever thread
// verified them), and every other order is placed.
class UnlimitedRoutesTest : public NodeRoutesTest {
 protected:
  NodeLimits limits() const override {
    NodeLimits l;
    l.per_ip = l.per_address = {0, 0};
    return l;
  }
};

TEST_F(UnlimitedRoutesTest, ABatchSplitAmongWorkersRefusesEachBadOrderAtItsPlace) {
  json batch = {{"orders", json::array()}};
  for (int i = 0; i < 100; ++i)
    batch["orders"].push_back(offer(1'000, 1'000 + i, "127.0.1." + std::to_string(i + 1)));
  batch["orders"][70]["offer"]["pricePerSecond"] = "1";  // signature kept: forged
  batch["orders"][80] = batch["orders"][3];              // the first part's order again
  batch["orders"][90]["offer"]["capacity"] = "many";
  auto [s, b] = call("POST", "/v1/orders", batch.dump());
  ASSERT_EQ(s, 200) << b;
  const json& r = b["results"];
  ASSERT_EQ(r.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    if (i == 70 || i == 80 || i == 90) continue;
    EXPECT_EQ(r[i]["status"], 201) << i << ": " << r[i];
  }
  EXPECT_EQ(r[70]["status"], 422);
  EXPECT_EQ(r[70]["error"]["code"], "bad_signature");
  EXPECT_EQ(r[80]["status"], 409);
  EXPECT_EQ(r[80]["error"]["code"], "duplicate_order");
  EXPECT_EQ(r[90]["status"], 400);
  EXPECT_EQ(r[90]["error"]["field"], "offer.capacity");
  EXPECT_EQ(r[3]["status"], 201) << "the first copy is the one placed";
  EXPECT_EQ(call("GET", "/v1/orders?side=offer&limit=500").second["orders"].size(), 97u);
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

// #23: strict input. A number sent as a string, a member twice (parsers disagree on which one
// wins) and invalid UTF-8 are refused with the documented error shape, nothing placed.
TEST_F(NodeRoutesTest, AnOrderIsReadStrictly) {
  json j = offer(1'000);
  j["offer"]["minDuration"] = "5";
  auto [s1, b1] = call("POST", "/v1/orders", j.dump());
  EXPECT_EQ(s1, 400) << b1;
  EXPECT_EQ(b1["error"]["code"], "invalid_field") << b1;
  EXPECT_NE(b1["error"]["message"].get<std::string>().find("a JSON number, not a string"),
            std::string::npos)
      << b1;
  std::string twice = offer(1'000).dump();
  twice.insert(twice.size() - 1, ",\"signature\":\"0x00\"");
  auto [s2, b2] = call("POST", "/v1/orders", twice);
  EXPECT_EQ(s2, 400) << b2;
  EXPECT_EQ(b2["error"]["code"], "malformed_json");
  EXPECT_NE(b2["error"]["message"].get<std::string>().find("'signature' twice"), std::string::npos)
      << b2;
  auto [s3, b3] = call("POST", "/v1/orders", "{\"offer\":\"\xff\xfe\"}");
  EXPECT_EQ(s3, 400);
  EXPECT_EQ(b3["error"]["code"], "malformed_json") << b3;
  auto [s4, b4] = call("GET", "/v1/orders");
  ASSERT_TRUE(b4.contains("orders")) << b4;
  EXPECT_EQ(b4["orders"].size(), 0u) << "nothing was placed";
  EXPECT_EQ(call("POST", "/v1/orders", offer(1'000).dump()).first, 201) << "the same offer, strict";
}

TEST_F(NodeRoutesTest, AnOrderForAnotherMarketIs422NamingTheField) {
  json j = offer(1'000);
  Offer o = ledger::offer_from_json(j["offer"]).value();
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

TEST_F(NodeRoutesTest, CountriesSummarizeTheBookForTheMap) {
  EXPECT_EQ(call("GET", "/v1/market/countries").second["countries"].size(), 0u);
  EXPECT_EQ(call("POST", "/v1/orders", offer(3'000, 1, "127.0.0.2").dump()).first, 201);
  EXPECT_EQ(call("POST", "/v1/orders", offer(1'000, 2, "127.0.0.3").dump()).first, 201);
  EXPECT_EQ(call("POST", "/v1/orders", request(500).dump()).first, 201);  // below both: rests
  auto [s, b] = call("GET", "/v1/market/countries");
  EXPECT_EQ(s, 200) << b;
  ASSERT_EQ(b["countries"].size(), 1u);
  const json& de = b["countries"][0];
  EXPECT_EQ(de["country"], "DE");
  EXPECT_EQ(de["offers"], 2);
  EXPECT_EQ(de["ips"], 2);
  EXPECT_EQ(de["lowestPricePerSecond"], "1000");
  EXPECT_EQ(de["requests"], 1);
  EXPECT_EQ(de["types"]["residential"]["offers"], 2);
  EXPECT_FALSE(de["types"].contains("mobile"));
  EXPECT_EQ(b["liveOffers"], 2);
}

TEST_F(NodeRoutesTest, HealthAndOpenApi) {
  auto [s, b] = call("GET", "/v1/health");
  EXPECT_EQ(s, 200);
  EXPECT_EQ(b["market"], market_->address().to_string());
  // The embedded ledger's domain: its chain id and the address derived from its genesis.
  EXPECT_EQ(b["ledger"], "embedded");
  EXPECT_EQ(b["chainId"], 1337);
  EXPECT_EQ(b["verifyingContract"], ledger::embedded_verifying_contract(g_.hash()).to_string());
  HttpResponse r = router_.dispatch({"GET", "/v1/openapi.yaml", ""});
  EXPECT_EQ(r.content_type, "application/yaml");
  EXPECT_EQ(r.body.rfind("openapi: 3", 0), 0u);
}

TEST_F(NodeRoutesTest, OrdersAreListedFilteredPagedAndReadByIdOrHash) {
  auto [s1, b1] = call("POST", "/v1/orders", offer(1'000, 1, "127.0.0.2").dump());
  ASSERT_EQ(s1, 201) << b1;
  ASSERT_EQ(call("POST", "/v1/orders", offer(3'000, 2, "127.0.0.3").dump()).first, 201);
  ASSERT_EQ(call("POST", "/v1/orders", request(500).dump()).first, 201);  // rests: too low

  auto [s, b] = call("GET", "/v1/orders");
  ASSERT_EQ(s, 200) << b;
  ASSERT_EQ(b["orders"].size(), 3u);
  EXPECT_TRUE(b["next"].is_null());
  EXPECT_EQ(b["orders"][0]["kind"], "offer");
  EXPECT_EQ(b["orders"][0]["state"], "resting");
  EXPECT_EQ(b["orders"][0]["owner"], provider_.address().to_string());
  EXPECT_EQ(b["orders"][0]["hash"], b1["hash"]);
  EXPECT_EQ(b["orders"][2]["kind"], "request");
  EXPECT_EQ(b["orders"][2]["request"]["requester"], requester_.address().to_string());

  EXPECT_EQ(call("GET", "/v1/orders?side=request").second["orders"].size(), 1u);
  EXPECT_EQ(
      call("GET", "/v1/orders?owner=" + provider_.address().to_string()).second["orders"].size(),
      2u);
  EXPECT_EQ(call("GET", "/v1/orders?country=DE&type=residential").second["orders"].size(), 3u);
  EXPECT_EQ(call("GET", "/v1/orders?country=FR").second["orders"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/orders?type=mobile&side=offer").second["orders"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/orders?state=closed").second["orders"].size(), 0u);

  auto [ps, page] = call("GET", "/v1/orders?limit=2");
  ASSERT_EQ(page["orders"].size(), 2u);
  ASSERT_TRUE(page["next"].is_string());
  auto page2 = call("GET", "/v1/orders?limit=2&after=" + page["next"].get<std::string>()).second;
  ASSERT_EQ(page2["orders"].size(), 1u);
  EXPECT_EQ(page2["orders"][0]["kind"], "request");
  EXPECT_TRUE(page2["next"].is_null());

  auto [g1, o1] = call("GET", "/v1/orders/" + std::to_string(b1["id"].get<uint64_t>()));
  EXPECT_EQ(g1, 200) << o1;
  EXPECT_EQ(o1["offer"]["pricePerSecond"], "1000");
  auto [g2, o2] = call("GET", "/v1/orders/" + b1["hash"].get<std::string>());
  EXPECT_EQ(g2, 200) << o2;
  EXPECT_EQ(o2["id"], b1["id"]);
}

TEST_F(NodeRoutesTest, OrderQueriesRejectBadInput) {
  for (const char* q : {"owner=0x12", "side=both", "country=ZZZ", "type=cave", "state=odd",
                        "after=-1", "limit=0", "limit=501", "limit=x"}) {
    auto [s, b] = call("GET", std::string("/v1/orders?") + q);
    EXPECT_EQ(s, 400) << q;
    EXPECT_EQ(b["error"]["code"], "invalid_field") << q;
  }
  EXPECT_EQ(call("GET", "/v1/orders?limit=0").second["error"]["field"], "limit");
  auto [s1, b1] = call("GET", "/v1/orders/77");
  EXPECT_EQ(s1, 404);
  EXPECT_EQ(b1["error"]["code"], "unknown_order");
  EXPECT_EQ(call("GET", "/v1/orders/0x1234").second["error"]["field"], "order");
  EXPECT_EQ(call("GET", "/v1/orders/" + std::string("0x") + std::string(64, 'a')).first, 404);
  EXPECT_EQ(call("GET", "/v1/orders/abc").first, 400);
}

TEST_F(NodeRoutesTest, ASignedCancelWithdrawsTheOrderAndOnlyTheOwnersCounts) {
  auto [s1, b1] = call("POST", "/v1/orders", offer(1'000).dump());
  ASSERT_EQ(s1, 201);
  const std::string hash = b1["hash"];
  const std::string path = "/v1/orders/" + hash + "/cancel";

  auto [s2, b2] = call("POST", path, cancel(requester_, hash).dump());
  EXPECT_EQ(s2, 403) << b2;
  EXPECT_EQ(b2["error"]["code"], "not_owner");

  json other = cancel(provider_, std::string("0x") + std::string(64, 'b'));
  auto [s3, b3] = call("POST", path, other.dump());
  EXPECT_EQ(s3, 400) << b3;
  EXPECT_EQ(b3["error"]["field"], "cancel.orderHash");

  // The old cancel, the ledger's CancelOrder(orderHash, nonce 0): refused, naming the nonce.
  json old = cancel(provider_, hash);
  old["cancel"]["nonce"] = 0;
  auto [s7, b7] = call("POST", path, old.dump());
  EXPECT_EQ(s7, 400) << b7;
  EXPECT_EQ(b7["error"]["field"], "cancel.nonce");

  json bad = cancel(provider_, hash);
  bad["signature"] = "0x1234";
  EXPECT_EQ(call("POST", path, bad.dump()).second["error"]["field"], "signature");
  EXPECT_EQ(call("POST", path, "[1]").second["error"]["code"], "invalid_field");
  EXPECT_EQ(call("POST", path, "{nope").second["error"]["code"], "malformed_json");

  auto [s4, b4] = call("POST", path, cancel(provider_, hash).dump());
  EXPECT_EQ(s4, 200) << b4;
  EXPECT_EQ(b4["cancelled"], true);
  EXPECT_EQ(b4["state"], "closed");
  EXPECT_EQ(call("GET", "/v1/orders/" + hash).second["state"], "closed");
  EXPECT_EQ(call("GET", "/v1/market/depth?country=DE").second["liveOffers"], 0);

  auto [s5, b5] = call("POST", path, cancel(provider_, hash).dump());
  EXPECT_EQ(s5, 404) << b5;
  EXPECT_EQ(b5["error"]["code"], "unknown_order");
  // The path may name the order by its book id; the body then need not repeat the hash.
  auto [s6, b6] = call("POST", "/v1/orders/999/cancel", cancel(provider_, hash).dump());
  EXPECT_EQ(s6, 404) << b6;
}

// Deals page by their id: each page starts above the cursor and `next` names the last one
// listed, so the pages together list every deal once, ascending.
TEST_F(NodeRoutesTest, DealsArePagedByTheirIds) {
  std::set<std::string> opened;
  for (uint64_t i = 1; i <= 5; ++i) {
    std::string ip = "127.0.0." + std::to_string(1 + i);
    ASSERT_EQ(call("POST", "/v1/orders", offer(1'000, i, ip).dump()).first, 201);
    auto [s, b] = call("POST", "/v1/orders", request(2'000, i).dump());
    ASSERT_EQ(s, 201) << b;
    ASSERT_EQ(b["deals"].size(), 1u) << b;
    opened.insert(b["deals"][0]["id"].get<std::string>());
  }
  std::vector<std::string> listed;
  std::string target = "/v1/deals?limit=2";
  for (int pages = 0; pages < 5; ++pages) {
    auto [s, b] = call("GET", target);
    ASSERT_EQ(s, 200) << b;
    for (const auto& d : b["deals"]) listed.push_back(d["id"].get<std::string>());
    if (b["next"].is_null()) break;
    EXPECT_EQ(b["deals"].size(), 2u);
    EXPECT_EQ(b["next"], listed.back());
    target = "/v1/deals?limit=2&after=" + b["next"].get<std::string>();
  }
  EXPECT_EQ(listed, std::vector<std::string>(opened.begin(), opened.end()))
      << "every deal once, ascending";
}

TEST_F(NodeRoutesTest, DealsAreListedAndReadWithTheirStatusAndParties) {
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  auto [s, b] = call("GET", "/v1/deals");
  ASSERT_EQ(s, 200) << b;
  ASSERT_EQ(b["deals"].size(), 1u);
  const json& d = b["deals"][0];
  EXPECT_EQ(d["id"], deal);
  EXPECT_EQ(d["provider"], provider_.address().to_string());
  EXPECT_EQ(d["requester"], requester_.address().to_string());
  EXPECT_EQ(d["pricePerSecond"], "1000");
  EXPECT_EQ(d["status"]["phase"], "pending");
  EXPECT_EQ(d["parties"]["provider"]["state"], "none");
  EXPECT_EQ(d["times"]["durationMs"], 60'000);
  EXPECT_EQ(d["ledger"]["state"], "open");

  EXPECT_EQ(
      call("GET", "/v1/deals?party=" + provider_.address().to_string()).second["deals"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/deals?party=" + key("x").address().to_string()).second["deals"].size(),
            0u);
  EXPECT_EQ(call("GET", "/v1/deals?status=pending").second["deals"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/deals?status=active").second["deals"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/deals?after=" + deal).second["deals"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/deals?status=gone").first, 400);
  EXPECT_EQ(call("GET", "/v1/deals?party=bob").second["error"]["field"], "party");
  EXPECT_EQ(call("GET", "/v1/deals?limit=1000").second["error"]["field"], "limit");

  auto [g, one] = call("GET", "/v1/deals/" + deal);
  EXPECT_EQ(g, 200) << one;
  EXPECT_EQ(one["id"], deal);
  auto [u, unknown] = call("GET", "/v1/deals/0x" + std::string(64, 'c'));
  EXPECT_EQ(u, 404);
  EXPECT_EQ(unknown["error"]["code"], "unknown_deal");
  EXPECT_EQ(call("GET", "/v1/deals/xyz").first, 400);
}

// A party's agent follows its deals until they are settled, however fast the protocol closed
// them: `settled=false` lists a deal until the ledger closes it, `settled=true` after.
TEST_F(NodeRoutesTest, DealsAreListedBySettlementOnTheLedger) {
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  const std::string mine = "/v1/deals?party=" + provider_.address().to_string();
  EXPECT_EQ(call("GET", mine + "&settled=false").second["deals"].size(), 1u);
  EXPECT_EQ(call("GET", mine + "&settled=true").second["deals"].size(), 0u);
  EXPECT_EQ(call("GET", "/v1/deals?settled=yes").second["error"]["field"], "settled");

  exec(provider_, ledger::CloseDeal{Hash::from_hex(deal).value(), Amount(), std::nullopt,
                                    ledger::CloseReason::provider_failed});
  market_->tick();
  EXPECT_EQ(call("GET", mine + "&settled=false").second["deals"].size(), 0u);
  auto [s, b] = call("GET", mine + "&settled=true");
  ASSERT_EQ(s, 200) << b;
  ASSERT_EQ(b["deals"].size(), 1u);
  EXPECT_EQ(b["deals"][0]["ledger"]["state"], "closed");
}

// The requester's gateway says which path its traffic takes with its reports; the deal shows it.
// Only a requester reports one, and only a path there is.
TEST_F(NodeRoutesTest, TheRequesterReportsThePathOfItsTraffic) {
  using market::Party;
  using market::PartyState;
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  const std::string path = "/v1/deals/" + deal + "/events";
  EXPECT_FALSE(call("GET", "/v1/deals/" + deal).second.contains("path"));
  json e = event(provider_, deal, Party::provider, PartyState::ready, 1);
  e["path"] = "direct";
  auto [s1, b1] = call("POST", path, e.dump());
  EXPECT_EQ(s1, 400) << b1;
  EXPECT_EQ(b1["error"]["field"], "path");
  e = event(provider_, deal, Party::provider, PartyState::ready, 1);
  EXPECT_EQ(call("POST", path, e.dump()).first, 200);
  e = event(requester_, deal, Party::requester, PartyState::connected, 1);
  e["path"] = "teleported";
  EXPECT_EQ(call("POST", path, e.dump()).second["error"]["field"], "path");
  e["path"] = "relayed";
  auto [s2, b2] = call("POST", path, e.dump());
  ASSERT_EQ(s2, 200) << b2;
  EXPECT_EQ(b2["deal"]["path"], "relayed");
  e = event(requester_, deal, Party::requester, PartyState::connected, 2);
  e["path"] = "punched";
  EXPECT_EQ(call("POST", path, e.dump()).first, 200);
  EXPECT_EQ(call("GET", "/v1/deals/" + deal).second["path"], "punched");
  // A report without one leaves it as it was.
  e = event(requester_, deal, Party::requester, PartyState::connected, 3);
  EXPECT_EQ(call("POST", path, e.dump()).first, 200);
  EXPECT_EQ(call("GET", "/v1/deals/" + deal).second["path"], "punched");
}

TEST_F(NodeRoutesTest, StatusEventsDriveTheDealAndEachRefusalHasItsCode) {
  using market::Party;
  using market::PartyState;
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  const std::string path = "/v1/deals/" + deal + "/events";

  auto [s1, b1] =
      call("POST", path, event(provider_, deal, Party::provider, PartyState::ready, 1).dump());
  EXPECT_EQ(s1, 200) << b1;
  EXPECT_EQ(b1["status"]["phase"], "ready");
  EXPECT_EQ(b1["deal"]["parties"]["provider"]["state"], "ready");

  // A replay: the same event again.
  auto [s2, b2] =
      call("POST", path, event(provider_, deal, Party::provider, PartyState::ready, 1).dump());
  EXPECT_EQ(s2, 409) << b2;
  EXPECT_EQ(b2["error"]["code"], "bad_sequence");
  // The requester may not report ready.
  auto [s3, b3] =
      call("POST", path, event(requester_, deal, Party::requester, PartyState::ready, 1).dump());
  EXPECT_EQ(s3, 403) << b3;
  EXPECT_EQ(b3["error"]["code"], "wrong_party");
  // Speaking as the provider, signed by the requester.
  auto [s4, b4] =
      call("POST", path, event(requester_, deal, Party::provider, PartyState::ready, 2).dump());
  EXPECT_EQ(s4, 422) << b4;
  EXPECT_EQ(b4["error"]["code"], "bad_signature");
  // The provider cannot go back to none.
  auto [s5, b5] =
      call("POST", path, event(provider_, deal, Party::provider, PartyState::none, 2).dump());
  EXPECT_EQ(s5, 409) << b5;
  EXPECT_EQ(b5["error"]["code"], "bad_transition");

  auto [s6, b6] = call("POST", path,
                       event(requester_, deal, Party::requester, PartyState::connected, 1).dump());
  EXPECT_EQ(s6, 200) << b6;
  EXPECT_EQ(b6["status"]["phase"], "active");
  EXPECT_EQ(call("GET", "/v1/deals?status=active").second["deals"].size(), 1u);

  clock_.advance(Millis(1000));
  auto [s7, b7] =
      call("POST", path, event(requester_, deal, Party::requester, PartyState::closed, 2).dump());
  EXPECT_EQ(s7, 200) << b7;
  EXPECT_EQ(b7["status"]["phase"], "closed");
  EXPECT_EQ(b7["status"]["reason"], "requester_closed");
  clock_.advance(Millis(10'000));
  auto [s8, b8] =
      call("POST", path, event(provider_, deal, Party::provider, PartyState::ready, 2).dump());
  EXPECT_EQ(s8, 409) << b8;
  EXPECT_EQ(b8["error"]["code"], "deal_closed");
  auto [g, d] = call("GET", "/v1/deals/" + deal);
  EXPECT_EQ(d["status"]["phase"], "closed");
  EXPECT_EQ(d["status"]["final"], true);
}

TEST_F(NodeRoutesTest, StatusEventsRejectBadInput) {
  using market::Party;
  using market::PartyState;
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  const std::string path = "/v1/deals/" + deal + "/events";
  json good = event(provider_, deal, Party::provider, PartyState::ready, 1);
  auto with = [&](const std::string& field, const json& v) {
    json j = good;
    j["event"][field] = v;
    return call("POST", path, j.dump());
  };
  EXPECT_EQ(with("party", 3).second["error"]["field"], "event.party");
  EXPECT_EQ(with("status", "sleeping").second["error"]["field"], "event.status");
  EXPECT_EQ(with("at", "now").second["error"]["field"], "event.at");
  EXPECT_EQ(with("at", -5).second["error"]["field"], "event.at");
  EXPECT_EQ(with("seq", 1.5).second["error"]["field"], "event.seq");
  auto [s1, b1] = with("dealId", "0x" + std::string(64, 'd'));
  EXPECT_EQ(s1, 400);
  EXPECT_EQ(b1["error"]["code"], "wrong_deal");
  // A changed field breaks the signature; names work as well as numbers.
  EXPECT_EQ(with("status", "connected").second["error"]["code"], "bad_signature");
  EXPECT_EQ(with("party", "provider").first, 200);
  EXPECT_EQ(with("seq", 1u).second["error"]["code"], "bad_sequence");
  EXPECT_EQ(call("POST", path, "{").second["error"]["code"], "malformed_json");
  EXPECT_EQ(call("POST", path, "{\"signature\": \"0x00\"}").second["error"]["field"], "signature");
  json no_event = good;
  no_event.erase("event");
  EXPECT_EQ(call("POST", path, no_event.dump()).second["error"]["field"], "event");
  auto [s2, b2] = call("POST", "/v1/deals/0x" + std::string(64, 'e') + "/events", good.dump());
  EXPECT_EQ(s2, 404);
  EXPECT_EQ(b2["error"]["code"], "unknown_deal");
}

TEST_F(NodeRoutesTest, ProfilesTradesAndTheLedger) {
  const std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  auto [s1, p] = call("GET", "/v1/profiles/" + provider_.address().to_string());
  EXPECT_EQ(s1, 200) << p;
  EXPECT_EQ(p["rating"]["x100"], 300);
  EXPECT_EQ(p["rating"]["count"], 0);
  EXPECT_TRUE(p["history"].contains("provided"));
  EXPECT_EQ(call("GET", "/v1/profiles/nobody").second["error"]["field"], "address");

  auto [s2, t] = call("GET", "/v1/market/trades?country=DE");
  EXPECT_EQ(s2, 200) << t;
  ASSERT_EQ(t["trades"].size(), 1u);
  EXPECT_EQ(t["trades"][0]["deal"], deal);
  EXPECT_EQ(t["trades"][0]["pricePerSecond"], "1000");
  EXPECT_EQ(t["summary"]["count"], 1);
  EXPECT_EQ(t["summary"]["lastPricePerSecond"], "1000");
  EXPECT_EQ(t["dealsByStatus"]["pending"], 1);
  EXPECT_EQ(call("GET", "/v1/market/trades?country=FR").second["summary"]["count"], 0);
  EXPECT_EQ(call("GET", "/v1/market/trades?type=x").first, 400);

  auto [s3, a] = call("GET", "/v1/ledger/accounts/" + requester_.address().to_string());
  EXPECT_EQ(s3, 200) << a;
  EXPECT_EQ(a["balance"], "0");  // all 100 IPSX deposited
  EXPECT_EQ(a["nonce"], 1);
  EXPECT_NE(a["wallet"]["reserved"], "0");
  auto [s4, txs] = call(
      "GET", "/v1/ledger/accounts/" + requester_.address().to_string() + "/transactions?limit=10");
  EXPECT_EQ(s4, 200) << txs;
  EXPECT_EQ(txs["transactions"].size(), 1u);  // the deposit
  EXPECT_EQ(txs["transactions"][0]["op"], "deposit");
  auto [s5, ev] =
      call("GET", "/v1/ledger/accounts/" + requester_.address().to_string() + "/events");
  EXPECT_EQ(s5, 200) << ev;
  EXPECT_GE(ev["events"].size(), 2u);

  auto [s6, latest] = call("GET", "/v1/ledger/blocks/latest");
  auto [s7, same] =
      call("GET", "/v1/ledger/blocks/" + std::to_string(latest["number"].get<uint64_t>()));
  EXPECT_EQ(s7, 200) << same;
  EXPECT_EQ(same, latest);
  auto [s8, none] = call("GET", "/v1/ledger/blocks/99999");
  EXPECT_EQ(s8, 404);
  EXPECT_EQ(none["error"]["code"], "unknown_block");
  EXPECT_EQ(call("GET", "/v1/ledger/blocks/minus").first, 400);

  auto [s9, ld] = call("GET", "/v1/ledger/deals/" + deal);
  EXPECT_EQ(s9, 200) << ld;
  EXPECT_EQ(ld["state"], "open");
  auto [s10, de] = call("GET", "/v1/ledger/deals/" + deal + "/events");
  EXPECT_EQ(s10, 200) << de;
  ASSERT_EQ(de["events"].size(), 1u);
  EXPECT_EQ(call("GET", "/v1/ledger/deals/0x" + std::string(64, 'f')).second["error"]["code"],
            "unknown_deal");
  auto [s11, sup] = call("GET", "/v1/ledger/supply");
  EXPECT_EQ(s11, 200) << sup;
  EXPECT_EQ(sup["conserved"], true);
}

TEST_F(NodeRoutesTest, TheSaleRouteAnswersTheLedgersSaleTermsAndProgress) {
  auto [status, sale] = call("GET", "/v1/ledger/sale");
  ASSERT_EQ(status, 200) << sale;
  EXPECT_EQ(sale["rate"], "10000");
  EXPECT_EQ(sale["hardCap"], "1000");
  EXPECT_EQ(sale["raised"], "0");
  EXPECT_EQ(sale["sold"], "0");
  EXPECT_EQ(sale["startMs"], to_unix_ms(g_.time));
  EXPECT_EQ(sale["endMs"], to_unix_ms(g_.time) + 1000);
  EXPECT_EQ(sale["finalized"], true);  // the fixture's team finalized it
  EXPECT_EQ(sale["treasury"], key("treasury").address().to_string());
  auto supply = ledger_->supply().value();
  EXPECT_EQ(sale["pool"], supply.sale_pool.to_string());
  EXPECT_EQ(sale["unclaimed"], supply.unclaimed.to_string());
  EXPECT_EQ(call("POST", "/v1/ledger/sale", "{}").first, 405);
}

TEST_F(NodeRoutesTest, MetricsCountRequestsByRouteAndStatus) {
  call("GET", "/v1/health");
  call("GET", "/v1/health");
  call("GET", "/v1/orders/12345");
  call("GET", "/v1/nowhere");
  ASSERT_EQ(call("POST", "/v1/orders", offer(1'000).dump()).first, 201);
  auto [s, b] = call("GET", "/metrics");
  EXPECT_EQ(s, 200);
  EXPECT_EQ(last_.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& m = last_.body;
  EXPECT_NE(
      m.find("ipsx_http_requests_total{method=\"GET\",route=\"/v1/health\",status=\"200\"} 2"),
      std::string::npos)
      << m;
  EXPECT_NE(
      m.find(
          "ipsx_http_requests_total{method=\"GET\",route=\"/v1/orders/{order}\",status=\"404\"} 1"),
      std::string::npos);
  EXPECT_NE(m.find("route=\"unmatched\",status=\"404\"} 1"), std::string::npos);
  EXPECT_NE(
      m.find("ipsx_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/orders\"} 1"),
      std::string::npos);
  EXPECT_NE(m.find("le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(m.find("ipsx_book_offers 1\n"), std::string::npos);
  EXPECT_NE(m.find("ipsx_deals{status=\"pending\"} 0\n"), std::string::npos);
  EXPECT_NE(m.find("ipsx_ledger_height "), std::string::npos);
}

class RateLimitedRoutesTest : public NodeRoutesTest {
 protected:
  NodeLimits limits() const override {
    NodeLimits l;
    l.per_ip = {0.001, 3};
    l.per_address = {0.001, 1};
    return l;
  }
};

TEST_F(RateLimitedRoutesTest, EachIpGetsItsBurstThen429WithRetryAfter) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call("GET", "/v1/health", "", "10.0.0.1").first, 200);
  auto [s, b] = call("GET", "/v1/health", "", "10.0.0.1");
  EXPECT_EQ(s, 429);
  EXPECT_EQ(b["error"]["code"], "rate_limited");
  ASSERT_EQ(last_.headers.size(), 1u);
  EXPECT_EQ(last_.headers[0].first, "Retry-After");
  EXPECT_GE(std::stol(last_.headers[0].second), 1);
  EXPECT_EQ(call("GET", "/v1/health", "", "10.0.0.2").first, 200);
  EXPECT_EQ(call("GET", "/v1/nowhere", "", "10.0.0.1").first, 404);  // unknown: not limited
  call("GET", "/metrics");
  EXPECT_NE(last_.body.find("ipsx_rate_limited_total{limit=\"ip\"} 1"), std::string::npos);
}

TEST_F(RateLimitedRoutesTest, SignedChangesAreLimitedPerSigningAddress) {
  EXPECT_EQ(call("POST", "/v1/orders", offer(1'000, 1).dump()).first, 201);
  // Someone else's signature over the provider's offer does not spend the provider's tokens ...
  json forged = offer(1'000, 7);
  forged["signature"] = request(1'000, 7)["signature"];
  EXPECT_EQ(call("POST", "/v1/orders", forged.dump()).second["error"]["code"], "bad_signature");
  // ... but the provider's own second order is over its limit.
  auto [s, b] = call("POST", "/v1/orders", offer(1'000, 2, "127.0.0.9").dump());
  EXPECT_EQ(s, 429) << b;
  EXPECT_EQ(b["error"]["code"], "rate_limited");
  EXPECT_EQ(last_.headers.at(0).first, "Retry-After");
  // Another wallet has its own bucket.
  EXPECT_EQ(call("POST", "/v1/orders", request(500).dump()).first, 201);
}

// A batch costs its client IP one token per order (the router's guard took the first): the
// orders past the IP's burst are refused before their signatures are checked, each order still
// costs its wallet its own token.
TEST_F(RateLimitedRoutesTest, ABatchCostsItsIpOneTokenPerOrder) {
  json batch = {{"orders",
                 {offer(1'000, 1), request(500, 1), offer(1'000, 2, "127.0.0.9"),
                  offer(1'000, 3, "127.0.0.10"), request(500, 2)}}};
  auto [s, b] = call("POST", "/v1/orders", batch.dump(), "10.0.0.3");
  ASSERT_EQ(s, 200) << b;
  const json& r = b["results"];
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0]["status"], 201);
  EXPECT_EQ(r[1]["status"], 201);
  EXPECT_EQ(r[2]["status"], 429) << "the provider's wallet is over its own limit";
  EXPECT_EQ(r[2]["error"]["message"].get<std::string>().find("a batch costs"), std::string::npos);
  for (int i : {3, 4}) {
    EXPECT_EQ(r[i]["status"], 429) << i;
    EXPECT_NE(r[i]["error"]["message"].get<std::string>().find("a batch costs one per order"),
              std::string::npos)
        << r[i];
  }
  EXPECT_EQ(call("GET", "/v1/health", "", "10.0.0.3").first, 429) << "the burst is spent";
}

TEST_F(NodeRoutesTest, ATransactionIsFoundByItsId) {
  ASSERT_FALSE(open_deal().empty());
  auto [s1, block] = call("GET", "/v1/ledger/blocks/latest");
  ASSERT_EQ(s1, 200);
  ASSERT_FALSE(block["txs"].empty()) << block;
  std::string id = block["txs"][0];
  auto [s2, tx] = call("GET", "/v1/ledger/transactions/" + id);
  EXPECT_EQ(s2, 200) << tx;
  EXPECT_EQ(tx["id"], id);
  EXPECT_EQ(tx["op"], "openDeal");
  EXPECT_EQ(tx["block"], block["number"]);
  auto [s3, none] = call("GET", "/v1/ledger/transactions/0x" + std::string(64, '0'));
  EXPECT_EQ(s3, 404);
  EXPECT_EQ(none["error"]["code"], "unknown_transaction");
  auto [s4, bad] = call("GET", "/v1/ledger/transactions/12");
  EXPECT_EQ(s4, 400);
  EXPECT_EQ(bad["error"]["field"], "id");
}

TEST_F(NodeRoutesTest, TheStreamPublishesTheClosesTheClockMakes) {
  EventStream events;
  std::vector<json> said;
  events.subscribe([&](const EventStream::Message& m) { said.push_back(json::parse(*m)); });
  node_->events = &events;
  std::string deal = open_deal();
  ASSERT_FALSE(deal.empty());
  ASSERT_EQ(node_->watched.size(), 1u);
  auto types = [&] {
    std::vector<std::string> t;
    for (const json& m : said) t.push_back(m["type"]);
    return t;
  };
  EXPECT_EQ(types(), (std::vector<std::string>{"order", "order", "deal"}));
  tick(*node_, true);  // nothing changed
  EXPECT_EQ(said.size(), 3u);

  // The provider never reports ready: the ready timeout closes the deal, and the close becomes
  // final a clock skew later; each is published once, and then the watch ends.
  clock_.advance(market::ProtocolTimeouts{}.ready_timeout + Millis(1000));
  tick(*node_, true);
  ASSERT_EQ(said.size(), 4u);
  EXPECT_EQ(said[3]["type"], "deal_status");
  EXPECT_EQ(said[3]["data"]["deal"], deal);
  EXPECT_EQ(said[3]["data"]["status"]["phase"], "closed");
  EXPECT_EQ(said[3]["data"]["status"]["reason"], "provider_failed");
  EXPECT_FALSE(said[3]["data"]["status"]["final"].get<bool>());
  clock_.advance(market::ProtocolTimeouts{}.clock_skew);
  tick(*node_, true);
  ASSERT_EQ(said.size(), 5u);
  EXPECT_TRUE(said[4]["data"]["status"]["final"].get<bool>());
  EXPECT_TRUE(node_->watched.empty());
  tick(*node_, true);
  EXPECT_EQ(said.size(), 5u);
  node_->events = nullptr;
}

// ---- Offer checks ----------------------------------------------------------------------------

class OfferChecksTest : public testing::NodeRoutesTest {
 protected:
  void SetUp() override {
    NodeRoutesTest::SetUp();
    auto table = geo::StaticTable::parse(
        "127.0.0.2/32 DE AS64501 residential\n127.0.0.3/32 US AS64502 datacenter\n", "test");
    ASSERT_TRUE(table) << table.error().message();
    geo_.emplace(std::move(*table), geo::AsnTable());
    node_->checks.location = &*geo_;
    node_->checks.ownership = &proofs_;
    node_->checks.probe_endpoint = "127.0.0.1:9";
  }
  Offer claims(const std::string& ip, const std::string& country) {
    Offer o = ledger::offer_from_json(offer(1'000, 7, ip)["offer"]).value();
    o.country = parse_country(country).value();
    return o;
  }
  std::string signed_offer(const Offer& o) {
    return json{{"offer", ledger::to_json(o)}, {"signature", sign(provider_, o.struct_hash())}}
        .dump();
  }
  // What a probe connection from `from` presenting the challenge issued for `ip` gets.
  Result<Ip> probe(const std::string& ip, const std::string& from) {
    auto [s, b] = call("POST", "/v1/probes",
                       json{{"provider", provider_.address().to_string()}, {"ip", ip}}.dump());
    EXPECT_EQ(s, 201) << b;
    EXPECT_EQ(b["endpoint"], "127.0.0.1:9");
    EXPECT_EQ(b["line"], "IPSX-PROBE " + b["challenge"].get<std::string>() + "\n");
    return proofs_.present(Hash::from_hex(b["challenge"].get<std::string>()).value(),
                           parse_ip(from).value());
  }
  std::optional<geo::GeoDatabase> geo_;
  IpProofs proofs_{ProbeOptions{}, clock_};
};

TEST_F(OfferChecksTest, AnOfferNeedsAProbeFromItsIpAndTheRightLocation) {
  auto [s, b] = call("GET", "/v1/health");
  EXPECT_EQ(b["offerChecks"], json::array({"location", "ownership"}));

  std::tie(s, b) = call("POST", "/v1/orders", signed_offer(claims("127.0.0.2", "DE")));
  EXPECT_EQ(s, 403) << b;
  EXPECT_EQ(b["error"]["code"], "ip_not_proven");
  EXPECT_EQ(b["error"]["field"], "offer.ip");

  // A probe from another address proves nothing, and spends the challenge.
  auto wrong = probe("127.0.0.2", "127.0.0.1");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("from 127.0.0.1"), std::string::npos);
  EXPECT_EQ(call("POST", "/v1/orders", signed_offer(claims("127.0.0.2", "DE"))).first, 403);

  ASSERT_TRUE(probe("127.0.0.2", "127.0.0.2"));
  std::tie(s, b) = call("POST", "/v1/orders", signed_offer(claims("127.0.0.2", "DE")));
  EXPECT_EQ(s, 201) << b;

  // The location is checked first: a wrong country names the field; an unknown IP says so.
  ASSERT_TRUE(probe("127.0.0.3", "127.0.0.3"));
  std::tie(s, b) = call("POST", "/v1/orders", signed_offer(claims("127.0.0.3", "DE")));
  EXPECT_EQ(s, 422) << b;
  EXPECT_EQ(b["error"]["code"], "location_mismatch");
  EXPECT_EQ(b["error"]["field"], "offer.country");
  std::tie(s, b) = call("POST", "/v1/orders", signed_offer(claims("127.0.0.9", "DE")));
  EXPECT_EQ(s, 422) << b;
  EXPECT_EQ(b["error"]["code"], "location_unknown");

  // A forged offer is the market's bad_signature, whatever the checks would say.
  json forged = json::parse(signed_offer(claims("127.0.0.9", "DE")));
  forged["offer"]["nonce"] = 8;
  std::tie(s, b) = call("POST", "/v1/orders", forged.dump());
  EXPECT_EQ(b["error"]["code"], "bad_signature") << b;

  // The proof lasts proof_ttl.
  clock_.advance(proofs_.options().proof_ttl);
  Offer again = claims("127.0.0.2", "DE");
  again.nonce = 9;
  again.expiry = now_s() + 3600;
  EXPECT_EQ(call("POST", "/v1/orders", signed_offer(again)).first, 403);
}

TEST_F(OfferChecksTest, ProbeRequestsAreChecked) {
  auto [s, b] = call("POST", "/v1/probes", R"({"provider":"0x12","ip":"127.0.0.2"})");
  EXPECT_EQ(s, 400);
  EXPECT_EQ(b["error"]["field"], "provider");
  std::tie(s, b) = call("POST", "/v1/probes",
                        json{{"provider", provider_.address().to_string()}, {"ip", "nope"}}.dump());
  EXPECT_EQ(s, 400);
  EXPECT_EQ(b["error"]["field"], "ip");
  node_->checks.ownership = nullptr;
  std::tie(s, b) =
      call("POST", "/v1/probes",
           json{{"provider", provider_.address().to_string()}, {"ip", "127.0.0.2"}}.dump());
  EXPECT_EQ(s, 404);
  EXPECT_EQ(b["error"]["code"], "probes_off");
}

TEST(IpProofs, ChallengesAreSingleUseAndExpire) {
  ManualClock clock(from_unix_ms(1'000'000));
  IpProofs proofs(ProbeOptions{}, clock);
  Address p = Address::parse("0x00000000000000000000000000000000000000aa").value();
  Ip ip = parse_ip("127.0.0.2").value();
  Hash c = proofs.issue(p, ip);
  EXPECT_NE(c, proofs.issue(p, ip));  // fresh each time
  ASSERT_TRUE(proofs.present(c, ip));
  EXPECT_TRUE(proofs.proven(p, ip));
  EXPECT_FALSE(proofs.present(c, ip));  // used
  EXPECT_FALSE(proofs.proven(Address(), ip));

  Hash late = proofs.issue(p, ip);
  clock.advance(proofs.options().challenge_ttl);
  EXPECT_FALSE(proofs.present(late, ip));  // expired
  EXPECT_FALSE(proofs.present(Hash{}, ip));
}

TEST(ProbeServer, SeesWhereAConnectionComesFrom) {
  SystemClock clock;
  IpProofs proofs(ProbeOptions{}, clock);
  ProbeServer server(proofs);
  auto endpoint = server.start("127.0.0.1", 0);
  ASSERT_TRUE(endpoint) << endpoint.error().message();
  uint16_t port = static_cast<uint16_t>(std::stoul(endpoint->substr(endpoint->rfind(':') + 1)));
  Address p = Address::parse("0x00000000000000000000000000000000000000aa").value();
  // One probe: connect from `from`, send `line`, read the answer.
  auto ask = [&](const std::string& from, const std::string& line) {
    namespace asio = net::asio;
    asio::io_context io;
    net::tcp::socket s(io);
    s.open(net::tcp::v4());
    s.bind({asio::ip::make_address(from), 0});
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(line));
    std::string answer;
    boost::system::error_code ec;
    asio::read_until(s, asio::dynamic_buffer(answer), '\n', ec);
    return answer;
  };
  Ip ip = parse_ip("127.0.0.2").value();
  EXPECT_EQ(ask("127.0.0.2", probe_line(proofs.issue(p, ip))), "OK 127.0.0.2\n");
  EXPECT_TRUE(proofs.proven(p, ip));
  Ip other = parse_ip("127.0.0.3").value();
  EXPECT_TRUE(
      ask("127.0.0.1", probe_line(proofs.issue(p, other))).starts_with("ERR the challenge"));
  EXPECT_FALSE(proofs.proven(p, other));
  EXPECT_TRUE(ask("127.0.0.3", "HELLO\n").starts_with("ERR want one line"));
  EXPECT_EQ(server.probes_ok(), 1u);
  EXPECT_EQ(server.probes_refused(), 2u);
  server.stop();
}

// With the exit check (the node's default): a provider's offers fill only while it announces a
// live exit. An offer placed before any announcement rests; the provider's announcement fills
// the waiting request at once; once the announcement expires unrenewed, its next offer fills
// nothing until it announces again.
class NodeRoutesExitCheckTest : public NodeRoutesTest {
 protected:
  bool check_exits() const override { return true; }
};

TEST_F(NodeRoutesExitCheckTest, OffersFillOnlyWhileTheirProviderAnnouncesALiveExit) {
  auto [s, health] = call("GET", "/v1/health");
  EXPECT_NE(health["offerChecks"].dump().find("exit"), std::string::npos) << health;
  ASSERT_EQ(call("POST", "/v1/orders", offer(1'000).dump()).first, 201);
  auto [rs, r] = call("POST", "/v1/orders", request(2'000).dump());
  ASSERT_EQ(rs, 201) << r;
  EXPECT_TRUE(r["deals"].empty()) << "a deal for a provider with no exit: " << r;
  EXPECT_FALSE(market_->reachable(provider_.address()));

  auto [as, a] = call("POST", "/v1/exits", announcement(2, 1).dump());
  ASSERT_EQ(as, 200) << a;
  EXPECT_TRUE(market_->reachable(provider_.address()));
  EXPECT_EQ(market_->open_deals(), 1u) << "the waiting request takes the offer at once";

  // The announcement runs out (two seconds of the node's clock); the next periodic tick
  // suspends the provider again.
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  tick(*node_, true);
  EXPECT_FALSE(market_->reachable(provider_.address()));
  ASSERT_EQ(call("POST", "/v1/orders", offer(1'000, 2, "127.0.0.3").dump()).first, 201);
  auto [r2s, r2] = call("POST", "/v1/orders", request(2'000, 2).dump());
  ASSERT_EQ(r2s, 201) << r2;
  EXPECT_TRUE(r2["deals"].empty()) << r2;
  ASSERT_EQ(call("POST", "/v1/exits", announcement(60, 2).dump()).first, 200);
  EXPECT_EQ(market_->open_deals(), 2u);
}

}  // namespace
}  // namespace ipsx::api
