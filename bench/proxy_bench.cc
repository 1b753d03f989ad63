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
// Each figure is the median of --rounds rounds, every target once per round.
//
//   ipsx-bench-proxy --results build/bench/results.json [--seconds 3] [--rounds 3]
//                    [--idle 10000] [--smoke]
//   ipsx-bench-proxy --scale-conns 1000,10000,50000 [--results F]   (`make bench-scale`: see
//                    scale_connections)
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.h"
#include "net/base64.h"
#include "net/dataplane_test_util.h"
#include "net/memory_trim.h"
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
  for (rlim_t n : {rlim_t{262'144}, rlim_t{65'536}}) {
    rlimit want{n, n};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) return;
  }
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

// User + system CPU time a process has used so far, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)  // fields 14 and 15: utime, stime
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
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
  std::string auth =
      t.via == Via::http_forward && !t.user.empty()
          ? "Proxy-Authorization: Basic " + net::base64_encode(t.user + ":" + t.pass) + "\r\n"
          : "";
  std::string req =
      t.via == Via::http_forward
          ? fmt::format(
                "GET http://127.0.0.1:{}{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}"
                "Connection: close\r\n\r\n",
                dest_port, path, dest_port, auth)
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
// The i-th tunnel's client address to bind ("" for any) and destination port: past ~28,000
// connections from one address to one port the ephemeral ports run out, so a larger run spreads
// its tunnels over several of each.
using Spread = std::function<std::pair<std::string, uint16_t>(size_t)>;
Idle hold_idle(const Target& t, const Spread& spread, size_t n, std::vector<tcp::socket>& keep,
               asio::io_context& io) {
  size_t in_flight_limit = 256, started = 0, done = 0;
  std::function<void()> start_one;
  start_one = [&] {
    if (started >= n) return;
    auto [source, dest_port] = spread(started++);
    asio::co_spawn(
        io,
        [&, source, dest_port]() -> awaitable<void> {
          tcp::socket s(io);
          boost::system::error_code ec;
          if (!source.empty()) {
            s.open(tcp::v4(), ec);
            if (!ec) s.bind(tcp::endpoint(asio::ip::make_address(source), 0), ec);
          }
          if (!ec)
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
  net::MemoryTrimmer trimmer;  // as `ipsx provide` runs one
  SystemClock clock;
  auto provider = *crypto::PrivateKey::from_hex(a.provider_key);
  net::testing::StaticDeals deals;
  net::testing::IoThread io;
  net::ExitConfig ec;
  ec.proxy_listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  ec.policy.allow.push_back(*parse_prefix("127.0.0.0/8"));
  ec.max_connections = 60'000;
  ec.max_streams_per_channel = 60'000;
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
  net::MemoryTrimmer trimmer;  // as `ipsx gateway` runs one
  SystemClock clock;
  auto requester = *crypto::PrivateKey::from_hex(a.requester_key);
  net::testing::IoThread io;
  net::GatewayConfig gc;
  gc.password = kPassword;
  gc.max_clients = 60'000;
  gc.max_streams_per_channel = 60'000;  // the scale curve's 50,000 tunnels share one deal
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

// ---- The bare relay: the floor of any two-hop design --------------------------------------
//
// A relay that does nothing but accept, connect to the next hop and copy bytes both ways: one
// thread, edge-triggered epoll, non-blocking sockets, no protocol, no authentication, no
// encryption, no metering. Two in a row (client -> relay -> relay -> destination) make the
// system calls and TCP connections that any gateway + exit pair must make per request at the
// least, so their figures against direct bound what any two-process chain reaches on this
// machine.
class BareRelay {
 public:
  explicit BareRelay(uint16_t next_port) : next_port_(next_port) {}

  // Listens on 127.0.0.1 (any port); the port, or 0.
  uint16_t listen() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(0);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 4096) != 0)
      return 0;
    socklen_t len = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{EPOLLIN, {.ptr = nullptr}};
    epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    return ntohs(a.sin_port);
  }

  [[noreturn]] void run() {
    std::vector<epoll_event> events(256);
    for (;;) {
      int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      for (int i = 0; i < n; ++i) {
        auto* side = static_cast<Side*>(events[i].data.ptr);
        if (side == nullptr)
          accept_all();
        else if (!side->conn->dead)
          serve(*side->conn, side->next_hop, events[i].events);
      }
      dead_.clear();  // freed only after the batch: its later events may name them
    }
  }

 private:
  struct Conn;
  struct Side {
    Conn* conn;
    bool next_hop;
  };
  struct Pipe {
    std::unique_ptr<char[]> buf{new char[kSize]};  // not zeroed: a connection costs no memset
    static constexpr size_t kSize = 64 * 1024;
    size_t head = 0, tail = 0;
    bool eof = false, shut = false;
  };
  struct Conn {
    int client = -1, next = -1;
    bool connected = false, dead = false;
    Side client_side{this, false}, next_side{this, true};
    Pipe up, down;
  };

  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  void accept_all() {
    for (;;) {
      int c = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      int x = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      setsockopt(x, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in to = loopback(next_port_);
      if (x < 0 || (::connect(x, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
                    errno != EINPROGRESS)) {
        ::close(c);
        if (x >= 0) ::close(x);
        continue;
      }
      auto* conn = new Conn;
      conn->client = c;
      conn->next = x;
      epoll_event ev{EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, {.ptr = &conn->client_side}};
      epoll_ctl(epoll_, EPOLL_CTL_ADD, c, &ev);
      ev.data.ptr = &conn->next_side;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, x, &ev);
    }
  }

  // Moves what it can from `from` to `to`; false on an error.
  static bool pump(int from, int to, Pipe& p) {
    for (;;) {
      if (p.head < p.tail) {
        ssize_t n = ::send(to, p.buf.get() + p.head, p.tail - p.head, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN;
        p.head += static_cast<size_t>(n);
        continue;
      }
      if (p.eof) {
        if (!p.shut) ::shutdown(to, SHUT_WR);
        p.shut = true;
        return true;
      }
      p.head = p.tail = 0;
      ssize_t n = ::recv(from, p.buf.get(), Pipe::kSize, 0);
      if (n > 0)
        p.tail = static_cast<size_t>(n);
      else if (n == 0)
        p.eof = true;
      else
        return errno == EAGAIN;
    }
  }

  void serve(Conn& c, bool next_hop, uint32_t events) {
    if (!c.connected) {
      if (!next_hop || (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.next, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return finish(c);
      c.connected = true;
    }
    bool ok = pump(c.client, c.next, c.up) && pump(c.next, c.client, c.down);
    if (!ok || (c.up.shut && c.down.shut)) finish(c);
  }

  void finish(Conn& c) {
    ::close(c.client);
    ::close(c.next);
    c.dead = true;
    dead_.emplace_back(&c);
  }

  uint16_t next_port_;
  int listener_ = -1, epoll_ = -1;
  std::vector<std::unique_ptr<Conn>> dead_;
};

int serve_relay(uint16_t next_port) {
  raise_fd_limit();
  BareRelay relay(next_port);
  uint16_t port = relay.listen();
  if (port == 0) return 1;
  std::thread([&relay] { relay.run(); }).detach();
  std::cout << fmt::format("READY {}", port) << std::endl;
  wait_for_stdin_eof();
  return 0;
}

// ---- Peers ------------------------------------------------------------------------------------

struct Peer {
  std::string name;
  Child child;
  Target target;
  Child server = {};  // a second process the peer needs (sshd for `ssh -D`)
};

// Runs a command to its end, its output discarded; whether it exited 0.
bool run_quiet(const std::vector<std::string>& argv) {
  auto c = Child::spawn(argv, false);
  if (!c) return false;
  int st = 0;
  waitpid(c->pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

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

// OpenSSH's dynamic forwarding, the peer a user would reach for: a private sshd on a spare
// loopback port (its own host key, one authorized key, AES-128-GCM) and `ssh -D` to it, all
// SOCKS5 connections as channels of the one SSH connection.
std::optional<Peer> start_ssh(const std::string& dir) {
  if (!std::filesystem::exists("/usr/sbin/sshd") || !std::filesystem::exists("/usr/bin/ssh") ||
      !std::filesystem::exists("/usr/bin/ssh-keygen"))
    return std::nullopt;
  std::string host_key = dir + "/ssh_host_key", client_key = dir + "/ssh_client_key";
  for (const auto& k : {host_key, client_key}) {
    if (!run_quiet({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k}))
      return std::nullopt;
  }
  std::filesystem::copy_file(client_key + ".pub", dir + "/authorized_keys");
  // sshd started by root wants its privilege separation directory (the package's service
  // makes it at boot).
  if (geteuid() == 0) std::filesystem::create_directories("/run/sshd");
  const passwd* pw = getpwuid(geteuid());
  if (!pw) return std::nullopt;
  uint16_t sshd_port = free_port();
  std::string conf = dir + "/sshd_config";
  std::ofstream(conf) << fmt::format(
      "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}/authorized_keys\n"
      "PidFile {}/sshd.pid\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
      "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowTcpForwarding yes\n"
      "Ciphers aes128-gcm@openssh.com\nCompression no\nLogLevel QUIET\n",
      sshd_port, host_key, dir, dir);
  auto sshd = Child::spawn({"/usr/sbin/sshd", "-D", "-f", conf}, false);
  if (!sshd) return std::nullopt;
  if (!wait_listening(sshd_port)) {
    sshd->stop();
    return std::nullopt;
  }
  uint16_t port = free_port();
  auto ssh = Child::spawn({"/usr/bin/ssh",
                           "-N",
                           "-F",
                           "/dev/null",
                           "-D",
                           fmt::format("127.0.0.1:{}", port),
                           "-p",
                           std::to_string(sshd_port),
                           "-i",
                           client_key,
                           "-o",
                           "StrictHostKeyChecking=no",
                           "-o",
                           "UserKnownHostsFile=/dev/null",
                           "-o",
                           "BatchMode=yes",
                           "-o",
                           "ExitOnForwardFailure=yes",
                           "-o",
                           "LogLevel=ERROR",
                           "-c",
                           "aes128-gcm@openssh.com",
                           fmt::format("{}@127.0.0.1", pw->pw_name)},
                          false);
  if (!ssh || !wait_listening(port)) {
    if (ssh) ssh->stop();
    sshd->stop();
    return std::nullopt;
  }
  return Peer{"ssh", *ssh, Target{Via::socks, port, "", ""}, *sshd};
}

// ---- How cost grows with connections (`make bench-scale`) ------------------------------------

// For each n: n idle SOCKS5 tunnels held through the gateway and the exit (each a client
// connection, a stream of the gateway's channel to the exit and the exit's connection to a
// destination), then the chain's rate with them open (a new connection per request, 32 at a
// time, to a destination of its own), then all closed. Figures proxy.scale_<n>.held,
// .bytes_per_conn (the gateway's and the exit's RSS growth over the tunnels held) and .rps.
// Tunnels per (client address, destination port). The exit's connections to one destination all
// leave from its one source address, and Linux hands a connect() on a socket bound with
// IP_BIND_ADDRESS_NO_PORT only half the ephemeral range per destination (14,121 of
// 32768-60999 here, measured): past that the exit answers "cannot assign requested address"
// and the client gets SOCKS5 reply 4. 10,000 stays below it.
constexpr size_t kPerPair = 10'000;

std::map<std::string, double> scale_connections(const std::vector<size_t>& sizes,
                                                const Target& chain_t,
                                                const std::vector<uint16_t>& dests, pid_t gw,
                                                pid_t exit, std::chrono::milliseconds window) {
  std::map<std::string, double> fig;
  // Each size on client addresses and destinations of its own: the last size's closed
  // connections wait out TIME_WAIT on their ports for a minute.
  size_t first_group = 0;
  for (size_t n : sizes) {
    std::string key =
        n % 1000 ? fmt::format("proxy.scale_{}", n) : fmt::format("proxy.scale_{}k", n / 1000);
    asio::io_context io;
    std::vector<tcp::socket> keep;
    keep.reserve(n);
    failures.clear();
    uint64_t before = rss_bytes(gw) + rss_bytes(exit);
    Idle r = hold_idle(
        chain_t,
        [&](size_t i) {
          size_t group = first_group + i / kPerPair;
          return std::pair<std::string, uint16_t>{fmt::format("127.0.1.{}", 1 + group),
                                                  dests[group % (dests.size() - 1)]};
        },
        n, keep, io);
    uint64_t after = rss_bytes(gw) + rss_bytes(exit);
    Load l = run_load(chain_t, dests.back(), "/bytes/1024", 32, window);
    double rps = static_cast<double>(l.requests) * 1000.0 / static_cast<double>(window.count());
    std::cout << fmt::format(
        "{} tunnels: {} opened, {} held; gateway + exit RSS {} -> {} bytes; chain {:.0f} req/s "
        "({} failed)\n",
        n, r.opened, r.held, before, after, rps, l.failures);
    for (auto& [why, k] : failures) std::cout << fmt::format("  not opened: {} x {}\n", k, why);
    if (r.held > 0) {
      fig[key + ".held"] = static_cast<double>(r.held);
      fig[key + ".bytes_per_conn"] =
          static_cast<double>(after > before ? after - before : 0) / static_cast<double>(r.held);
    }
    if (l.requests > 0) fig[key + ".rps"] = rps;
    keep.clear();
    first_group += (n + kPerPair - 1) / kPerPair;
    std::this_thread::sleep_for(3s);  // the closes reach the gateway and the exit
  }
  return fig;
}

// ---- Main ---------------------------------------------------------------------------------

int bench_main(int argc, char** argv) {
  std::string results;
  bool smoke = false;
  double seconds = 3;
  size_t idle = 10'000;
  bool idle_only = false;
  int rounds = 3;
  std::vector<size_t> scale;  // --scale-conns 1000,10000,50000
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
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::max(1, std::stoi(argv[++i]));
    else if (a == "--idle-only")
      idle_only = true;
    else if (a == "--scale-conns" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string n; std::getline(list, n, ',');) scale.push_back(std::stoul(n));
    } else {
      std::cerr << "usage: ipsx-bench-proxy [--results FILE] [--seconds S] [--rounds N] [--idle N] "
                   "[--idle-only] "
                   "[--scale-conns N,N,...] [--smoke]\n";
      return 2;
    }
  }
  if (smoke) {
    seconds = 0.3;
    idle = 50;
    rounds = 1;
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
  if (!scale.empty()) {
    // One destination per kPerPair tunnels of each size, and one more for the rate measured
    // beside them.
    std::vector<uint16_t> dests{dest};
    std::vector<Child> echoes;
    size_t need = 1;
    for (size_t n : scale) need += (n + kPerPair - 1) / kPerPair;
    while (dests.size() < need) {
      auto e = Child::spawn({self, "--serve-echo"}, true);
      unsigned port = 0;
      if (!e || std::sscanf(e->read_line().c_str(), "READY %u", &port) != 1)
        return fail_start("echo", "");
      echoes.push_back(*e);
      dests.push_back(static_cast<uint16_t>(port));
    }
    auto fig = scale_connections(
        scale, Target{Via::socks, static_cast<uint16_t>(gw_port), "country-de", kPassword}, dests,
        gw_proc->pid, exit_proc->pid, window);
    for (auto& e : echoes) e.stop();
    gw_proc->stop();
    exit_proc->stop();
    echo->stop();
    for (auto& [k, v] : fig) std::cout << fmt::format("{} = {:.3f}\n", k, v);
    if (!results.empty()) merge_results(results, fig);
    std::filesystem::remove_all(dir);
    return fig.size() == 3 * scale.size() ? 0 : 1;
  }
  // Two bare relays in a row in front of the destination (see BareRelay).
  auto relay_at = [&](uint16_t next) -> std::optional<std::pair<Child, uint16_t>> {
    auto c = Child::spawn({self, "--serve-relay", std::to_string(next)}, true);
    unsigned port = 0;
    if (!c || std::sscanf(c->read_line().c_str(), "READY %u", &port) != 1) return std::nullopt;
    return std::pair{*c, static_cast<uint16_t>(port)};
  };
  auto relay2 = relay_at(dest);
  if (!relay2) return fail_start("relay", "");
  auto relay1 = relay_at(relay2->second);
  if (!relay1) return fail_start("relay", "");

  Target direct{Via::direct, dest, "", ""};
  Target chain_t{Via::socks, static_cast<uint16_t>(gw_port), "country-de", kPassword};
  // The gateway's same port as an HTTP proxy (forwarding, Proxy-Authorization: Basic).
  Target chain_http_t{Via::http_forward, static_cast<uint16_t>(gw_port), "country-de", kPassword};
  Target exit_t{Via::socks, static_cast<uint16_t>(front_port), user, pass};
  Target bare_t{Via::direct, relay1->second, "", ""};
  std::vector<Peer> peers;
  if (auto p = start_dante(dir)) peers.push_back(*p);
  if (auto p = start_microsocks()) peers.push_back(*p);
  if (auto p = start_tinyproxy(dir)) peers.push_back(*p);
  if (auto p = start_ssh(dir)) peers.push_back(*p);

  // Every target runs once per round, the rounds one after another, and each figure is the
  // median of its rounds: a slow patch of a shared machine then lands on every target alike
  // instead of on whichever ran during it. CPU per request is the user + system time of our own
  // processes (exit; gateway + exit; both relays) over the requests they served.
  std::map<std::string, std::vector<double>> runs;
  auto record = [&](const std::string& name, double v) { runs[name].push_back(v); };
  auto cpu_of = [](const std::vector<pid_t>& pids) {
    double t = 0;
    for (pid_t p : pids) t += cpu_seconds(p);
    return t;
  };
  auto rps = [&](const std::string& name, const Target& t, const std::vector<pid_t>& ours = {}) {
    double cpu0 = cpu_of(ours);
    Load l = run_load(t, dest, "/bytes/1024", 32, window);
    double cpu = cpu_of(ours) - cpu0;
    double v = static_cast<double>(l.requests) / seconds;
    std::cout << fmt::format("{:<26} {:>10.0f} req/s  ({} failed)", name, v, l.failures);
    if (l.requests > 0) {
      record(name, v);
      if (!ours.empty()) {
        std::string cpu_name = name.substr(0, name.find("rps_")) +
                               name.substr(name.find("rps_") + 4) + "_cpu_us_per_req";
        record(cpu_name, cpu * 1e6 / static_cast<double>(l.requests));
        std::cout << fmt::format("  {:.0f} us CPU each", runs[cpu_name].back());
      }
    }
    std::cout << "\n";
  };
  auto mbps = [&](const std::string& name, const Target& t) {
    Load l = run_load(t, dest, "/bytes/1048576", 4, window);
    double v = static_cast<double>(l.bytes) * 8 / 1e6 / seconds;
    std::cout << fmt::format("{:<26} {:>10.0f} Mbit/s ({} failed)\n", name, v, l.failures);
    if (l.requests > 0) record(name, v);
  };

  if (idle_only) window = std::chrono::milliseconds(0);
  for (int round = 0; round < rounds && window.count() > 0; ++round) {
    std::cout << fmt::format("-- round {} of {}\n", round + 1, rounds);
    rps("proxy.rps_direct", direct);
    rps("proxy.rps_exit", exit_t, {exit_proc->pid});
    rps("proxy.rps_chain", chain_t, {gw_proc->pid, exit_proc->pid});
    rps("proxy.rps_chain_http", chain_http_t, {gw_proc->pid, exit_proc->pid});
    rps("proxy.rps_bare_chain", bare_t, {relay1->first.pid, relay2->first.pid});
    for (auto& p : peers) rps("proxy.rps_" + p.name, p.target);
    mbps("proxy.mbps_direct", direct);
    mbps("proxy.mbps_chain", chain_t);
    mbps("proxy.mbps_bare_chain", bare_t);
    for (auto& p : peers)
      if (p.name == "ssh") mbps("proxy.mbps_ssh", p.target);
  }
  for (auto& p : peers) {
    p.child.stop();
    p.server.stop();
  }
  relay1->first.stop();
  relay2->first.stop();
  std::map<std::string, double> fig;
  for (auto& [name, v] : runs) {
    std::sort(v.begin(), v.end());
    fig[name] = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }

  {
    asio::io_context io;
    std::vector<tcp::socket> keep;
    std::this_thread::sleep_for(500ms);
    uint64_t before = rss_bytes(gw_proc->pid) + rss_bytes(exit_proc->pid);
    Idle r = hold_idle(
        chain_t,
        [&](size_t) {
          return std::pair<std::string, uint16_t>{"", dest};
        },
        idle, keep, io);
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
    // What the gateway and the exit give back once the idle clients went (their trimmers look
    // once a second).
    std::this_thread::sleep_for(3s);
    const uint64_t closed = rss_bytes(gw_proc->pid) + rss_bytes(exit_proc->pid);
    std::cout << fmt::format("idle tunnels closed: gateway + exit RSS {} bytes\n", closed);
    if (r.held > 0 && after > before)
      fig["proxy.idle_memory_returned"] = static_cast<double>(after > closed ? after - closed : 0) /
                                          static_cast<double>(after - before);
  }
  gw_proc->stop();
  exit_proc->stop();
  echo->stop();

  auto ratio = [&](const std::string& name, const std::string& a, const std::string& b) {
    if (fig.contains(a) && fig.contains(b) && fig[b] > 0) fig[name] = fig[a] / fig[b];
  };
  ratio("proxy.chain_vs_direct_rps", "proxy.rps_chain", "proxy.rps_direct");
  ratio("proxy.chain_vs_direct_mbps", "proxy.mbps_chain", "proxy.mbps_direct");
  ratio("proxy.bare_chain_vs_direct_rps", "proxy.rps_bare_chain", "proxy.rps_direct");
  ratio("proxy.bare_chain_vs_direct_mbps", "proxy.mbps_bare_chain", "proxy.mbps_direct");
  ratio("proxy.chain_vs_bare_chain_rps", "proxy.rps_chain", "proxy.rps_bare_chain");
  ratio("proxy.chain_vs_bare_chain_mbps", "proxy.mbps_chain", "proxy.mbps_bare_chain");
  ratio("proxy.exit_vs_dante", "proxy.rps_exit", "proxy.rps_dante");
  ratio("proxy.exit_vs_microsocks", "proxy.rps_exit", "proxy.rps_microsocks");
  ratio("proxy.exit_vs_tinyproxy", "proxy.rps_exit", "proxy.rps_tinyproxy");
  ratio("proxy.chain_vs_ssh_rps", "proxy.rps_chain", "proxy.rps_ssh");
  ratio("proxy.chain_http_vs_ssh_rps", "proxy.rps_chain_http", "proxy.rps_ssh");
  ratio("proxy.chain_http_vs_socks_rps", "proxy.rps_chain_http", "proxy.rps_chain");
  ratio("proxy.chain_vs_ssh_mbps", "proxy.mbps_chain", "proxy.mbps_ssh");
  ratio("proxy.exit_vs_ssh", "proxy.rps_exit", "proxy.rps_ssh");
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
  if (mode == "--serve-relay" && argc == 3)
    return serve_relay(static_cast<uint16_t>(std::stoul(argv[2])));
  if (mode == "--serve-exit" && argc == 6)
    return serve_exit(DealArgs{argv[2], argv[3], argv[4], std::stoull(argv[5]), 0});
  if (mode == "--serve-gateway" && argc == 8)
    return serve_gateway(DealArgs{argv[2], argv[3], argv[4], std::stoull(argv[5]),
                                  static_cast<uint16_t>(std::stoul(argv[6]))},
                         static_cast<uint16_t>(std::stoul(argv[7])));
  return bench_main(argc, argv);
}
