// `ipsx gateway` and `ipsx provide`: the two ends of the data plane, talking to a node through
// the SDK (docs/sdk.md, docs/data-plane.md).
//
// - `ipsx gateway`: a local SOCKS5 + HTTP proxy for crawlers and browsers. A client's username
//   filters (country-de-type-residential-session-x) choose a leased IP; when none fits, the
//   gateway signs a request for one, places it at the node, and connects to the provider's exit
//   of the deal. It reports the requester's status (connected, failed, closed) and pays the
//   exits' invoices with balance proofs.
// - `ipsx provide`: the provider's exit and its offers. Places a signed offer per IP of its
//   config, announces where the exit listens, reports `ready` for each new deal (and re-sends it
//   as the heartbeat), serves the deals from the leased IPs, and keeps the balance proofs on
//   disk (--data) before they count. Its watchtower follows each deal on the ledger: it claims
//   often, answers a requester's uncooperative close with its best proof within the challenge
//   period, cuts at the exit a deal the ledger marks closing or closed, and when a deal ends
//   closes it on the ledger with the best proof (payment, commission, refund) and rates the
//   requester (sdk/settlement.h). The gateway rates the provider.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "agent_deals.h"
#include "agent_metrics.h"
#include "cli_util.h"
#include "client/node_client.h"
#include "client/signer.h"
#include "console_changes.h"
#include "gateway_console.h"
#include "ledger/orders.h"
#include "log.h"
#include "net/address_policy.h"
#include "net/exit.h"
#include "net/gateway.h"
#include "net/memory_trim.h"
#include "net/net_error.h"
#include "net/relay.h"
#include "net/wireguard.h"
#include "node_session.h"
#include "provide_config.h"
#include "provider_console.h"
#include "provider_offers.h"
#include "sdk/dataplane.h"
#include "sdk/settlement.h"
#include "sdk/usage_store.h"
#include "service.h"

