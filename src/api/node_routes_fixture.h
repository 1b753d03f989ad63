// The fixture of the node's route tests: a real embedded ledger (a requester with a funded
// wallet) and market behind the node's routes, dispatched through the router (no sockets), with
// helpers that sign orders, cancels and status events as the wallets would.
#pragma once

#include <gtest/gtest.h>

#include "api/node_routes.h"
#include "core/keccak.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"
#include "market/exit_directory.h"

namespace ipsx::api::testing {

using json = nlohmann::json;
using ledger::testing::sign_tx;

inline crypto::PrivateKey key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

class NodeRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_ = ledger::testing::named_genesis(clock_.now(), 1337);
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
    node_->checks.exit = check_exits();
    add_node_routes(router_, *node_, limits());
  }
  // The limits the routes get (a test may override it).
  virtual NodeLimits limits() const { return {}; }
  // Whether offers fill only while their provider's exit is announced (OfferChecks::exit).
  virtual bool check_exits() const { return false; }
  // The provider's signed exit announcement, expiring `seconds` from the system clock's now (as
  // the node reads it), as `ipsx provide` sends it.
  json announcement(uint64_t seconds, uint64_t seq) {
    market::ExitAnnouncement a{
        provider_.address(), "127.0.0.1:4000",
        static_cast<uint64_t>(to_unix_seconds(SystemClock().now())) + seconds, seq};
    return {{"exit",
             {{"provider", a.provider.to_string()},
              {"endpoint", a.endpoint},
              {"expiry", a.expiry},
              {"seq", a.seq}}},
            {"signature", sign(provider_, a.struct_hash())}};
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
  json offer(uint64_t price, uint64_t nonce = 1, const std::string& ip = "127.0.0.2") {
    Offer o;
    o.provider = provider_.address();
    o.ip = parse_ip(ip).value();
    o.country = parse_country("DE").value();
    o.protocols = protocol::http;
    o.scopes = scope::crawling;
    o.capacity = 1;
    o.min_duration = 5;
    o.max_duration = 3600;
    o.price_per_second = U256(price);
    o.market = market_->address();
    o.expiry = now_s() + 3600;
    o.nonce = nonce;
    return {{"offer", ledger::to_json(o)}, {"signature", sign(provider_, o.struct_hash())}};
  }
  json request(uint64_t max_price, uint64_t nonce = 1) {
    Request r;
    r.requester = requester_.address();
    r.countries = {parse_country("DE").value()};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = 60;
    r.max_price_per_second = U256(max_price);
    r.budget = U256(max_price * 60);
    r.market = market_->address();
    r.expiry = now_s() + 3600;
    r.nonce = nonce;
    return {{"request", ledger::to_json(r)}, {"signature", sign(requester_, r.struct_hash())}};
  }
  // A cancel of the order with this hash, as `ipsx order cancel` writes it.
  json cancel(const crypto::PrivateKey& k, const std::string& order_hash) {
    Hash h = Hash::from_hex(order_hash).value();
    return {{"cancel", {{"orderHash", order_hash}}},
            {"signature", sign(k, market::cancel_struct_hash(h))}};
  }
  // A status event, as `ipsx order event` writes it.
  json event(const crypto::PrivateKey& k, const std::string& deal, market::Party party,
             market::PartyState state, uint64_t seq) {
    market::StatusEvent e;
    e.deal_id = Hash::from_hex(deal).value();
    e.party = party;
    e.state = state;
    e.at = clock_.now();
    e.seq = seq;
    return {{"event",
             {{"dealId", deal},
              {"party", static_cast<int>(party)},
              {"status", static_cast<int>(state)},
              {"at", to_unix_ms(e.at)},
              {"seq", seq}}},
            {"signature", sign(k, e.struct_hash())}};
  }
  // Places an offer and a matching request; returns the deal's id.
  std::string open_deal() {
    EXPECT_EQ(call("POST", "/v1/orders", offer(1'000).dump()).first, 201);
    auto [s, b] = call("POST", "/v1/orders", request(2'000).dump());
    EXPECT_EQ(s, 201) << b;
    return b["deals"].empty() ? "" : b["deals"][0]["id"].get<std::string>();
  }
  std::pair<int, json> call(const std::string& method, const std::string& target,
                            const std::string& body = "", const std::string& remote = "") {
    HttpResponse r = wait_for(router_.dispatch({method, target, body, remote, {}}));
    last_ = r;
    return {r.status, r.content_type == "application/json" ? json::parse(r.body) : json()};
  }
  HttpResponse last_;

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

}  // namespace ipsx::api::testing
