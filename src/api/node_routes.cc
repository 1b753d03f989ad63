#include "api/node_routes.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "api/metrics.h"
#include "core/clock.h"
#include "geo/geo.h"
#include "geo/geo_error.h"
#include "ledger/orders.h"
#include "ledger/tx_codec.h"
#include "market/exit_directory.h"

namespace ipsx::api {
namespace {

using json = nlohmann::json;
using market::DealRecord;
using market::OrderId;
using market::OrderInfo;

// What the routes share besides the node: the metrics and the limiters.
struct NodeState {
  NodeContext& node;
  market::ExitDirectory exits;     // providers re-announce (market/exit_directory.h)
  std::FILE* exits_log = nullptr;  // node.exits_file, open for appending (or none)
  // With checks.exit: the providers the market holds reachable thanks to an announcement, and
  // when that announcement expires (then, unless renewed, the provider is suspended).
  std::map<Address, uint64_t> reachable_until;
  Metrics metrics;
  RateLimiter per_ip;
  RateLimiter per_address;
  uint64_t limited_ip = 0, limited_address = 0;

  NodeState(NodeContext& n, const NodeLimits& l)
      : node(n),
        exits(n.ledger.domain().separator()),
        per_ip(l.per_ip, l.max_keys),
        per_address(l.per_address, l.max_keys) {}
  ~NodeState() {
    if (exits_log) std::fclose(exits_log);
  }
  NodeState(const NodeState&) = delete;
  NodeState& operator=(const NodeState&) = delete;
};

using State = std::shared_ptr<NodeState>;

uint64_t now_s();  // unix seconds (below, with the exits)
void set_reachable(NodeState& s, const Address& provider, bool reachable);

// ---- Parsing the inputs -------------------------------------------------------------------------

template <typename T>
using Parsed = std::expected<T, ApiError>;

Parsed<uint64_t> parse_uint(const std::string& text, const std::string& field) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return std::unexpected(ApiError::invalid_field(field, "not an unsigned integer"));
  return v;
}

// `limit` from the query: 1..max, `fallback` when absent.
Parsed<size_t> parse_limit(const std::map<std::string, std::string>& q, size_t fallback,
                           size_t max) {
  auto it = q.find("limit");
  if (it == q.end()) return fallback;
  auto v = parse_uint(it->second, "limit");
  if (!v || *v == 0 || *v > max)
    return std::unexpected(
        ApiError::invalid_field("limit", fmt::format("an integer from 1 to {}", max)));
  return static_cast<size_t>(*v);
}

// The optional `country` and `type` filters of a query.
struct PlaceFilter {
  std::optional<CountryCode> country;
  std::optional<IpType> type;
};

Parsed<PlaceFilter> parse_place_filter(const std::map<std::string, std::string>& q) {
  PlaceFilter f;
  if (auto it = q.find("country"); it != q.end()) {
    auto c = parse_country(it->second);
    if (!c) return std::unexpected(ApiError::invalid_field("country", "not a country code"));
    f.country = *c;
  }
  if (auto it = q.find("type"); it != q.end()) {
    f.type = parse_ip_type(it->second);
    if (!f.type)
      return std::unexpected(
          ApiError::invalid_field("type", "one of residential, datacenter, mobile"));
  }
  return f;
}

Parsed<Address> parse_address(const std::string& text, const std::string& field) {
  auto a = Address::parse(text);
  if (!a) return std::unexpected(ApiError::invalid_field(field, "not an address (0x + 40 hex)"));
  return *a;
}

Parsed<Hash> parse_hash(const std::string& text, const std::string& field) {
  if (text.size() != 66 || !text.starts_with("0x"))
    return std::unexpected(ApiError::invalid_field(field, "not a hash (0x + 64 hex)"));
  auto h = Hash::from_hex(text);
  if (!h) return std::unexpected(ApiError::invalid_field(field, "not a hash (0x + 64 hex)"));
  return *h;
}

Parsed<crypto::Signature> parse_signature(const json& body) {
  auto it = body.find("signature");
  if (it == body.end()) return std::unexpected(ApiError::invalid_field("signature", "missing"));
  if (!it->is_string())
    return std::unexpected(ApiError::invalid_field("signature", "must be a hex string"));
  auto sig = crypto::Signature::from_hex(it->get<std::string>());
  if (!sig) return std::unexpected(ApiError::invalid_field("signature", sig.error().message()));
  return *sig;
}

// A JSON unsigned integer (not a float, not negative, not a string).
Parsed<uint64_t> uint_field(const json& obj, const std::string& name, const std::string& path) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::unexpected(ApiError::invalid_field(path, "missing"));
  if (!it->is_number_unsigned())
    return std::unexpected(ApiError::invalid_field(path, "must be an unsigned integer"));
  return it->get<uint64_t>();
}

// Which backend keeps the ledger: "embedded" (the node's own) or "ethereum" (contracts).
std::string ledger_kind(NodeContext& node) {
  return std::string(node.ledger.kind());
}

bool on_ethereum(NodeContext& node) {
  return node.ledger.kind() == "ethereum";
}

// The signer of `struct_hash` under the ledger's domain, if the signature recovers.
std::optional<Address> signer_of(NodeContext& node, const Hash& struct_hash,
                                 const crypto::Signature& sig) {
  auto a =
      crypto::recover(crypto::eip712::digest(node.ledger.domain().separator(), struct_hash), sig);
  if (!a) return std::nullopt;
  return *a;
}

// The per-address limit for a signed state change, charged only when `signer` is `owner` (a
// change someone else signed is refused by the market anyway, and must not spend the owner's
// tokens).
std::optional<HttpResponse> limit_address(NodeState& s, const std::optional<Address>& signer,
                                          const Address& owner) {
  if (!signer || *signer != owner) return std::nullopt;
  auto wait = s.per_address.take(owner.to_string(), RateLimiter::Clock::now());
  if (!wait) return std::nullopt;
  ++s.limited_address;
  HttpResponse r = error_response(ApiError::rate_limited(
      fmt::format("{} is over its limit of signed changes ({}/s, burst {})", owner.to_string(),
                  s.per_address.limit().rate, s.per_address.limit().burst)));
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds(*wait)));
  return r;
}