namespace ipsx::cli {
namespace {

using json = nlohmann::json;

uint64_t now_s() {
  return static_cast<uint64_t>(to_unix_seconds(SystemClock().now()));
}

// RFC 1918 and the carrier-grade NAT range (RFC 6598): addresses behind a NAT.
bool is_private_v4(const net::asio::ip::address& a) {
  if (!a.is_v4()) return false;
  const auto b = a.to_v4().to_bytes();
  return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
         (b[0] == 100 && (b[1] & 0xC0) == 64);
}

net::asio::ip::address to_asio_address(const Ip& ip) {
  net::asio::ip::address_v6 v6(ip);
  if (v6.is_v4_mapped()) return net::asio::ip::make_address_v4(net::asio::ip::v4_mapped, v6);
  return v6;
}

std::string endpoint_text(const net::tcp::endpoint& e) {
  return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                             : fmt::format("{}:{}", e.address().to_string(), e.port());
}

void log_lines(const std::vector<std::string>& lines) {
  for (const auto& l : lines) logs::info(l);
}

// ---- ipsx gateway -----------------------------------------------------------------------------

struct GatewayOptions {
  std::string node, keystore, address, password_file, proxy_password_file;
  std::string listen = "127.0.0.1:1080";
  std::string max_price, budget, protocols = "http,https-connect,socks5", scope = "crawling";
  uint64_t duration = 600;
  std::optional<uint64_t> chain_id;
  std::optional<uint16_t> fee_bps;
  uint64_t acquire_timeout_ms = 10'000;
  uint64_t node_wait_seconds = 60;
  bool sign_front_usage = false;
  bool no_punch = false;
  std::string metrics;               // HOST:PORT of the Prometheus endpoint; empty: none
  std::string control;               // HOST:PORT of the control endpoint (the leases' credentials)
  std::string ui;                    // HOST:PORT of the requester's console; empty: none
  std::vector<std::string> open_to;  // source ranges that need no credentials
  std::string open_filters;          // their username (filters)
  std::string pac;                   // HOST:PORT serving /proxy.pac; empty: none
};

void run_gateway(const GatewayOptions& o) {
  logs::set_program("ipsx gateway");
  net::MemoryTrimmer trimmer;  // a burst of clients' memory back to the system once they went
  AgentSession agent = open_agent(o.node, o.keystore, o.address, o.password_file, o.chain_id,
                                  "--chain-id", Millis(o.node_wait_seconds * 1000));
  crypto::PrivateKey& key = agent.key;
  NodeSession& s = agent.node;
  sdk::Signer& signer = agent.signer;

  sdk::LeasePolicy policy;
  policy.duration_seconds = o.duration;
  policy.max_price_per_second = unwrap(Amount::parse(o.max_price), "--max-price").base();
  policy.protocols = unwrap(parse_protocols(o.protocols), "--protocols");
  policy.scope = unwrap(parse_scopes(o.scope), "--scope");
  if (std::popcount(policy.scope) != 1) throw CommandError("--scope: name exactly one use");
  policy.market = s.market;
  policy.fee_bps = agree(o.fee_bps, s.fee_bps, "--fee-bps");
  if (!o.budget.empty()) policy.budget = unwrap(Amount::parse(o.budget), "--budget").base();
  // The io_context outlives the leases: their worker thread posts its answers to it, and stops
  // (leases destroyed) before the context goes.
  net::asio::io_context io;
  std::unique_ptr<ConsoleVpn> vpn;  // the console's VPN leases, under the same budget
  sdk::LeasePolicy proxy_policy = policy;
  proxy_policy.committed_elsewhere = [&vpn] { return vpn ? vpn->committed() : U256(); };
  sdk::NodeLeases leases(o.node, signer, proxy_policy);

  net::GatewayConfig config;
  config.listen = parse_listen_any_port(o.listen, "--listen");
  config.password = read_password_file(o.proxy_password_file);
  if (config.password.empty()) throw CommandError("--proxy-password-file: the password is empty");
  config.acquire_timeout = Millis(o.acquire_timeout_ms);
  config.sign_front_usage = o.sign_front_usage;
  config.punch = !o.no_punch;
  for (const std::string& r : o.open_to)
    config.open_to.push_back(unwrap(parse_prefix(r), "--open-to " + r));
  config.open_filters = unwrap(net::parse_proxy_username(o.open_filters), "--open-filters");

  SystemClock clock;
  net::Gateway gateway(io, config, key.clone(), &leases, clock);
  std::mutex connected_mu;
  std::vector<Hash> connected;  // deals to settle, handed from the io thread to the loop
  std::set<Hash> seen;          // every deal that connected, for the metrics (under connected_mu)
  gateway.on_lease_event = [&](const Hash& deal, net::LeaseEvent e, const std::string& why) {
    if (e == net::LeaseEvent::connected) {
      std::lock_guard lock(connected_mu);
      connected.push_back(deal);
      seen.insert(deal);
    }
    const char* name = e == net::LeaseEvent::connected ? "connected"
                       : e == net::LeaseEvent::failed  ? "failed"
                       : e == net::LeaseEvent::path    ? "path"
                                                       : "cut";
    logs::write(e == net::LeaseEvent::failed ? logs::Level::warning : logs::Level::info,
                fmt::format("deal {} {}{}", deal.hex(), name, why.empty() ? "" : ": " + why));
    leases.on_lease_event(deal, e, why);
  };
  unwrap(gateway.start(), "--listen");
  // The console's VPN leases: a gateway of their own, started before the io_context runs.
  if (!o.ui.empty()) {
    sdk::LeasePolicy vpn_policy = policy;
    vpn_policy.committed_elsewhere = [&leases] { return leases.totals().committed; };
    vpn = std::make_unique<ConsoleVpn>(io, o.node, signer, key, vpn_policy, clock);
  }
  std::thread io_thread([&io] { io.run(); });
  auto metrics = o.metrics.empty()
                     ? nullptr
                     : serve_metrics(parse_listen_any_port(o.metrics, "--metrics"), "gateway", [&] {
                         return gateway_metrics(gateway, leases, connected_mu, seen);
                       });
  auto pac = o.pac.empty() ? nullptr
                           : serve_pac(parse_listen_any_port(o.pac, "--pac"),
                                       config.listen.address(), gateway.port());
  std::unique_ptr<AgentEndpoint> control;
  if (!o.control.empty()) {
    control = std::make_unique<AgentEndpoint>(
        parse_listen_any_port(o.control, "--control"), [&](api::Router& r) {
          r.add("GET", "/v1/leases", [&](const api::HttpRequest&) {
            api::HttpResponse res;
            res.body = gateway_leases_json(gateway, connected_mu, seen);
            return res;
          });
        });
    logs::info(
        fmt::format("control on http://{} (the leases' proxy credentials: "
                    "`ipsx gateway export --control http://{}`)",
                    control->bound(), control->bound()));
  }
  std::unique_ptr<GatewayConsole> ui;
  if (!o.ui.empty()) {
    ui = std::make_unique<GatewayConsole>(
        parse_listen_any_port(o.ui, "--ui"),
        GatewayConsoleContext{gateway, leases, connected_mu, seen, o.node, signer.address(),
                              s.market, config.listen.address().to_string(), gateway.port(),
                              config.password, policy, vpn.get()});
    logs::info(fmt::format("console on http://{}/ (sign in with the proxy password)", ui->bound()));
  }
  logs::info(fmt::format("requester {} on market {}; SOCKS5 and HTTP proxy on {}:{}",
                         signer.address().to_string(), s.market.to_string(),
                         config.listen.address().to_string(), gateway.port()));
  notify_service("READY=1");
  sdk::NodeLeases::Totals last;
  sdk::RequesterSettlement settlement(*s.node, signer);
  settlement.on_ended = [&](const Hash& deal, const std::string& why) {
    gateway.end_lease(deal, why);
    if (vpn) vpn->end(deal, why);
  };
  // A restarted gateway follows the deals its earlier runs ordered.
  for (const Hash& d : deals_to_follow(*s.node, signer.address(), "requester")) settlement.watch(d);
  run_until_signal([&] {
    {
      std::lock_guard lock(connected_mu);
      for (const Hash& d : connected) settlement.watch(d);
      connected.clear();
    }
    for (const Hash& d : leases.take_opened()) settlement.watch(d);
    if (vpn)
      for (const Hash& d : vpn->take_opened()) settlement.watch(d);
    log_lines(settlement.poll(SystemClock().now()));
    auto t = leases.totals();
    if (t.requests != last.requests) {
      logs::info(fmt::format("{} lease(s) ordered, {} found nothing fitting, {} IPSX committed",
                             t.leases, t.nothing_fits, Amount::from_base(t.committed).to_string()));
      last = t;
    }
  });
  notify_service("STOPPING=1");
  logs::info("shutting down");
  ui.reset();
  metrics.reset();
  gateway.stop();
  if (vpn) vpn->stop();
  io.stop();
  io_thread.join();
  vpn.reset();  // nothing of its runs now
}

// ---- ipsx provide -----------------------------------------------------------------------------

struct ProvideOptions {
  std::string node, keystore, address, password_file, config, data;
  std::string metrics;               // HOST:PORT of the Prometheus endpoint; empty: none
  std::string ui, ui_password_file;  // the provider's console: HOST:PORT and its password
  uint64_t node_wait_seconds = 60;
};

// What the exit's callbacks, on its thread, hand to the provider's main loop: the best balance
// proof of each deal (kept on disk before the exit counts it as paid) and the deals it cut for
// unpaid use (the requester stopped paying, or vanished: reported to the market, which closes
// them, reason unpaid, and frees their places). Usage records and receipts go to their store.
struct ExitInbox {
  std::mutex paid_mu;
  std::map<Hash, net::ExitPayment> paid;
  std::mutex cut_mu;
  std::vector<std::pair<Hash, std::string>> unpaid_cuts;

