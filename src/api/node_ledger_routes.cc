// The node's routes: profiles, market data, the ledger's routes and transactions, offer probes.
#include "api/node_routes_internal.h"

#include <fmt/format.h>
#include <charconv>
#include <cstdio>
#include <map>

#include "api/ledger_watch.h"
#include "core/clock.h"
#include "ledger/tx_codec.h"

namespace ipsx::api::routes {

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

HttpResponse countries(NodeContext& node, const HttpRequest&) {
  tick(node);
  const auto& book = node.market.book();
  json list = json::array();
  for (const auto& c : book.country_summary()) {
    json types = json::object();
    uint64_t offers = 0, ips = 0;
    std::optional<U256> lowest;
    for (IpType t : {IpType::residential, IpType::datacenter, IpType::mobile}) {
      const auto& o = c.types[static_cast<uint8_t>(t) - 1];
      if (o.offers == 0) continue;
      types[to_string(t)] = {
          {"offers", o.offers}, {"ips", o.ips}, {"lowestPricePerSecond", o.lowest.to_dec()}};
      offers += o.offers;
      ips += o.ips;
      if (!lowest || o.lowest < *lowest) lowest = o.lowest;
    }
    list.push_back({{"country", std::string(c.country.data(), 2)},
                    {"offers", offers},
                    {"ips", ips},
                    {"lowestPricePerSecond", lowest ? json(lowest->to_dec()) : json(nullptr)},
                    {"types", types},
                    {"requests", c.requests}});
  }
  return json_response(200, {{"countries", list},
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
  json j = {{"id", t.id.hex()},           {"block", t.block}, {"index", t.index},
            {"from", t.from.to_string()}, {"nonce", t.nonce}, {"op", t.op}};
  if (t.chain_tx) j["chainTx"] = t.chain_tx->hex();
  return j;
}

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

// Where the sale stands at `now`: upcoming, open, ended (to be finalized), finalized, or failed
// (ended below its soft cap: refunds).
const char* sale_state(const ledger::SaleView& s, int64_t now) {
  if (s.finalized) return "finalized";
  if (s.failed_at(now)) return "failed";
  if (now < s.start_ms) return "upcoming";
  if (now < s.end_ms && s.raised < s.hard_cap) return "open";
  return "ended";
}

HttpResponse sale(NodeContext& node) {
  auto s = node.ledger.sale();
  if (!s) return error_response(from_error(s.error()));
  // The time the next block will have: the clock, or just after a head stamped ahead of it.
  int64_t now = now_ms();
  if (node.watch) now = std::max(now, node.watch->last().head_time_ms + 1000);
  return json_response(200, {{"rate", s->rate.to_dec()},
                             {"hardCap", s->hard_cap.to_string()},
                             {"softCap", s->soft_cap.to_string()},
                             {"raised", s->raised.to_string()},
                             {"refunded", s->refunded.to_string()},
                             {"state", sale_state(*s, now)},
                             {"sold", s->sold.to_string()},
                             {"pool", s->pool.to_string()},
                             {"unclaimed", s->unclaimed.to_string()},
                             {"startMs", s->start_ms},
                             {"endMs", s->end_ms},
                             {"finalized", s->finalized},
                             {"treasury", s->treasury.to_string()}});
}

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

HttpResponse prepare_tx(NodeState& s, const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body) return error_response(body.error());
  auto t = tx_fields(s.node, *body, false);
  if (!t) return error_response(t.error());
  auto u = s.node.ledger.prepare(t->from, std::move(t->op), t->nonce);
  if (!u) return error_response(from_error(u.error()));
  return json_response(200, unsigned_tx_json(s.node, *u));
}

// The answer to POST /v1/ledger/transactions once the ledger answered (on the server's thread).
HttpResponse transaction_answer(NodeContext& node, const std::string& op, const Address& from,
                                const Result<ledger::Receipt>& receipt) {
  if (!receipt) return error_response(from_error(receipt.error()));
  tick(node);  // a close frees its place in the book, a rating may re-match orders
  json events = json::array();
  for (const auto& e : receipt->events) events.push_back(ledger::to_json(e));
  json out = {{"id", receipt->tx_id.hex()},
              {"block", receipt->block},
              {"index", receipt->index},
              {"from", from.to_string()},
              {"op", op},
              {"events", events}};
  if (receipt->chain_tx) out["chainTx"] = receipt->chain_tx->hex();
  if (receipt->deal_id) out["dealId"] = receipt->deal_id->hex();
  publish(node, "transaction",
          {{"id", out["id"]}, {"block", out["block"]}, {"from", out["from"]}, {"op", op}});
  return json_response(201, out);
}

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
  // The ledger may take a block's time (seconds on a chain) to answer: the response comes later
  // and the server answers other requests meanwhile (docs/api.md).
  HttpResponse later;
  later.later = [&node, op = std::string(ledger::op_name(u.op)), from = t->from,
                 tx = ledger::SignedTx{std::move(u), *sig}](HttpResponse::Reply reply) mutable {
    node.ledger.submit_async(std::move(tx), [&node, op, from, reply](Result<ledger::Receipt> r) {
      reply([&node, op, from, receipt = std::move(r)] {
        return transaction_answer(node, op, from, receipt);
      });
    });
  };
  return later;
}

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

}  // namespace ipsx::api::routes
