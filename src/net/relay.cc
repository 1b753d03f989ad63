#include "net/relay.h"

#include <fmt/format.h>

#include <array>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "crypto/eip191.h"
#include "crypto/secure.h"
#include "net/address_policy.h"
#include "net/io_util.h"
#include "net/net_error.h"
#include "net/punch.h"

namespace ipsx::net {
namespace {

constexpr size_t kMaxLine = 512;
constexpr std::string_view kMagic = "IPSX-RELAY/1";
// How long a provider punches towards a gateway (the gateway gives up on its own timeout).
constexpr Millis kPunchTimeout{5'000};

// One line (without its '\n') within `timeout`, read a byte at a time so that nothing after it is
// taken from the socket. Errors: timed_out, channel_closed, too_large.
awaitable<Result<std::string>> read_line(tcp::socket& s, Millis timeout) {
  std::string line;
  Deadline deadline(s, timeout);
  for (;;) {
    char c = 0;
    boost::system::error_code ec;
    size_t n = co_await s.async_read_some(asio::buffer(&c, 1), use_ec(ec));
    if (ec || n == 0) {
      co_return fail(deadline.expired() ? NetErrc::timed_out : NetErrc::channel_closed,
                     deadline.expired() ? "no line in time" : "closed before a line");
    }
    if (c == '\n') co_return line;
    if (line.size() >= kMaxLine) co_return fail(NetErrc::too_large, "a line over 512 bytes");
    line.push_back(c);
  }
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

awaitable<void> say(tcp::socket& s, std::string line, Millis timeout) {
  line += '\n';
  (void)co_await write_all_for(s, asio::buffer(line), timeout);
}

// An endpoint from the protocol's two words, address and port (1-65535); nullopt if they are not.
std::optional<tcp::endpoint> endpoint_of(const std::string& address, const std::string& port) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(address, ec);
  if (ec || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return std::nullopt;
  return tcp::endpoint(a, static_cast<uint16_t>(p));
}

// Whether a punch may go to `target`, an endpoint a relay named: a global address, or one of the
// relay's own kind (a relay on loopback, as in the tests, or on a private network, for its
// peers there); never an unspecified or multicast one. A relay cannot then aim a provider's SYNs
// at its loopback or its LAN.
bool punchable(const tcp::endpoint& target, const tcp::endpoint& relay) {
  const AddressClass t = classify(from_asio(target.address()));
  if (t == AddressClass::unspecified || t == AddressClass::multicast) return false;
  return t == AddressClass::global || t == classify(from_asio(relay.address()));
}

// The wildcard address of `relay`'s family, any port: where a connection to it may come from.
tcp::endpoint any_port_like(const tcp::endpoint& relay) {
  return tcp::endpoint(relay.address().is_v4() ? asio::ip::address(asio::ip::address_v4::any())
                                               : asio::ip::address(asio::ip::address_v6::any()),
                       0);
}

}  // namespace

std::string relay_serve_message(const Address& provider, int64_t unix_seconds) {
  return fmt::format("ipsx relay serve {} {}", provider.to_string(), unix_seconds);
}

// ---- The relay ---------------------------------------------------------------------------------

struct Relay::Impl : std::enable_shared_from_this<Impl> {
  // A provider's control connection; lines to it are queued and written one at a time.
  struct Control {
    explicit Control(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    std::deque<std::string> out;
    bool writing = false;
    bool closed = false;
  };
  // A relayed connection of one gateway address, counted while it lives (waiting, then joined).
  struct SourceSlot {
    SourceSlot(Impl& impl, std::string source) : impl(impl), source(std::move(source)) {
      ++impl.by_source[this->source];
    }
    ~SourceSlot() {
      if (--impl.by_source[source] == 0) impl.by_source.erase(source);
    }
    Impl& impl;
    std::string source;
  };
  // A gateway waiting for its provider to dial back.
  struct Pending {
    std::shared_ptr<SourceSlot> slot;
    Address provider;
    std::shared_ptr<tcp::socket> gateway;
    std::shared_ptr<asio::steady_timer> timer;
    bool punch = false;  // a PUNCH waiting for the provider's PUNCHING, not a CONNECT
  };

  Impl(asio::io_context& io, RelayConfig cfg, const Clock& clock)
      : io(io),
        cfg(std::move(cfg)),
        clock(clock),
        acceptor(io),
        splices(std::make_shared<SpliceRegistry>(io.get_executor(), this->cfg.idle_timeout)) {}

  asio::io_context& io;
  RelayConfig cfg;
  const Clock& clock;
  tcp::acceptor acceptor;
  std::shared_ptr<SpliceRegistry> splices;
  bool stopping = false;
  size_t connections = 0;                   // sockets the relay holds
  std::map<std::string, size_t> by_source;  // relayed connections (CONNECTs) per gateway address
  std::map<Address, std::shared_ptr<Control>> controls;
  std::map<Address, int64_t> last_serve;  // the time of each provider's last accepted SERVE
  std::map<std::string, Pending> pending;
  mutable std::mutex stats_mu;
  std::map<Address, RelayProviderStats> stats;

  template <class F>
  void with_stats(const Address& p, F f) {
    std::lock_guard lock(stats_mu);
    f(stats[p]);
  }

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(use_ec(ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        co_await pause_after_accept_error(ec);
        continue;
      }
      if (connections >= cfg.max_connections) continue;  // closes it
      asio::co_spawn(io, handle(std::move(s)), asio::detached);
    }
  }

  awaitable<void> handle(tcp::socket s) {
    auto self = shared_from_this();
    CountedIn count(connections);
    boost::system::error_code ignored;
    s.set_option(tcp::no_delay(true), ignored);
    auto line = co_await read_line(s, cfg.handshake_timeout);
    if (!line) co_return;
    auto w = words(*line);
    if (w.size() < 2 || w[0] != kMagic) {
      co_await say(s, "ERR not the relay protocol (IPSX-RELAY/1)", cfg.handshake_timeout);
      co_return;
    }
    if (w[1] == "SERVE" && w.size() == 5) co_return co_await serve(std::move(s), w);
    if ((w[1] == "CONNECT" || w[1] == "PUNCH") && w.size() == 3) {
      // One address (a gateway, or someone holding a provider's places) gets at most
      // max_connections_per_source relayed connections at once.
      boost::system::error_code pe;
      const std::string source = s.remote_endpoint(pe).address().to_string();
      if (by_source[source] >= cfg.max_connections_per_source) {
        co_await say(s,
                     fmt::format("ERR {} has {} relayed connections, the most one address may",
                                 source, by_source[source]),
                     cfg.handshake_timeout);
        co_return;
      }
      auto slot = std::make_shared<SourceSlot>(*this, source);
      co_await connect(std::move(s), w[2], std::move(slot), w[1] == "PUNCH");
      co_return;
    }
    if (w[1] == "ACCEPT" && w.size() == 4) co_return co_await accept(std::move(s), w[2], w[3]);
    if (w[1] == "PUNCHING" && w.size() == 4) co_return co_await punching(std::move(s), w[2], w[3]);
    co_await say(s, "ERR unknown request: " + w[1], cfg.handshake_timeout);
  }

  // SERVE: the signature must be the provider's, over a recent time.
  awaitable<void> serve(tcp::socket s, const std::vector<std::string>& w) {
    auto provider = Address::parse(w[2]);
    int64_t at = 0;
    try {
      at = std::stoll(w[3]);
    } catch (...) {
      at = INT64_MIN;
    }
    auto sig = crypto::Signature::from_hex(w[4]);
    const int64_t now = to_unix_ms(clock.now()) / 1000;
    std::string refusal;
    if (!provider) {
      refusal = "not a provider address: " + w[2];
    } else if (at == INT64_MIN || at < now - cfg.clock_skew_seconds ||
               at > now + cfg.clock_skew_seconds) {
      refusal = fmt::format("the time {} is not within {} s of the relay's {}", w[3],
                            cfg.clock_skew_seconds, now);
    } else if (!sig) {
      refusal = "not a signature";
    } else {
      auto signer =
          crypto::recover(crypto::personal_message_hash(relay_serve_message(*provider, at)), *sig);
      if (!signer || *signer != *provider) refusal = "the signature is not the provider's";
    }
    // The SERVE line travels in the clear: one seen on the way could be sent again within the
    // clock skew to take the provider's gateways. Each must be newer than the last accepted.
    if (refusal.empty()) {
      auto last = last_serve.find(*provider);
      if (last != last_serve.end() && at <= last->second)
        refusal =
            fmt::format("a SERVE of time {} is not newer than the last one ({})", at, last->second);
    }
    if (refusal.empty() && !controls.contains(*provider) && controls.size() >= cfg.max_providers)
      refusal = "the relay serves as many providers as it may";
    if (!refusal.empty()) {
      co_await say(s, "ERR " + refusal, cfg.handshake_timeout);
      co_return;
    }
    if (last_serve.size() > cfg.max_providers) {  // entries past the skew replay nothing
      std::erase_if(last_serve,
                    [&](const auto& e) { return e.second < now - cfg.clock_skew_seconds; });
    }
    last_serve[*provider] = at;
    auto c = std::make_shared<Control>(std::move(s));
    if (auto old = controls.find(*provider); old != controls.end()) close_control(*old->second);
    controls[*provider] = c;
    with_stats(*provider, [](RelayProviderStats& st) { st.serving = true; });
    send(c, "OK");
    asio::co_spawn(io, ping(c), asio::detached);
    // Reads until the provider goes (what it sends otherwise is ignored).
    std::array<char, 64> sink;
    for (;;) {
      boost::system::error_code ec;
      co_await c->socket.async_read_some(asio::buffer(sink), use_ec(ec));
      if (ec) break;
    }
    close_control(*c);
    if (auto it = controls.find(*provider); it != controls.end() && it->second == c) {
      controls.erase(it);
      with_stats(*provider, [](RelayProviderStats& st) { st.serving = false; });
    }
  }

  awaitable<void> ping(std::shared_ptr<Control> c) {
    asio::steady_timer t(io);
    while (!c->closed) {
      t.expires_after(cfg.ping_every);
      boost::system::error_code ec;
      co_await t.async_wait(use_ec(ec));
      if (c->closed || stopping) break;
      send(c, "PING");
    }
  }

  void send(const std::shared_ptr<Control>& c, std::string line) {
    if (c->closed) return;
    c->out.push_back(std::move(line) + "\n");
    if (c->writing) return;
    c->writing = true;
    asio::co_spawn(
        io,
        [this, c]() -> awaitable<void> {
          while (!c->out.empty() && !c->closed) {
            std::string next = std::move(c->out.front());
            c->out.pop_front();
            auto w = co_await write_all_for(c->socket, asio::buffer(next), cfg.handshake_timeout);
            if (!w) {
              close_control(*c);
              break;
            }
          }
          c->writing = false;
        },
        asio::detached);
  }

  static void close_control(Control& c) {
    c.closed = true;
    boost::system::error_code ignored;
    c.socket.close(ignored);
  }

  // CONNECT: tell the provider to dial back, and wait for it. PUNCH: tell the provider where
  // the gateway's NAT put its connection to us, and wait for its PUNCHING.
  awaitable<void> connect(tcp::socket s, const std::string& who, std::shared_ptr<SourceSlot> slot,
                          bool punch) {
    const std::string source = slot->source;
    auto provider = Address::parse(who);
    if (!provider) {
      co_await say(s, "ERR not a provider address: " + who, cfg.handshake_timeout);
      co_return;
    }
    auto c = controls.find(*provider);
    if (c == controls.end()) {  // (no stats kept for addresses nobody serves)
      co_await say(s, "ERR the provider " + provider->to_string() + " is not served by this relay",
                   cfg.handshake_timeout);
      co_return;
    }
    // A gateway waiting for the dial back counts as open: a flood of CONNECTs holds at most
    // max_connections_per_provider places.
    std::string refusal;
    with_stats(*provider, [&](RelayProviderStats& st) {
      if (st.open >= cfg.max_connections_per_provider)
        refusal = fmt::format("the provider has {} relayed connections, the most it may", st.open);
      else if (cfg.max_bytes_per_provider && st.bytes >= cfg.max_bytes_per_provider)
        refusal = fmt::format("the provider has used its {} bytes at this relay",
                              cfg.max_bytes_per_provider);
      if (refusal.empty())
        ++st.open;
      else
        ++st.refused;
    });
    if (!refusal.empty()) {
      co_await say(s, "ERR " + refusal, cfg.handshake_timeout);
      co_return;
    }
    std::array<uint8_t, 16> raw{};
    if (!crypto::random_bytes(raw)) co_return;
    std::string token = fmt::format("{:02x}", fmt::join(raw, ""));
    boost::system::error_code pe;
    const tcp::endpoint seen = s.remote_endpoint(pe);
    auto gateway = std::make_shared<tcp::socket>(std::move(s));
    auto timer = std::make_shared<asio::steady_timer>(io);
    pending[token] = Pending{std::move(slot), *provider, gateway, timer, punch};
    if (punch)
      send(c->second,
           fmt::format("PUNCH {} {} {}", token, seen.address().to_string(), seen.port()));
    else
      send(c->second, "DIAL " + token + " " + source);
    timer->expires_after(cfg.handshake_timeout);
    boost::system::error_code ec;
    co_await timer->async_wait(use_ec(ec));
    if (auto it = pending.find(token); it != pending.end()) {  // nobody dialled back
      pending.erase(it);
      with_stats(*provider, [](RelayProviderStats& st) {
        ++st.refused;
        --st.open;
      });
      co_await say(*gateway,
                   punch ? "ERR the provider did not answer the punch in time"
                         : "ERR the provider did not dial back in time",
                   cfg.handshake_timeout);
    }
  }

  // PUNCHING: the provider's answer to a PUNCH, from the port it will punch from. Each side is
  // told the other's endpoint as its NAT shows it (the gateway with PEER, the provider with GO,
  // which has the gateway's already), at the same moment; the punch is theirs.
  awaitable<void> punching(tcp::socket s, const std::string& who, const std::string& token) {
    auto it = pending.find(token);
    auto provider = Address::parse(who);
    if (it == pending.end() || !it->second.punch || !provider || it->second.provider != *provider)
      co_return;
    Pending p = std::move(it->second);
    pending.erase(it);
    p.timer->cancel();
    boost::system::error_code pe;
    const tcp::endpoint seen = s.remote_endpoint(pe);
    with_stats(p.provider, [](RelayProviderStats& st) {
      --st.open;
      ++st.punches;
    });
    if (pe) co_return;
    co_await say(*p.gateway, fmt::format("PEER {} {}", seen.address().to_string(), seen.port()),
                 cfg.handshake_timeout);
    co_await say(s, "GO", cfg.handshake_timeout);
  }

  // ACCEPT: the provider's data connection for a waiting gateway; then the bytes.
  awaitable<void> accept(tcp::socket s, const std::string& who, const std::string& token) {
    auto it = pending.find(token);
    auto provider = Address::parse(who);
    if (it == pending.end() || it->second.punch || !provider || it->second.provider != *provider)
      co_return;
    Pending p = std::move(it->second);
    pending.erase(it);
    p.timer->cancel();
    auto ok = co_await write_all_for(*p.gateway, asio::buffer(std::string_view("OK\n")),
                                     cfg.handshake_timeout);
    if (!ok) {
      with_stats(p.provider, [](RelayProviderStats& st) { --st.open; });
      co_return;
    }
    with_stats(p.provider, [](RelayProviderStats& st) { ++st.connections; });
    const Address who_pays = p.provider;
    co_await splice(std::move(*p.gateway), std::move(s), *splices,
                    [this, who_pays](uint64_t up, uint64_t down) {
                      with_stats(who_pays, [&](RelayProviderStats& st) { st.bytes += up + down; });
                    });
    with_stats(p.provider, [](RelayProviderStats& st) { --st.open; });
  }
};

Relay::Relay(asio::io_context& io, RelayConfig config, const Clock& clock)
    : impl_(std::make_shared<Impl>(io, std::move(config), clock)) {}

Relay::~Relay() {
  stop();
}

Result<uint16_t> Relay::start() {
  auto port = listen_on(impl_->acceptor, impl_->cfg.listen);
  if (!port) return port;
  impl_->splices->start();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  return port;
}

void Relay::stop() {
  Impl& i = *impl_;
  if (i.stopping) return;
  i.stopping = true;
  boost::system::error_code ignored;
  i.acceptor.close(ignored);
  for (auto& [p, c] : i.controls) Impl::close_control(*c);
  i.controls.clear();
  for (auto& [t, p] : i.pending) {
    p.gateway->close(ignored);
    p.timer->cancel();
  }
  i.pending.clear();
  i.splices->close();
}

std::map<Address, RelayProviderStats> Relay::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  return impl_->stats;
}

// ---- The provider's side -----------------------------------------------------------------------

struct RelayClient::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, tcp::endpoint relay, crypto::PrivateKey key, const Clock& clock,
       std::function<void(tcp::socket, std::string)> accept,
       std::function<void(const std::string&)> log, Millis retry)
      : io(io),
        relay(relay),
        key(std::move(key)),
        clock(clock),
        accept(std::move(accept)),
        log(std::move(log)),
        retry(retry),
        timer(io) {}

