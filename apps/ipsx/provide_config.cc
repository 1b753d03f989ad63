#include "provide_config.h"
#include "provider_offers.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdlib>

#include "cli_util.h"

namespace ipsx::cli {
namespace {

template <class T, class View>
T toml_value(const View& n, const std::string& where, T fallback) {
  if (!n) return fallback;
  auto v = n.template value<T>();
  if (!v) throw CommandError(fmt::format("{}: wrong type", where));
  return *v;
}

}  // namespace

ProvideConfig load_provide_config(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw CommandError(fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
  }
  ProvideConfig c;
  c.pair_listen = toml_value<std::string>(t["pair_listen"], path + ": pair_listen", c.pair_listen);
  if (t["relay"]) c.relay = toml_value<std::string>(t["relay"], path + ": relay", "");
  if (t["pair_announce"])
    c.pair_announce = toml_value<std::string>(t["pair_announce"], path + ": pair_announce", "");
  if (t["proxy_listen"])
    c.proxy_listen = toml_value<std::string>(t["proxy_listen"], path + ": proxy_listen", "");
  if (t["chain_id"]) c.chain_id = toml_value<int64_t>(t["chain_id"], path + ": chain_id", 0);
  if (t["fee_bps"]) {
    int64_t fee = toml_value<int64_t>(t["fee_bps"], path + ": fee_bps", 0);
    if (fee < 0 || fee > 10'000) throw CommandError(path + ": fee_bps: from 0 to 10000");
    c.fee_bps = static_cast<uint16_t>(fee);
  }
  c.offer_seconds = toml_value<int64_t>(t["offer_seconds"], path + ": offer_seconds", 86'400);
  if (c.offer_seconds < 120 || c.offer_seconds > 30 * 86'400)
    throw CommandError(path + ": offer_seconds: from 120 to 2592000 (30 days)");
  c.claim_every_seconds =
      toml_value<int64_t>(t["claim_every_seconds"], path + ": claim_every_seconds", 600);
  if (c.claim_every_seconds == 0) throw CommandError(path + ": claim_every_seconds: at least 1");
  c.max_unclaimed_seconds =
      toml_value<int64_t>(t["max_unclaimed_seconds"], path + ": max_unclaimed_seconds", 60);
  if (c.max_unclaimed_seconds == 0 || c.max_unclaimed_seconds > 86'400)
    throw CommandError(path + ": max_unclaimed_seconds: from 1 to 86400");
  if (const auto* allow = t["allow"].as_array()) {
    for (const auto& a : *allow) {
      auto text = a.value<std::string>();
      if (!text) throw CommandError(path + ": allow: want CIDR strings");
      c.policy.allow.push_back(unwrap(parse_prefix(*text), path + ": allow"));
    }
  }
  if (t["vpn"]) {
    const auto* v = t["vpn"].as_table();
    const std::string where = path + ": vpn";
    if (!v) throw CommandError(where + ": want a table ([vpn])");
    toml::node_view<const toml::node> n{v};
    ProvideConfig::Vpn vpn;
    vpn.interface = toml_value<std::string>(n["interface"], where + ".interface", vpn.interface);
    int64_t port = toml_value<int64_t>(n["listen_port"], where + ".listen_port", 51820);
    if (port < 1 || port > 65535) throw CommandError(where + ".listen_port: from 1 to 65535");
    vpn.listen_port = static_cast<uint16_t>(port);
    if (n["endpoint"])
      vpn.endpoint = toml_value<std::string>(n["endpoint"], where + ".endpoint", "");
    vpn.subnet = toml_value<std::string>(n["subnet"], where + ".subnet", vpn.subnet);
    if (const auto* dns = n["dns"].as_array()) {
      for (const auto& d : *dns) {
        auto text = d.value<std::string>();
        if (!text || !parse_ip(*text)) throw CommandError(where + ".dns: want IP address strings");
        vpn.dns.push_back(*text);
      }
    }
    int64_t mtu = toml_value<int64_t>(n["mtu"], where + ".mtu", 1420);
    if (mtu < 1280 || mtu > 1500) throw CommandError(where + ".mtu: from 1280 to 1500");
    vpn.mtu = static_cast<uint16_t>(mtu);
    c.vpn = vpn;
  }
  const auto* ips = t["ip"].as_array();
  if (!ips || ips->empty()) throw CommandError(path + ": no [[ip]] to offer");
  size_t i = 0;
  for (const auto& n : *ips) {
    const auto* ip = n.as_table();
    std::string where = fmt::format("{}: ip[{}]", path, i++);
    if (!ip) throw CommandError(where + ": want a table");
    toml::node_view<const toml::node> v{ip};
    Offer o;
    o.ip = unwrap(parse_ip(toml_value<std::string>(v["address"], where + ".address", "")),
                  where + ".address");
    o.country =
        unwrap(parse_country(toml_value<std::string>(v["country"], where, "")), where + ".country");
    o.region = toml_value<std::string>(v["region"], where + ".region", "");
    o.asn = static_cast<uint32_t>(toml_value<int64_t>(v["asn"], where + ".asn", 0));
    auto type = parse_ip_type(toml_value<std::string>(v["type"], where, "residential"));
    if (!type) throw CommandError(where + ".type: residential, datacenter or mobile");
    o.ip_type = *type;
    o.protocols = unwrap(parse_protocols(toml_value<std::string>(v["protocols"], where,
                                                                 "http,https-connect,socks5")),
                         where + ".protocols");
    o.scopes = unwrap(parse_scopes(toml_value<std::string>(v["scopes"], where, "crawling,general")),
                      where + ".scopes");
    o.bandwidth_kbps =
        static_cast<uint32_t>(toml_value<int64_t>(v["bandwidth_kbps"], where, 100'000));
    o.capacity = static_cast<uint32_t>(toml_value<int64_t>(v["capacity"], where, 1));
    o.min_duration = toml_value<int64_t>(v["min_seconds"], where, kMinDurationSeconds);
    o.max_duration = toml_value<int64_t>(v["max_seconds"], where, kMaxDurationSeconds);
    o.price_per_second =
        unwrap(Amount::parse(toml_value<std::string>(v["price"], where + ".price", "")),
               where + ".price (IPSX per second)")
            .base();
    std::string local = toml_value<std::string>(v["local_address"], where + ".local_address", "");
    if (!local.empty() && !parse_ip(local))
      throw CommandError(where + ".local_address: not an IP address: " + local);
    if ((o.protocols & protocol::vpn) && !c.vpn)
      throw CommandError(where + ".protocols: vpn needs a [vpn] section (docs/vpn.md)");
    if ((o.protocols & protocol::vpn) && !is_v4_mapped(o.ip))
      throw CommandError(where + ".protocols: the VPN serves IPv4 addresses only");
    std::string hours = toml_value<std::string>(v["hours"], where + ".hours", "");
    if (auto h = parse_hours(hours); !h)
      throw CommandError(where + ".hours: " + h.error().message());
    c.offers.push_back(o);
    c.local_addresses.push_back(local);
    c.hours.push_back(hours);
  }
  return c;
}

// The offers this provider left live at the node for the IPs of `offers` (an earlier run of
// `ipsx provide`, or offers placed by hand) are withdrawn, and for each IP the moment its live
// deals under them end is returned (unix seconds, 0 if none): the new offers sell only from
// then on, so a restart never sells an IP twice for the same moment.

std::filesystem::path default_provider_data(const Address& provider) {
  std::filesystem::path base;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = std::filesystem::path(h) / ".local" / "state";
  } else {
    throw CommandError("--data: no HOME or XDG_STATE_HOME to keep the provider's proofs under");
  }
  return base / "ipsx" / ("provider-" + provider.to_string());
}

}  // namespace ipsx::cli
