// The node's routes: the routing table (add_node_routes), input parsing shared by every
// resource, /metrics.
#include "api/node_routes_internal.h"
#include "api/web_routes.h"

#include <fmt/format.h>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>

#include "api/ledger_watch.h"
#include "api/metrics.h"
#include "core/clock.h"

namespace ipsx::api::routes {

Parsed<uint64_t> parse_uint(const std::string& text, const std::string& field) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return std::unexpected(ApiError::invalid_field(field, "not an unsigned integer"));
  return v;
}

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

Parsed<uint64_t> uint_field(const json& obj, const std::string& name, const std::string& path) {
  auto it = obj.find(name);
  if (it == obj.end()) return std::unexpected(ApiError::invalid_field(path, "missing"));
  if (!it->is_number_unsigned())
    return std::unexpected(ApiError::invalid_field(path, "must be an unsigned integer"));
  return it->get<uint64_t>();
}

std::string ledger_kind(NodeContext& node) {
  return std::string(node.ledger.kind());
}

bool on_ethereum(NodeContext& node) {
  return node.ledger.kind() == "ethereum";
}

std::optional<Address> signer_of(NodeContext& node, const Hash& struct_hash,
                                 const crypto::Signature& sig) {
  auto a =
      crypto::recover(crypto::eip712::digest(node.ledger.domain().separator(), struct_hash), sig);
  if (!a) return std::nullopt;
  return *a;
}

std::optional<std::pair<ApiError, long>> address_limited(NodeState& s,
                                                         const std::optional<Address>& signer,
                                                         const Address& owner) {
  if (!signer || *signer != owner) return std::nullopt;
  // Keyed by the lower-case hex: the checksummed form costs a keccak per order.
  auto wait = s.per_address.take(owner.to_lower_hex(), RateLimiter::Clock::now());
  if (!wait) return std::nullopt;
  ++s.limited_address;
  return std::pair{ApiError::rate_limited(fmt::format(
                       "{} is over its limit of signed changes ({}/s, burst {})", owner.to_string(),
                       s.per_address.limit().rate, s.per_address.limit().burst)),
                   retry_after_seconds(*wait)};
}

std::optional<HttpResponse> limit_address(NodeState& s, const std::optional<Address>& signer,
                                          const Address& owner) {
  auto limited = address_limited(s, signer, owner);
  if (!limited) return std::nullopt;
  HttpResponse r = error_response(limited->first);
  r.headers.emplace_back("Retry-After", std::to_string(limited->second));
  return r;
}

Workers::Workers(size_t threads) {
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([q = queue_] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(q->mu);
          q->cv.wait(lock, [&] { return q->stopping || !q->jobs.empty(); });
          if (q->stopping) return;
          job = std::move(q->jobs.front());
          q->jobs.pop_front();
        }
        job();
      }
    });
  }
}

Workers::~Workers() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(queue_->mu);
    queue_->stopping = true;
    dropped.swap(queue_->jobs);
  }
  queue_->cv.notify_all();
  for (auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id())
      t.detach();  // this thread runs the job that let go of the owner: it ends after it
    else
      t.join();
  }
}

bool Workers::run(std::function<void()> job, bool first) {
  {
    std::lock_guard lock(queue_->mu);
    if (queue_->stopping) return false;
    if (first) {
      queue_->jobs.push_front(std::move(job));
    } else {
      queue_->jobs.push_back(std::move(job));
    }
  }
  queue_->cv.notify_one();
  return true;
}

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
  if (node.ledger_metrics) out += node.ledger_metrics();
  out += Metrics::process(node.version, "node");
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

ApiError ledger_unusable(const LedgerFinding& f) {
  return ApiError{503, "ledger_unavailable", "the ledger is not usable now: " + f.reason, ""};
}

}  // namespace ipsx::api::routes

namespace ipsx::api {

void add_node_routes(Router& router, NodeContext& node, NodeLimits limits) {
  using namespace routes;
  State s = std::make_shared<NodeState>(node, limits);
  load_exits(*s);
  sync_reachability(*s);
  node.on_periodic_tick = [w = std::weak_ptr<NodeState>(s)] {
    if (auto st = w.lock()) check_exit_expiries(*st);
  };
  router.set_guard([s](const HttpRequest& req,
                       const std::string& route) -> std::optional<HttpResponse> {
    // While the watched ledger is unusable, what needs it says so at once (and why) instead of
    // waiting on it or failing inside it.
    if (const LedgerWatch* w = s->node.watch;
        w &&
        (route.starts_with("/v1/ledger/") || (req.method == "POST" && route == "/v1/orders"))) {
      if (LedgerFinding f = w->last(); !f.usable) return error_response(ledger_unusable(f));
    }
    if (req.remote.empty()) return std::nullopt;
    std::optional<std::chrono::milliseconds> wait;
    {
      std::lock_guard lock(s->per_ip_mu);
      wait = s->per_ip.take(req.remote, RateLimiter::Clock::now());
    }
    if (!wait) return std::nullopt;
    ++s->limited_ip;
    HttpResponse r = error_response(
        ApiError::rate_limited(fmt::format("too many requests from {} ({}/s, burst {})", req.remote,
                                           s->per_ip.limit().rate, s->per_ip.limit().burst)));
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds(*wait)));
    return r;
  });
  router.set_observer([s, &node](const HttpRequest& req, const std::string& route,
                                 const HttpResponse& res, std::chrono::nanoseconds took) {
    s->metrics.observe(req.method, route, res.status, took);
    if (node.access_log) node.access_log(req, route, res, took);
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
    // The market works without a new snapshot, but its restart replays ever more entries.
    if (const auto& f = node.market.snapshot_failure()) j["snapshotFailure"] = *f;
    // The ledger's head and how old it is: a chain that makes blocks only when there are
    // transactions (anvil) has an old head and is healthy; a ledger that does not answer, or is
    // no longer the one the node opened, is not.
    LedgerFinding f = node.watch ? node.watch->last() : inspect(node.ledger);
    if (!f.usable) return error_response(ledger_unusable(f));
    j["head"] = {{"number", f.head},
                 {"timestampMs", f.head_time_ms},
                 {"ageMs", std::max<int64_t>(0, now_ms() - f.head_time_ms)}};
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
  get("/v1/market/countries", countries);
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
  add_web_routes(router, "market");  // the market page at /, docs/web.md
  router.add("GET", "/v1/openapi.yaml", [&node](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "application/yaml";
    r.body = node.openapi_yaml;
    return r;
  });
}

}  // namespace ipsx::api
