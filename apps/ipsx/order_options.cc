#include "order_options.h"

#include <fmt/format.h>

#include <sstream>

#include "cli_util.h"
#include "core/clock.h"

namespace ipsx::cli {
namespace {

IpType ip_type(const std::string& text, const char* option) {
  auto t = parse_ip_type(text);
  if (!t) throw CommandError(fmt::format("{}: unknown value '{}'", option, text));
  return *t;
}

uint64_t expiry(const OrderFields& f) {
  return static_cast<uint64_t>(to_unix_seconds(SystemClock().now())) + f.expiry_seconds;
}

uint64_t nonce(const OrderFields& f) {
  return f.nonce ? f.nonce : static_cast<uint64_t>(to_unix_ms(SystemClock().now()));
}

void add_common_options(CLI::App* c, OrderFields& f) {
  c->add_option("--nonce", f.nonce, "Order nonce (default: the current time in ms)");
  c->add_option("--expiry-seconds", f.expiry_seconds, "Valid for this long (default 86400)");
  c->add_option("--protocols", f.protocols, "Comma list: http,https-connect,socks5,smtp,vpn");
}

}  // namespace

void add_offer_options(CLI::App* cmd, OrderFields& f) {
  add_common_options(cmd, f);
  cmd->add_option("--ip", f.ip, "The IP offered")->required();
  cmd->add_option("--country", f.country, "ISO 3166-1 alpha-2 (default DE)");
  cmd->add_option("--type", f.type, "residential | datacenter | mobile");
  cmd->add_option("--scopes", f.scopes, "Comma list: crawling,streaming,email,general,vpn");
  cmd->add_option("--capacity", f.capacity, "Requesters at once (1 = exclusive)");
  cmd->add_option("--bandwidth-kbps", f.bandwidth, "Bandwidth offered");
  cmd->add_option("--min-seconds", f.min_seconds, "Shortest rental (default 5)");
  cmd->add_option("--max-seconds", f.max_seconds, "Longest rental (default 86400)");
  cmd->add_option("--price", f.price, "IPSX per second, decimal (\"0.0001\")")->required();
}

void add_request_options(CLI::App* cmd, OrderFields& f) {
  add_common_options(cmd, f);
  cmd->add_option("--countries", f.countries, "Comma list of acceptable countries (default any)");
  cmd->add_option("--types", f.types, "Comma list of acceptable types (default any)");
  cmd->add_option("--count", f.count, "Number of IPs (default 1)");
  cmd->add_option("--scope", f.scope, "The use: crawling | streaming | email | general | vpn");
  cmd->add_option("--duration", f.duration, "Seconds per IP (default 60)");
  cmd->add_option("--max-price", f.max_price, "Maximum IPSX per second, decimal")->required();
  cmd->add_option("--budget", f.budget, "Total IPSX (default max-price x duration x count)");
  cmd->add_flag("--exclusive", f.exclusive, "No other requester on the IPs meanwhile");
  cmd->add_flag("--all-or-none", f.aon, "Fill every IP at once or none");
  cmd->add_flag("--distinct-subnets", f.distinct, "IPs in distinct /24s");
}

Offer make_offer(const OrderFields& f, const Address& market, uint16_t fee_bps) {
  Offer offer;
  offer.ip = unwrap(parse_ip(f.ip), "--ip");
  offer.country = unwrap(parse_country(f.country), "--country");
  offer.ip_type = ip_type(f.type, "--type");
  offer.protocols = unwrap(parse_protocols(f.protocols), "--protocols");
  offer.scopes = unwrap(parse_scopes(f.scopes), "--scopes");
  offer.bandwidth_kbps = f.bandwidth;
  offer.capacity = f.capacity;
  offer.min_duration = f.min_seconds;
  offer.max_duration = f.max_seconds;
  offer.price_per_second = unwrap(Amount::parse(f.price), "--price").base();
  offer.market = market;
  offer.fee_bps = fee_bps;
  offer.expiry = expiry(f);
  offer.nonce = nonce(f);
  return offer;
}

Request make_request(const OrderFields& f, const Address& market, uint16_t fee_bps) {
  Request r;
  r.count = f.count;
  std::stringstream cs(f.countries);
  for (std::string c; std::getline(cs, c, ',');)
    r.countries.push_back(unwrap(parse_country(c), "--countries"));
  std::stringstream ts(f.types);
  for (std::string t; std::getline(ts, t, ',');)
    r.ip_types |= static_cast<uint8_t>(1u << static_cast<unsigned>(ip_type(t, "--types")));
  r.protocols = unwrap(parse_protocols(f.protocols), "--protocols");
  r.scope = unwrap(parse_scopes(f.scope), "--scope");
  r.exclusive = f.exclusive;
  r.distinct_subnets = f.distinct;
  r.all_or_none = f.aon;
  r.duration = f.duration;
  r.max_price_per_second = unwrap(Amount::parse(f.max_price), "--max-price").base();
  if (f.budget.empty()) {
    auto b = r.max_price_per_second.checked_mul(r.duration).and_then([&](const U256& v) {
      return v.checked_mul(r.count);
    });
    if (!b) throw CommandError("--max-price * --duration * --count overflows");
    r.budget = *b;
  } else {
    r.budget = unwrap(Amount::parse(f.budget), "--budget").base();
  }
  r.market = market;
  r.fee_bps = fee_bps;
  r.expiry = expiry(f);
  r.nonce = nonce(f);
  return r;
}

market::Party parse_party(const std::string& text, const char* option) {
  for (auto p : {market::Party::provider, market::Party::requester})
    if (text == market::to_string(p)) return p;
  throw CommandError(fmt::format("{}: provider or requester, not '{}'", option, text));
}

market::PartyState parse_party_state(const std::string& text, const char* option) {
  using market::PartyState;
  for (auto s : {PartyState::ready, PartyState::connected, PartyState::closed, PartyState::failed,
                 PartyState::unpaid})
    if (text == market::to_string(s)) return s;
  throw CommandError(
      fmt::format("{}: ready, connected, closed, failed or unpaid, not '{}'", option, text));
}

}  // namespace ipsx::cli