// ---- Orders ---------------------------------------------------------------------------------

json deal_json(const ledger::DealView& v) {
  return {{"id", v.id.hex()},
          {"provider", v.provider.to_string()},
          {"requester", v.requester.to_string()},
          {"pricePerSecond", v.price_per_second.to_dec()},
          {"start", v.start},
          {"duration", v.duration},
          {"deposit", v.deposit.to_string()}};
}

int64_t now_ms() {
  return to_unix_ms(SystemClock().now());
}

void publish(NodeContext& node, const std::string& type, json data) {
  if (node.events) node.events->publish(type, std::move(data), now_ms());
}

// Publishes a "deal" event per deal opened, and watches its status from then on.
void publish_deals(NodeContext& node, const std::vector<Hash>& deals) {
  if (!node.events) return;
  for (const Hash& d : deals) {
    auto view = node.ledger.deal(d);
    publish(node, "deal", view ? deal_json(*view) : json{{"id", d.hex()}});
    if (auto st = node.market.deal_status(d)) node.watched[d] = *st;
  }
}

json status_json(const market::DealStatus& st);

// Publishes a "deal_status" event for each watched deal whose status changed since the stream
// last said it (a timeout, the deal's end, a close becoming final); a final close ends the watch.
// Run by the periodic tick only (it reads every watched deal).
void publish_status_changes(NodeContext& node) {
  if (!node.events) return;
  for (auto it = node.watched.begin(); it != node.watched.end();) {
    auto st = node.market.deal_status(it->first);
    if (!st) {
      it = node.watched.erase(it);
      continue;
    }
    if (!(*st == it->second)) {
      publish(node, "deal_status", {{"deal", it->first.hex()}, {"status", status_json(*st)}});
      it->second = *st;
    }
    bool done = st->phase == market::DealPhase::closed && st->final;
    it = done ? node.watched.erase(it) : std::next(it);
  }
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

HttpResponse get_order(NodeContext& node, const HttpRequest& req) {
  auto o = find_order(node, req.params.at("order"));
  if (!o) return error_response(o.error());
  return json_response(200, order_json(*o));
}

// Body: {"cancel": {"orderHash": "0x.."}, "signature": "0x.."} as `ipsx order cancel` writes it,
// signed over OrderCancel(bytes32 orderHash); "cancel" may be left out (the path names the
// order), but if present must agree. A "nonce" is refused: it was part of the old cancel, which
// was the ledger's CancelOrder transaction at nonce 0, and a signature over that is no cancel.
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

// ---- Deals ----------------------------------------------------------------------------------

json party_json(const market::PartyStatus& p) {
  json j = {{"state", market::to_string(p.state)}, {"seq", p.seq}};
  if (p.seq > 0) j["atMs"] = to_unix_ms(p.at);
  if (p.live_since) j["liveSinceMs"] = to_unix_ms(*p.live_since);
  return j;
}

json status_json(const market::DealStatus& st) {
  json j = {{"phase", market::to_string(st.phase)},
            {"sinceMs", to_unix_ms(st.since)},
            {"final", st.final}};
  if (st.phase == market::DealPhase::closed) j["reason"] = ledger::to_string(st.reason);
  return j;
}

json ledger_deal_json(const ledger::DealView& v) {
  return {{"state", ledger::to_string(v.state)},
          {"offerHash", v.offer_hash.hex()},
          {"requestHash", v.request_hash.hex()},
          {"market", v.market.to_string()},
          {"feeBps", v.fee_bps},
          {"pricePerSecond", v.price_per_second.to_dec()},
          {"start", v.start},
          {"duration", v.duration},
          {"deposit", v.deposit.to_string()},
          {"claimed", v.claimed.to_string()},
          {"admitted", v.admitted.to_string()},
          {"challengeEndsMs", v.challenge_ends_ms},
          {"reason", ledger::to_string(v.reason)},
          {"ratedByProvider", v.rated_by_provider},
          {"ratedByRequester", v.rated_by_requester},
          {"usageCount", v.usage_count},
          {"usageRoot", v.usage_root.hex()}};
}

json market_deal_json(NodeContext& node, const DealRecord& d) {
  const market::DealProgress& p = d.progress;
  json j = {{"id", d.deal_id.hex()},
            {"provider", p.provider.to_string()},
            {"requester", p.requester.to_string()},
            {"offer", d.offer},
            {"request", d.request},
            {"exclusive", d.exclusive},
            {"released", d.released},
            {"status", status_json(node.market.status_of(d))},
            {"times",
             {{"openedMs", to_unix_ms(p.times.opened)},
              {"startMs", to_unix_ms(p.times.start)},
              {"endMs", to_unix_ms(p.times.end())},
              {"durationMs", p.times.duration.count()}}},
            {"parties",
             {{"provider", party_json(p.provider_status)},
              {"requester", party_json(p.requester_status)}}}};
  if (auto v = node.ledger.deal(d.deal_id)) {
    j["pricePerSecond"] = v->price_per_second.to_dec();
    j["ledger"] = ledger_deal_json(*v);
  }
  return j;
}

Parsed<const DealRecord*> find_deal(NodeContext& node, const std::string& text) {
  auto h = parse_hash(text, "deal");
  if (!h) return std::unexpected(h.error());
  const DealRecord* d = node.market.deal(*h);
  if (!d) return std::unexpected(ApiError::unknown("unknown_deal", "deal", "no deal " + text));
  return d;
}

HttpResponse list_deals(NodeContext& node, const HttpRequest& req) {
  auto q = req.query();
  std::optional<Address> party;
  std::optional<market::DealPhase> phase;
  std::optional<Hash> after;
  if (auto it = q.find("party"); it != q.end()) {
    auto a = parse_address(it->second, "party");
    if (!a) return error_response(a.error());
    party = *a;
  }
  if (auto it = q.find("status"); it != q.end()) {
    for (auto p : {market::DealPhase::pending, market::DealPhase::ready, market::DealPhase::active,
                   market::DealPhase::closed}) {
      if (it->second == market::to_string(p)) phase = p;
    }
    if (!phase)
      return error_response(
          ApiError::invalid_field("status", "one of pending, ready, active, closed"));
  }
  if (auto it = q.find("after"); it != q.end()) {
    auto h = parse_hash(it->second, "after");
    if (!h) return error_response(h.error());
    after = *h;
  }
  auto limit = parse_limit(q, 50, 200);
  if (!limit) return error_response(limit.error());
  json out = json::array();
  bool more = false;
  Hash last;
  node.market.for_each_deal([&](const DealRecord& d) {  // ascending deal id
    if (more) return;
    if (after && !(*after < d.deal_id)) return;
    const auto& p = d.progress;
    if (party && p.provider != *party && p.requester != *party) return;
    if (phase && node.market.status_of(d).phase != *phase) return;
    if (out.size() == *limit) {
      more = true;
      return;
    }
    out.push_back(market_deal_json(node, d));
    last = d.deal_id;
  });
  return json_response(200, {{"deals", out}, {"next", more ? json(last.hex()) : json(nullptr)}});
}

HttpResponse get_deal(NodeContext& node, const HttpRequest& req) {
  auto d = find_deal(node, req.params.at("deal"));
  if (!d) return error_response(d.error());
  return json_response(200, market_deal_json(node, **d));
}

std::optional<market::Party> party_from(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t n = v.get<uint64_t>();
    if (n == 1) return market::Party::provider;
    if (n == 2) return market::Party::requester;
  } else if (v.is_string()) {
    if (v == "provider") return market::Party::provider;
    if (v == "requester") return market::Party::requester;
  }
  return std::nullopt;
}

