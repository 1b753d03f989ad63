// The node's routes: orders (POST /v1/orders, GET /v1/orders..., cancels).
#include "api/node_routes_internal.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "geo/geo.h"
#include "geo/geo_error.h"
#include "ledger/tx_codec.h"

namespace ipsx::api::routes {

json deal_json(const ledger::DealView& v) {
  return {{"id", v.id.hex()},
          {"provider", v.provider.to_string()},
          {"requester", v.requester.to_string()},
          {"pricePerSecond", v.price_per_second.to_dec()},
          {"start", v.start},
          {"duration", v.duration},
          {"deposit", v.deposit.to_string()}};
}

const char* order_state(const OrderInfo& o) {
  return o.resting ? "resting" : o.live ? "busy" : "closed";
}

json order_json(const OrderInfo& o) {
  json j = {{"id", o.id},
            {"kind", o.is_offer ? "offer" : "request"},
            {"hash", o.hash.hex()},
            {"owner", o.owner.to_string()},
            {"state", order_state(o)},
            {"signature", o.signature.to_hex()}};
  if (o.is_offer) {
    j["offer"] = ledger::to_json(*o.offer);
  } else {
    j["request"] = ledger::to_json(*o.request);
  }
  return j;
}

// The node's own checks of an offer signed by its provider (OfferChecks), before the market's.
std::optional<ApiError> check_offer(NodeContext& node, const Offer& offer) {
  const OfferChecks& c = node.checks;
  if (c.location) {
    auto found = geo::check_offer_location(*c.location, offer);
    if (!found) {
      const Error& e = found.error();
      std::string field = e.field().empty() ? "offer.ip" : "offer." + e.field();
      if (e.code() == make_error_code(geo::GeoErrc::location_mismatch))
        return ApiError{422, "location_mismatch", e.message(), field};
      if (e.code() == make_error_code(geo::GeoErrc::not_found))
        return ApiError{422, "location_unknown", e.message(), field};
      return ApiError::internal("the geo data: " + e.message());
    }
  }
  if (c.ownership && !c.ownership->proven(offer.provider, offer.ip)) {
    return ApiError{403, "ip_not_proven",
                    fmt::format("no probe has proved that {} can send from {}: POST /v1/probes, "
                                "then connect from that address (docs/api.md, \"Offer checks\")",
                                offer.provider.to_string(), format_ip(offer.ip)),
                    "offer.ip"};
  }
  return std::nullopt;
}

HttpResponse place_order(NodeState& s, const HttpRequest& req) {
  NodeContext& node = s.node;
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  const json& j = *body;
  auto sig = parse_signature(j);
  if (!sig) return error_response(sig.error());
  bool is_offer = j.contains("offer");
  if (is_offer == j.contains("request")) {
    return error_response(
        ApiError::invalid_field("", "the body must hold exactly one of \"offer\" or \"request\""));
  }
  tick(node);
  Result<market::PlaceResult> placed = std::unexpected(Error({}, ""));
  Hash hash;
  Address owner;
  if (is_offer) {
    auto offer = ledger::offer_from_json(j["offer"]);
    if (!offer) return error_response(from_error(offer.error()));
    hash = offer->struct_hash();
    owner = offer->provider;
    auto signer = signer_of(node, hash, *sig);
    if (auto r = limit_address(s, signer, owner)) return *r;
    if (signer == owner) {  // a forged offer is the market's bad_signature, not a check's
      if (auto refused = check_offer(node, *offer)) return error_response(*refused);
      // No live exit yet (a provider offers before it announces, or its announcement lapsed):
      // the offer rests, filling nothing until the provider announces.
      if (node.checks.exit && !s.exits.find(owner, now_s()) && node.market.reachable(owner))
        set_reachable(s, owner, false);
    }
    placed = node.market.place_offer(*offer, *sig);
  } else {
    auto request = ledger::request_from_json(j["request"]);
    if (!request) return error_response(from_error(request.error()));
    hash = request->struct_hash();
    owner = request->requester;
    if (auto r = limit_address(s, signer_of(node, hash, *sig), owner)) return *r;
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
  json out = {{"accepted", true},
              {"kind", is_offer ? "offer" : "request"},
              {"id", placed->id},
              {"deals", deals},
              {"refused", refused}};
  out["hash"] = hash.hex();
  auto o = node.market.order(placed->id);
  publish(node, "order",
          {{"id", placed->id},
           {"kind", out["kind"]},
           {"hash", hash.hex()},
           {"owner", owner.to_string()},
           {"state", o ? order_state(*o) : "closed"}});
  publish_deals(node, placed->deals);
  return json_response(201, out);
}

// The order a path names: its book id ("42") or its EIP-712 hash ("0x" + 64 hex).
Parsed<OrderInfo> find_order(NodeContext& node, const std::string& text) {
  std::optional<OrderInfo> o;
  if (text.starts_with("0x")) {
    auto h = parse_hash(text, "order");
    if (!h) return std::unexpected(h.error());
    o = node.market.order(*h);
  } else {
    auto id = parse_uint(text, "order");
    if (!id) return std::unexpected(ApiError::invalid_field("order", "a book id or an order hash"));
    o = node.market.order(*id);
  }
  if (!o) {
    return std::unexpected(ApiError::unknown(
        "unknown_order", "order",
        fmt::format("no order {} here (never placed, or gone and forgotten)", text)));
  }
  return *o;
}

HttpResponse list_orders(NodeContext& node, const HttpRequest& req) {
  auto q = req.query();
  std::optional<Address> owner;
  std::optional<bool> offers;
  std::optional<CountryCode> country;
  std::optional<IpType> type;
  std::string state;
  OrderId after = 0;
  if (auto it = q.find("owner"); it != q.end()) {
    auto a = parse_address(it->second, "owner");
    if (!a) return error_response(a.error());
    owner = *a;
  }
  if (auto it = q.find("side"); it != q.end()) {
    if (it->second != "offer" && it->second != "request")
      return error_response(ApiError::invalid_field("side", "offer or request"));
    offers = it->second == "offer";
  }
  auto filter = parse_place_filter(q);
  if (!filter) return error_response(filter.error());
  country = filter->country;
  type = filter->type;
  if (auto it = q.find("state"); it != q.end()) {
    state = it->second;
    if (state != "resting" && state != "busy" && state != "closed")
      return error_response(ApiError::invalid_field("state", "one of resting, busy, closed"));
  }
  if (auto it = q.find("after"); it != q.end()) {
    auto v = parse_uint(it->second, "after");
    if (!v) return error_response(v.error());
    after = *v;
  }
  auto limit = parse_limit(q, 50, 500);
  if (!limit) return error_response(limit.error());

  std::vector<OrderId> ids;
  node.market.for_each_order([&](const OrderInfo& o) {
    if (o.id <= after) return;
    if (owner && o.owner != *owner) return;
    if (offers && o.is_offer != *offers) return;
    if (!state.empty() && state != order_state(o)) return;
    if (country) {
      if (o.is_offer) {
        if (o.offer->country != *country) return;
      } else {
        const auto& cs = o.request->countries;
        if (!cs.empty() && std::find(cs.begin(), cs.end(), *country) == cs.end()) return;
      }
    }
    if (type) {
      if (o.is_offer) {
        if (o.offer->ip_type != *type) return;
      } else if (o.request->ip_types != 0 &&
                 (o.request->ip_types & (1u << static_cast<int>(*type))) == 0) {
        return;
      }
    }
    ids.push_back(o.id);
  });
  bool more = ids.size() > *limit;
  if (more) {
    std::nth_element(ids.begin(), ids.begin() + static_cast<long>(*limit), ids.end());
    ids.resize(*limit);
  }
  std::sort(ids.begin(), ids.end());
  json out = json::array();
  for (OrderId id : ids) out.push_back(order_json(*node.market.order(id)));
  return json_response(
      200, {{"orders", out}, {"next", more ? json(std::to_string(ids.back())) : json(nullptr)}});
}

// One order, with the deals it opened (ids, ascending), so that a client whose placement lost
// its answer learns what the placement did.
HttpResponse get_order(NodeContext& node, const HttpRequest& req) {
  auto o = find_order(node, req.params.at("order"));
  if (!o) return error_response(o.error());
  json out = order_json(*o);
  json deals = json::array();
  node.market.for_each_deal([&](const DealRecord& d) {
    if ((o->is_offer ? d.offer : d.request) == o->id) deals.push_back(d.deal_id.hex());
  });
  out["deals"] = std::move(deals);
  return json_response(200, out);
}

HttpResponse cancel_order(NodeState& s, const HttpRequest& req) {
  NodeContext& node = s.node;
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  const json& j = *body;
  auto sig = parse_signature(j);
  if (!sig) return error_response(sig.error());
  auto o = find_order(node, req.params.at("order"));
  if (!o) return error_response(o.error());
  if (auto c = j.find("cancel"); c != j.end()) {
    if (!c->is_object()) return error_response(ApiError::invalid_field("cancel", "not an object"));
    if (auto h = c->find("orderHash"); h != c->end()) {
      if (!h->is_string())
        return error_response(ApiError::invalid_field("cancel.orderHash", "must be a hex string"));
      auto hash = parse_hash(h->get<std::string>(), "cancel.orderHash");
      if (!hash) return error_response(hash.error());
      if (*hash != o->hash)
        return error_response(ApiError::invalid_field("cancel.orderHash",
                                                      "is not the hash of the order in the path"));
    }
    if (c->contains("nonce")) {
      return error_response(ApiError::invalid_field(
          "cancel.nonce", "is not a field of OrderCancel(bytes32 orderHash): sign that instead"));
    }
  }
  if (auto r =
          limit_address(s, signer_of(node, market::cancel_struct_hash(o->hash), *sig), o->owner))
    return *r;
  tick(node);
  if (auto c = node.market.cancel({o->hash, *sig}); !c)
    return error_response(from_error(c.error()));
  auto after = node.market.order(o->hash);
  publish(node, "cancel",
          {{"id", o->id}, {"hash", o->hash.hex()}, {"owner", o->owner.to_string()}});
  return json_response(200, {{"cancelled", true},
                             {"id", o->id},
                             {"hash", o->hash.hex()},
                             {"state", after ? order_state(*after) : "closed"}});
}

}  // namespace ipsx::api::routes
