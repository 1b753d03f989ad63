// `ipsx vpn`: a leased IP as a WireGuard VPN (docs/vpn.md). Leases an IP whose offer serves
// `vpn`, has its exit add this machine's fresh WireGuard key as a peer, and then either brings up
// a local tunnel (routes: everything, or the ranges given) or writes a standard wg-quick file for
// another device; in both cases it keeps paying the deal until it ends or the command is stopped.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "agent_deals.h"
#include "agent_metrics.h"
#include "cli_util.h"
#include "log.h"
#include "net/address_policy.h"
#include "net/gateway.h"
#include "net/run_command.h"
#include "net/wireguard.h"
#include "node_session.h"
#include "sdk/dataplane.h"
#include "sdk/settlement.h"
#include "vpn_files.h"

namespace ipsx::cli {

std::string wg_quick_file(const net::WgKeyPair& keys, const net::VpnConfigMessage& c,
                          const std::vector<std::string>& allowed, const Hash& deal) {
  std::string dns;
  for (const Ip& d : c.dns) dns += (dns.empty() ? "" : ", ") + format_ip(d);
  std::string allowed_text;
  for (const auto& a : allowed) allowed_text += (allowed_text.empty() ? "" : ", ") + a;
  // Everything: IPv6 too, so that it cannot leave outside the tunnel (the exit drops it).
  if (allowed_text == "0.0.0.0/0") allowed_text += ", ::/0";
  return fmt::format(
      "# IPSX deal {}: traffic leaves from the leased IP while the requester's agent pays "
      "for it.\n"
      "[Interface]\nPrivateKey = {}\nAddress = {}/32\n{}MTU = {}\n\n"
      "[Peer]\nPublicKey = {}\nEndpoint = {}\nAllowedIPs = {}\nPersistentKeepalive = 25\n",
      deal.hex(), net::wg_key_base64(keys.private_key), format_ip(c.address),
      dns.empty() ? "" : "DNS = " + dns + "\n", c.mtu, net::wg_key_base64(c.server_key),
      net::to_string(c.endpoint), allowed_text);
}

namespace {

struct VpnOptions {
  std::string node, keystore, address, password_file;
  std::string country, type, region, max_price;
  uint64_t duration = 3600;
  std::string interface = "ipsx0";
  std::vector<std::string> routes;  // CIDR; none: everything
  std::string export_file;
  bool qr = false;
  bool sign_usage = false;
  std::optional<uint64_t> chain_id;
  std::optional<uint16_t> fee_bps;
  uint64_t acquire_timeout_ms = 30'000;
  uint64_t node_wait_seconds = 60;
  std::string control;  // HOST:PORT of the control endpoint (GET /v1/leases); empty: none
};

// Routes this command added, deleted at the end: for the addresses that must not go into a
// tunnel that carries everything (the exit's endpoint, the node, the pair channel's peer), and
// the IPv6 blackhole that keeps IPv6 from leaving outside the IPv4 tunnel.
class RouteExceptions {
 public:
  ~RouteExceptions() {
    for (auto it = added_.rbegin(); it != added_.rend(); ++it) {
      std::vector<std::string> argv = *it;
      argv[argv[1] == "-6" ? 3 : 2] = "del";
      (void)net::run_command(argv);
    }
  }
  // Sends `address` (IPv4) the way it goes now, whatever the tunnel's routes say.
  void keep(const std::string& address) {
    if (!seen_.insert(address).second) return;
    auto how = net::run_command({"ip", "route", "get", address});
    if (!how) throw CommandError("no route to " + address + ": " + how.error().message());
    std::istringstream in(*how);
    std::string word, via, dev;
    while (in >> word) {
      if (word == "via") in >> via;
      if (word == "dev") in >> dev;
    }
    if (dev == "lo" || dev.empty()) return;  // this machine's own address
    std::vector<std::string> argv = {"ip", "route", "add", address + "/32"};
    if (!via.empty()) argv.insert(argv.end(), {"via", via});
    argv.insert(argv.end(), {"dev", dev});
    auto r = net::run_command(argv);
    if (!r)
      throw CommandError("keeping " + address + " outside the tunnel: " + r.error().message());
    added_.push_back(argv);
  }
  // No IPv6 while the tunnel carries everything: the two halves of the IPv6 space unreachable
  // (a host without IPv6 needs nothing, and gets nothing).
  void block_ipv6() {
    for (const char* half : {"::/1", "8000::/1"}) {
      std::vector<std::string> argv = {"ip", "-6", "route", "add", "unreachable", half};
      if (net::run_command(argv)) added_.push_back(argv);
    }
  }