  std::map<Hash, Amount> handed;  // the amounts handed to the settlement (main loop only)

  // The unpaid cuts reported to the market (which closes the deals, reason unpaid).
  void report_cuts(sdk::StatusReporter& reporter) {
    std::vector<std::pair<Hash, std::string>> cuts;
    {
      std::lock_guard lock(cut_mu);
      cuts.swap(unpaid_cuts);
    }
    for (const auto& [deal, why] : cuts) {
      auto r = reporter.report(deal, market::PartyState::unpaid);
      logs::write(r ? logs::Level::info : logs::Level::warning,
                  fmt::format("deal {} cut at the exit ({}): {}", deal.hex(), why,
                              r ? "reported unpaid to the market"
                                : "could not report it unpaid: " + r.error().message()));
    }
  }

  // The new best proofs handed to the settlement (which claims them).
  void hand_payments(sdk::ProviderSettlement& settlement) {
    std::lock_guard lock(paid_mu);
    for (const auto& [deal, p] : paid) {
      if (handed[deal] == p.amount) continue;
      handed[deal] = p.amount;
      settlement.on_payment(deal, p.amount.base(), p.signature);
      logs::info(fmt::format("deal {} paid {} IPSX (balance proof {})", deal.hex(),
                             p.amount.to_string(), p.signature.to_hex().substr(0, 18) + "..."),
                 {{"paid", p.amount.to_string()}});
    }
  }

