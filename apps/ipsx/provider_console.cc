#include "provider_console.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "api/web_routes.h"
#include "cli_util.h"
#include "console.h"
#include "console_changes.h"
#include "core/clock.h"
#include "net/exit.h"
#include "vocab/ip.h"
#include "vocab/orders.h"

namespace ipsx::cli {

namespace {

using nlohmann::json;
constexpr size_t kSamples = 24 * 3600 / 5;

// "crawling,general" from scope bits (parse_scopes' names).
std::string names(uint32_t bits, std::initializer_list<std::pair<uint32_t, const char*>> all) {
  std::string out;
  for (const auto& [bit, name] : all)
    if (bits & bit) out += (out.empty() ? "" : ",") + std::string(name);
  return out;
}

std::string scope_names(uint32_t bits) {
  return names(bits, {{scope::crawling, "crawling"},
                      {scope::streaming, "streaming"},
                      {scope::email, "email"},
                      {scope::general, "general"},
                      {scope::vpn, "vpn"}});
}

std::string protocol_names(uint32_t bits) {
  return names(bits, {{protocol::http, "http"},
                      {protocol::https_connect, "https-connect"},
                      {protocol::socks5, "socks5"},
                      {protocol::smtp, "smtp"},
                      {protocol::vpn, "vpn"}});
}

// The body of POST /v1/ips/{ip}: {"pricePerSecond": "base units", "scopes": "crawling,general",
// "protocols": "http,socks5", "paused": bool}, each optional.
Result<OfferChange> parse_change(const json& j) {
  OfferChange ch;
  auto bad = [](const char* field, std::string why) {
    return std::unexpected(Error(CoreErrc::invalid_argument, std::string(field) + ": " + why));
  };
  if (auto p = j.find("pricePerSecond"); p != j.end()) {
    Result<U256> v = std::unexpected(Error(CoreErrc::invalid_argument, "not a string"));
    if (p->is_string()) v = U256::from_dec(p->get<std::string>());
    if (!v || v->is_zero())
      return bad("pricePerSecond", "a positive whole number of base units, as a string");
    ch.price_per_second = *v;
  }
  // Sets of names, as the config writes them ("crawling,general", "http,socks5").
  for (auto [key, parse, into] : {std::tuple{"scopes", &parse_scopes, &ch.scopes},
                                  std::tuple{"protocols", &parse_protocols, &ch.protocols}}) {
    auto n = j.find(key);
    if (n == j.end()) continue;
    if (!n->is_string()) return bad(key, "names separated by commas");
    auto v = parse(n->get<std::string>());
    if (!v || *v == 0) return bad(key, v ? "name at least one" : v.error().message());
    *into = *v;
  }
  if (auto h = j.find("hours"); h != j.end()) {
    if (!h->is_string()) return bad("hours", "HH:MM-HH:MM in UTC, or \"\" for always");
    if (auto ok = parse_hours(h->get<std::string>()); !ok)
      return bad("hours", ok.error().message());
    ch.hours = h->get<std::string>();
  }
  if (auto pa = j.find("paused"); pa != j.end()) {
    if (!pa->is_boolean()) return bad("paused", "true or false");
    ch.paused = pa->get<bool>();
  }
  return ch;
}

}  // namespace

ProviderConsole::ProviderConsole(const net::tcp::endpoint& at, ProviderConsoleContext c)
    : c_(std::move(c)) {
  node_ = unwrap(http::HttpClient::create(c_.node_url), "--node");
  sample();
  sampler_ = std::make_unique<Ticker>(std::chrono::seconds(5), [this] { sample(); });
  endpoint_ = serve_console(
      at, "provider", c_.password, events_, [this] { tick(); },
      [this](api::Router& r) {
        r.add("GET", "/v1/console",
              [this](const api::HttpRequest&) { return console_json(200, summary()); });
        r.add("GET", "/v1/deals",
              [this](const api::HttpRequest&) { return console_json(200, deals()); });
        r.add("GET", "/v1/profile", [this](const api::HttpRequest&) {
          return forward_get(*node_, "/v1/profiles/" + c_.provider.to_string());
        });
        r.add("GET", "/v1/account", [this](const api::HttpRequest&) {
          return forward_get(*node_, "/v1/ledger/accounts/" + c_.provider.to_string());
        });
        r.add("POST", "/v1/policy", [this](const api::HttpRequest& req) {
          auto body = api::parse_json_object(req.body);
          if (!body) return api::error_response(body.error());
          net::DestinationPolicy policy = c_.exit.policy();  // a list not sent stays as it is
          for (const char* k : {"allow", "deny"}) {
            auto list = body->find(k);
            if (list == body->end()) continue;
            if (!list->is_array())
              return api::error_response(api::ApiError::invalid_field(k, "a list of IP ranges"));
            (std::string(k) == "allow" ? policy.allow : policy.deny).clear();
            for (const json& r : *list) {
              auto prefix = r.is_string() ? parse_prefix(r.get<std::string>())
                                          : Result<IpPrefix>(std::unexpected(
                                                Error(CoreErrc::invalid_argument, "not a string")));
              if (!prefix)
                return api::error_response(api::ApiError::invalid_field(
                    k, (r.is_string() ? r.get<std::string>() : r.dump()) + ": " +
                           prefix.error().message()));
              (std::string(k) == "allow" ? policy.allow : policy.deny).push_back(*prefix);
            }
          }
          if (auto set = c_.exit.set_policy(policy); !set)
            return api::error_response({409, "not_changed", set.error().message(), ""});
          std::string done = fmt::format("the exit allows {} and denies {} range(s) from now on",
                                         policy.allow.size(), policy.deny.size());
          if (c_.changes)
            if (auto kept = c_.changes->record_policy(policy); !kept)
              done += " (not kept for a restart: " + kept.error().message() + ")";
          return console_json(200, {{"done", done}});
        });
        r.add("POST", "/v1/ips/{ip}", [this](const api::HttpRequest& req) {
          auto body = api::parse_json_object(req.body);
          if (!body) return api::error_response(body.error());
          auto change = parse_change(*body);
          if (!change) {
            const std::string m = change.error().message();
            return api::error_response(
                api::ApiError::invalid_field(m.substr(0, m.find(':')), m.substr(m.find(':') + 2)));
          }
          const std::string ip = req.params.at("ip");
          api::HttpResponse res;
          res.later = [this, ip, change = *change](api::HttpResponse::Reply reply) {
            std::lock_guard lock(mu_);
            pending_.push_back(
                {ip, change, [reply](Result<std::string> done) {
                   reply([done] {
                     if (!done)
                       return api::error_response({409, "not_changed", done.error().message(), ""});
                     return console_json(200, {{"done", *done}});
                   });
                 }});
          };
          return res;
        });
      });
}

ProviderConsole::~ProviderConsole() {
  endpoint_.reset();
  sampler_.reset();
  std::deque<Pending> left;
  {
    std::lock_guard lock(mu_);
    left.swap(pending_);
  }
  for (auto& p : left) p.done(std::unexpected(Error(CoreErrc::io_error, "the agent stopped")));
}

void ProviderConsole::tick() {
  if (events_.subscribers() == 0) return;
  const int64_t at = to_unix_ms(SystemClock().now());
  ++ticks_;
  if (ticks_ % 2 == 1) {
    json d = deals();
    if (std::string text = d.dump(); text != last_deals_) {
      last_deals_ = std::move(text);
      events_.publish("deals", std::move(d), at);
    }
  }
  if (ticks_ % 5 == 1) events_.publish("console", summary(), at);
}

void ProviderConsole::serve(ProviderOffers& offers) {
  std::deque<Pending> todo;
  {
    std::lock_guard lock(mu_);
    todo.swap(pending_);
  }
  for (auto& p : todo) {
    auto v = offers.view();
    auto it = std::find_if(v.begin(), v.end(), [&](const OfferView& o) { return o.ip == p.ip; });
    if (it == v.end()) {
      p.done(
          std::unexpected(Error(CoreErrc::invalid_argument, "this provider offers no IP " + p.ip)));
      continue;
    }
    auto done = offers.change(static_cast<size_t>(it - v.begin()), p.change);
    if (done && c_.changes)  // kept for a restart; the change itself is made
      if (auto kept = c_.changes->record(p.ip, p.change); !kept)
        *done += " (not kept for a restart: " + kept.error().message() + ")";
    p.done(std::move(done));
  }
  auto v = offers.view();
  std::lock_guard lock(mu_);
  view_ = std::move(v);
}

void ProviderConsole::sample() {
  const U256 paid = paid_now();
  std::lock_guard lock(mu_);
  earnings_.emplace_back(to_unix_ms(SystemClock().now()), paid);
  if (earnings_.size() > kSamples) earnings_.pop_front();
}

U256 ProviderConsole::paid_now() {
  U256 paid;
  {
    std::lock_guard lock(c_.meter.mu);
    for (const Hash& d : c_.meter.deals)
      paid = paid.checked_add(c_.meter.merge(d, c_.exit.stats(d)).paid.base()).value_or(paid);
  }
  return paid;
}

json ProviderConsole::summary() {
  const U256 paid_at_now = paid_now();  // the figures as they are now end the series
  json ips = json::array(), earnings = json::array();
  std::lock_guard lock(mu_);
  for (const OfferView& o : view_) {
    ips.push_back({{"ip", o.ip},
                   {"country", o.country},
                   {"type", o.type},
                   {"pricePerSecond", o.price_per_second.to_dec()},
                   {"protocols", protocol_names(o.protocols)},
                   {"scopes", scope_names(o.scopes)},
                   {"capacity", o.capacity},
                   {"paused", o.paused},
                   {"hours", o.hours},
                   {"offer", o.offer ? json(o.offer->hex()) : json()},
                   {"fromS", o.from},
                   {"untilS", o.until},
                   {"checked", o.checked}});
  }
  for (const auto& [at, paid] : earnings_) earnings.push_back({at, paid.to_dec()});
  earnings.push_back({to_unix_ms(SystemClock().now()), paid_at_now.to_dec()});
  json allow = json::array(), deny = json::array();
  const net::DestinationPolicy policy = c_.exit.policy();
  for (const auto& p : policy.allow) allow.push_back(to_string(p));
  for (const auto& p : policy.deny) deny.push_back(to_string(p));
  return {
      {"role", "provider"}, {"provider", c_.provider.to_string()},          {"node", c_.node_url},
      {"ips", ips},         {"policy", {{"allow", allow}, {"deny", deny}}}, {"earnings", earnings}};
}

json ProviderConsole::deals() {
  // The market's view of the deals not yet settled (status, path, times, price)...
  std::map<std::string, json> market;
  if (auto r = node_->request(
          "GET", "/v1/deals?party=" + c_.provider.to_string() + "&settled=false&limit=200");
      r && r->status == 200) {
    json j = json::parse(r->body, nullptr, false);
    if (j.is_object())
      for (const json& d : j.value("deals", json::array())) market[d.value("id", "")] = d;
  }
  // ... and the exit's: bytes, payments, usage records and receipts.
  json out = json::array();
  std::lock_guard lock(c_.meter.mu);
  for (const Hash& d : c_.meter.deals) {
    const net::ExitDealStats& st = c_.meter.merge(d, c_.exit.stats(d));
    json j = {{"deal", d.hex()},
              {"bytesUp", st.bytes_up},
              {"bytesDown", st.bytes_down},
              {"connections", st.connections},
              {"owed", st.owed.base().to_dec()},
              {"paid", st.paid.base().to_dec()},
              {"usageRecords", st.usage_records},
              {"usageReceipted", st.usage_receipted},
              {"cut", st.cut_reason ? json(*st.cut_reason) : json()}};
    if (auto m = market.find(d.hex()); m != market.end()) {
      j["requester"] = m->second.value("requester", "");
      j["status"] = m->second.value("status", json::object());
      j["path"] = m->second.value("path", json());
      j["times"] = m->second.value("times", json::object());
      j["pricePerSecond"] = m->second.value("pricePerSecond", json());
      j["settled"] = false;
    } else {
      j["settled"] = true;  // closed on the ledger (or not known to the market's first page)
    }
    out.push_back(j);
  }
  return {{"deals", out}};
}

}  // namespace ipsx::cli
