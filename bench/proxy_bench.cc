// The data plane under load on loopback, against Debian's own proxies under the same load:
// requests per second for 1 KiB responses (a new connection per request, as crawlers through
// SOCKS5 do), throughput for 1 MiB bodies, memory per idle proxied connection and how many
// concurrent connections the gateway and exit hold.
//
// Our exit and our gateway each run in a child process (this program with --serve-exit and
// --serve-gateway), like dante, microsocks and tinyproxy run in theirs, and so does the
// destination (--serve-echo); the load generator runs here. The
// figures go into --results (merged into the flat JSON object of `make bench`).
//
//   ipsx-bench-proxy --results build/bench/results.json [--seconds 3] [--idle 10000] [--smoke]
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.h"
#include "net/dataplane_test_util.h"
#include "net/socks5.h"

extern char** environ;

namespace ipsx::bench {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using net::awaitable;
using net::tcp;
using net::use_ec;
using Steady = std::chrono::steady_clock;

constexpr const char* kPassword = "bench-pass";

// Ask for 65,536 descriptors (a privileged process may raise the hard limit), else take the
// hard limit.
void raise_fd_limit() {
  rlimit want{65'536, 65'536};
  if (setrlimit(RLIMIT_NOFILE, &want) == 0) return;
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool wait_listening(uint16_t port, std::chrono::milliseconds limit = 5s) {
  auto end = Steady::now() + limit;
  while (Steady::now() < end) {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (!ec) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

uint64_t rss_bytes(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// ---- A child process ------------------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  int in = -1;   // its stdin (write end)
  int out = -1;  // its stdout (read end)

  static std::optional<Child> spawn(const std::vector<std::string>& argv, bool pipes) {
    int to[2], from[2];
    if (pipes && (pipe(to) != 0 || pipe(from) != 0)) return std::nullopt;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (pipes) {
      posix_spawn_file_actions_adddup2(&fa, to[0], 0);
      posix_spawn_file_actions_adddup2(&fa, from[1], 1);
      posix_spawn_file_actions_addclose(&fa, to[1]);
      posix_spawn_file_actions_addclose(&fa, from[0]);
    } else {
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    Child c;
    int rc = posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return std::nullopt;
    if (pipes) {
      close(to[0]);
      close(from[1]);
      c.in = to[1];
      c.out = from[0];
    }
    return c;
  }

  std::string read_line() {
    std::string line;
    char ch;
    while (::read(out, &ch, 1) == 1 && ch != '\n') line += ch;
    return line;
  }

  void stop() {
    if (pid <= 0) return;
    if (in >= 0) close(in);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    if (out >= 0) close(out);
    pid = -1;
  }
};

// ---- The load ---------------------------------------------------------------------------------

enum class Via { direct, socks, http_forward };

struct Target {
  Via via = Via::direct;
  uint16_t port = 0;  // the proxy's (or, direct, the destination's)
  std::string user, pass;
};

struct Load {
  uint64_t requests = 0;
  uint64_t bytes = 0;
  uint64_t failures = 0;
};

awaitable<bool> read_exact(tcp::socket& s, uint8_t* p, size_t n) {
  boost::system::error_code ec;
  co_await asio::async_read(s, asio::buffer(p, n), use_ec(ec));
  co_return !ec;
}

awaitable<bool> write_all(tcp::socket& s, ByteView b) {
  boost::system::error_code ec;
  co_await asio::async_write(s, asio::buffer(b.data(), b.size()), use_ec(ec));
  co_return !ec;
}

int last_socks_reply = 0;  // the REP of the last refused CONNECT, for the report

// SOCKS5 CONNECT to 127.0.0.1:dest_port through an open connection to the proxy.
awaitable<bool> socks_connect(tcp::socket& s, const Target& t, uint16_t dest_port) {
  bool auth = !t.user.empty();
  Bytes greet = *net::write_greeting(net::Socks5Greeting{
      {auth ? net::socks5_method::username_password : net::socks5_method::no_auth}});
  uint8_t two[2];
  if (!co_await write_all(s, greet) || !co_await read_exact(s, two, 2)) co_return false;
  if (auth) {
    Bytes up = *net::write_userpass(net::Socks5UserPass{t.user, t.pass});
    if (!co_await write_all(s, up) || !co_await read_exact(s, two, 2) || two[1] != 0)
      co_return false;
  }
  Bytes req = *net::write_request(net::Socks5Request{
      net::Socks5Command::connect, net::Endpoint{net::Ipv4{127, 0, 0, 1}, dest_port}});
  uint8_t head[4];
  if (!co_await write_all(s, req) || !co_await read_exact(s, head, 4)) co_return false;
  if (head[1] != 0) {
    last_socks_reply = head[1];
    co_return false;
  }
  size_t rest = head[3] == 1 ? 6 : head[3] == 4 ? 18 : 0;
  if (head[3] == 3) {
    uint8_t len;
    if (!co_await read_exact(s, &len, 1)) co_return false;
    rest = size_t{len} + 2;
  }
  std::vector<uint8_t> skip(rest);
  co_return co_await read_exact(s, skip.data(), rest);
}

// One request on a new connection: connect, (SOCKS5 handshake), GET, read to EOF.
awaitable<std::optional<size_t>> one_request(const Target& t, uint16_t dest_port,
                                             const std::string& path, std::vector<uint8_t>& buf) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), t.port);
  co_await s.async_connect(ep, use_ec(ec));
  if (ec) co_return std::nullopt;
  s.set_option(tcp::no_delay(true), ec);
  if (t.via == Via::socks && !co_await socks_connect(s, t, dest_port)) co_return std::nullopt;
  std::string req =
      t.via == Via::http_forward
          ? fmt::format(
                "GET http://127.0.0.1:{}{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
                "Connection: close\r\n\r\n",
                dest_port, path, dest_port)
          : fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  if (!co_await write_all(s, as_bytes(req))) co_return std::nullopt;
  size_t total = 0;
  bool ok_status = false;
  for (;;) {
    size_t n = co_await s.async_read_some(asio::buffer(buf), use_ec(ec));
    if (total == 0 && n >= 12)
      ok_status = std::string_view(reinterpret_cast<char*>(buf.data()), 12) == "HTTP/1.1 200" ||
                  std::string_view(reinterpret_cast<char*>(buf.data()), 12) == "HTTP/1.0 200";
    total += n;
    if (ec) break;
  }
  if (ec != asio::error::eof || !ok_status) co_return std::nullopt;
  co_return total;
}

Load run_load(const Target& t, uint16_t dest_port, const std::string& path, int concurrency,
              std::chrono::milliseconds duration) {
  asio::io_context io;
  Load load;
  auto end = Steady::now() + duration;
  for (int i = 0; i < concurrency; ++i)
    asio::co_spawn(
        io,
        [&, end]() -> awaitable<void> {
          std::vector<uint8_t> buf(64 * 1024);
          while (Steady::now() < end) {
            auto r = co_await one_request(t, dest_port, path, buf);
            if (Steady::now() > end) break;  // only what finished inside the window counts
            if (r) {
              ++load.requests;
              load.bytes += *r;
            } else {
              ++load.failures;
            }
          }
        },
        asio::detached);
  io.run_for(duration + 10s);
  return load;
}

// Opens `n` SOCKS5 tunnels through the proxy and leaves them idle; returns how many are open
// after `settle` (a peer that closed one makes it readable: EOF).
struct Idle {
  size_t opened = 0;
  size_t held = 0;
};
std::map<std::string, size_t> failures;  // why idle tunnels did not open
Idle hold_idle(const Target& t, uint16_t dest_port, size_t n, std::vector<tcp::socket>& keep,
               asio::io_context& io) {
  size_t in_flight_limit = 256, started = 0, done = 0;
  std::function<void()> start_one;
  start_one = [&] {
    if (started >= n) return;
    ++started;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          tcp::socket s(io);
          boost::system::error_code ec;
          co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), t.port),
                                   use_ec(ec));
          if (ec) {
            ++failures[std::string("connect: ") + ec.message()];
          } else if (co_await socks_connect(s, t, dest_port)) {
            keep.push_back(std::move(s));
          } else {
            ++failures[last_socks_reply ? fmt::format("SOCKS5 reply {}", last_socks_reply)
                                        : std::string("socks handshake")];
            last_socks_reply = 0;
          }
          ++done;
          start_one();
        },
        asio::detached);
  };
  for (size_t i = 0; i < in_flight_limit; ++i) start_one();
  while (done < n) io.run_for(100ms);
  Idle r;
  r.opened = keep.size();
  std::this_thread::sleep_for(1s);
  std::vector<pollfd> fds;
  for (auto& s : keep) fds.push_back({s.native_handle(), POLLIN | POLLRDHUP, 0});
  poll(fds.data(), fds.size(), 0);
  for (auto& p : fds)
    if (p.revents == 0) ++r.held;
  return r;
}