std::optional<market::PartyState> state_from(const json& v) {
  using market::PartyState;
  static constexpr PartyState kAll[] = {PartyState::none,      PartyState::ready,
                                        PartyState::connected, PartyState::closed,
                                        PartyState::failed,    PartyState::unpaid};
  for (PartyState s : kAll) {
    if ((v.is_number_unsigned() && v.get<uint64_t>() == static_cast<uint64_t>(s)) ||
        (v.is_string() && v.get<std::string>() == market::to_string(s)))
      return s;
  }
  return std::nullopt;
}

// Body: {"event": {"dealId", "party", "status", "at", "seq"}, "signature"} as `ipsx order event`
// writes it (party and status as numbers, or names).
HttpResponse post_event(NodeState& s, const HttpRequest& req) {
  NodeContext& node = s.node;
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  const json& j = *body;
  auto sig = parse_signature(j);
  if (!sig) return error_response(sig.error());
  auto e = j.find("event");
  if (e == j.end()) return error_response(ApiError::invalid_field("event", "missing"));
  if (!e->is_object()) return error_response(ApiError::invalid_field("event", "not an object"));
  auto d = find_deal(node, req.params.at("deal"));
  if (!d) return error_response(d.error());
  market::SignedStatusEvent se;
  se.signature = *sig;
  auto id = e->find("dealId");
  if (id == e->end()) return error_response(ApiError::invalid_field("event.dealId", "missing"));
  if (!id->is_string())
    return error_response(ApiError::invalid_field("event.dealId", "must be a hex string"));
  auto deal_id = parse_hash(id->get<std::string>(), "event.dealId");
  if (!deal_id) return error_response(deal_id.error());
  if (*deal_id != (*d)->deal_id) {
    return error_response(
        {400, "wrong_deal", "the event names another deal than the path", "event.dealId"});
  }
  se.event.deal_id = *deal_id;
  auto party = e->find("party");
  if (party == e->end() || !party_from(*party))
    return error_response(
        ApiError::invalid_field("event.party", "1 (provider) or 2 (requester), or the name"));
  se.event.party = *party_from(*party);
  auto st = e->find("status");
  if (st == e->end() || !state_from(*st))
    return error_response(ApiError::invalid_field(
        "event.status", "1 ready, 2 connected, 3 closed, 4 failed, 5 unpaid, or the name"));
  se.event.state = *state_from(*st);
  auto at = uint_field(*e, "at", "event.at");
  if (!at) return error_response(at.error());
  if (*at > static_cast<uint64_t>(INT64_MAX))
    return error_response(ApiError::invalid_field("event.at", "out of range"));
  se.event.at = from_unix_ms(static_cast<int64_t>(*at));
  auto seq = uint_field(*e, "seq", "event.seq");
  if (!seq) return error_response(seq.error());
  se.event.seq = *seq;

  const auto& p = (*d)->progress;
  const Address& expected = se.event.party == market::Party::provider ? p.provider : p.requester;
  if (auto r = limit_address(s, signer_of(node, se.event.struct_hash(), se.signature), expected))
    return *r;
  tick(node);
  auto status = node.market.status_event(se);
  if (!status) return error_response(from_error(status.error()));
  if (auto w = node.watched.find(se.event.deal_id); w != node.watched.end())
    w->second = *status;  // said by the "status" event below
  publish(node, "status",
          {{"deal", se.event.deal_id.hex()},
           {"party", market::to_string(se.event.party)},
           {"state", market::to_string(se.event.state)},
           {"seq", se.event.seq},
           {"atMs", to_unix_ms(se.event.at)},
           {"status", status_json(*status)}});
  const DealRecord* now = node.market.deal(se.event.deal_id);
  return json_response(200, {{"accepted", true},
                             {"status", status_json(*status)},
                             {"deal", now ? market_deal_json(node, *now) : json(nullptr)}});
}

// ---- Exits ------------------------------------------------------------------------------------

json exit_json(const market::SignedExitAnnouncement& a) {
  const market::ExitAnnouncement& x = a.announcement;
  return {{"exit",
           {{"provider", x.provider.to_string()},
            {"endpoint", x.endpoint},
            {"expiry", x.expiry},
            {"seq", x.seq}}},
          {"signature", a.signature.to_hex()}};
}

uint64_t now_s() {
  return static_cast<uint64_t>(now_ms() / 1000);
}