  void attach(net::Exit& exit, sdk::ProofStore& store, sdk::UsageStore& usage,
              const Hash& domain_separator) {
    exit.on_payment = [this, &store](const net::ExitPayment& p) {
      if (auto kept = store.put(p.deal_id, p.amount.base(), p.signature); !kept) {
        logs::error("keeping a balance proof: " + kept.error().message(),
                    {{"deal", p.deal_id.hex()}});
        return false;
      }
      std::lock_guard lock(paid_mu);
      paid[p.deal_id] = p;
      return true;
    };
    exit.on_cut = [this](const Hash& deal, const Error& why) {
      if (why.code() != net::NetErrc::unpaid) return;
      std::lock_guard lock(cut_mu);
      unpaid_cuts.emplace_back(deal, why.message());
    };
    exit.usage_so_far = [&usage](const Hash& deal) {
      auto kept = usage.records(deal);
      if (!kept) {
        logs::error("reading the usage log kept before: " + kept.error().message(),
                    {{"deal", deal.hex()}});
        return std::vector<UsageRecord>{};
      }
      return std::move(*kept);
    };
    exit.on_usage = [&usage](const UsageRecord& r) {
      if (auto kept = usage.append(r); !kept)
        logs::error("keeping a usage record: " + kept.error().message(),
                    {{"deal", r.deal_id.hex()}});
    };
    exit.on_receipt = [&usage, domain_separator](const net::ExitReceipt& r) {
      sdk::StoredReceipt kept{r.deal_id, r.requester, domain_separator,
                              r.count,   r.root,      r.signature};
      if (auto ok = usage.put_receipt(kept); !ok)
        logs::error("keeping a usage receipt: " + ok.error().message(),
                    {{"deal", r.deal_id.hex()}});
    };
  }
};

// The exit's WireGuard key, kept in the provider's data directory (created on first use, 0600):
// a restarted exit resumes its tunnels with the same key.
net::WgKey vpn_key(const std::filesystem::path& data) {
  const auto file = data / "vpn.key";
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    std::string text;
    std::getline(in, text);
    return unwrap(net::wg_parse_key(text), file.string());
  }
  const net::WgKey k = net::wg_generate_key().private_key;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  const std::string text = net::wg_key_base64(k) + "\n";
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd) != 0)
    throw CommandError("--data: cannot write " + file.string());
  ::close(fd);
  return k;
}