 private:
  std::set<std::string> seen_;
  std::vector<std::vector<std::string>> added_;
};

// What the exit's answer may ask of this machine: an address from a private or shared range
// (never a public one, which would hide a real host), an endpoint that is not this machine, a
// multicast group or a link-local neighbour, a sane MTU (checked by the parser).
void check_endpoint(const net::Endpoint& e) {
  if (auto* v4 = std::get_if<net::Ipv4>(&e.host)) {
    const auto ep = net::classify(*v4);
    if (ep == net::AddressClass::unspecified || ep == net::AddressClass::loopback ||
        ep == net::AddressClass::multicast || ep == net::AddressClass::link_local)
      throw CommandError(fmt::format("the exit's endpoint {} is {}: refused", net::to_string(e),
                                     net::to_string(ep)));
  }
}

// The IPv4 addresses of a host name (or of an address).
std::vector<std::string> resolve_v4(const std::string& host) {
  net::asio::io_context io;
  net::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(net::tcp::v4(), host, "0", ec);
  std::vector<std::string> out;
  if (!ec)
    for (const auto& r : results) out.push_back(r.endpoint().address().to_string());
  return out;
}

// The IPv4 addresses of the node's host (its URL's host, resolved).
std::vector<std::string> node_addresses(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') return {};  // IPv6: the tunnel carries IPv4 only
  return resolve_v4(rest.substr(0, rest.find(':')));
}

// The endpoint with its host resolved here (a provider's dynamic-DNS name, say), so that the
// route that keeps it outside the tunnel names the address WireGuard sends to.
net::Endpoint resolved(const net::Endpoint& e) {
  const auto* name = std::get_if<std::string>(&e.host);
  if (!name) return e;
  auto addresses = resolve_v4(*name);
  if (addresses.empty()) throw CommandError("the exit's endpoint " + *name + " does not resolve");
  auto ip = unwrap(parse_ip(addresses.front()), "the exit's endpoint");
  const uint32_t v = v4_value(ip);
  net::Endpoint out{net::Ipv4{static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                              static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)},
                    e.port};
  check_endpoint(out);
  return out;
}

// This machine's tunnel: the interface, its peer (the exit), the routes into it and, when it
// carries everything, the exceptions that keep the exit, the node and the pair channel outside.
struct LocalTunnel {
  std::unique_ptr<RouteExceptions> exceptions;
  std::unique_ptr<net::WgInterface> tunnel;
  net::Endpoint endpoint;  // the exit's, resolved
};

LocalTunnel bring_up(const VpnOptions& o, const net::WgKeyPair& keys, const net::VpnLease& vpn,
                     const std::vector<std::string>& allowed, bool everything) {
  const net::VpnConfigMessage& c = vpn.config;
  LocalTunnel t;
  t.exceptions = std::make_unique<RouteExceptions>();
  // The exit's endpoint, its pair channel and the node stay on the path they have, whatever
  // the tunnel's routes cover (everything, or a --route range that holds one of them).
  const net::Endpoint endpoint = resolved(c.endpoint);
  t.endpoint = endpoint;
  t.exceptions->keep(net::format_host(endpoint.host));
  if (vpn.lease.exit.address().is_v4()) t.exceptions->keep(vpn.lease.exit.address().to_string());
  for (const auto& a : node_addresses(o.node)) t.exceptions->keep(a);
  if (everything) t.exceptions->block_ipv6();
  net::WgInterface::Options w;
  w.name = o.interface;
  w.private_key = keys.private_key;
  w.address = c.address;
  w.mtu = c.mtu;
  t.tunnel = unwrap(net::WgInterface::create(w), "the tunnel");
  unwrap(t.tunnel->set_peer(c.server_key, allowed, endpoint, 25), "the tunnel's peer");
  for (const std::string& r :
       everything ? std::vector<std::string>{"0.0.0.0/1", "128.0.0.0/1"} : allowed)
    unwrap(net::run_command({"ip", "route", "add", r, "dev", o.interface}), "route " + r);
  std::string dns;
  for (const Ip& d : c.dns) dns += (dns.empty() ? "" : " ") + format_ip(d);
  logs::info(fmt::format("tunnel up on {} ({}): {}{}", o.interface, t.tunnel->implementation(),
                         everything ? "everything" : "the ranges given",
                         dns.empty() ? "" : "; resolvers through it: " + dns));
  return t;
}

// Writes the wg-quick file (it holds the tunnel's private key: the owner's alone from its
// creation) and, with --qr, prints it as a QR code.
void export_file(const VpnOptions& o, const std::string& text) {
  ::unlink(o.export_file.c_str());
  const int fd = ::open(o.export_file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  const bool written =
      fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) ::close(fd);
  if (!written) throw CommandError("--export: cannot write " + o.export_file);
  logs::info("wrote " + o.export_file +
             " (wg-quick); this command pays for the deal until stopped");
  if (o.qr) std::cout << unwrap(net::run_command({"qrencode", "-t", "ansiutf8"}, text), "--qr");
}

// Ready once the first handshake with the exit is done (the peer's keepalive starts one at
// once): logs the time from the deal's opening to the first packets through.
void log_readiness(const net::WgInterface& tunnel, const net::WgKey& exit_key,
                   std::chrono::steady_clock::time_point opened_at) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < until) {
    auto h = tunnel.latest_handshakes();
    ready = h && h->contains(exit_key) && h->at(exit_key) != 0;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - opened_at)
                      .count();
  if (ready)
    logs::info(fmt::format("tunnel ready {} ms after the deal opened (first handshake done)", ms));
  else
    logs::warning("no handshake with the exit within 10 s: is its UDP port reachable?");
}