// {"exit": {"provider", "endpoint", "expiry", "seq"}, "signature"}: a provider's signed
// announcement of where its exit listens (the signature is checked by ExitDirectory::announce).
Parsed<market::SignedExitAnnouncement> parse_announcement(const json& j) {
  auto sig = parse_signature(j);
  if (!sig) return std::unexpected(sig.error());
  auto e = j.find("exit");
  if (e == j.end()) return std::unexpected(ApiError::invalid_field("exit", "missing"));
  if (!e->is_object()) return std::unexpected(ApiError::invalid_field("exit", "not an object"));
  market::SignedExitAnnouncement a;
  a.signature = *sig;
  auto provider = e->find("provider");
  if (provider == e->end() || !provider->is_string())
    return std::unexpected(ApiError::invalid_field("exit.provider", "must be an address"));
  auto address = parse_address(provider->get<std::string>(), "exit.provider");
  if (!address) return std::unexpected(address.error());
  a.announcement.provider = *address;
  auto endpoint = e->find("endpoint");
  if (endpoint == e->end() || !endpoint->is_string())
    return std::unexpected(ApiError::invalid_field("exit.endpoint", "must be HOST:PORT"));
  a.announcement.endpoint = endpoint->get<std::string>();
  auto expiry = uint_field(*e, "expiry", "exit.expiry");
  if (!expiry) return std::unexpected(expiry.error());
  a.announcement.expiry = *expiry;
  auto seq = uint_field(*e, "seq", "exit.seq");
  if (!seq) return std::unexpected(seq.error());
  a.announcement.seq = *seq;
  return a;
}

// Reads node.exits_file back into the directory (each announcement checked again; the expired
// and superseded are dropped), rewrites it with the live ones and opens it for appending. A line
// that does not parse is skipped: the file is the node's own, and soft state.
void load_exits(NodeState& s) {
  const std::string& path = s.node.exits_file;
  if (path.empty()) return;
  std::vector<market::SignedExitAnnouncement> live;
  if (std::FILE* in = std::fopen(path.c_str(), "re")) {
    std::string line;
    for (int c; (c = std::fgetc(in)) != EOF;) {
      if (c != '\n') {
        line.push_back(static_cast<char>(c));
        continue;
      }
      auto j = json::parse(line, nullptr, false);
      line.clear();
      if (!j.is_object()) continue;
      auto a = parse_announcement(j);
      if (a && s.exits.announce(*a, now_s())) live.push_back(*a);
    }
    std::fclose(in);
  }
  std::string tmp = path + ".tmp";
  if (std::FILE* out = std::fopen(tmp.c_str(), "we")) {
    for (const auto& a : live)
      if (s.exits.find(a.announcement.provider, now_s()) &&
          s.exits.find(a.announcement.provider, now_s())->announcement.seq == a.announcement.seq)
        std::fprintf(out, "%s\n", exit_json(a).dump().c_str());
    bool ok = std::fflush(out) == 0 && ::fsync(::fileno(out)) == 0;
    std::fclose(out);
    if (ok) std::rename(tmp.c_str(), path.c_str());
  }
  s.exits_log = std::fopen(path.c_str(), "ae");
  if (!s.exits_log)
    std::fprintf(stderr, "exit announcements will not survive a restart: cannot open %s\n",
                 path.c_str());
}

// Tells the market whether `provider`'s exit can be reached (checks.exit), publishing the deals a
// provider coming back opens. A failure (the journal) is logged; the next tick or announcement
// tries again.
void set_reachable(NodeState& s, const Address& provider, bool reachable) {
  auto r = s.node.market.set_reachable(provider, reachable);
  if (!r) {
    std::fprintf(stderr, "marking %s %s: %s\n", provider.to_string().c_str(),
                 reachable ? "reachable" : "unreachable", r.error().message().c_str());
    return;
  }
  publish_deals(s.node, *r);
}

// A live announcement of `provider` was accepted (or found at start): its offers may fill.
void exit_announced(NodeState& s, const Address& provider, uint64_t expiry) {
  if (!s.node.checks.exit) return;
  s.reachable_until[provider] = expiry;
  if (!s.node.market.reachable(provider)) set_reachable(s, provider, true);
}

// Each periodic tick: the providers whose announcement expired unrenewed fill nothing more.
void check_exit_expiries(NodeState& s) {
  if (!s.node.checks.exit) return;
  const uint64_t now = now_s();
  for (auto it = s.reachable_until.begin(); it != s.reachable_until.end();) {
    if (it->second > now) {
      ++it;
    } else if (const auto* a = s.exits.find(it->first, now)) {
      it->second = a->announcement.expiry;
      ++it;
    } else {
      set_reachable(s, it->first, false);
      it = s.reachable_until.erase(it);
    }
  }
}

// At start: the market's view of each provider agrees with the announcements the node holds
// (those of its last run, reloaded). Without the check, no provider stays suspended.
void sync_reachability(NodeState& s) {
  market::Market& m = s.node.market;
  if (!s.node.checks.exit) {
    for (const Address& p : m.book().suspended_owners()) set_reachable(s, p, true);
    return;
  }
  std::set<Address> providers;
  m.for_each_order([&](const OrderInfo& o) {
    if (o.is_offer && o.live) providers.insert(o.owner);
  });
  for (const Address& p : m.book().suspended_owners()) providers.insert(p);
  const uint64_t now = now_s();
  for (const Address& p : providers) {
    if (const auto* a = s.exits.find(p, now))
      exit_announced(s, p, a->announcement.expiry);
    else if (m.reachable(p))
      set_reachable(s, p, false);
  }
}

// Body: {"exit": {"provider", "endpoint", "expiry", "seq"}, "signature"}: a provider's signed
// announcement of where its exit listens.
HttpResponse announce_exit(NodeState& s, const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  auto parsed = parse_announcement(*body);
  if (!parsed) return error_response(parsed.error());
  const market::SignedExitAnnouncement& a = *parsed;
  if (auto r = limit_address(s, signer_of(s.node, a.announcement.struct_hash(), a.signature),
                             a.announcement.provider))
    return *r;
  if (auto r = s.exits.announce(a, now_s()); !r) {
    if (r.error().code() == market::MarketErrc::invalid_argument) {
      return error_response(ApiError::invalid_field(
          r.error().field() == "expiry" ? "exit.expiry" : "exit.endpoint", r.error().message()));
    }
    return error_response(from_error(r.error()));
  }
  // Kept for a restart of the node (soft state: a lost last line costs one re-announcement).
  if (s.exits_log) {
    std::fprintf(s.exits_log, "%s\n", exit_json(a).dump().c_str());
    std::fflush(s.exits_log);
  }
  publish(s.node, "exit", exit_json(a));
  exit_announced(s, a.announcement.provider, a.announcement.expiry);
  return json_response(200, exit_json(a));
}