  asio::io_context& io;
  tcp::endpoint relay;
  crypto::PrivateKey key;
  const Clock& clock;
  std::function<void(tcp::socket, std::string)> accept;
  std::function<void(const std::string&)> log;
  Millis retry;
  asio::steady_timer timer;
  std::shared_ptr<tcp::socket> control;
  bool stopping = false;
  static constexpr size_t kMaxPunches = 4;
  size_t punches = 0;  // punch_back()s running
  std::string last_said;

  void say_once(const std::string& what) {  // a state repeated each retry is told once
    if (what == last_said || !log) return;
    last_said = what;
    log(what);
  }

  awaitable<void> run() {
    auto self = shared_from_this();
    const std::string where = fmt::format("{}:{}", relay.address().to_string(), relay.port());
    while (!stopping) {
      auto result = co_await session();
      if (stopping) break;
      say_once(fmt::format("the relay {}: {}; trying again every {} s", where,
                           result ? "closed the connection" : result.error().message(),
                           retry.count() / 1000));
      timer.expires_after(retry);
      boost::system::error_code ec;
      co_await timer.async_wait(use_ec(ec));
    }
  }

  // One control connection, until it ends.
  awaitable<Result<void>> session() {
    auto s = co_await dial(io.get_executor(), relay, std::nullopt, Millis(10'000));
    if (!s) co_return std::unexpected(s.error());
    control = std::make_shared<tcp::socket>(std::move(*s));
    const int64_t now = to_unix_ms(clock.now()) / 1000;
    auto sig =
        crypto::sign(key, crypto::personal_message_hash(relay_serve_message(key.address(), now)));
    if (!sig) co_return std::unexpected(sig.error());
    std::string hello =
        fmt::format("{} SERVE {} {} {}\n", kMagic, key.address().to_string(), now, sig->to_hex());
    if (auto w = co_await write_all_for(*control, asio::buffer(hello), Millis(10'000)); !w)
      co_return std::unexpected(w.error());
    auto answer = co_await read_line(*control, Millis(10'000));
    if (!answer) co_return std::unexpected(answer.error());
    if (*answer != "OK")
      co_return fail(NetErrc::exit_failed,
                     answer->starts_with("ERR ") ? answer->substr(4) : *answer);
    say_once(
        fmt::format("serving through the relay {}:{}", relay.address().to_string(), relay.port()));
    // Our own heartbeat: after a NAT on the way lost its mapping (a router rebooted), the relay
    // answers the next one with a reset, so the connection is found dead within a beat, rather
    // than after the relay's PINGs have been silent (they are dropped at the NAT) for a minute.
    asio::co_spawn(io, heartbeat(control), asio::detached);
    for (;;) {  // the relay's PINGs keep coming: a silence of three is a dead connection
      auto line = co_await read_line(*control, cfg_silence());
      if (!line) co_return std::unexpected(line.error());
      auto w = words(*line);
      if (w.size() >= 2 && w[0] == "DIAL") {
        // The gateway's address, if the relay said and it is one.
        boost::system::error_code ec;
        std::string source = w.size() >= 3 ? w[2] : "";
        if (!source.empty()) asio::ip::make_address(source, ec);
        asio::co_spawn(io, dial_back(w[1], ec ? "" : source), asio::detached);
      }
      if (w.size() == 4 && w[0] == "PUNCH") {
        // At most kMaxPunches at once, each to an address a punch may go to (punchable()).
        auto gateway = endpoint_of(w[2], w[3]);
        if (gateway && punchable(*gateway, relay) && punches < kMaxPunches)
          asio::co_spawn(io, punch_back(w[1], *gateway), asio::detached);
      }
    }
  }

  static Millis cfg_silence() { return Millis(3 * 20'000 + 5'000); }

  awaitable<void> heartbeat(std::shared_ptr<tcp::socket> c) {
    auto self = shared_from_this();
    asio::steady_timer t(io);
    while (!stopping && c->is_open()) {
      t.expires_after(Millis(5'000));
      boost::system::error_code ec;
      co_await t.async_wait(use_ec(ec));
      if (stopping || !c->is_open()) break;
      static const std::string kAlive = "ALIVE\n";
      if (!co_await write_all_for(*c, asio::buffer(kAlive), Millis(5'000))) {
        boost::system::error_code ignored;
        c->close(ignored);  // ends the session's read: it reconnects
        break;
      }
    }
  }

  // A PUNCH: from a new connection to the relay (whose port the punch leaves from), PUNCHING;
  // at GO, the punch to the gateway's endpoint; a connection made is the exit's, as a dial back.
  awaitable<void> punch_back(std::string token, tcp::endpoint gateway);

  awaitable<void> dial_back(std::string token, std::string source) {
    auto self = shared_from_this();
    auto s = co_await dial(io.get_executor(), relay, std::nullopt, Millis(10'000));
    if (!s) co_return;
    std::string line = fmt::format("{} ACCEPT {} {}\n", kMagic, key.address().to_string(), token);
    if (!co_await write_all_for(*s, asio::buffer(line), Millis(10'000))) co_return;
    if (!stopping) accept(std::move(*s), std::move(source));
  }
};

// ---- Punching ----------------------------------------------------------------------------------

awaitable<void> RelayClient::Impl::punch_back(std::string token, tcp::endpoint gateway) {
  auto self = shared_from_this();
  CountedIn count(punches);
  auto s = co_await dial_reusable(io.get_executor(), relay, any_port_like(relay), Millis(10'000));
  if (!s) co_return;
  std::string line = fmt::format("{} PUNCHING {} {}\n", kMagic, key.address().to_string(), token);
  if (!co_await write_all_for(*s, asio::buffer(line), Millis(10'000))) co_return;
  auto go = co_await read_line(*s, Millis(10'000));
  if (!go || *go != "GO") co_return;
  boost::system::error_code ec;
  const tcp::endpoint local = s->local_endpoint(ec);
  if (ec) co_return;
  auto punched = co_await punch(io.get_executor(), local, gateway, kPunchTimeout);
  if (!punched && log && !stopping)
    log("a punch to a gateway failed: " + punched.error().message());
  if (!punched || stopping) co_return;
  accept(std::move(*punched), gateway.address().to_string());
}

RelayClient::RelayClient(asio::io_context& io, tcp::endpoint relay, crypto::PrivateKey key,
                         const Clock& clock, std::function<void(tcp::socket, std::string)> accept,
                         std::function<void(const std::string&)> log, Millis retry)
    : impl_(std::make_shared<Impl>(io, relay, std::move(key), clock, std::move(accept),
                                   std::move(log), retry)) {}

RelayClient::~RelayClient() {
  stop();
}

void RelayClient::start() {
  asio::co_spawn(impl_->io, impl_->run(), asio::detached);
}

void RelayClient::stop() {
  impl_->stopping = true;
  impl_->timer.cancel();
  boost::system::error_code ignored;
  if (impl_->control) impl_->control->close(ignored);
}

// ---- The gateway's side ------------------------------------------------------------------------

namespace {

// A gateway's request to the relay: `verb` for `provider` on a new connection (from a port
// others may bind too when `reusable`), and the relay's answer line.
struct RelayAnswer {
  tcp::socket socket;
  std::string line;
};
awaitable<Result<RelayAnswer>> ask_relay(asio::any_io_executor ex, tcp::endpoint relay,
                                         std::string_view verb, const Address& provider,
                                         Millis timeout, bool reusable) {
  // (Not a conditional expression: gcc 12 destroys a co_await's temporary there twice.)
  Result<tcp::socket> s = std::unexpected(Error(NetErrc::exit_failed, "not dialled"));
  if (reusable)
    s = co_await dial_reusable(ex, relay, any_port_like(relay), timeout);
  else
    s = co_await dial(ex, relay, std::nullopt, timeout);
  if (!s) co_return std::unexpected(s.error().with_context("the relay"));
  std::string line = fmt::format("{} {} {}\n", kMagic, verb, provider.to_string());
  if (auto w = co_await write_all_for(*s, asio::buffer(line), timeout); !w)
    co_return std::unexpected(w.error().with_context("the relay"));
  auto answer = co_await read_line(*s, timeout);
  if (!answer) co_return std::unexpected(answer.error().with_context("the relay"));
  co_return RelayAnswer{std::move(*s), std::move(*answer)};
}

Error refused_by(const tcp::endpoint& relay, const std::string& answer) {
  return Error(NetErrc::exit_failed,
               fmt::format("the relay {}:{}: {}", relay.address().to_string(), relay.port(),
                           answer.starts_with("ERR ") ? answer.substr(4) : answer));
}

}  // namespace

awaitable<Result<tcp::socket>> relay_connect(asio::any_io_executor ex, tcp::endpoint relay,
                                             const Address& provider, Millis timeout) {
  auto a = co_await ask_relay(ex, relay, "CONNECT", provider, timeout, false);
  if (!a) co_return std::unexpected(a.error());
  if (a->line != "OK") co_return std::unexpected(refused_by(relay, a->line));
  co_return std::move(a->socket);
}

awaitable<Result<RelayPunch>> relay_punch(asio::any_io_executor ex, tcp::endpoint relay,
                                          const Address& provider, Millis timeout) {
  auto a = co_await ask_relay(ex, relay, "PUNCH", provider, timeout, true);
  if (!a) co_return std::unexpected(a.error());
  auto w = words(a->line);
  auto peer = w.size() == 3 && w[0] == "PEER" ? endpoint_of(w[1], w[2]) : std::nullopt;
  if (!peer) co_return std::unexpected(refused_by(relay, a->line));
  if (!punchable(*peer, relay))
    co_return fail(NetErrc::exit_failed,
                   fmt::format("the relay named {} to punch to, not an address a punch may go to",
                               peer->address().to_string()));
  boost::system::error_code ec;
  const tcp::endpoint local = a->socket.local_endpoint(ec);
  if (ec) co_return fail(NetErrc::exit_failed, "the relay connection's port: " + ec.message());
  auto punched = co_await punch(ex, local, *peer, timeout);
  if (!punched) co_return std::unexpected(punched.error());
  co_return RelayPunch{std::move(*punched), *peer};
}

}  // namespace ipsx::net
