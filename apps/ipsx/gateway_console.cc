#include "gateway_console.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <random>

#include "api/web_routes.h"
#include "cli_util.h"
#include "console.h"
#include "core/amount.h"
#include "core/clock.h"
#include "net/gateway.h"
#include "net/proxy_username.h"
#include "net/wireguard.h"
#include "vocab/ip.h"
#include "vocab/orders.h"
#include "vpn_files.h"

namespace ipsx::cli {

namespace {

using nlohmann::json;
constexpr size_t kSamples = 24 * 3600 / 5;

std::string random_session() {
  std::random_device rd;
  return fmt::format("ui_{:08x}", rd());
}

// The body of POST /v1/vpn: {"country": "DE", "type": "residential", "region": "..."}, each
// optional, as the filters of `ipsx vpn`.
Result<net::ProxyFilters> vpn_filters(const json& j) {
  std::string username;
  for (const char* key : {"country", "type", "region"}) {
    auto v = j.find(key);
    if (v == j.end() || v->is_null()) continue;
    if (!v->is_string() || v->get<std::string>().empty() ||
        v->get<std::string>().find('-') != std::string::npos)
      return std::unexpected(Error(CoreErrc::invalid_argument, std::string(key) + ": a word"));
    std::string value = v->get<std::string>();
    for (char& ch : value) ch = ch == ' ' ? '_' : ch;
    username += (username.empty() ? "" : "-") + std::string(key) + "-" + value;
  }
  auto f = net::parse_proxy_username(username);
  if (!f) return std::unexpected(f.error());
  return *f;
}

}  // namespace

ConsoleVpn::ConsoleVpn(net::asio::io_context& io, const std::string& node_url,
                       const sdk::Signer& signer, const crypto::PrivateKey& key,
                       sdk::LeasePolicy policy, const Clock& clock)
    : leases_(node_url, signer,
              [&] {
                policy.protocols = protocol::vpn;
                policy.scope = scope::vpn;
                return policy;
              }()),
      gateway_(
          io,
          [] {
            net::GatewayConfig c;  // its proxy port serves nobody
            c.password = net::wg_key_base64(net::wg_generate_key().private_key);
            return c;
          }(),
          key.clone(), &leases_, clock) {
  gateway_.on_lease_event = [this](const Hash& d, net::LeaseEvent e, const std::string& why) {
    leases_.on_lease_event(d, e, why);
  };
  unwrap(gateway_.start(), "the console's VPN gateway");
}

void ConsoleVpn::open(net::ProxyFilters filters, std::function<void(Result<json>)> done) {
  const net::WgKeyPair keys = net::wg_generate_key();
  gateway_.open_vpn(filters, keys.public_key, [this, keys, done](Result<net::VpnLease> r) {
    if (!r) return done(std::unexpected(r.error()));
    try {
      check_tunnel_terms(r->config);
    } catch (const CommandError& e) {
      end(r->lease.deal_id, e.what());
      return done(std::unexpected(Error(CoreErrc::invalid_argument, e.what())));
    }
    {
      std::lock_guard lock(mu_);
      deals_.push_back(r->lease.deal_id);
    }
    const auto& c = r->config;
    done(json{{"deal", r->lease.deal_id.hex()},
              {"ip", format_ip(r->lease.ip)},
              {"country", std::string(r->lease.country.begin(), r->lease.country.end())},
              {"address", format_ip(c.address)},
              {"endpoint", net::to_string(c.endpoint)},
              {"config", wg_quick_file(keys, c, {"0.0.0.0/0"}, r->lease.deal_id)}});
  });
}

U256 ConsoleVpn::paid() {
  U256 sum;
  std::lock_guard lock(mu_);
  for (const Hash& d : deals_) sum = sum.checked_add(gateway_.stats(d).paid.base()).value_or(sum);
  return sum;
}

json ConsoleVpn::leases() {
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const Hash& d : deals_) out.push_back(gateway_lease_json(gateway_, d));
  return out;
}

