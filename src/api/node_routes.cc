#include "api/node_routes.h"

#include <fmt/format.h>

#include <charconv>

#include "core/clock.h"
#include "ledger/orders.h"
#include "ledger/tx_codec.h"

namespace ipsx::api {
namespace {

using json = nlohmann::json;

json deal_json(const ledger::DealView& v) {
  return {{"id", v.id.hex()},
          {"provider", v.provider.to_string()},
          {"requester", v.requester.to_string()},
          {"pricePerSecond", v.price_per_second.to_dec()},
          {"start", v.start},
          {"duration", v.duration},
          {"deposit", v.deposit.to_string()}};
}

HttpResponse place_order(NodeContext& node, const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  const json& j = *body;
  auto sig_it = j.find("signature");
  if (sig_it == j.end()) return error_response(ApiError::invalid_field("signature", "missing"));
  if (!sig_it->is_string())
    return error_response(ApiError::invalid_field("signature", "must be a hex string"));
  auto sig = crypto::Signature::from_hex(sig_it->get<std::string>());
  if (!sig) return error_response(ApiError::invalid_field("signature", sig.error().message()));
  bool is_offer = j.contains("offer");
  if (is_offer == j.contains("request")) {
    return error_response(
        ApiError::invalid_field("", "the body must hold exactly one of \"offer\" or \"request\""));
  }
  node.market.tick();
  Result<market::PlaceResult> placed = std::unexpected(Error({}, ""));
  if (is_offer) {
    auto offer = ledger::offer_from_json(j["offer"]);
    if (!offer) return error_response(from_error(offer.error()));
    placed = node.market.place_offer(*offer, *sig);
  } else {
    auto request = ledger::request_from_json(j["request"]);
    if (!request) return error_response(from_error(request.error()));
    placed = node.market.place_request(*request, *sig);
  }
  if (!placed) return error_response(from_error(placed.error()));
  json deals = json::array();
  for (const Hash& d : placed->deals) {
    auto view = node.ledger.deal(d);
    deals.push_back(view ? deal_json(*view) : json{{"id", d.hex()}});
  }
  json refused = json::array();
  for (const auto& [fill, err] : placed->refused) {
    refused.push_back({{"offer", fill.offer},
                       {"request", fill.request},
                       {"code", from_error(err).code},
                       {"message", err.message()}});
  }
  return json_response(201, {{"accepted", true},
                             {"kind", is_offer ? "offer" : "request"},
                             {"id", placed->id},
                             {"deals", deals},
                             {"refused", refused}});
}

json levels_json(const std::vector<market::DepthLevel>& levels) {
  json out = json::array();
  for (const auto& l : levels) {
    out.push_back({{"pricePerSecond", l.price.to_dec()}, {"orders", l.orders}, {"ips", l.ips}});
  }
  return out;
}

HttpResponse depth(NodeContext& node, const HttpRequest& req) {
  auto q = req.query();
  auto c = q.find("country");
  if (c == q.end()) return error_response(ApiError::invalid_field("country", "missing"));
  auto country = ledger::parse_country(c->second);
  if (!country) return error_response(ApiError::invalid_field("country", "not a country code"));
  size_t levels = 10;
  if (auto l = q.find("levels"); l != q.end()) {
    const std::string& t = l->second;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), levels);
    if (ec != std::errc() || end != t.data() + t.size() || levels == 0 || levels > 100)
      return error_response(ApiError::invalid_field("levels", "an integer from 1 to 100"));
  }
  std::vector<ledger::IpType> types = {ledger::IpType::residential, ledger::IpType::datacenter,
                                       ledger::IpType::mobile};
  if (auto t = q.find("type"); t != q.end()) {
    auto type = ledger::parse_ip_type(t->second);
    if (!type)
      return error_response(
          ApiError::invalid_field("type", "one of residential, datacenter, mobile"));
    types = {*type};
  }
  node.market.tick();
  json offers = json::object();
  for (ledger::IpType t : types)
    offers[ledger::to_string(t)] = levels_json(node.market.book().offer_depth(*country, t, levels));
  const auto& book = node.market.book();
  return json_response(200, {{"country", c->second},
                             {"offers", offers},
                             {"requests", levels_json(book.request_depth(*country, levels))},
                             {"liveOffers", book.offers()},
                             {"restingRequests", book.requests()},
                             {"openDeals", node.market.open_deals()}});
}

HttpResponse latest_block(NodeContext& node) {
  auto height = node.ledger.height();
  if (!height) return error_response(from_error(height.error()));
  auto b = node.ledger.block(*height);
  if (!b) return error_response(from_error(b.error()));
  json txs = json::array();
  for (const Hash& h : b->txs) txs.push_back(h.hex());
  return json_response(200, {{"number", b->number},
                             {"hash", b->hash.hex()},
                             {"parent", b->parent.hex()},
                             {"timestampMs", b->timestamp_ms},
                             {"txRoot", b->tx_root.hex()},
                             {"stateDigest", b->state_digest.hex()},
                             {"txs", txs}});
}

}  // namespace

void add_node_routes(Router& router, NodeContext& node) {
  router.add("GET", "/v1/health", [&node](const HttpRequest&) {
    return json_response(200, {{"status", "ok"}, {"market", node.market.address().to_string()}});
  });
  router.add("POST", "/v1/orders",
             [&node](const HttpRequest& req) { return place_order(node, req); });
  router.add("GET", "/v1/market/depth",
             [&node](const HttpRequest& req) { return depth(node, req); });
  router.add("GET", "/v1/ledger/blocks/latest",
             [&node](const HttpRequest&) { return latest_block(node); });
  router.add("GET", "/v1/openapi.yaml", [&node](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "application/yaml";
    r.body = node.openapi_yaml;
    return r;
  });
}

}  // namespace ipsx::api