HttpResponse get_exit(NodeState& s, const HttpRequest& req) {
  auto a = parse_address(req.params.at("provider"), "provider");
  if (!a) return error_response(a.error());
  const market::SignedExitAnnouncement* found = s.exits.find(*a, now_s());
  if (!found) {
    return error_response(
        ApiError::unknown("unknown_exit", "provider", a->to_string() + " announces no live exit"));
  }
  return json_response(200, exit_json(*found));
}

// ---- Profiles and market data ---------------------------------------------------------------

HttpResponse get_profile(NodeContext& node, const HttpRequest& req) {
  auto a = parse_address(req.params.at("address"), "address");
  if (!a) return error_response(a.error());
  market::Profile p = node.market.profiles().get(*a);
  json reasons = json::object();
  for (size_t i = 1; i < p.closed_by_reason.size(); ++i)
    reasons[ledger::to_string(static_cast<ledger::CloseReason>(i))] = p.closed_by_reason[i];
  json prefs = json::object();
  for (const auto& [k, v] : p.preferences) prefs[k] = v;
  return json_response(
      200, {{"address", a->to_string()},
            {"rating", {{"x100", p.rating}, {"count", p.ratings}, {"sum", p.rating_sum}}},
            {"history",
             {{"provided", p.provided},
              {"providedActive", p.provided_active},
              {"requested", p.requested},
              {"providerUptimePerMille", p.provider_uptime_per_mille()},
              {"closedByReason", reasons}}},
            {"preferences", prefs}});
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
  auto filter = parse_place_filter(q);
  if (!filter) return error_response(filter.error());
  const auto& country = filter->country;  // present: checked above
  size_t levels = 10;
  if (auto l = q.find("levels"); l != q.end()) {
    const std::string& t = l->second;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), levels);
    if (ec != std::errc() || end != t.data() + t.size() || levels == 0 || levels > 100)
      return error_response(ApiError::invalid_field("levels", "an integer from 1 to 100"));
  }
  std::vector<IpType> types = {IpType::residential, IpType::datacenter, IpType::mobile};
  if (filter->type) types = {*filter->type};
  tick(node);
  json offers = json::object();
  for (IpType t : types)
    offers[to_string(t)] = levels_json(node.market.book().offer_depth(*country, t, levels));
  const auto& book = node.market.book();
  return json_response(200, {{"country", c->second},
                             {"offers", offers},
                             {"requests", levels_json(book.request_depth(*country, levels))},
                             {"liveOffers", book.offers()},
                             {"restingRequests", book.requests()},
                             {"openDeals", node.market.open_deals()}});
}

std::map<std::string, uint64_t> deals_by_phase(NodeContext& node) {
  std::map<std::string, uint64_t> out = {
      {"pending", 0}, {"ready", 0}, {"active", 0}, {"closed", 0}};
  node.market.for_each_deal(
      [&](const DealRecord& d) { ++out[market::to_string(node.market.status_of(d).phase)]; });
  return out;
}

// Recent deals as market data: prices by country and IP type, newest first, and the counts.
HttpResponse trades(NodeContext& node, const HttpRequest& req) {
  auto q = req.query();
  std::optional<CountryCode> country;
  std::optional<IpType> type;
  auto filter = parse_place_filter(q);
  if (!filter) return error_response(filter.error());
  country = filter->country;
  type = filter->type;
  auto limit = parse_limit(q, 50, 1000);
  if (!limit) return error_response(limit.error());
  auto prints = node.market.recent_deals(1000);
  json out = json::array();
  std::optional<U256> lo, hi;
  size_t matched = 0;
  for (auto it = prints.rbegin(); it != prints.rend(); ++it) {
    if (country && it->country != *country) continue;
    if (type && it->ip_type != *type) continue;
    ++matched;
    if (!lo || it->price_per_second < *lo) lo = it->price_per_second;
    if (!hi || *hi < it->price_per_second) hi = it->price_per_second;
    if (out.size() < *limit) {
      out.push_back({{"deal", it->deal_id.hex()},
                     {"pricePerSecond", it->price_per_second.to_dec()},
                     {"country", std::string(it->country.data(), 2)},
                     {"ipType", to_string(it->ip_type)},
                     {"atMs", to_unix_ms(it->at)}});
    }
  }
  json summary = {{"count", matched}};
  if (matched > 0) {
    summary["lastPricePerSecond"] = out[0]["pricePerSecond"];
    summary["minPricePerSecond"] = lo->to_dec();
    summary["maxPricePerSecond"] = hi->to_dec();
  }
  return json_response(200, {{"trades", out},
                             {"summary", summary},
                             {"dealsByStatus", deals_by_phase(node)},
                             {"openDeals", node.market.open_deals()}});
}

// ---- The ledger -----------------------------------------------------------------------------