// ---- The children ----------------------------------------------------------------

// The deal both children serve: the same keys, id and times on both sides.
struct DealArgs {
  std::string provider_key, requester_key, deal_id;
  uint64_t start = 0;
  uint16_t exit_port = 0;
};

net::testing::TestDeal deal_of(const DealArgs& a) {
  auto provider = *crypto::PrivateKey::from_hex(a.provider_key);
  auto requester = *crypto::PrivateKey::from_hex(a.requester_key);
  auto d = net::testing::make_deal(provider, requester, "127.0.0.2", "DE", a.exit_port, a.start,
                                   86'400, 1);
  d.exit.id = d.lease.deal_id = *Hash::from_hex(a.deal_id);
  return d;
}

void wait_for_stdin_eof() {
  char ch;
  while (::read(0, &ch, 1) > 0) {
  }
}

// Each part runs in its own process, as it would in use: 10,000 proxied connections are 10,000
// descriptors in each, under a per-process limit we may not raise.
int serve_echo() {
  raise_fd_limit();
  net::testing::EchoServer echo;
  std::cout << fmt::format("READY {}", echo.port()) << std::endl;
  wait_for_stdin_eof();
  return 0;
}

int serve_exit(DealArgs a) {
  raise_fd_limit();
  SystemClock clock;
  auto provider = *crypto::PrivateKey::from_hex(a.provider_key);
  net::testing::StaticDeals deals;
  net::testing::IoThread io;
  net::ExitConfig ec;
  ec.proxy_listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  ec.policy.allow.push_back(*net::parse_cidr("127.0.0.0/8"));
  ec.max_connections = 60'000;
  ec.max_streams_per_channel = 30'000;
  net::Exit exit(io.io(), ec, deals, provider, clock);
  if (!exit.start()) return 1;
  a.exit_port = exit.pair_port();
  deals.add(deal_of(a).exit);
  std::cout << fmt::format("READY {} {}", exit.pair_port(), exit.proxy_port()) << std::endl;
  wait_for_stdin_eof();
  exit.stop();
  return 0;
}

int serve_gateway(const DealArgs& a, uint16_t echo_port) {
  raise_fd_limit();
  SystemClock clock;
  auto requester = *crypto::PrivateKey::from_hex(a.requester_key);
  net::testing::IoThread io;
  net::GatewayConfig gc;
  gc.password = kPassword;
  gc.max_clients = 60'000;
  net::Gateway gateway(io.io(), gc, requester.clone(), nullptr, clock);
  if (!gateway.start()) return 1;
  auto d = deal_of(a);
  gateway.add_lease(d.lease);
  // One request pairs the gateway with the exit, which hands over the front's credentials.
  Target warm{Via::socks, gateway.port(), "country-de", kPassword};
  std::vector<uint8_t> buf(64 * 1024);
  asio::io_context client;
  bool ok = false;
  asio::co_spawn(
      client,
      [&]() -> awaitable<void> {
        ok = (co_await one_request(warm, echo_port, "/", buf)).has_value();
      },
      asio::detached);
  client.run();
  auto stats = gateway.stats(d.lease.deal_id);
  if (!ok || stats.proxy_username.empty()) return 1;
  std::cout << fmt::format("READY {} {} {}", gateway.port(), stats.proxy_username,
                           stats.proxy_password)
            << std::endl;
  wait_for_stdin_eof();
  gateway.stop();
  return 0;
}

// ---- Peers ------------------------------------------------------------------------------------

struct Peer {
  std::string name;
  Child child;
  Target target;
};

std::optional<Peer> start_dante(const std::string& dir) {
  if (!std::filesystem::exists("/usr/sbin/danted")) return std::nullopt;
  uint16_t port = free_port();
  std::string conf = dir + "/danted.conf";
  std::ofstream(conf) << fmt::format(
      "logoutput: /dev/null\n"
      "internal: 127.0.0.1 port = {}\n"
      "external: 127.0.0.2\n"
      "socksmethod: none\n"
      "clientmethod: none\n"
      "user.privileged: root\n"
      "user.unprivileged: nobody\n"
      "client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n"
      "socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }}\n",
      port);
  auto c = Child::spawn({"/usr/sbin/danted", "-f", conf, "-p", dir + "/danted.pid"}, false);
  if (!c || !wait_listening(port)) return std::nullopt;
  return Peer{"dante", *c, Target{Via::socks, port, "", ""}};
}

std::optional<Peer> start_microsocks() {
  if (!std::filesystem::exists("/usr/bin/microsocks")) return std::nullopt;
  uint16_t port = free_port();
  auto c = Child::spawn({"/usr/bin/microsocks", "-i", "127.0.0.1", "-p", std::to_string(port), "-b",
                         "127.0.0.2", "-u", "bench", "-P", kPassword},
                        false);
  if (!c || !wait_listening(port)) return std::nullopt;
  return Peer{"microsocks", *c, Target{Via::socks, port, "bench", kPassword}};
}

std::optional<Peer> start_tinyproxy(const std::string& dir) {
  if (!std::filesystem::exists("/usr/bin/tinyproxy")) return std::nullopt;
  uint16_t port = free_port();
  std::string conf = dir + "/tinyproxy.conf";
  std::ofstream(conf) << fmt::format(
      "Port {}\nListen 127.0.0.1\nBind 127.0.0.2\nTimeout 60\nMaxClients 1024\n"
      "Allow 127.0.0.0/8\nDisableViaHeader Yes\nLogLevel Critical\nUser nobody\nGroup nogroup\n",
      port);
  auto c = Child::spawn({"/usr/bin/tinyproxy", "-d", "-c", conf}, false);
  if (!c || !wait_listening(port)) return std::nullopt;
  return Peer{"tinyproxy", *c, Target{Via::http_forward, port, "", ""}};
}

// ---- Main ---------------------------------------------------------------------------------

int bench_main(int argc, char** argv) {
  std::string results;
  bool smoke = false;
  double seconds = 3;
  size_t idle = 10'000;
  bool idle_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc)
      results = argv[++i];
    else if (a == "--smoke")
      smoke = true;
    else if (a == "--seconds" && i + 1 < argc)
      seconds = std::stod(argv[++i]);
    else if (a == "--idle" && i + 1 < argc)
      idle = std::stoul(argv[++i]);
    else if (a == "--idle-only")
      idle_only = true;
    else {
      std::cerr
          << "usage: ipsx-bench-proxy [--results FILE] [--seconds S] [--idle N] [--idle-only] "
             "[--smoke]\n";
      return 2;
    }
  }
  if (smoke) {
    seconds = 0.3;
    idle = 50;
  }
  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);
  auto window = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::string dir =
      std::filesystem::temp_directory_path() / fmt::format("ipsx-bench-proxy-{}", getpid());
  std::filesystem::create_directories(dir);
  auto fail_start = [](const std::string& what, const std::string& line) {
    std::cerr << "cannot start the " << what << " process: '" << line << "'\n";
    return 1;
  };
  std::string self = "/proc/self/exe";
  auto echo = Child::spawn({self, "--serve-echo"}, true);
  if (!echo) return fail_start("echo", "");
  unsigned echo_port = 0;
  std::string line = echo->read_line();
  if (std::sscanf(line.c_str(), "READY %u", &echo_port) != 1) return fail_start("echo", line);
  uint16_t dest = static_cast<uint16_t>(echo_port);

  auto provider = *crypto::PrivateKey::generate();
  auto requester = *crypto::PrivateKey::generate();
  Hash deal_id;
  deal_id.bytes()[0] = 0x1d;
  deal_id.bytes()[31] = static_cast<uint8_t>(getpid());
  uint64_t start = static_cast<uint64_t>(to_unix_seconds(SystemClock().now())) - 1;
  std::string pk = to_hex(provider.secret(), false), rk = to_hex(requester.secret(), false);
  auto exit_proc =
      Child::spawn({self, "--serve-exit", pk, rk, deal_id.hex(), std::to_string(start)}, true);
  if (!exit_proc) return fail_start("exit", "");
  unsigned pair_port = 0, front_port = 0;
  line = exit_proc->read_line();
  if (std::sscanf(line.c_str(), "READY %u %u", &pair_port, &front_port) != 2)
    return fail_start("exit", line);
  auto gw_proc =
      Child::spawn({self, "--serve-gateway", pk, rk, deal_id.hex(), std::to_string(start),
                    std::to_string(pair_port), std::to_string(dest)},
                   true);
  if (!gw_proc) return fail_start("gateway", "");
  unsigned gw_port = 0;
  char user[128] = {}, pass[128] = {};
  line = gw_proc->read_line();
  if (std::sscanf(line.c_str(), "READY %u %127s %127s", &gw_port, user, pass) != 3)
    return fail_start("gateway", line);
  Target direct{Via::direct, dest, "", ""};
  Target chain_t{Via::socks, static_cast<uint16_t>(gw_port), "country-de", kPassword};
  Target exit_t{Via::socks, static_cast<uint16_t>(front_port), user, pass};

  std::map<std::string, double> fig;
  auto rps = [&](const std::string& name, const Target& t) {
    Load l = run_load(t, dest, "/bytes/1024", 32, window);
    double v = static_cast<double>(l.requests) / seconds;
    std::cout << fmt::format("{:<22} {:>10.0f} req/s  ({} failed)\n", name, v, l.failures);
    if (l.requests > 0) fig[name] = v;
  };
  auto mbps = [&](const std::string& name, const Target& t) {
    Load l = run_load(t, dest, "/bytes/1048576", 4, window);
    double v = static_cast<double>(l.bytes) * 8 / 1e6 / seconds;
    std::cout << fmt::format("{:<22} {:>10.0f} Mbit/s ({} failed)\n", name, v, l.failures);
    if (l.requests > 0) fig[name] = v;
  };

  if (idle_only) window = std::chrono::milliseconds(0);
  rps("proxy.rps_direct", direct);
  rps("proxy.rps_exit", exit_t);
  rps("proxy.rps_chain", chain_t);
  std::vector<Peer> peers;
  if (auto p = start_dante(dir)) peers.push_back(*p);
  if (auto p = start_microsocks()) peers.push_back(*p);
  if (auto p = start_tinyproxy(dir)) peers.push_back(*p);
  for (auto& p : peers) {
    rps("proxy.rps_" + p.name, p.target);
    p.child.stop();
  }
  mbps("proxy.mbps_direct", direct);
  mbps("proxy.mbps_chain", chain_t);

  {
    asio::io_context io;
    std::vector<tcp::socket> keep;
    std::this_thread::sleep_for(500ms);
    uint64_t before = rss_bytes(gw_proc->pid) + rss_bytes(exit_proc->pid);
    Idle r = hold_idle(chain_t, dest, idle, keep, io);
    uint64_t after = rss_bytes(gw_proc->pid) + rss_bytes(exit_proc->pid);
    std::cout << fmt::format(
        "idle tunnels: {} opened, {} held; gateway + exit RSS {} -> {} bytes\n", r.opened, r.held,
        before, after);
    for (auto& [why, n] : failures) std::cout << fmt::format("  not opened: {} x {}\n", n, why);
    if (r.held > 0) {
      fig["proxy.conns_held"] = static_cast<double>(r.held);
      fig["proxy.bytes_per_idle_conn"] =
          static_cast<double>(after > before ? after - before : 0) / static_cast<double>(r.held);
    }
    keep.clear();
  }
  gw_proc->stop();
  exit_proc->stop();
  echo->stop();

  auto ratio = [&](const std::string& name, const std::string& a, const std::string& b) {
    if (fig.contains(a) && fig.contains(b) && fig[b] > 0) fig[name] = fig[a] / fig[b];
  };
  ratio("proxy.chain_vs_direct_rps", "proxy.rps_chain", "proxy.rps_direct");
  ratio("proxy.chain_vs_direct_mbps", "proxy.mbps_chain", "proxy.mbps_direct");
  ratio("proxy.exit_vs_dante", "proxy.rps_exit", "proxy.rps_dante");
  ratio("proxy.exit_vs_microsocks", "proxy.rps_exit", "proxy.rps_microsocks");
  ratio("proxy.exit_vs_tinyproxy", "proxy.rps_exit", "proxy.rps_tinyproxy");
  for (auto& [k, v] : fig) std::cout << fmt::format("{} = {:.3f}\n", k, v);
  if (!results.empty()) merge_results(results, fig);
  std::filesystem::remove_all(dir);
  bool complete = fig.contains("proxy.rps_exit") && fig.contains("proxy.rps_chain") &&
                  fig.contains("proxy.mbps_chain");
  return complete ? 0 : 1;
}

}  // namespace
}  // namespace ipsx::bench

int main(int argc, char** argv) {
  using namespace ipsx::bench;
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--serve-echo") return serve_echo();
  if (mode == "--serve-exit" && argc == 6)
    return serve_exit(DealArgs{argv[2], argv[3], argv[4], std::stoull(argv[5]), 0});
  if (mode == "--serve-gateway" && argc == 8)
    return serve_gateway(DealArgs{argv[2], argv[3], argv[4], std::stoull(argv[5]),
                                  static_cast<uint16_t>(std::stoul(argv[6]))},
                         static_cast<uint16_t>(std::stoul(argv[7])));
  return bench_main(argc, argv);
}