// With --control: the lease with its tunnel, bytes and payments, as `ipsx gateway --control`
// lists its leases.
std::unique_ptr<AgentEndpoint> serve_control(const VpnOptions& o, net::Gateway& gateway,
                                             const Hash& deal) {
  if (o.control.empty()) return nullptr;
  std::set<Hash> seen{deal};
  auto control = std::make_unique<AgentEndpoint>(
      parse_listen_any_port(o.control, "--control"), [&gateway, seen](api::Router& r) {
        r.add("GET", "/v1/leases", [&gateway, seen](const api::HttpRequest&) {
          static std::mutex none;
          api::HttpResponse res;
          res.body = gateway_leases_json(gateway, none, seen);
          return res;
        });
      });
  logs::info("control on http://" + control->bound() + " (GET /v1/leases)");
  return control;
}

// The flows this host opens through the tunnel, as its own connection tracking sees them begin
// (`wanted`: a local tunnel whose records are checked): the exit's usage records are signed only
// for those (docs/usage-receipts.md). A device using an exported file is another host, whose
// flows cannot be seen from here.
std::shared_ptr<net::FlowWatch> watch_flows(bool wanted, const std::string& interface,
                                            net::GatewayConfig& config) {
  if (!wanted) return nullptr;
  std::string table = "ipsx_flows_";
  for (char ch : interface) table += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  auto w = net::FlowWatch::start(table);
  if (!w) {
    logs::warning("the tunnel's usage records will not be signed: " + w.error().message());
    return nullptr;
  }
  std::shared_ptr<net::FlowWatch> flows = std::move(*w);
  config.vpn_flow_check = [flows](const UsageRecord& r) {
    return flows->take(r.host, r.port, r.opened_ms, 30'000);  // the gateway's skew for streams
  };
  return flows;
}

void run_vpn(const VpnOptions& o) {
  logs::set_program("ipsx vpn");
  catch_stop_signals();  // from here a signal ends the loop below, after which all is undone
  const bool local = o.export_file.empty();
  if (local) unwrap(net::check_net_admin(), "a local tunnel");
  if (auto ok = net::check_interface_name(o.interface); !ok)
    throw CommandError("--interface: " + ok.error().message());
  std::vector<std::string> allowed;
  for (const auto& r : o.routes) {
    auto p = unwrap(parse_prefix(r), "--route");
    if (!is_v4_mapped(p.prefix) || p.bits < 96)
      throw CommandError("--route " + r + ": the tunnel carries IPv4 ranges only");
    allowed.push_back(to_string(p));
  }
  const bool everything = allowed.empty();
  if (everything) allowed.push_back("0.0.0.0/0");
  net::ProxyFilters filters;
  if (!o.country.empty()) {
    std::string upper = o.country;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    filters.country = unwrap(parse_country(upper), "--country");
  }
  if (!o.type.empty()) {
    filters.type = parse_ip_type(o.type);
    if (!filters.type) throw CommandError("--type: residential, datacenter or mobile");
  }
  if (!o.region.empty()) filters.region = o.region;

  AgentSession agent = open_agent(o.node, o.keystore, o.address, o.password_file, o.chain_id,
                                  "--chain-id", Millis(o.node_wait_seconds * 1000));
  crypto::PrivateKey& key = agent.key;
  NodeSession& s = agent.node;
  sdk::Signer& signer = agent.signer;
  sdk::LeasePolicy policy;
  policy.duration_seconds = o.duration;
  policy.max_price_per_second = unwrap(Amount::parse(o.max_price), "--max-price").base();
  policy.protocols = protocol::vpn;
  policy.scope = scope::vpn;
  policy.market = s.market;
  policy.fee_bps = agree(o.fee_bps, s.fee_bps, "--fee-bps");

  net::asio::io_context io;
  sdk::NodeLeases leases(o.node, signer, policy);
  net::GatewayConfig config;  // its proxy port serves nobody: the gateway pays, the tunnel carries
  config.password = net::wg_key_base64(net::wg_generate_key().private_key);
  config.acquire_timeout = Millis(o.acquire_timeout_ms);
  config.sign_vpn_usage = o.sign_usage;
  std::shared_ptr<net::FlowWatch> flows = watch_flows(local && !o.sign_usage, o.interface, config);
  SystemClock clock;
  net::Gateway gateway(io, config, key.clone(), &leases, clock);
  std::mutex mu;
  std::optional<Hash> deal;
  std::optional<std::pair<net::LeaseEvent, std::string>> ended;
  gateway.on_lease_event = [&](const Hash& d, net::LeaseEvent e, const std::string& why) {
    leases.on_lease_event(d, e, why);
    std::lock_guard lock(mu);
    if (deal && d == *deal && (e == net::LeaseEvent::cut || e == net::LeaseEvent::failed))
      ended = std::pair{e, why};
  };
  unwrap(gateway.start(), "the gateway");
  std::thread io_thread([&io] { io.run(); });
  struct StopIo {
    net::Gateway& g;
    net::asio::io_context& io;
    std::thread& t;
    ~StopIo() {
      g.stop();
      io.stop();
      t.join();
    }
  } stop_io{gateway, io, io_thread};

  const net::WgKeyPair keys = net::wg_generate_key();
  auto answer = std::make_shared<std::promise<Result<net::VpnLease>>>();
  auto answered = answer->get_future();
  gateway.open_vpn(filters, keys.public_key,
                   [answer](Result<net::VpnLease> r) { answer->set_value(std::move(r)); });
  if (answered.wait_for(Millis(o.acquire_timeout_ms) + config.connect_timeout * 2) !=
      std::future_status::ready)
    throw CommandError("no tunnel: the market or the exit did not answer in time");
  const net::VpnLease vpn = unwrap(answered.get(), "no tunnel");
  check_tunnel_terms(vpn.config);
  {
    std::lock_guard lock(mu);
    deal = vpn.lease.deal_id;
  }
  const net::VpnConfigMessage& c = vpn.config;
  logs::info(fmt::format("deal {}: leased IP {} ({}), tunnel address {}, exit {}",
                         vpn.lease.deal_id.hex(), format_ip(vpn.lease.ip),
                         std::string(vpn.lease.country.begin(), vpn.lease.country.end()),
                         format_ip(c.address), net::to_string(c.endpoint)));

  LocalTunnel local_tunnel;
  if (!local) {
    export_file(o, wg_quick_file(keys, c, allowed, vpn.lease.deal_id));
  } else {
    if (flows) flows->watch(c.address);
    local_tunnel = bring_up(o, keys, vpn, allowed, everything);
    log_readiness(*local_tunnel.tunnel, c.server_key, vpn.opened_at);
  }
  auto control = serve_control(o, gateway, vpn.lease.deal_id);
  std::cout << fmt::format("VPN up: deal {}, leaving from {}\n", vpn.lease.deal_id.hex(),
                           format_ip(vpn.lease.ip))
            << std::flush;

  sdk::RequesterSettlement settlement(*s.node, signer);
  settlement.on_ended = [&](const Hash& d, const std::string& why) { gateway.end_lease(d, why); };
  settlement.watch(vpn.lease.deal_id);
  uint64_t ticks = 0, renewals = 0;
  run_until_signal_or([&] {
    for (const auto& line : settlement.poll(SystemClock().now())) logs::info(line);
    // The exit confirmed the tunnel after a reconnect: if it restarted, its side of the
    // WireGuard session is gone; a fresh peer entry makes this side handshake again at once
    // (rather than after WireGuard's own timeouts, 15 s and more).
    if (const uint64_t r = gateway.stats(vpn.lease.deal_id).vpn_renewals;
        r != renewals && local_tunnel.tunnel) {
      renewals = r;
      (void)local_tunnel.tunnel->remove_peer(c.server_key);
      auto again = local_tunnel.tunnel->set_peer(c.server_key, allowed, local_tunnel.endpoint, 25);
      if (!again) logs::warning("renewing the tunnel's peer: " + again.error().message());
    }
    if (++ticks % 30 == 0) {
      auto st = gateway.stats(vpn.lease.deal_id);
      logs::info(fmt::format("tunnel: {} bytes up, {} down; paid {} IPSX", st.bytes_up,
                             st.bytes_down, st.paid.to_string()));
    }
    std::lock_guard lock(mu);
    return !ended;
  });
  local_tunnel.tunnel.reset();  // the interface and the routes through it
  local_tunnel.exceptions.reset();
  std::lock_guard lock(mu);
  if (ended) {
    // Unpaid (this machine could not pay in time) or failed (the exit went): an error.
    if (ended->first == net::LeaseEvent::failed || ended->second.rfind("unpaid", 0) == 0)
      throw CommandError("the deal was cut: " + ended->second);
    logs::info("the deal ended: " + ended->second);
  } else {
    logs::info("stopped; the tunnel is down");
  }
}

}  // namespace

