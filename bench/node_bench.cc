// The node's figures:
// - api.orders_per_s: signed offers placed over HTTP (POST /v1/orders, kept-alive connections,
//   4 clients), each verified, journalled and put in the book by the node; signatures made
//   beforehand. api.orders_per_s_unjournalled: the same without the journal (nothing durable: a
//   measurement of where the time goes, not a way to run).
// - deal.first_byte_p50_ms / _p99_ms: from a client's request to a gateway that holds no lease
//   to the first byte of the answer through the newly matched deal: the gateway signs and places
//   a request at the node, the deal opens on the embedded ledger, the gateway reads the deal and
//   the exit's announcement, opens the pair channel (TLS 1.3, wallet signatures), and the exit
//   connects to the destination from 127.0.0.2. A fresh gateway per sample, so every sample
//   orders a new lease.
// - api.p99_ms_under_slowloris: the 99th percentile of a health check and an order placement from
//   127.0.0.1 (each on a new connection, taken in turn for 10 s) while 10,000 slowloris clients
//   from 50 other addresses hold connections open (slowloris.h); api.p99_ms_idle the same without
//   them, api.slowloris_connections how many the attackers held, and the node's memory before,
//   under and 5 s after an attack with nothing else going on, and after a second one
//   (api.rss_mb_*: the probes' orders stay in the book, so they are measured apart).
// Node, exit, gateway and destination run in this process on their own threads over loopback.
//   ipsx-bench-node --results build/bench/results.json [--orders N] [--leases N]
//                   [--slowloris N] [--orders-only] [--clients N] [--smoke]
// (--clients: the batched placements' clients, 4 by default; api.orders_per_s_batched_16_clients
// is measured with 16 whatever it says.)
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/live_node.h"
#include "bench_main.h"
#include "client/node_client.h"
#include "client/signer.h"
#include "core/keccak.h"
#include "ledger/test_util.h"
#include "net/base64.h"
#include "net/dataplane_test_util.h"
#include "sdk/dataplane.h"
#include "slowloris.h"

namespace ipsx::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

crypto::PrivateKey key(const std::string& name) {
  return ledger::testing::named_key(name);
}

uint64_t now_s() {
  return static_cast<uint64_t>(to_unix_seconds(SystemClock().now()));
}

// A node on the embedded ledger as `ipsx node` runs it (every accepted order journalled before it
// is answered, the periodic tick), serving on a loopback port from its own thread, without rate
// limits; its requester can pay for a million tokens' worth of deals.
class Node {
 public:
  explicit Node(bool journal = true) : live_(clock_, options(journal)) {}
  const std::string& url() const { return live_.url(); }
  Address market() { return live_.market().address(); }
  Hash domain() { return live_.ledger().domain().separator(); }

 private:
  static api::testing::LiveNodeOptions options(bool journal) {
    api::testing::LiveNodeOptions o;
    o.requester_funds = Amount::from_tokens(1'000'000).value();
    o.journal = journal;
    o.unlimited = true;
    o.tick = true;
    o.background = true;
    o.verify_threads = 0;
    return o;
  }
  SystemClock clock_;
  api::testing::LiveNode live_;
};

Offer offer_for(Node& node, const std::string& ip, uint32_t capacity, uint64_t nonce) {
  Offer o;
  o.ip = parse_ip(ip).value();
  o.country = parse_country("DE").value();
  o.protocols = protocol::http | protocol::https_connect;
  o.scopes = scope::crawling;
  o.capacity = capacity;
  o.min_duration = 5;
  o.max_duration = 3600;
  o.price_per_second = U256(10);
  o.market = node.market();
  o.expiry = now_s() + 3600;
  o.nonce = nonce;
  return o;
}

