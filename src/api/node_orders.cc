// The node's routes: orders (POST /v1/orders, GET /v1/orders..., cancels).
#include "api/node_routes_internal.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <memory>

#include "geo/geo.h"
#include "geo/geo_error.h"
#include "ledger/tx_codec.h"
#include "market/order_entry.h"

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

namespace {

// At most this many orders in one POST /v1/orders (the body limit bounds them too).
constexpr size_t kMaxBatch = 100;
// A batch is verified by several workers when each has at least this many of its orders.
constexpr size_t kOrdersPerPart = 16;

// An order the market took, as its answer says it.
struct Accepted {
  bool is_offer = true;
  OrderId id = 0;
  Hash hash;
  json deals, refused;
};

// What placing one order answers: its status and body (an error's Retry-After, if any), or
// what the body of an accepted order is made of (take_body() makes it).
struct Outcome {
  int status = 201;
  json body;
  std::optional<Accepted> accepted;
  long retry_after = -1;
  Outcome(int st, json b) : status(st), body(std::move(b)) {}
  Outcome(const ApiError& e, long retry = -1)
      : status(e.status), body(e.to_json()), retry_after(retry) {}
  json take_body();
};

// One order ({"offer" or "request": ..., "signature": ...}) parsed, hashed and its signer
// recovered: the work of a worker thread.
Parsed<market::Placement> parse_placement(const json& j, const Hash& domain) {
  if (!j.is_object()) return std::unexpected(ApiError::invalid_field("", "an order is an object"));
  auto sig = parse_signature(j);
  if (!sig) return std::unexpected(sig.error());
  market::Placement p;
  p.is_offer = j.contains("offer");
  if (p.is_offer == j.contains("request")) {
    return std::unexpected(
        ApiError::invalid_field("", "the body must hold exactly one of \"offer\" or \"request\""));
  }
  for (const auto& [key, _] : j.items()) {
    if (key != "offer" && key != "request" && key != "signature")
      return std::unexpected(ApiError::invalid_field(key, "is not a field of a signed order"));
  }
  p.signature = *sig;
  Hash hash;
  if (p.is_offer) {
    auto offer = ledger::offer_from_json(j.at("offer"));
    if (!offer) return std::unexpected(from_error(offer.error()));
    p.offer = std::move(*offer);
    hash = p.offer.struct_hash();
  } else {
    auto request = ledger::request_from_json(j.at("request"));
    if (!request) return std::unexpected(from_error(request.error()));
    p.request = std::move(*request);
    hash = p.request.struct_hash();
  }
  auto signer = crypto::recover(crypto::eip712::digest(domain, hash), *sig);
  p.verified =
      market::Placement::Verified{hash, signer ? std::optional<Address>(*signer) : std::nullopt};
  p.journal_body = market::encode_order_entry(p);  // here, not on the server's thread
  return p;
}

// A body parsed into its orders: one order, or {"orders": [...]} (a batch). A batch costs one
// token of the client address's rate limit per order (`charge`, called with the orders after
// the first, which the router's guard took): those it cannot pay for are refused (429) before
// their signatures are recovered. The orders to verify (parse_placement) are left in
// `to_verify`, as the parsed body's elements with their place in t.orders.
struct ToVerify {
  std::shared_ptr<const json> body;
  std::vector<std::pair<size_t, const json*>> orders;
};

ToVerify parse_body(const std::string& body, OrderTicket& t,
                    const std::function<std::optional<ApiError>(size_t)>& charge) {
  auto parsed = parse_json_object(body);
  if (!parsed) {
    t.refused = parsed.error();
    return {};
  }
  ToVerify v{std::make_shared<const json>(std::move(*parsed)), {}};
  const json& j = *v.body;
  auto list = j.find("orders");
  if (list == j.end()) {
    t.orders.emplace_back(std::unexpected(ApiError::internal("not verified")));
    v.orders.emplace_back(0, &j);
    return v;
  }
  if (j.size() != 1) {
    t.refused = ApiError::invalid_field("", "a batch holds \"orders\" and nothing else");
    return {};
  }
  if (!list->is_array() || list->empty() || list->size() > kMaxBatch) {
    t.refused = ApiError::invalid_field(
        "orders", fmt::format("must be an array of 1 to {} signed orders", kMaxBatch));
    return {};
  }
  t.batch = true;
  std::optional<ApiError> limited;
  for (size_t i = 0; i < list->size(); ++i) {
    if (i > 0 && !limited) limited = charge(1);
    // Each result is what the order alone would have been answered: fields name the order's
    // own ("offer.capacity"); its place in `results` is its place in `orders`.
    if (limited) {
      t.orders.emplace_back(std::unexpected(*limited));
    } else {
      t.orders.emplace_back(std::unexpected(ApiError::internal("not verified")));
      v.orders.emplace_back(i, &(*list)[i]);
    }
  }
  return v;
}

// The node's own refusals of a verified order before the market sees it: the owner's rate
// limit, and an offer's checks (location, ownership); an offer of a provider with no live exit
// suspends it.
std::optional<Outcome> admit(NodeState& s, const market::Placement& p) {
  NodeContext& node = s.node;
  const Address& owner = p.is_offer ? p.offer.provider : p.request.requester;
  const std::optional<Address>& signer = p.verified->signer;
  if (auto limited = address_limited(s, signer, owner))
    return Outcome(limited->first, limited->second);
  if (p.is_offer && signer == owner) {  // a forged offer is the market's bad_signature
    if (auto refused = check_offer(node, p.offer)) return Outcome(*refused);
    // No live exit yet (a provider offers before it announces, or its announcement lapsed):
    // the offer rests, filling nothing until the provider announces.
    if (node.checks.exit && !s.exits.find(owner, now_s()) && node.market.reachable(owner))
      set_reachable(s, owner, false);
  }
  return std::nullopt;
}

// The answer to a placement the market took (or refused), with its events published. The
// body's JSON is made later, off the server's thread (respond()); what it needs of the market
// and the ledger is read here.
Outcome placed_outcome(NodeContext& node, const market::Placement& p,
                       const Result<market::PlaceResult>& placed) {
  if (!placed) return Outcome(from_error(placed.error()));
  const char* kind = p.is_offer ? "offer" : "request";
  const Hash& hash = p.verified->hash;
  Outcome out(201, json());
  out.accepted = Accepted{p.is_offer, placed->id, hash, json::array(), json::array()};
  for (const Hash& d : placed->deals) {
    auto view = node.ledger.deal(d);
    out.accepted->deals.push_back(view ? deal_json(*view) : json{{"id", d.hex()}});
  }
  for (const auto& [fill, err] : placed->refused) {
    out.accepted->refused.push_back({{"offer", fill.offer},
                                     {"request", fill.request},
                                     {"code", from_error(err).code},
                                     {"message", err.message()}});
  }
  publish_with(node, "order", [&] {
    const Address& owner = p.is_offer ? p.offer.provider : p.request.requester;
    auto o = node.market.order(placed->id);
    return json{{"id", placed->id},
                {"kind", kind},
                {"hash", hash.hex()},
                {"owner", owner.to_string()},
                {"state", o ? order_state(*o) : "closed"}};
  });
  publish_deals(node, placed->deals);
  return out;
}

json Outcome::take_body() {
  if (!accepted) return std::move(body);
  Accepted& a = *accepted;
  return {{"accepted", true},
          {"kind", a.is_offer ? "offer" : "request"},
          {"id", a.id},
          {"deals", std::move(a.deals)},
          {"refused", std::move(a.refused)},
          {"hash", a.hash.hex()}};
}

HttpResponse respond(bool batch, std::vector<Outcome>& outcomes) {
  if (!batch) {
    HttpResponse r = json_response(outcomes[0].status, outcomes[0].take_body());
    if (outcomes[0].retry_after >= 0)
      r.headers.emplace_back("Retry-After", std::to_string(outcomes[0].retry_after));
    return r;
  }
  json results = json::array();
  for (Outcome& o : outcomes) {
    json body = o.take_body();
    if (o.status >= 400) body["accepted"] = false;
    body["status"] = o.status;
    if (o.retry_after >= 0) body["retryAfter"] = o.retry_after;
    results.push_back(std::move(body));
  }
  return json_response(200, {{"results", std::move(results)}});
}

// Gives the ticket its answer: kept for the reply's finish, or (with NodeContext::post) sent.
void answer(OrderTicket& t, HttpResponse response) {
  if (!t.reply) {
    t.response = std::move(response);
    return;
  }
  auto reply = std::move(t.reply);
  t.reply = nullptr;
  reply([r = std::make_shared<HttpResponse>(std::move(response))] { return std::move(*r); });
}

// Gives the ticket its answer made of `answers`: a batch's with a reply on a worker (a hundred
// results' JSON is not the server thread's work), before the bodies waiting there to be verified.
void answer_later(NodeState& s, OrderTicket& t, std::vector<Outcome> answers) {
  if (!t.batch) {  // one small body: made here, sparing two trips between threads
    answer(t, respond(false, answers));
    return;
  }
  if (!t.reply) {
    t.response = respond(true, answers);
    return;
  }
  auto reply = std::move(t.reply);
  t.reply = nullptr;
  auto job = [reply = std::move(reply), answers = std::move(answers)]() mutable {
    auto r = std::make_shared<HttpResponse>();
    try {
      *r = respond(true, answers);
    } catch (const std::exception& e) {
      *r = error_response(ApiError::internal(fmt::format(
          "{}: the placement's answer failed; GET /v1/orders/{{hash}} says", e.what())));
    }
    reply([r] { return std::move(*r); });
  };
  if (!s.workers.run(job, /*first=*/true)) job();  // stopping: answered here
}

// Places every order the workers verified since the last group, as one Market::place (one
// journal sync), and answers each ticket once the group's fills have their outcomes (at once
// unless the market opens deals in the background). On the server's thread.
void place_group(NodeState& s, std::vector<std::shared_ptr<OrderTicket>> tickets);

void place_verified(NodeState& s) {
  std::vector<std::shared_ptr<OrderTicket>> tickets;
  {
    std::lock_guard lock(s.verified_mu);
    tickets.swap(s.verified);
  }
  if (tickets.empty()) return;
  try {
    place_group(s, tickets);
  } catch (const std::exception& e) {
    // Some of the group may be placed (and durable): say so rather than "failed".
    for (auto& t : tickets) {
      if (!t->response && (t->reply || !s.node.post))
        answer(*t, error_response(ApiError::internal(fmt::format(
                       "{}: whether the order was placed is unknown; GET /v1/orders/{{hash}} says",
                       e.what()))));
    }
  }
}

void place_group(NodeState& s, std::vector<std::shared_ptr<OrderTicket>> tickets) {
  NodeContext& node = s.node;
  tick(node);
  using Outcomes = std::vector<std::vector<std::optional<Outcome>>>;
  auto outcomes = std::make_shared<Outcomes>(tickets.size());
  std::vector<market::Placement> group;
  std::vector<std::pair<size_t, size_t>> where;  // group[i] is ticket .first's order .second
  for (size_t ti = 0; ti < tickets.size(); ++ti) {
    OrderTicket& t = *tickets[ti];
    (*outcomes)[ti].resize(t.orders.size());
    for (size_t k = 0; k < t.orders.size(); ++k) {
      auto& p = t.orders[k];
      if (!p) {
        (*outcomes)[ti][k] = Outcome(p.error());
      } else if (auto refused = admit(s, *p)) {
        (*outcomes)[ti][k] = std::move(*refused);
      } else {
        where.emplace_back(ti, k);
        group.push_back(std::move(*p));
      }
    }
  }
  auto placements = std::make_shared<std::vector<market::Placement>>(std::move(group));
  node.market.place(
      *placements, [&s, &node, tickets = std::move(tickets), outcomes, placements,
                    where = std::move(where)](std::vector<Result<market::PlaceResult>> placed) {
        struct AnswerAll {  // whatever happens below, no ticket is left without an answer
          const std::vector<std::shared_ptr<OrderTicket>>& tickets;
          ~AnswerAll() {
            for (auto& t : tickets)
              if (t->reply)
                answer(*t, error_response(ApiError::internal(
                               "the placement's answer failed; GET /v1/orders/{hash} says")));
          }
        } answer_all{tickets};
        const auto& group = *placements;
        for (size_t g = 0; g < group.size(); ++g)
          (*outcomes)[where[g].first][where[g].second] = placed_outcome(node, group[g], placed[g]);
        for (size_t ti = 0; ti < tickets.size(); ++ti) {
          OrderTicket& t = *tickets[ti];
          if (t.refused) {
            answer(t, error_response(*t.refused));
            continue;
          }
          std::vector<Outcome> answers;
          for (auto& o : (*outcomes)[ti]) answers.push_back(std::move(*o));
          answer_later(s, t, std::move(answers));
        }
      });
}

// Queues the verified ticket for the server's thread (place_verified), which answers it.
void queue_verified(NodeState& s, std::shared_ptr<OrderTicket> t, HttpResponse::Reply reply) {
  if (s.node.post) t->reply = std::move(reply);
  {
    std::lock_guard lock(s.verified_mu);
    s.verified.push_back(t);
  }
  if (s.node.post) {
    s.node.post([&s] { place_verified(s); });
    return;
  }
  reply([&s, t] {
    if (!t->response) place_verified(s);
    if (!t->response) return error_response(ApiError::internal("the placement was lost"));
    return std::move(*t->response);
  });
}

// Verifies the ticket's orders (parse_placement: each one's signer recovered), then queues it.
// A batch is shared among the workers, in a part per worker (this one takes the first; the
// others go before the bodies waiting), so that one client's batch takes every core, not one:
// the last part done queues the ticket.
void verify_then_queue(NodeState& s, std::shared_ptr<OrderTicket> t, ToVerify v,
                       HttpResponse::Reply reply) {
  struct Shared {
    std::shared_ptr<OrderTicket> t;
    ToVerify v;
    HttpResponse::Reply reply;
    std::atomic<size_t> parts_left{0};
  };
  auto shared = std::make_shared<Shared>();
  shared->t = std::move(t);
  shared->v = std::move(v);
  shared->reply = std::move(reply);
  const size_t n = shared->v.orders.size();
  const size_t parts = std::clamp<size_t>(n / kOrdersPerPart, 1, s.workers.size());
  shared->parts_left = parts;
  auto verify = [&s, shared, n, parts](size_t part) {
    for (size_t k = n * part / parts; k < n * (part + 1) / parts; ++k) {
      auto [at, order] = shared->v.orders[k];
      try {
        shared->t->orders[at] = parse_placement(*order, s.domain_separator);
      } catch (const std::exception& e) {
        shared->t->orders[at] = std::unexpected(ApiError::internal(e.what()));
      }
    }
    if (--shared->parts_left == 0) {
      shared->v.body.reset();
      queue_verified(s, std::move(shared->t), std::move(shared->reply));
    }
  };
  for (size_t part = 1; part < parts; ++part) {
    if (!s.workers.run([verify, part] { verify(part); }, /*first=*/true)) verify(part);
  }
  verify(0);
}

}  // namespace

