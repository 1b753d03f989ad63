// The node's routes: deals (GET /v1/deals..., status events).
#include <optional>

#include "api/node_routes_internal.h"

#include "core/clock.h"

namespace ipsx::api::routes {

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
  if (auto path = node.paths.find(d.deal_id); path != node.paths.end()) j["path"] = path->second;
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
  std::optional<bool> settled;
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
  if (auto it = q.find("settled"); it != q.end()) {
    if (it->second != "true" && it->second != "false")
      return error_response(ApiError::invalid_field("settled", "true or false"));
    settled = it->second == "true";
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
  node.market.for_each_deal_from(after, [&](const DealRecord& d) {  // ascending deal id
    const auto& p = d.progress;
    if (party && p.provider != *party && p.requester != *party) return true;
    if (settled && d.released != *settled) return true;
    if (phase && node.market.status_of(d).phase != *phase) return true;
    if (out.size() == *limit) {
      more = true;
      return false;
    }
    out.push_back(market_deal_json(node, d));
    last = d.deal_id;
    return true;
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
  // The requester's gateway may say which path the deal's traffic takes (not signed).
  std::optional<std::string> path;
  if (auto pa = j.find("path"); pa != j.end()) {
    if (!pa->is_string() || (*pa != "direct" && *pa != "relayed" && *pa != "punched"))
      return error_response(ApiError::invalid_field("path", "direct, relayed or punched"));
    if (se.event.party != market::Party::requester)
      return error_response(ApiError::invalid_field("path", "only the requester reports a path"));
    path = pa->get<std::string>();
  }

  const auto& p = (*d)->progress;
  const Address& expected = se.event.party == market::Party::provider ? p.provider : p.requester;
  if (auto r = limit_address(s, signer_of(node, se.event.struct_hash(), se.signature), expected))
    return *r;
  tick(node);
  auto status = node.market.status_event(se);
  if (!status) return error_response(from_error(status.error()));
  if (path) {
    // Bounded: past 100,000 entries, those of deals settled on the ledger go.
    if (node.paths.size() >= 100'000) {
      std::erase_if(node.paths, [&](const auto& e) {
        const DealRecord* r = node.market.deal(e.first);
        return !r || r->released;
      });
    }
    node.paths[se.event.deal_id] = *path;
  }
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

}  // namespace ipsx::api::routes