HttpResponse block_json(const Result<ledger::BlockView>& b) {
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

HttpResponse latest_block(NodeContext& node) {
  auto height = node.ledger.height();
  if (!height) return error_response(from_error(height.error()));
  return block_json(node.ledger.block(*height));
}

HttpResponse block_by_number(NodeContext& node, const HttpRequest& req) {
  auto n = parse_uint(req.params.at("number"), "number");
  if (!n) return error_response(n.error());
  auto height = node.ledger.height();
  if (!height) return error_response(from_error(height.error()));
  if (*n > *height) {
    return error_response(ApiError::unknown(
        "unknown_block", "number", fmt::format("no block {} (the height is {})", *n, *height)));
  }
  return block_json(node.ledger.block(*n));
}

HttpResponse account(NodeContext& node, const HttpRequest& req) {
  auto a = parse_address(req.params.at("address"), "address");
  if (!a) return error_response(a.error());
  auto balance = node.ledger.balance_of(*a);
  auto native = node.ledger.native_balance(*a);
  auto nonce = node.ledger.nonce_of(*a);
  auto wallet = node.ledger.wallet(*a);
  auto bought = node.ledger.bought(*a);
  auto rating = node.ledger.rating(*a);
  for (const Error* e : {balance ? nullptr : &balance.error(), native ? nullptr : &native.error(),
                         nonce ? nullptr : &nonce.error(), wallet ? nullptr : &wallet.error(),
                         bought ? nullptr : &bought.error(), rating ? nullptr : &rating.error()}) {
    if (e) return error_response(from_error(*e));
  }
  return json_response(
      200,
      {{"address", a->to_string()},
       {"balance", balance->to_string()},
       {"nativeBalance", native->to_string()},
       {"nonce", *nonce},
       {"wallet",
        {{"balance", wallet->balance.to_string()}, {"reserved", wallet->reserved.to_string()}}},
       {"bought", bought->to_string()},
       {"rating", {{"count", rating->count}, {"sum", rating->sum}}}});
}

HttpResponse events_json(const Result<std::vector<ledger::Event>>& events) {
  if (!events) return error_response(from_error(events.error()));
  json out = json::array();
  for (const auto& e : *events) out.push_back(ledger::to_json(e));
  return json_response(200, {{"events", out}});
}

json tx_record_json(const ledger::TxRecord& t) {
  return {{"id", t.id.hex()},           {"block", t.block}, {"index", t.index},
          {"from", t.from.to_string()}, {"nonce", t.nonce}, {"op", t.op}};
}

// GET /v1/ledger/transactions/{id}: one transaction by its id, with its block's number.
HttpResponse transaction_by_id(NodeContext& node, const HttpRequest& req) {
  auto id = parse_hash(req.params.at("id"), "id");
  if (!id) return error_response(id.error());
  auto t = node.ledger.transaction(*id);
  if (!t) return error_response(from_error(t.error()));
  if (!*t)
    return error_response(ApiError::unknown("unknown_transaction", "id",
                                            "no transaction " + id->hex() + " in a durable block"));
  return json_response(200, tx_record_json(**t));
}

HttpResponse account_transactions(NodeContext& node, const HttpRequest& req) {
  auto a = parse_address(req.params.at("address"), "address");
  if (!a) return error_response(a.error());
  auto limit = parse_limit(req.query(), 50, 500);
  if (!limit) return error_response(limit.error());
  auto txs = node.ledger.transactions_of(*a, *limit);
  if (!txs) return error_response(from_error(txs.error()));
  json out = json::array();
  for (const auto& t : *txs) out.push_back(tx_record_json(t));
  return json_response(200, {{"transactions", out}});
}

HttpResponse account_events(NodeContext& node, const HttpRequest& req) {
  auto a = parse_address(req.params.at("address"), "address");
  if (!a) return error_response(a.error());
  auto limit = parse_limit(req.query(), 50, 500);
  if (!limit) return error_response(limit.error());
  return events_json(node.ledger.events_of_account(*a, *limit));
}

HttpResponse ledger_deal(NodeContext& node, const HttpRequest& req) {
  auto id = parse_hash(req.params.at("deal"), "deal");
  if (!id) return error_response(id.error());
  auto v = node.ledger.deal(*id);
  if (!v) return error_response(from_error(v.error()));
  json j = ledger_deal_json(*v);
  j["id"] = v->id.hex();
  j["provider"] = v->provider.to_string();
  j["requester"] = v->requester.to_string();
  return json_response(200, j);
}

HttpResponse ledger_deal_events(NodeContext& node, const HttpRequest& req) {
  auto id = parse_hash(req.params.at("deal"), "deal");
  if (!id) return error_response(id.error());
  if (auto v = node.ledger.deal(*id); !v) return error_response(from_error(v.error()));
  return events_json(node.ledger.events_of_deal(*id));
}

HttpResponse supply(NodeContext& node) {
  auto s = node.ledger.supply();
  if (!s) return error_response(from_error(s.error()));
  return json_response(200, {{"total", s->total.to_string()},
                             {"accounts", s->accounts.to_string()},
                             {"walletBalances", s->wallet_balances.to_string()},
                             {"walletReserved", s->wallet_reserved.to_string()},
                             {"salePool", s->sale_pool.to_string()},
                             {"unclaimed", s->unclaimed.to_string()},
                             {"conserved", s->conserved()}});
}

// The crowd sale: its terms, and how far it got. Amounts in IPSX (`sold`, `pool`, `unclaimed`)
// or in the native coin (`hardCap`, `raised`); `rate` in IPSX base units per native base unit.
HttpResponse sale(NodeContext& node) {
  auto s = node.ledger.sale();
  if (!s) return error_response(from_error(s.error()));
  return json_response(200, {{"rate", s->rate.to_dec()},
                             {"hardCap", s->hard_cap.to_string()},
                             {"raised", s->raised.to_string()},
                             {"sold", s->sold.to_string()},
                             {"pool", s->pool.to_string()},
                             {"unclaimed", s->unclaimed.to_string()},
                             {"startMs", s->start_ms},
                             {"endMs", s->end_ms},
                             {"finalized", s->finalized},
                             {"treasury", s->treasury.to_string()}});
}

// ---- Ledger transactions --------------------------------------------------------------------

// The sender, nonce and operation of a transaction body ({"chainId"?, "from", "nonce", "op"}).
struct TxFields {
  Address from;
  std::optional<uint64_t> nonce;
  ledger::Op op;
};

Parsed<TxFields> tx_fields(NodeContext& node, const json& j, bool nonce_required) {
  if (auto c = j.find("chainId"); c != j.end()) {
    if (!c->is_number_unsigned() || c->get<uint64_t>() != node.ledger.chain_id())
      return std::unexpected(ApiError::invalid_field(
          "chainId", fmt::format("is not this ledger's chain id {}", node.ledger.chain_id())));
  }
  auto f = j.find("from");
  if (f == j.end() || !f->is_string())
    return std::unexpected(ApiError::invalid_field("from", "missing, or not a string"));
  auto from = parse_address(f->get<std::string>(), "from");
  if (!from) return std::unexpected(from.error());
  TxFields t{*from, std::nullopt, {}};
  if (j.contains("nonce") || nonce_required) {
    auto n = uint_field(j, "nonce", "nonce");
    if (!n) return std::unexpected(n.error());
    t.nonce = *n;
  }
  auto o = j.find("op");
  if (o == j.end() || !o->is_object())
    return std::unexpected(ApiError::invalid_field("op", "missing, or not an object"));
  auto op = ledger::op_from_json(*o);
  if (!op) return std::unexpected(from_error(op.error()));
  t.op = std::move(*op);
  return t;
}

json unsigned_tx_json(NodeContext& node, const ledger::UnsignedTx& u) {
  json j = {{"chainId", u.chain_id},    {"from", u.from.to_string()},
            {"nonce", u.nonce},         {"op", ledger::to_json(u.op)},
            {"digest", u.digest.hex()}, {"ledger", ledger_kind(node)}};
  if (!u.signing_payload.empty()) j["signingPayload"] = to_hex(u.signing_payload);
  return j;
}

// POST /v1/ledger/transactions/prepare: the transaction the sender must sign, with its next nonce
// unless one is given. Nothing changes.
HttpResponse prepare_tx(NodeState& s, const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  auto t = tx_fields(s.node, *body, false);
  if (!t) return error_response(t.error());
  auto u = s.node.ledger.prepare(t->from, std::move(t->op), t->nonce);
  if (!u) return error_response(from_error(u.error()));
  return json_response(200, unsigned_tx_json(s.node, *u));
}

// POST /v1/ledger/transactions: a signed transaction, applied by the ledger; 201 with its receipt.
// On the embedded ledger the digest is recomputed from the fields (a given one must agree); on
// Ethereum it names the transaction prepare built.
HttpResponse send_tx(NodeState& s, const HttpRequest& req) {
  NodeContext& node = s.node;
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  const json& j = *body;
  auto t = tx_fields(node, j, true);
  if (!t) return error_response(t.error());
  auto sig = parse_signature(j);
  if (!sig) return error_response(sig.error());
  std::optional<Hash> given;
  if (auto d = j.find("digest"); d != j.end()) {
    if (!d->is_string()) return error_response(ApiError::invalid_field("digest", "not a string"));
    auto h = parse_hash(d->get<std::string>(), "digest");
    if (!h) return error_response(h.error());
    given = *h;
  }
  ledger::UnsignedTx u;
  if (!on_ethereum(node)) {  // embedded: the digest is the fields'; recompute it
    auto p = node.ledger.prepare(t->from, t->op, t->nonce);
    if (!p) return error_response(from_error(p.error()));
    u = std::move(*p);
    if (given && *given != u.digest)
      return error_response(ApiError::invalid_field(
          "digest", "is not the digest of these fields (POST /v1/ledger/transactions/prepare)"));
  } else {
    if (!given)
      return error_response(ApiError::invalid_field(
          "digest", "missing: on Ethereum, send the digest POST .../prepare answered"));
    u = ledger::UnsignedTx{node.ledger.chain_id(), t->from, *t->nonce, t->op, *given};
  }
  std::optional<Address> signer;
  if (auto a = crypto::recover(u.digest, *sig)) signer = *a;
  if (auto r = limit_address(s, signer, t->from)) return *r;
  tick(node);
  const std::string op = ledger::op_name(u.op);
  auto receipt = node.ledger.submit(ledger::SignedTx{std::move(u), *sig});
  if (!receipt) return error_response(from_error(receipt.error()));
  tick(node);  // a close frees its place in the book, a rating may re-match orders
  json events = json::array();
  for (const auto& e : receipt->events) events.push_back(ledger::to_json(e));
  json out = {{"id", receipt->tx_id.hex()},
              {"block", receipt->block},
              {"index", receipt->index},
              {"from", t->from.to_string()},
              {"op", op},
              {"events", events}};
  if (receipt->deal_id) out["dealId"] = receipt->deal_id->hex();
  publish(node, "transaction",
          {{"id", out["id"]}, {"block", out["block"]}, {"from", out["from"]}, {"op", op}});
  return json_response(201, out);
}

// ---- Offer checks: the ownership probe ---------------------------------------------------------

// POST /v1/probes {"provider", "ip"}: a challenge to present from that IP at the probe listener.
HttpResponse issue_probe(NodeState& s, const HttpRequest& req) {
  const OfferChecks& c = s.node.checks;
  if (!c.ownership)
    return error_response(ApiError::unknown(
        "probes_off", "", "this node does not check IP ownership: offers need no probe"));
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  auto p = body->find("provider");
  if (p == body->end() || !p->is_string())
    return error_response(ApiError::invalid_field("provider", "missing, or not a string"));
  auto provider = parse_address(p->get<std::string>(), "provider");
  if (!provider) return error_response(provider.error());
  auto i = body->find("ip");
  if (i == body->end() || !i->is_string())
    return error_response(ApiError::invalid_field("ip", "missing, or not a string"));
  auto ip = parse_ip(i->get<std::string>());
  if (!ip) return error_response(ApiError::invalid_field("ip", ip.error().message()));
  Hash challenge = c.ownership->issue(*provider, *ip);
  return json_response(201, {{"challenge", challenge.hex()},
                             {"endpoint", c.probe_endpoint},
                             {"line", probe_line(challenge)},
                             {"expiresMs", now_ms() + c.ownership->options().challenge_ttl.count()},
                             {"ip", format_ip(*ip)},
                             {"provider", provider->to_string()}});
}

json offer_checks_json(const OfferChecks& c) {
  json out = json::array();
  if (c.location) out.push_back("location");
  if (c.ownership) out.push_back("ownership");
  if (c.exit) out.push_back("exit");
  return out;
}

// ---- Metrics --------------------------------------------------------------------------------

HttpResponse metrics(NodeState& s) {
  NodeContext& node = s.node;
  const auto& book = node.market.book();
  std::string out = s.metrics.render();
  out += Metrics::family("ipsx_book_offers", "gauge", "Live offers in the book.",
                         {{"", static_cast<double>(book.offers())}});
  out += Metrics::family("ipsx_book_requests", "gauge", "Requests resting in the book.",
                         {{"", static_cast<double>(book.requests())}});
  out += Metrics::family("ipsx_orders_kept", "gauge", "Signed orders the market keeps.",
                         {{"", static_cast<double>(node.market.orders_kept())}});
  std::vector<std::pair<std::string, double>> phases;
  for (const auto& [phase, n] : deals_by_phase(node))
    phases.emplace_back(fmt::format("status=\"{}\"", phase), static_cast<double>(n));
  out += Metrics::family("ipsx_deals", "gauge", "Deals the market opened, by protocol status now.",
                         phases);
  out +=
      Metrics::family("ipsx_deals_open", "gauge", "Deals whose place is not yet back in the book.",
                      {{"", static_cast<double>(node.market.open_deals())}});
  out += Metrics::family("ipsx_rate_limited_total", "counter", "Requests refused with 429.",
                         {{"limit=\"ip\"", static_cast<double>(s.limited_ip)},
                          {"limit=\"address\"", static_cast<double>(s.limited_address)}});
  if (auto h = node.ledger.height())
    out += Metrics::family("ipsx_ledger_height", "gauge", "The ledger's last block.",
                           {{"", static_cast<double>(*h)}});
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace

void tick(NodeContext& node, bool periodic) {
  if (periodic && node.on_periodic_tick) node.on_periodic_tick();
  publish_deals(node, node.market.tick());
  if (periodic) publish_status_changes(node);
}

void add_node_routes(Router& router, NodeContext& node, NodeLimits limits) {
  State s = std::make_shared<NodeState>(node, limits);
  load_exits(*s);
  sync_reachability(*s);
  node.on_periodic_tick = [w = std::weak_ptr<NodeState>(s)] {
    if (auto st = w.lock()) check_exit_expiries(*st);
  };
  router.set_guard([s](const HttpRequest& req, const std::string&) -> std::optional<HttpResponse> {
    if (req.remote.empty()) return std::nullopt;
    auto wait = s->per_ip.take(req.remote, RateLimiter::Clock::now());
    if (!wait) return std::nullopt;
    ++s->limited_ip;
    HttpResponse r = error_response(
        ApiError::rate_limited(fmt::format("too many requests from {} ({}/s, burst {})", req.remote,
                                           s->per_ip.limit().rate, s->per_ip.limit().burst)));
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds(*wait)));
    return r;
  });
  router.set_observer([s](const HttpRequest& req, const std::string& route, const HttpResponse& res,
                          std::chrono::nanoseconds took) {
    s->metrics.observe(req.method, route, res.status, took);
  });

  auto get = [&](const std::string& path, auto f) {
    router.add("GET", path, [&node, f](const HttpRequest& req) { return f(node, req); });
  };
  router.add("GET", "/v1/health", [&node](const HttpRequest&) {
    json j = {{"status", "ok"},
              {"market", node.market.address().to_string()},
              {"feeBps", node.market.config().fee_bps},
              {"chainId", node.ledger.chain_id()},
              {"ledger", ledger_kind(node)},
              {"offerChecks", offer_checks_json(node.checks)}};
    if (const auto& contract = node.ledger.domain().verifying_contract)
      j["verifyingContract"] = contract->to_string();
    if (node.token_contract) j["tokenContract"] = node.token_contract->to_string();
    return json_response(200, j);
  });
  router.add("POST", "/v1/orders", [s](const HttpRequest& req) { return place_order(*s, req); });
  get("/v1/orders", list_orders);
  get("/v1/orders/{order}", get_order);
  router.add("POST", "/v1/orders/{order}/cancel",
             [s](const HttpRequest& req) { return cancel_order(*s, req); });
  get("/v1/deals", list_deals);
  get("/v1/deals/{deal}", get_deal);
  router.add("POST", "/v1/deals/{deal}/events",
             [s](const HttpRequest& req) { return post_event(*s, req); });
  get("/v1/profiles/{address}", get_profile);
  router.add("POST", "/v1/exits", [s](const HttpRequest& req) { return announce_exit(*s, req); });
  router.add("POST", "/v1/probes", [s](const HttpRequest& req) { return issue_probe(*s, req); });
  router.add("GET", "/v1/exits/{provider}",
             [s](const HttpRequest& req) { return get_exit(*s, req); });
  get("/v1/market/depth", depth);
  get("/v1/market/trades", trades);
  router.add("GET", "/v1/ledger/blocks/latest",
             [&node](const HttpRequest&) { return latest_block(node); });
  get("/v1/ledger/blocks/{number}", block_by_number);
  get("/v1/ledger/accounts/{address}", account);
  get("/v1/ledger/accounts/{address}/transactions", account_transactions);
  get("/v1/ledger/accounts/{address}/events", account_events);
  get("/v1/ledger/deals/{deal}", ledger_deal);
  get("/v1/ledger/deals/{deal}/events", ledger_deal_events);
  router.add("GET", "/v1/ledger/supply", [&node](const HttpRequest&) { return supply(node); });
  router.add("GET", "/v1/ledger/sale", [&node](const HttpRequest&) { return sale(node); });
  router.add("POST", "/v1/ledger/transactions/prepare",
             [s](const HttpRequest& req) { return prepare_tx(*s, req); });
  get("/v1/ledger/transactions/{id}", transaction_by_id);
  router.add("POST", "/v1/ledger/transactions",
             [s](const HttpRequest& req) { return send_tx(*s, req); });
  router.add("GET", "/v1/events", [](const HttpRequest&) {
    HttpResponse r =
        error_response({426, "upgrade_required",
                        "/v1/events is a WebSocket: connect with an Upgrade request", ""});
    r.headers.emplace_back("Upgrade", "websocket");
    return r;
  });
  router.add("GET", "/metrics", [s](const HttpRequest&) { return metrics(*s); });
  router.add("GET", "/v1/openapi.yaml", [&node](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "application/yaml";
    r.body = node.openapi_yaml;
    return r;
  });
}

}  // namespace ipsx::api
