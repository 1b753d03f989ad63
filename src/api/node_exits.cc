// The node's routes: exit announcements (POST /v1/exits, GET /v1/exits/{provider}).
#include "api/node_routes_internal.h"

#include <cstdio>

#include "market/exit_directory.h"

namespace ipsx::api::routes {

json exit_json(const market::SignedExitAnnouncement& a) {
  const market::ExitAnnouncement& x = a.announcement;
  return {{"exit",
           {{"provider", x.provider.to_string()},
            {"endpoint", x.endpoint},
            {"expiry", x.expiry},
            {"seq", x.seq}}},
          {"signature", a.signature.to_hex()}};
}

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

}  // namespace ipsx::api::routes