net::ExitConfig exit_config(const ProvideConfig& c, const std::filesystem::path& data) {
  net::ExitConfig config;
  config.pair_listen = parse_listen_any_port(c.pair_listen, "pair_listen");
  if (c.proxy_listen) config.proxy_listen = parse_listen_any_port(*c.proxy_listen, "proxy_listen");
  config.policy = c.policy;
  for (size_t i = 0; i < c.offers.size(); ++i) {
    if (!c.local_addresses[i].empty())
      config.source_of[c.offers[i].ip] = unwrap(parse_ip(c.local_addresses[i]), "local_address");
  }
  if (c.vpn) {  // WireGuard for the vpn deals: the interface and its rules, removed at the end
    net::WireguardExitConfig w;
    w.interface = c.vpn->interface;
    w.listen_port = c.vpn->listen_port;
    if (c.vpn->endpoint)
      w.endpoint = unwrap(net::parse_authority(*c.vpn->endpoint, std::nullopt), "vpn.endpoint");
    w.subnet = unwrap(parse_prefix(c.vpn->subnet), "vpn.subnet");
    for (const auto& d : c.vpn->dns) w.dns.push_back(unwrap(parse_ip(d), "vpn.dns"));
    w.mtu = c.vpn->mtu;
    w.policy = config.policy;
    w.source_of = config.source_of;
    w.private_key = vpn_key(data);
    auto vpn = std::shared_ptr<net::WireguardExit>(unwrap(net::WireguardExit::start(w), "[vpn]"));
    logs::info(fmt::format("VPN: WireGuard ({}) on {}, UDP port {}, tunnels in {}",
                           vpn->interface().implementation(), w.interface, w.listen_port,
                           c.vpn->subnet));
    config.vpn = std::move(vpn);
  }
  return config;
}

// Where gateways are told the exit is: through its relay ("relay:IP:PORT"), at the router's port
// forward (pair_announce), or where it listens. Says so, and warns when that cannot be reached
// from outside (an exit on a private address while the IPs offered are not: behind a NAT).
std::string exit_where(const ProvideConfig& c, const net::Exit& exit, const Address& provider) {
  const net::tcp::endpoint listening{parse_listen_any_port(c.pair_listen, "pair_listen").address(),
                                     exit.pair_port()};
  std::string where = endpoint_text(listening);
  if (c.relay) {
    where = "relay:" + endpoint_text(parse_listen(*c.relay, "relay"));
  } else if (c.pair_announce) {
    auto at = parse_listen(*c.pair_announce, "pair_announce");
    if (at.port() == 0)
      throw CommandError("pair_announce: want the public IP:PORT that reaches pair_listen");
    where = endpoint_text(at);
  }
  logs::info(fmt::format(
      "provider {}; exit's pair channel on {}{}{}", provider.to_string(), endpoint_text(listening),
      where != endpoint_text(listening) ? ", announced as " + where : "",
      exit.proxy_port() ? fmt::format(", proxy front on port {}", exit.proxy_port()) : ""));
  if (!c.relay && !c.pair_announce && is_private_v4(listening.address()) &&
      std::none_of(c.offers.begin(), c.offers.end(),
                   [&](const Offer& o) { return to_asio_address(o.ip) == listening.address(); })) {
    logs::warning(fmt::format(
        "the exit is announced at {}, a private address: gateways outside this network cannot "
        "reach it. Behind a NAT, forward a port of the router to pair_listen and set "
        "pair_announce to the router's public IP:PORT, or serve through a relay (relay = "
        "\"IP:PORT\")",
        where));
  }
  return where;
}