// Signed offers placed by `clients` clients, each on its own kept-alive connection, `batch` in
// each request (1: one order per request; more: {"orders": [...]}).
double orders_per_s(Node& node, size_t count, size_t batch = 1, size_t clients = 4) {
  sdk::Signer provider(key("orders-provider"), node.domain());
  std::vector<json> orders;
  for (size_t i = 0; i < count; ++i) {
    auto ip = fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    orders.push_back(provider.offer(offer_for(node, ip, 1, 1'000'000 + i)).value());
  }
  std::vector<std::string> bodies;
  for (size_t i = 0; i < count; i += batch) {
    if (batch == 1) {
      bodies.push_back(orders[i].dump());
      continue;
    }
    json list = json::array();
    for (size_t k = i; k < std::min(count, i + batch); ++k) list.push_back(orders[k]);
    bodies.push_back(json{{"orders", list}}.dump());
  }
  std::vector<std::thread> threads;
  std::atomic<size_t> next{0}, failed{0};
  auto t0 = Clock::now();
  for (size_t c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto client = sdk::NodeClient::connect(node.url()).value();
      for (size_t i = next++; i < bodies.size(); i = next++) {
        auto r = client->call("POST", "/v1/orders", bodies[i]);
        if (!r) {
          failed += batch == 1 ? 1 : json::parse(bodies[i])["orders"].size();
        } else if (batch > 1) {
          for (const json& one : (*r)["results"]) failed += one.value("status", 0) != 201;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) std::cerr << failed << " placements failed\n";
  return static_cast<double>(count - failed) / seconds;
}

// Milliseconds from the request to a lease-less gateway to the answer's first byte.
std::vector<double> first_bytes(Node& node, size_t samples) {
  net::testing::EchoServer echo;
  auto client = sdk::NodeClient::connect(node.url()).value();
  sdk::Signer provider(key("provider"), node.domain());
  client->place_order(provider.offer(offer_for(node, "127.0.0.2", 100'000, 1)).value()).value();
  sdk::NodeDeals deals(node.url(), provider.address(), provider.domain_separator(),
                       {parse_ip("127.0.0.2").value()});
  net::ExitConfig ec;
  ec.policy.allow.push_back(parse_prefix("127.0.0.0/8").value());
  SystemClock clock;
  net::testing::IoThread exit_io;
  crypto::PrivateKey provider_key = key("provider");
  net::Exit exit(exit_io.io(), ec, deals, provider_key, clock);
  exit.start().value();
  sdk::announce_exit(*client, provider, fmt::format("127.0.0.1:{}", exit.pair_port()),
                     now_s() + 3600, 1)
      .value();

  sdk::Signer requester(key("requester"), node.domain());
  sdk::LeasePolicy policy;
  policy.duration_seconds = 5;
  policy.max_price_per_second = U256(10);
  policy.protocols = protocol::http;
  policy.scope = scope::crawling;
  policy.market = node.market();
  // The gateways' io_context outlives the leases: the leases' worker thread posts its answers to
  // it, and must be stopped (leases destroyed) before the context goes.
  net::testing::IoThread gateway_io;
  sdk::NodeLeases leases(node.url(), requester, policy);
  const std::string request = fmt::format(
      "GET http://127.0.0.1:{}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Proxy-Authorization: Basic {}\r\nConnection: close\r\n\r\n",
      echo.port(), net::base64_encode("country-de:pw"));
  std::vector<double> ms;
  for (size_t i = 0; i < samples; ++i) {
    net::GatewayConfig gc;
    gc.password = "pw";
    net::Gateway gateway(gateway_io.io(), gc, key("requester"), &leases, clock);
    gateway.start().value();
    net::asio::io_context io;
    net::tcp::socket s(io);
    auto t0 = Clock::now();
    s.connect({net::asio::ip::make_address("127.0.0.1"), gateway.port()});
    net::asio::write(s, net::asio::buffer(request));
    char byte;
    boost::system::error_code e;
    size_t got = s.read_some(net::asio::buffer(&byte, 1), e);
    double took = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::string rest;
    if (got == 1) {
      rest.push_back(byte);
      char buf[4096];
      while (size_t n = s.read_some(net::asio::buffer(buf), e)) rest.append(buf, n);
    }
    if (rest.find("127.0.0.2") == std::string::npos) {
      std::cerr << "sample " << i << ": unexpected answer: " << rest.substr(0, 200) << "\n";
      gateway.stop();
      continue;
    }
    ms.push_back(took);
    gateway.stop();
  }
  exit.stop();
  return ms;
}

// Milliseconds of each request from 127.0.0.1, a health check and an order placement in turn, each
// on a new connection, for `seconds`. Failed requests count as the time they took.
std::vector<double> probe_ms(Node& node, double seconds, uint64_t& nonce) {
  sdk::Signer provider(key("probe-provider"), node.domain());
  std::vector<double> ms;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (size_t i = 0; Clock::now() < end; ++i) {
    std::string body;
    if (i % 2) {
      ++nonce;
      auto ip = fmt::format("10.200.{}.{}", (nonce >> 8) & 255, nonce & 255);
      body = provider.offer(offer_for(node, ip, 1, nonce)).value().dump();
    }
    auto t0 = Clock::now();
    auto client = sdk::NodeClient::connect(node.url()).value();
    bool ok = i % 2 ? static_cast<bool>(client->call("POST", "/v1/orders", body))
                    : static_cast<bool>(client->health());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!ok) std::cerr << "a probe request failed\n";
  }
  return ms;
}

double rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("VmRSS:")) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double percentile(std::vector<double> v, double p);

// The node's answers to others while `attackers` slowloris connections are held open.
void slowloris_figures(size_t attackers, double probe_s, std::map<std::string, double>& fig) {
  // The server notices the attackers gone within a second and trims within the next.
  const auto settle = std::chrono::milliseconds(probe_s < 5 ? 2'500 : 5'000);
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0) {  // a server's descriptors, as ipsx's
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  Node node;
  uint64_t nonce = 5'000'000;
  const uint16_t port =
      static_cast<uint16_t>(std::stoi(node.url().substr(node.url().rfind(':') + 1)));
  fig["api.p99_ms_idle"] = percentile(probe_ms(node, probe_s / 2, nonce), 0.99);
  // The memory the connections take and give back: an attack with nothing else going on (the
  // probes' orders would stay in the book and count too).
  fig["api.rss_mb_before_slowloris"] = rss_mb();
  {
    Slowloris attack(port, attackers, 50, 60);
    attack.wait_open(attackers, 30);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // every one accepted and read
    fig["api.rss_mb_under_slowloris"] = rss_mb();
  }
  std::this_thread::sleep_for(settle);
  fig["api.rss_mb_after_slowloris"] = rss_mb();
  // A second burst: memory the first left with the allocator is reused, not added to.
  {
    Slowloris again(port, attackers, 50, 60);
    again.wait_open(attackers, 30);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::this_thread::sleep_for(settle);
  fig["api.rss_mb_after_second_slowloris"] = rss_mb();
  // Then the answers to others while the attackers hold their connections.
  Slowloris attack(port, attackers, 50, 60);
  fig["api.slowloris_connections"] = static_cast<double>(attack.wait_open(attackers, 30));
  fig["api.p99_ms_under_slowloris"] = percentile(probe_ms(node, probe_s, nonce), 0.99);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int bench_main(int argc, char** argv) {
  std::string results;
  size_t orders = 5'000, samples = 200, attackers = 10'000, clients = 4;
  double probe_s = 10;
  bool orders_only = false;
  if (argc == 6 && std::string(argv[1]) == "--slowloris-client")
    return slowloris_client(static_cast<uint16_t>(std::stoul(argv[2])), std::stoul(argv[3]),
                            std::stoul(argv[4]), std::stod(argv[5]));
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc) {
      results = argv[++i];
    } else if (a == "--orders" && i + 1 < argc) {
      orders = std::stoul(argv[++i]);
    } else if (a == "--clients" && i + 1 < argc) {
      clients = std::stoul(argv[++i]);
    } else if (a == "--leases" && i + 1 < argc) {
      samples = std::stoul(argv[++i]);
    } else if (a == "--slowloris" && i + 1 < argc) {
      attackers = std::stoul(argv[++i]);
    } else if (a == "--orders-only") {
      orders_only = true;
    } else if (a == "--smoke") {
      orders = 20;
      samples = 3;
      attackers = 100;
      probe_s = 1;
    } else {
      std::cerr << "usage: ipsx-bench-node [--results FILE] [--orders N] [--leases N] "
                   "[--slowloris N] [--orders-only] [--clients N] [--smoke]\n";
      return 2;
    }
  }
  std::map<std::string, double> fig;
  {
    Node node;
    fig["api.orders_per_s"] = orders_per_s(node, orders);
  }
  {
    // The same offers 100 to a request ({"orders": [...]}), each request answered once its
    // orders are durable.
    Node node;
    fig["api.orders_per_s_batched"] = orders_per_s(node, orders * 4, 100, clients);
  }
  {
    // The same with 16 clients: the node's rate when the offered load saturates it (4 clients
    // leave the workers idle while their answers travel; 8 and 16 give the same rate).
    Node node;
    fig["api.orders_per_s_batched_16_clients"] = orders_per_s(node, orders * 4, 100, 16);
  }
  {
    // Where the time goes: the same placements with no journal (nothing made durable), which
    // `ipsx node` never runs; the difference is the sync per placement (docs/performance.md).
    Node node(false);
    fig["api.orders_per_s_unjournalled"] = orders_per_s(node, orders);
  }
  if (!orders_only) {
    Node node;
    auto ms = first_bytes(node, samples);
    if (ms.size() < samples) {
      std::cerr << "only " << ms.size() << " of " << samples << " leases worked\n";
      return 1;
    }
    fig["deal.first_byte_p50_ms"] = percentile(ms, 0.50);
    fig["deal.first_byte_p99_ms"] = percentile(ms, 0.99);
  }
  if (!orders_only) slowloris_figures(attackers, probe_s, fig);
  for (const auto& [k, v] : fig) std::cout << fmt::format("{:<28} {:.3f}\n", k, v);
  if (!results.empty()) merge_results(results, fig);
  return 0;
}

}  // namespace
}  // namespace ipsx::bench

int main(int argc, char** argv) {
  return ipsx::bench::bench_main(argc, argv);
}