GatewayConsole::GatewayConsole(const net::tcp::endpoint& at, GatewayConsoleContext c)
    : c_(std::move(c)) {
  node_ = unwrap(http::HttpClient::create(c_.node_url), "--node");
  sample();
  sampler_ = std::make_unique<Ticker>(std::chrono::seconds(5), [this] { sample(); });
  endpoint_ = serve_console(
      at, "requester", c_.password, events_, [this] { tick(); },
      [this](api::Router& r) {
        r.add("GET", "/v1/console",
              [this](const api::HttpRequest&) { return console_json(200, summary()); });
        r.add("GET", "/v1/leases",
              [this](const api::HttpRequest&) { return console_json(200, leases()); });
        r.add("POST", "/v1/vpn", [this](const api::HttpRequest& req) {
          auto body = api::parse_json_object(req.body);
          if (!body) return api::error_response(body.error());
          if (!c_.vpn) return api::error_response({404, "not_found", "no VPN here", ""});
          auto filters = vpn_filters(*body);
          if (!filters)
            return api::error_response(
                api::ApiError::invalid_field("filters", filters.error().message()));
          api::HttpResponse r;
          r.later = [this, filters = *filters](api::HttpResponse::Reply reply) {
            c_.vpn->open(filters, [reply](Result<json> lease) {
              reply([lease] {
                if (!lease)
                  return api::error_response({503, "no_tunnel", lease.error().message(), ""});
                return console_json(201, *lease);
              });
            });
          };
          return r;
        });
        r.add("POST", "/v1/leases", [this](const api::HttpRequest& req) {
          auto body = api::parse_json_object(req.body);
          if (!body) return api::error_response(body.error());
          auto u = body->find("username");
          if (u == body->end() || !u->is_string())
            return api::error_response(
                api::ApiError::invalid_field("username", "the filters, as a proxy username"));
          auto filters = net::parse_proxy_username(u->get<std::string>());
          if (!filters)
            return api::error_response(
                api::ApiError::invalid_field("username", filters.error().message()));
          if (!filters->session) {
            // Bound to a session of its own, so that the username shown reaches this lease.
            filters->session = random_session();
            filters->ttl_seconds = c_.policy.duration_seconds;
          }
          auto named = net::to_string(*filters);
          if (!named)
            return api::error_response(
                api::ApiError::invalid_field("username", named.error().message()));
          std::string username = *named;
          api::HttpResponse r;
          r.later = [this, filters = *filters, username](api::HttpResponse::Reply reply) {
            c_.gateway.prepare(filters, [this, reply, username](Result<Hash> deal) {
              reply([this, deal, username] {
                if (!deal)
                  return api::error_response({503, "no_lease", deal.error().message(), ""});
                json j = gateway_lease_json(c_.gateway, *deal);
                j["gatewayUsername"] = username;
                return console_json(201, j);
              });
            });
          };
          return r;
        });
        // The node's map of offers, for the console's own map (the page talks to this port only).
        r.add("GET", "/v1/market/countries", [this](const api::HttpRequest&) {
          return forward_get(*node_, "/v1/market/countries");
        });
      });
}

json GatewayConsole::leases() {
  json leases = json::array();
  {
    std::lock_guard lock(c_.mu);
    for (const Hash& d : c_.seen) leases.push_back(gateway_lease_json(c_.gateway, d));
  }
  if (c_.vpn)
    for (json& v : c_.vpn->leases()) leases.push_back(std::move(v));
  return {{"leases", leases}};
}

void GatewayConsole::tick() {
  const int64_t at = to_unix_ms(SystemClock().now());
  if (events_.subscribers() == 0) return;
  json l = leases();
  if (std::string text = l.dump(); text != last_leases_) {
    last_leases_ = std::move(text);
    events_.publish("leases", std::move(l), at);
  }
  if (++ticks_ % 5 == 1) events_.publish("console", summary(), at);
}

GatewayConsole::~GatewayConsole() {
  endpoint_.reset();
  sampler_.reset();
}

void GatewayConsole::sample() {
  const Sample s = measure();
  std::lock_guard lock(samples_mu_);
  samples_.push_back(s);
  if (samples_.size() > kSamples) samples_.pop_front();
}

GatewayConsole::Sample GatewayConsole::measure() {
  U256 paid;
  {
    std::lock_guard lock(c_.mu);
    for (const Hash& d : c_.seen)
      paid = paid.checked_add(c_.gateway.stats(d).paid.base()).value_or(paid);
  }
  U256 committed = c_.leases.totals().committed;
  if (c_.vpn) {  // the VPN leases spend the same budget
    committed = committed.checked_add(c_.vpn->committed()).value_or(committed);
    paid = paid.checked_add(c_.vpn->paid()).value_or(paid);
  }
  return Sample{to_unix_ms(SystemClock().now()), committed, paid};
}

json GatewayConsole::summary() {
  const Sample now = measure();  // the figures as they are now end the series
  auto t = c_.leases.totals();
  json spend = json::array();
  {
    std::lock_guard lock(samples_mu_);
    for (const Sample& s : samples_)
      spend.push_back({s.at_ms, s.committed.to_dec(), s.paid.to_dec()});
  }
  spend.push_back({now.at_ms, now.committed.to_dec(), now.paid.to_dec()});
  return {{"role", "requester"},
          {"requester", c_.requester.to_string()},
          {"market", c_.market.to_string()},
          {"node", c_.node_url},
          {"proxy", {{"host", c_.proxy_host}, {"port", c_.proxy_port}, {"password", c_.password}}},
          {"policy",
           {{"durationSeconds", c_.policy.duration_seconds},
            {"maxPricePerSecond", c_.policy.max_price_per_second.to_dec()},
            {"budget", c_.policy.budget.to_dec()}}},
          {"totals",
           {{"requests", t.requests},
            {"leases", t.leases},
            {"nothingFits", t.nothing_fits},
            {"committed", now.committed.to_dec()}}},
          {"spend", spend}};
}

}  // namespace ipsx::cli