void run_provide(const ProvideOptions& o) {
  logs::set_program("ipsx provide");
  net::MemoryTrimmer trimmer;
  ProvideConfig c = load_provide_config(o.config);  // a bad config is said before any password
  std::string ui_password;
  if (!o.ui.empty()) {
    if (o.ui_password_file.empty())
      throw CommandError("--ui needs --ui-password-file (the console's password)");
    ui_password = read_password_file(o.ui_password_file);
    if (ui_password.empty()) throw CommandError("--ui-password-file: the password is empty");
  }
  AgentSession agent = open_agent(o.node, o.keystore, o.address, o.password_file, c.chain_id,
                                  "chain_id", Millis(o.node_wait_seconds * 1000));
  crypto::PrivateKey& key = agent.key;
  NodeSession& s = agent.node;
  sdk::Signer& signer = agent.signer;
  const uint16_t fee_bps = agree(c.fee_bps, s.fee_bps, "fee_bps");

  std::set<Ip> ips;
  for (const auto& offer : c.offers) ips.insert(offer.ip);
  sdk::NodeDeals deals(o.node, signer.address(), signer.domain_separator(), ips);

  net::asio::io_context io;
  SystemClock clock;
  const std::filesystem::path data =
      o.data.empty() ? default_provider_data(signer.address()) : std::filesystem::path(o.data);
  ConsoleChanges changes(data / "console.json");  // what the console set, over the config
  unwrap(changes.load(), "--data");
  changes.apply(c);
  net::Exit exit(io, exit_config(c, data), deals, key, clock);
  // Balance proofs are kept on disk before the exit counts them as paid.
  auto store = unwrap(sdk::ProofStore::open(data / "proofs.log"), "--data");
  // Each connection's record and the requester's receipts for them (docs/usage-receipts.md).
  auto usage = unwrap(sdk::UsageStore::open(data / "usage"), "--data");
  ExitInbox inbox;
  inbox.attach(exit, *store, *usage, signer.domain_separator());
  unwrap(exit.start(), "pair_listen");
  const std::string where = exit_where(c, exit, signer.address());
  // Behind a NAT it does not control: a control connection to the relay, and each gateway's
  // connection through it served by the exit.
  std::unique_ptr<net::RelayClient> relay;
  if (c.relay) {
    relay = std::make_unique<net::RelayClient>(
        io, parse_listen(*c.relay, "relay"), key.clone(), clock,
        [&exit](net::tcp::socket s, std::string source) {
          exit.serve_pair(std::move(s), std::move(source));
        },
        [](const std::string& line) { logs::info(line); });
    relay->start();
  }
  std::thread io_thread([&io] { io.run(); });
  auto stop_io = [&] {
    exit.stop();
    io.stop();
    io_thread.join();
    if (relay) relay->stop();  // the io_context no longer runs: safe from this thread
  };

  ProviderOffers offers(s, signer, c, fee_bps);
  changes.apply(offers, c);
  // The exit is announced before anything is offered, and then every kAnnounceEvery seconds for
  // kAnnounceFor: a node that checks exits (the default) fills no offer of a provider whose exit
  // it cannot find, so a provider that vanishes sells nothing a minute later.
  constexpr uint64_t kAnnounceEvery = 20, kAnnounceFor = 60;
  uint64_t announced_at = 0, seq = static_cast<uint64_t>(to_unix_ms(SystemClock().now()));
  auto announce = [&] {
    auto a = sdk::announce_exit(*s.node, signer, where, now_s() + kAnnounceFor, ++seq);
    if (a)
      announced_at = now_s();
    else
      logs::warning("announcing the exit: " + a.error().message());
  };
  announce();
  try {
    offers.resume(withdraw_earlier_offers(*s.node, signer, c.offers));
    offers.place(true);
  } catch (...) {  // stop the exit's thread before the error ends the command
    stop_io();
    throw;
  }

  sdk::StatusReporter reporter(*s.node, signer, market::Party::provider);
  std::set<Hash> known;
  uint64_t loops = 0;
  const Millis heartbeat = market::heartbeat_interval(market::ProtocolTimeouts{});
  sdk::SettlementOptions settle_options;
  settle_options.claim_every = Millis(c.claim_every_seconds * 1000);
  settle_options.max_unclaimed_seconds = c.max_unclaimed_seconds;
  sdk::ProviderSettlement settlement(*s.node, signer, settle_options, store.get());
  // At the close, the requester's best usage receipt goes on the ledger (its root, public).
  settlement.usage_receipt =
      [&](const Hash& deal) -> std::optional<std::pair<UsageReceipt, crypto::Signature>> {
    auto r = usage->receipt(deal);
    if (!r || !*r) return std::nullopt;
    return std::pair{UsageReceipt{deal, (*r)->count, (*r)->root}, (*r)->signature};
  };
  settlement.on_ended = [&](const Hash& deal, const std::string& why) {
    exit.end_deal(deal, why);
    logs::info(fmt::format("deal {}: {}; cut at the exit", deal.hex(), why));
    offers.ended(deal);
  };
  // A restart resumes: the deals of stored proofs are watched (the store loaded them), and so is
  // every deal of this provider not closed on the ledger (or closed within the last day, to rate
  // it); the exit finds each at the node when its gateway pairs again.
  for (const Hash& d : deals_to_follow(*s.node, signer.address(), "provider")) {
    settlement.watch(d);
    known.insert(d);
  }
  ProviderMeter meter;  // what the metrics count (`known`, copied under meter.mu)
  meter.deals = known;
  auto metrics = o.metrics.empty()
                     ? nullptr
                     : serve_metrics(parse_listen_any_port(o.metrics, "--metrics"), "provider",
                                     [&] { return provider_metrics(exit, meter); });
  auto ui = o.ui.empty() ? nullptr
                         : std::make_unique<ProviderConsole>(
                               parse_listen_any_port(o.ui, "--ui"),
                               ProviderConsoleContext{exit, meter, o.node, signer.address(),
                                                      ui_password, &changes});
  if (ui)
    logs::info(
        fmt::format("console on http://{}/ (sign in with the --ui-password-file's)", ui->bound()));
  if (settlement.pending())
    logs::info(fmt::format("following {} earlier deal(s) ({} with stored proofs)",
                           settlement.pending(), store->best().size()));
  notify_service("READY=1");
  run_until_signal([&] {
    offers.place(false);
    if (now_s() >= announced_at + kAnnounceEvery) announce();
    serve_new_deals(*s.node, signer.address(), deals, reporter, settlement, known,
                    ++loops % 5 == 1);
    if (ui) ui->serve(offers);
    if (metrics || ui) {
      std::lock_guard lock(meter.mu);
      if (meter.deals.size() != known.size()) meter.deals = known;  // `known` only grows
    }
    inbox.report_cuts(reporter);
    reporter.heartbeat(heartbeat);
    inbox.hand_payments(settlement);
    log_lines(settlement.poll(SystemClock().now()));
    offers.place_freed();
  });
  notify_service("STOPPING=1");
  logs::info("shutting down");
  ui.reset();
  stop_io();
}

}  // namespace