void check_tunnel_terms(const net::VpnConfigMessage& c) {
  const auto cls = net::classify(c.address);
  if (cls != net::AddressClass::private_use && cls != net::AddressClass::shared)
    throw CommandError(
        fmt::format("the exit offered the tunnel address {} ({}): only private "
                    "or shared ranges are taken",
                    format_ip(c.address), net::to_string(cls)));
  check_endpoint(c.endpoint);
}

void add_vpn_command(CLI::App& app) {
  auto o = std::make_shared<VpnOptions>();
  CLI::App* cmd = app.add_subcommand(
      "vpn", "Lease an IP and use it as a WireGuard VPN: a local tunnel, or a wg-quick file");
  cmd->add_option("--node", o->node, "The node's URL, http://HOST:PORT")->required();
  add_key_options(cmd, o->keystore, o->address, o->password_file, "the requester's");
  cmd->add_option("--country", o->country, "The leased IP's country (ISO 3166-1, e.g. de)");
  cmd->add_option("--type", o->type, "residential, datacenter or mobile");
  cmd->add_option("--region", o->region, "The leased IP's region or city, as offers name it");
  cmd->add_option("--max-price", o->max_price, "The most to pay per IP-second, in IPSX")
      ->required();
  cmd->add_option("--duration", o->duration, "Seconds the lease lasts (default 3600)")
      ->check(CLI::Range(kMinDurationSeconds, kMaxDurationSeconds));
  cmd->add_option("--interface", o->interface, "The local tunnel's interface (default ipsx0)");
  cmd->add_option("--route", o->routes,
                  "Only these ranges through the tunnel (CIDR, repeatable; default: everything)")
      ->delimiter(',');
  cmd->add_option("--export", o->export_file,
                  "Write a wg-quick file for another device instead of a local tunnel (this "
                  "command keeps paying for the deal until stopped)");
  cmd->add_flag("--qr", o->qr, "With --export: print the file as a QR code (for phones)");
  cmd->add_flag("--sign-usage", o->sign_usage,
                "Sign usage receipts for every flow the exit logs (destination, port, bytes; "
                "docs/usage-receipts.md) without checking it; by default a local tunnel signs "
                "those its host's connection tracking saw begin, an exported one none");
  cmd->add_option("--chain-id", o->chain_id, "The ledger's chain id (default: the node's)");
  cmd->add_option("--fee-bps", o->fee_bps, "The market's commission (default: the node's)");
  cmd->add_option("--acquire-timeout-ms", o->acquire_timeout_ms,
                  "How long to wait for the market's lease (default 30000)");
  cmd->add_option("--node-wait", o->node_wait_seconds,
                  "Seconds to keep trying a node that does not answer at start (default 60)");
  cmd->add_option("--control", o->control,
                  "HOST:PORT of a local endpoint listing the lease with its tunnel, bytes and "
                  "payments (GET /v1/leases; keep it on loopback)");
  cmd->callback([o] {
    if (o->qr && o->export_file.empty()) throw CommandError("--qr needs --export FILE");
    run_vpn(*o);
  });
}

}  // namespace ipsx::cli