// The body is parsed and its signatures recovered on a worker; the orders are placed on the
// server's thread with every other placement verified meanwhile, in one group (one journal
// sync), and answered after it: with NodeContext::post, once the deals of the fills they caused
// are open on the ledger (or refused), the server's thread serving others meanwhile.
HttpResponse place_order(NodeState& s, const HttpRequest& req) {
  HttpResponse r;
  r.later = [&s, body = req.body, remote = req.remote](HttpResponse::Reply reply) mutable {
    auto job = [&s, body = std::move(body), remote = std::move(remote),
                reply = std::move(reply)]() mutable {
      auto t = std::make_shared<OrderTicket>();
      auto charge = [&s, &remote](size_t n) -> std::optional<ApiError> {
        if (remote.empty()) return std::nullopt;
        std::lock_guard lock(s.per_ip_mu);
        for (size_t i = 0; i < n; ++i) {
          if (s.per_ip.take(remote, RateLimiter::Clock::now())) {
            ++s.limited_ip;
            return ApiError::rate_limited(
                fmt::format("too many orders from {} ({}/s, burst {}; a batch costs one per order)",
                            remote, s.per_ip.limit().rate, s.per_ip.limit().burst));
          }
        }
        return std::nullopt;
      };
      ToVerify v;
      try {
        v = parse_body(body, *t, charge);
      } catch (const std::exception& e) {  // as the router answers a handler's exception
        t->orders.clear();
        t->refused = ApiError::internal(e.what());
      }
      verify_then_queue(s, std::move(t), std::move(v), std::move(reply));
    };
    if (!s.workers.run(job)) job();  // stopping: done here, so that the client is answered
  };
  return r;
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
  for (const Hash& d : node.market.deals_of(o->id)) deals.push_back(d.hex());
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