void add_dataplane_commands(CLI::App& app) {
  struct ProbeOptions {
    std::string node, provider, ip;
  };
  auto pr = std::make_shared<ProbeOptions>();
  CLI::App* probe = app.add_subcommand(
      "probe", "Prove to a node that this machine can send from an IP (before offering it)");
  probe->add_option("--node", pr->node, "The node's URL, http://HOST:PORT")->required();
  probe->add_option("--provider", pr->provider, "The provider's address the proof is for")
      ->required();
  probe->add_option("--ip", pr->ip, "The IP to send from (must be this machine's)")->required();
  probe->callback([pr] {
    auto node = unwrap(sdk::NodeClient::connect(pr->node), "--node");
    Address provider = unwrap(Address::parse(pr->provider), "--provider");
    unwrap(sdk::prove_ip(*node, provider, pr->ip), "--ip " + pr->ip);
    std::cout << fmt::format(
        "proved: the node saw {} connect from {}; its offers for {} are "
        "accepted for a day\n",
        provider.to_string(), pr->ip, pr->ip);
  });

  auto g = std::make_shared<GatewayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "gateway", "A local SOCKS5 and HTTP proxy that leases IPs from a node as clients need them");
  // Required, but checked by run_gateway: `ipsx gateway export` needs none of them.
  cmd->add_option("--node", g->node, "The node's URL, http://HOST:PORT (required)");
  add_key_options(cmd, g->keystore, g->address, g->password_file, "the requester's");
  cmd->add_option("--proxy-password-file", g->proxy_password_file,
                  "File whose first line is the password proxy clients must give (required)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--listen", g->listen, "IP:PORT of the proxy (default 127.0.0.1:1080)");
  cmd->add_option("--max-price", g->max_price, "The most to pay per IP-second, in IPSX (required)");
  cmd->add_option("--duration", g->duration, "Seconds each lease lasts (default 600)")
      ->check(CLI::Range(kMinDurationSeconds, kMaxDurationSeconds));
  cmd->add_option("--budget", g->budget, "The most all leases together may cost, in IPSX");
  cmd->add_option("--protocols", g->protocols, "Protocols every leased IP must serve");
  cmd->add_option("--scope", g->scope, "The use: crawling, streaming, email, general or vpn");
  cmd->add_option("--chain-id", g->chain_id, "The ledger's chain id (default: the node's)");
  cmd->add_option("--fee-bps", g->fee_bps, "The market's commission (default: the node's)");
  cmd->add_option("--acquire-timeout-ms", g->acquire_timeout_ms,
                  "How long a client waits for a new lease (default 10000)");
  cmd->add_flag("--sign-front-usage", g->sign_front_usage,
                "Sign usage receipts that include connections at the exits' fronts (only if this "
                "requester uses the leased IPs' ip:port:user:pass credentials itself)");
  cmd->add_option("--metrics", g->metrics,
                  "HOST:PORT to serve Prometheus metrics on (GET /metrics; default: none)");
  cmd->add_option("--ui", g->ui,
                  "HOST:PORT of the requester's console in a browser (sign in with the proxy "
                  "password; keep it on loopback: it shows the leases' credentials)");
  cmd->add_option("--control", g->control,
                  "HOST:PORT of a local endpoint listing the leases with their proxy credentials "
                  "(GET /v1/leases, read by `ipsx gateway export`; keep it on loopback)");
  cmd->add_option("--open-to", g->open_to,
                  "Source ranges (CIDR, repeatable) whose clients need no credentials, e.g. a "
                  "browser on this machine: 127.0.0.1/32")
      ->delimiter(',');
  cmd->add_option("--open-filters", g->open_filters,
                  "The filters those clients get, as a username (country-de-type-residential; "
                  "default: any IP)");
  cmd->add_option("--pac", g->pac,
                  "HOST:PORT serving a proxy auto-config file for browsers (GET /proxy.pac)");
  cmd->add_flag("--no-punch", g->no_punch,
                "Keep a relayed deal on its relay: never punch a hole through the provider's NAT "
                "(where outbound probes are not wanted, or to measure the relay)");
  cmd->add_option("--node-wait", g->node_wait_seconds,
                  "Seconds to keep trying a node that does not answer at start (default 60)");
  CLI::App* exporter = add_gateway_export(cmd);
  cmd->callback([g, exporter] {
    if (exporter->parsed()) return;
    for (const auto& [value, name] : {std::pair{&g->node, "--node"},
                                      std::pair{&g->proxy_password_file, "--proxy-password-file"},
                                      std::pair{&g->max_price, "--max-price"}}) {
      if (value->empty()) throw CommandError(fmt::format("{} is required", name));
    }
    run_gateway(*g);
  });

  auto p = std::make_shared<ProvideOptions>();
  cmd = app.add_subcommand("provide",
                           "Offer IPs at a node and serve their deals from this machine's exit");
  cmd->add_option("--node", p->node, "The node's URL, http://HOST:PORT")->required();
  add_key_options(cmd, p->keystore, p->address, p->password_file, "the provider's");
  cmd->add_option("--config", p->config, "The provider's TOML config (docs/sdk.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--metrics", p->metrics,
                  "HOST:PORT to serve Prometheus metrics on (GET /metrics; default: none)");
  cmd->add_option("--ui", p->ui,
                  "HOST:PORT of the provider's console in a browser (needs --ui-password-file; "
                  "keep it on loopback: plain HTTP)");
  cmd->add_option("--ui-password-file", p->ui_password_file,
                  "A file whose first line is the console's password");
  cmd->add_option("--node-wait", p->node_wait_seconds,
                  "Seconds to keep trying a node that does not answer at start (default 60)");
  cmd->add_option("--data", p->data,
                  "Directory for the provider's state: the balance proofs it was paid with "
                  "(default $XDG_STATE_HOME/ipsx/provider-ADDRESS)");
  cmd->callback([p] { run_provide(*p); });
}

}  // namespace ipsx::cli
