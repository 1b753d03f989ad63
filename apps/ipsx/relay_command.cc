// `ipsx relay`: the relay of net/relay.h, for providers behind a NAT (docs/network.md).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <functional>
#include <iostream>
#include <map>
#include <memory>

#include "cli_util.h"
#include "core/clock.h"
#include "log.h"
#include "net/endpoint.h"
#include "net/memory_trim.h"
#include "net/relay.h"
#include "service.h"

namespace ipsx::cli {
namespace {

struct RelayOptions {
  std::string listen;
  size_t max_connections_per_provider = 64;
  size_t max_connections_per_source = 16;
  uint64_t max_bytes_per_provider = 0;
  size_t max_providers = 10'000;
  uint64_t report_seconds = 60;
};

void run_relay(const RelayOptions& o) {
  logs::set_program("ipsx relay");
  net::MemoryTrimmer trimmer;
  net::RelayConfig cfg;
  auto at = net::parse_authority(o.listen, std::nullopt);
  if (!at || !std::holds_alternative<net::Ipv4>(at->host))
    throw CommandError("--listen: want IPv4:PORT, e.g. 203.0.113.11:7100, not '" + o.listen + "'");
  cfg.listen =
      net::tcp::endpoint(net::asio::ip::address_v4(std::get<net::Ipv4>(at->host)), at->port);
  if (o.max_connections_per_provider == 0)
    throw CommandError("--max-connections-per-provider: at least 1");
  cfg.max_connections_per_provider = o.max_connections_per_provider;
  if (o.max_connections_per_source == 0)
    throw CommandError("--max-connections-per-source: at least 1");
  cfg.max_connections_per_source = o.max_connections_per_source;
  cfg.max_bytes_per_provider = o.max_bytes_per_provider;
  cfg.max_providers = o.max_providers;
  net::asio::io_context io;
  SystemClock clock;
  net::Relay relay(io, cfg, clock);
  auto port = relay.start();
  if (!port) throw CommandError("--listen: " + port.error().message());
  logs::info(fmt::format("listening on {}:{}", cfg.listen.address().to_string(), *port));
  notify_service("READY=1");
  // What it carried, per provider: every report_seconds for those whose counts moved, and all
  // at the end.
  std::map<Address, net::RelayProviderStats> told;
  auto report = [&](bool all) {
    for (const auto& [provider, st] : relay.stats()) {
      auto& before = told[provider];
      if (!all && st.connections == before.connections && st.bytes == before.bytes &&
          st.refused == before.refused && st.serving == before.serving &&
          st.punches == before.punches)
        continue;
      before = st;
      logs::info(fmt::format("provider {}{}: {} connection(s) relayed ({} open), {} byte(s), {} "
                             "refused, {} punch(es) arranged",
                             provider.to_string(), st.serving ? "" : " (not serving)",
                             st.connections, st.open, st.bytes, st.refused, st.punches),
                 {{"provider", provider.to_string()}});
    }
  };
  net::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::seconds(o.report_seconds));
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      report(false);
      tick();
    });
  };
  if (o.report_seconds > 0) tick();
  net::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    ticker.cancel();
    relay.stop();
    io.stop();
  });
  io.run();
  notify_service("STOPPING=1");
  logs::info("shutting down");
  report(true);
}

}  // namespace

void add_relay_command(CLI::App& app) {
  auto o = std::make_shared<RelayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "relay", "Relay gateways' connections to providers behind a NAT (docs/network.md)");
  cmd->add_option("--listen", o->listen, "IP:PORT to listen on (providers and gateways)")
      ->required();
  cmd->add_option("--max-connections-per-provider", o->max_connections_per_provider,
                  "Relayed connections open at once per provider (default 64)");
  cmd->add_option("--max-connections-per-source", o->max_connections_per_source,
                  "Relayed connections open at once per gateway address (default 16)");
  cmd->add_option("--max-bytes-per-provider", o->max_bytes_per_provider,
                  "Bytes carried per provider over the relay's life (default 0: no limit)");
  cmd->add_option("--report-seconds", o->report_seconds,
                  "How often to print what moved, per provider (default 60; 0: only at exit)");
  cmd->add_option("--max-providers", o->max_providers, "Providers served at once (default 10000)");
  cmd->callback([o] { run_relay(*o); });
}

}  // namespace ipsx::cli
