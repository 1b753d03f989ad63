// The gateway's insides (net/gateway.h is the interface), shared by gateway.cc (leases, the pair
// channels, the clients) and gateway_vpn.cc (VPN tunnels over a lease's pair channel). Every
// member runs on the gateway's io_context unless its comment says otherwise.
#pragma once

#include "core/text_hash.h"
#include "net/address_policy.h"
#include "net/gateway.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "crypto/eip191.h"
#include "crypto/eip712.h"
#include "net/http_forward.h"
#include "net/http_proxy.h"
#include "net/http_text.h"
#include "net/io_util.h"
#include "net/mux.h"
#include "net/net_error.h"
#include "net/pair_client.h"
#include "net/pair_messages.h"
#include "net/proxy_front.h"
#include "net/relay.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "net/udp_relay.h"

namespace ipsx::net {

struct Gateway::Impl : std::enable_shared_from_this<Impl> {
  using Steady = std::chrono::steady_clock;

  static std::string describe(const ProxyFilters& f) {
    auto s = to_string(f);
    return s && !s->empty() ? *s : std::string("any IP");
  }

  // One leased IP and its pair channel.
  struct Link {
    explicit Link(asio::any_io_executor ex) : ready(ex), vpn_ready(ex) {}
    enum class State { idle, connecting, up, dead };
    Lease lease;
    State state = State::idle;
    std::shared_ptr<MuxChannel> channel;
    std::optional<Error> dead_reason;
    asio::steady_timer ready;  // wakes the connections waiting for `connecting` to end
    WelcomeMessage welcome;
    Amount paid;
    bool reported_connected = false;
    bool punch_tried = false;  // once per deal: a NAT that will not be punched stays so
    bool dial_failed = false;  // the last connect failed before the exit could answer
    std::optional<Steady::time_point> unreachable_since;  // since when the exit cannot be reached
    std::optional<Error> unreachable_why;                 // and why, as last tried
    uint64_t reads_seen = 0;                              // the channel's reads() at the last look
    Steady::time_point heard_at{};                        // when they last moved
    // A VPN tunnel over the deal (gateway_vpn.cc): the requester's key, the exit's last answer
    // (and the timer that wakes whoever waits for it), whether a reconnect asks again now.
    std::optional<WgKey> vpn_key;
    std::optional<Result<VpnConfigMessage>> vpn_answer;
    std::optional<VpnConfigMessage> vpn_config;  // the tunnel the requester brought up
    asio::steady_timer vpn_ready;
    bool vpn_asking = false;
    // Usage receipts (docs/usage-receipts.md): the streams this gateway opened on the deal (to
    // check the exit's records against), the log as checked so far, and why we stopped signing.
    struct Opened {
      uint32_t stream = 0;
      std::string host;
      uint16_t port = 0;
      int64_t at_ms = 0;
    };
    std::deque<Opened> opened;
    UsageLog usage;
    std::optional<std::string> usage_disputed;
  };
  static constexpr size_t kMaxOpenedStreams = 65'536;
  // How far the exit's clock may put a connection's opening from ours.
  static constexpr int64_t kUsageSkewMs = 30'000;

  struct Sticky {
    Hash deal;
    Steady::time_point until;
  };

  Impl(asio::io_context& io, GatewayConfig c, crypto::PrivateKey key, GatewayMarket* m,
       const Clock& clk)
      : io(io),
        cfg(std::move(c)),
        requester(std::move(key)),
        market(m),
        clock(clk),
        acceptor(io),
        client_ctx(make_client_context()),
        splices(std::make_shared<SpliceRegistry>(io.get_executor(), cfg.idle_timeout)) {}

  asio::io_context& io;
  GatewayConfig cfg;
  crypto::PrivateKey requester;
  GatewayMarket* market;
  const Clock& clock;
  tcp::acceptor acceptor;
  std::shared_ptr<asio::ssl::context> client_ctx;
  std::shared_ptr<SpliceRegistry> splices;
  std::atomic<uint16_t> port{0};
  std::atomic<size_t> clients{0};
  size_t refusing = 0;  // clients over max_clients being told so (io thread only)
  bool stopping = false;
  // The market's answers come on its own thread and are posted to `io`; once the Gateway is
  // stopped or destroyed (its io_context may go next), they are dropped instead.
  struct AnswerGate {
    std::mutex mu;
    bool open = true;
  };
  std::shared_ptr<AnswerGate> answers = std::make_shared<AnswerGate>();
  void close_answers() {
    std::lock_guard lock(answers->mu);
    answers->open = false;
  }
  std::vector<std::shared_ptr<Link>> links;
  std::shared_ptr<asio::steady_timer> watch_timer;  // watch_channels()'s
  TextMap<Sticky> sticky;
  size_t rotate = 0;
  std::function<void(const Hash&, LeaseEvent, const std::string&)> on_event;
  mutable std::mutex stats_mu;
  std::unordered_map<Hash, GatewayLeaseStats, FixedBytesHasher> stats;

  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(clock.now())); }

  template <class F>
  void with_stats(const Hash& id, F&& f) {
    std::lock_guard lock(stats_mu);
    f(stats[id]);
  }

  void event(Link& l, LeaseEvent e, const std::string& reason) {
    if (on_event) on_event(l.lease.deal_id, e, reason);
  }

  void add(Lease lease) {
    for (auto& l : links)
      if (l->lease.deal_id == lease.deal_id) return;
    auto l = std::make_shared<Link>(io.get_executor());
    l->lease = std::move(lease);
    with_stats(l->lease.deal_id, [ip = l->lease.ip](GatewayLeaseStats& s) { s.ip = ip; });
    links.push_back(std::move(l));
  }

  bool usable(const Link& l) const {
    return l.state != Link::State::dead && now_s() >= l.lease.start && now_s() < l.lease.end;
  }

  void drop(Link& l, const Error& why, LeaseEvent e) {
    if (l.state == Link::State::dead) return;
    l.state = Link::State::dead;
    l.dead_reason = why;
    l.vpn_ready.cancel();
    with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) {
      s.failed = why.message();
      s.connected = false;
    });
    if (l.channel) l.channel->close(why);
    l.channel.reset();
    l.ready.cancel();
    event(l, e, why.message());
  }

  // ---- Choosing a lease ------------------------------------------------------------------------

  std::shared_ptr<Link> find(const Hash& deal) {
    for (auto& l : links)
      if (l->lease.deal_id == deal) return l;
    return nullptr;
  }

  awaitable<Result<std::shared_ptr<Link>>> choose(const ProxyFilters& f) {
    std::string key;
    if (f.session) {
      key = f.account.value_or("") + "\x1f" + *f.session;
      auto it = sticky.find(key);
      if (it != sticky.end() && Steady::now() < it->second.until) {
        auto l = find(it->second.deal);
        if (l && usable(*l) && lease_fits(l->lease, f)) co_return l;
      }
      sticky.erase(key);
    }
    // A lease whose exit cannot be reached now (kept for its reconnect grace) is chosen only
    // when no other fits and the market has none: a crawler without a session moves on to
    // another IP at once, as it would if the deal had failed.
    std::vector<std::shared_ptr<Link>> fit, unreachable;
    for (auto& l : links) {
      if (!usable(*l) || !lease_fits(l->lease, f)) continue;
      (l->unreachable_since ? unreachable : fit).push_back(l);
    }
    std::shared_ptr<Link> chosen;
    if (!fit.empty()) {
      chosen = fit[rotate++ % fit.size()];
    } else {
      auto got = co_await acquire(f);
      if (!got && unreachable.empty()) co_return std::unexpected(got.error());
      chosen = got ? *got : unreachable[rotate++ % unreachable.size()];
    }
    if (f.session) {
      uint64_t ttl = f.ttl_seconds.value_or(cfg.default_session_ttl);
      sticky[key] = Sticky{chosen->lease.deal_id, Steady::now() + std::chrono::seconds(ttl)};
    }
    co_return chosen;
  }

  awaitable<Result<std::shared_ptr<Link>>> acquire(const ProxyFilters& f) {
    if (!market)
      co_return fail(NetErrc::no_lease,
                     fmt::format("no leased IP fits {} and no market is configured", describe(f)));
    auto answer =
        co_await ask_market<Lease>([&](auto done) { market->acquire(f, std::move(done)); });
    if (!answer)
      co_return fail(NetErrc::no_lease,
                     fmt::format("no leased IP fits {} and the market found none within {} ms",
                                 describe(f), cfg.acquire_timeout.count()));
    if (!*answer) {
      const Error& e = answer->error();
      co_return fail(NetErrc::no_lease,
                     fmt::format("no leased IP fits {}: the market: {}", describe(f), e.message()));
    }
    Lease lease = std::move(**answer);
    if (!lease_fits(lease, f))
      co_return fail(NetErrc::no_lease, fmt::format("the market's lease {} does not fit {}",
                                                    lease.deal_id.hex(), describe(f)));
    add(lease);
    auto l = find(lease.deal_id);
    if (!l || !usable(*l))
      co_return fail(NetErrc::no_lease, "the market's lease is not usable now");
    co_return l;
  }

  // ---- The pair channel ------------------------------------------------------------------------

  awaitable<Result<std::shared_ptr<MuxChannel>>> channel_of(std::shared_ptr<Link> l) {
    auto deadline = Steady::now() + cfg.connect_timeout;
    for (;;) {
      if (l->state == Link::State::dead)
        co_return std::unexpected(l->dead_reason.value_or(Error(NetErrc::exit_failed, "dead")));
      if (l->state == Link::State::up && l->channel && l->channel->is_open()) co_return l->channel;
      if (l->state == Link::State::connecting) {
        if (Steady::now() >= deadline)
          co_return fail(NetErrc::timed_out, "the pair channel is still connecting");
        l->ready.expires_at(deadline);
        boost::system::error_code ec;
        co_await l->ready.async_wait(use_ec(ec));
        continue;
      }
      l->state = Link::State::connecting;
      auto ch = co_await connect(*l);
      if (l->state == Link::State::dead) co_return fail(NetErrc::exit_failed, "lease dropped");
      // The exit may have moved (a provider that restarted listens elsewhere): where the market
      // now says it is, the deal goes on. Once per failure, only to a new address.
      if (!ch && co_await relocate(l)) {
        l->state = Link::State::idle;
        continue;
      }
      if (!ch) {
        // A deal that worked and now cannot be reached is kept for a while: a relay restarting,
        // a NAT that lost its mappings or a provider reconnecting comes back within seconds.
        const auto now = Steady::now();
        if (l->dial_failed && l->reported_connected) {
          if (!l->unreachable_since) l->unreachable_since = now;
          l->unreachable_why = ch.error();
          const auto left =
              std::chrono::duration_cast<Millis>(*l->unreachable_since + cfg.reconnect_grace - now);
          if (left > Millis(0)) {
            l->state = Link::State::idle;
            l->ready.cancel();
            co_return std::unexpected(ch.error().with_context(fmt::format(
                "the deal is kept while its exit is unreachable, {} s more", left.count() / 1000)));
          }
        }
        drop(*l, ch.error(), LeaseEvent::failed);
        co_return std::unexpected(ch.error());
      }
      l->unreachable_since.reset();
      adopt(*l, *ch);
      l->state = Link::State::up;
      l->ready.cancel();
      with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { s.connected = true; });
      if (!l->reported_connected) {
        l->reported_connected = true;
        // The path, for the log: direct to the exit, or through its relay.
        const std::string at =
            fmt::format("{}:{}", l->lease.exit.address().to_string(), l->lease.exit.port());
        event(*l, LeaseEvent::connected,
              l->lease.relayed ? "relayed through " + at : "direct to " + at);
      }
      bool was_punched = false;
      with_stats(l->lease.deal_id, [&](GatewayLeaseStats& s) {
        was_punched = s.path == "punched";
        s.path = l->lease.relayed ? "relayed" : "direct";
      });
      if (was_punched && l->lease.relayed) {
        event(*l, LeaseEvent::path,
              fmt::format("relayed through {}:{} again (the punched connection closed)",
                          l->lease.exit.address().to_string(), l->lease.exit.port()));
      }
      if (l->lease.relayed && cfg.punch && !l->punch_tried) {
        l->punch_tried = true;
        asio::co_spawn(io, move_to_punched(l), asio::detached);
      }
      co_return l->channel;
    }
  }

  // Asks the market where the lease's exit listens now; true (and the lease updated) if that is
  // somewhere else than where the gateway last dialled.
  awaitable<bool> relocate(std::shared_ptr<Link> l) {
    if (!market) co_return false;
    auto where = co_await ask_market<ExitAddress>(
        [&](auto done) { market->locate(l->lease.provider, std::move(done)); });
    if (l->state == Link::State::dead || !where || !*where) co_return false;
    if ((**where == ExitAddress{l->lease.exit, l->lease.relayed})) co_return false;
    l->lease.exit = (*where)->at;
    l->lease.relayed = (*where)->relayed;
    co_return true;
  }

  // Asks the market (START hands its callback to one GatewayMarket call, which may answer on any
  // thread) and waits for the answer on the gateway's executor; nullopt if none came within
  // acquire_timeout. A late answer is dropped, and so is one that comes after the Gateway was
  // stopped or destroyed.
  template <class T, class Start>
  awaitable<std::optional<Result<T>>> ask_market(Start start) {
    struct Wait {
      explicit Wait(asio::any_io_executor ex) : timer(ex) {}
      asio::steady_timer timer;
      std::optional<Result<T>> result;
    };
    auto w = std::make_shared<Wait>(io.get_executor());
    auto self = shared_from_this();
    start([w, self, gate = answers](Result<T> r) {
      std::lock_guard lock(gate->mu);
      if (!gate->open) return;
      asio::post(self->io, [w, r = std::move(r)]() mutable {
        w->result = std::move(r);
        w->timer.cancel();
      });
    });
    w->timer.expires_after(cfg.acquire_timeout);
    boost::system::error_code ec;
    co_await w->timer.async_wait(use_ec(ec));
    co_return std::move(w->result);
  }

  // `ch` becomes the deal's channel, heard from now (watch_channels); returns the one before.
  std::shared_ptr<MuxChannel> adopt(Link& l, std::shared_ptr<MuxChannel> ch) {
    ch->max_streams = cfg.max_streams_per_channel;
    l.reads_seen = ch->reads();
    l.heard_at = Steady::now();
    return std::exchange(l.channel, std::move(ch));
  }

  // Every third of silence_timeout: pings each live pair channel, and closes one that has not
  // been heard from for silence_timeout (its next client reconnects it).
  awaitable<void> watch_channels() {
    auto self = shared_from_this();
    watch_timer = std::make_shared<asio::steady_timer>(io);
    auto timer = watch_timer;
    while (!stopping) {
      timer->expires_after(cfg.silence_timeout / 3);
      boost::system::error_code ec;
      co_await timer->async_wait(use_ec(ec));
      if (stopping) break;
      const auto now = Steady::now();
      for (auto& l : links) {
        // A deal whose exit stayed unreachable through its grace is failed, even when no client
        // came back to it (a client without a session moves to another lease meanwhile).
        if (l->unreachable_since && l->state == Link::State::idle &&
            now - *l->unreachable_since >= cfg.reconnect_grace) {
          drop(*l,
               l->unreachable_why.value_or(Error(NetErrc::exit_failed, "the exit is unreachable"))
                   .with_context(
                       fmt::format("unreachable for {} s", cfg.reconnect_grace.count() / 1000)),
               LeaseEvent::failed);
          continue;
        }
        keep_vpn(l);
        if (l->state != Link::State::up || !l->channel || !l->channel->is_open()) continue;
        if (l->channel->reads() != l->reads_seen) {
          l->reads_seen = l->channel->reads();
          l->heard_at = now;
        } else if (now - l->heard_at >= cfg.silence_timeout) {
          l->channel->close(
              Error(NetErrc::timed_out, fmt::format("the exit has been silent for {} s",
                                                    cfg.silence_timeout.count() / 1000)));
          continue;
        }
        l->channel->send_control(FrameType::ping, {});
      }
    }
  }

  // A relayed deal's channel moves to a hole punched through both NATs (net/punch.h), when
  // one opens: new client connections go over it, and the relayed channel closes once the
  // connections it carries have ended. When no hole opens, the deal stays relayed.
  awaitable<void> move_to_punched(std::shared_ptr<Link> l) {
    auto self = shared_from_this();
    const std::string relay =
        fmt::format("{}:{}", l->lease.exit.address().to_string(), l->lease.exit.port());
    auto punched = co_await relay_punch(io.get_executor(), l->lease.exit, l->lease.provider,
                                        cfg.punch_timeout);
    if (stopping) co_return;
    if (l->state != Link::State::up) {
      l->punch_tried = false;  // the relayed channel went meanwhile: try with the next one
      co_return;
    }
    if (!punched) {
      event(*l, LeaseEvent::path,
            "stays relayed through " + relay + " (" + punched.error().message() + ")");
      co_return;
    }
    const std::string to =
        fmt::format("{}:{}", punched->peer.address().to_string(), punched->peer.port());
    auto ch = co_await handshake(*l, std::move(punched->socket));
    if (stopping || l->state != Link::State::up) {
      if (ch) (*ch)->close(Error(NetErrc::channel_closed, "the lease ended"));
      co_return;
    }
    if (!ch) {
      event(*l, LeaseEvent::path,
            "stays relayed through " + relay + " (the punched connection to " + to +
                " failed: " + ch.error().message() + ")");
      co_return;
    }
    l->punch_tried = false;  // if the punched connection goes, the deal tries again
    std::shared_ptr<MuxChannel> relayed = adopt(*l, *ch);
    with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { s.path = "punched"; });
    event(*l, LeaseEvent::path, "punched to " + to + " (was relayed through " + relay + ")");
    // The relayed channel ends with the last connection it carries.
    asio::steady_timer t(io);
    while (relayed && relayed->is_open() && relayed->stream_count() > 0) {
      t.expires_after(Millis(500));
      boost::system::error_code ec;
      co_await t.async_wait(use_ec(ec));
    }
    if (relayed) relayed->close(Error(NetErrc::channel_closed, "the deal moved to a punched path"));
  }

  awaitable<Result<std::shared_ptr<MuxChannel>>> connect(Link& l) {
    asio::any_io_executor ex = io.get_executor();
    // (Not a conditional expression: gcc 12 destroys a co_await's temporary there twice.)
    Result<tcp::socket> sock = std::unexpected(Error(NetErrc::exit_failed, "not dialled"));
    if (l.lease.relayed)
      sock = co_await relay_connect(ex, l.lease.exit, l.lease.provider, cfg.connect_timeout);
    else
      sock = co_await dial(ex, l.lease.exit, std::nullopt, cfg.connect_timeout);
    l.dial_failed = !sock;
    if (!sock) co_return std::unexpected(sock.error().with_context("the exit's pair channel"));
    co_return co_await handshake(l, std::move(*sock));
  }

  // The pair channel's handshake on a connection to the exit (direct, relayed or punched).
  awaitable<Result<std::shared_ptr<MuxChannel>>> handshake(Link& l, tcp::socket sock) {
    auto stream = std::make_unique<TlsStream>(std::move(sock), *client_ctx);
    Bytes buffer;
    auto welcome =
        co_await pair_client_handshake(*stream, buffer, l.lease.provider, l.lease.deal_id,
                                       requester, now_s(), cfg.connect_timeout);
    if (!welcome) co_return std::unexpected(welcome.error());
    l.welcome = *welcome;
    with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) {
      s.proxy_username = welcome->proxy_username;
      s.proxy_password = welcome->proxy_password;
      s.proxy_port = welcome->proxy_port;
    });

    auto ch = std::make_shared<MuxChannel>(std::move(stream), true, std::move(buffer));
    std::weak_ptr<Link> weak = find(l.lease.deal_id);
    ch->on_control = [this, weak](const Frame& f) {
      auto link = weak.lock();
      if (!link) return;
      if (f.type == FrameType::invoice) pay(*link, f);
      if (f.type == FrameType::usage) acknowledge_usage(*link, f);
      if (f.type == FrameType::cut) drop(*link, parse_error_payload(f.payload), LeaseEvent::cut);
      if (f.type == FrameType::vpn_config || f.type == FrameType::vpn_refused)
        on_vpn_answer(*link, f);
    };
    MuxChannel* raw = ch.get();
    ch->on_closed = [this, weak, raw](const Error&) {
      auto link = weak.lock();
      if (!link || link->state == Link::State::dead) return;
      if (link->channel.get() != raw) return;  // a channel the deal has moved from
      link->state = Link::State::idle;         // reconnects on the next client
      link->vpn_ready.cancel();                // a VPN request waiting on it asks again
      link->channel.reset();
      with_stats(link->lease.deal_id, [](GatewayLeaseStats& s) { s.connected = false; });
    };
    ch->start();
    co_return ch;
  }

  void pay(Link& l, const Frame& f) {
    auto inv = parse_invoice(f.payload);
    if (!inv || inv->deal_id != l.lease.deal_id || !l.channel) return;
    if (l.vpn_key)  // the tunnel's bytes are counted at the exit only
      with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) {
        s.bytes_up = std::max(s.bytes_up, inv->bytes_up);
        s.bytes_down = std::max(s.bytes_down, inv->bytes_down);
      });
    // Never more than the deal's time so far, by our clock, and never above the deposit.
    uint64_t t = std::min(now_s() + cfg.pay_slack_seconds, l.lease.end);
    uint64_t secs = t > l.lease.start ? t - l.lease.start : 0;
    auto bound = Amount::from_base(l.lease.price_per_second).mul(U256(secs));
    Amount limit = bound && *bound < l.lease.max_amount ? *bound : l.lease.max_amount;
    Amount amount = std::min(inv->amount_due, limit);
    if (amount <= l.paid) return;
    BalanceProof bp{l.lease.deal_id, amount.base()};
    auto sig =
        crypto::sign(requester, crypto::eip712::digest(l.lease.domain_separator, bp.struct_hash()));
    if (!sig) return;
    l.paid = amount;
    with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) { s.paid = amount; });
    l.channel->send_control(FrameType::proof,
                            to_payload(ProofMessage{l.lease.deal_id, amount, *sig}));
  }

  // Checks the exit's new usage records against the streams this gateway opened, and signs a
  // receipt for the log if every record is one of ours (or a connection to the exit's front, when
  // the requester says it uses the fronts itself) and the exit's root is the one we compute. Once a
  // record is not ours, no later root can be signed: the dispute is kept in the lease's stats.
  void acknowledge_usage(Link& l, const Frame& f) {
    auto m = parse_usage(f.payload);
    if (!m || m->deal_id != l.lease.deal_id || !l.channel || l.usage_disputed) return;
    auto dispute = [&](std::string why) {
      l.usage_disputed = why;
      with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) { s.usage_disputed = why; });
    };
    for (const auto& r : m->records) {
      if (r.index < l.usage.size()) continue;  // seen (sent to two channels)
      if (r.index > l.usage.size())
        return dispute(fmt::format("record {} came before record {}", r.index, l.usage.size()));
      if (r.stream == 0 && l.vpn_key && !cfg.sign_vpn_usage && !cfg.vpn_flow_check)
        return dispute(
            fmt::format("record {} ({}:{}) is a flow through the VPN tunnel, which "
                        "this requester does not check",
                        r.index, r.host, r.port));
      if (r.stream == 0 && l.vpn_key && !cfg.sign_vpn_usage && !cfg.vpn_flow_check(r))
        return dispute(
            fmt::format("record {} ({}:{}) is no flow this host opened through the "
                        "VPN tunnel",
                        r.index, r.host, r.port));
      if (r.stream == 0 && !l.vpn_key && !cfg.sign_front_usage)
        return dispute(
            fmt::format("record {} ({}:{}) is a connection at the exit's front, which "
                        "this gateway does not use",
                        r.index, r.host, r.port));
      if (r.stream != 0) {
        auto it = std::find_if(l.opened.begin(), l.opened.end(), [&](const Link::Opened& o) {
          return o.stream == r.stream && o.host == r.host && o.port == r.port &&
                 std::abs(o.at_ms - r.opened_ms) <= kUsageSkewMs;
        });
        if (it == l.opened.end())
          return dispute(fmt::format("record {} ({}:{} on stream {}) is no stream we opened",
                                     r.index, r.host, r.port, r.stream));
        l.opened.erase(it);
      }
      l.usage.append(usage_leaf(r));
    }
    if (l.usage.size() != m->count) return;  // a message of ours still to come
    if (l.usage.root() != m->root)
      return dispute(fmt::format("the exit's root of {} records is not ours", m->count));
    UsageReceipt receipt{l.lease.deal_id, m->count, m->root};
    auto sig = crypto::sign(
        requester, crypto::eip712::digest(l.lease.domain_separator, receipt.struct_hash()));
    if (!sig) return;
    with_stats(l.lease.deal_id, [&](GatewayLeaseStats& s) { s.usage_receipted = m->count; });
    l.channel->send_control(FrameType::receipt,
                            to_payload(ReceiptMessage{l.lease.deal_id, m->count, m->root, *sig}));
  }

  // ---- Clients ---------------------------------------------------------------------------------

  awaitable<void> accept_clients() {
    auto self = shared_from_this();
    while (!stopping) {
      boost::system::error_code ec;
      tcp::socket sock = co_await acceptor.async_accept(use_ec(ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        co_await pause_after_accept_error(ec);  // e.g. EMFILE: serve the clients we have
        continue;
      }
      if (clients >= cfg.max_clients) {
        // Told why, in its own protocol, rather than closed without a word. The refusals are
        // bounded too: past them (a flood), a connection is closed at once.
        if (refusing < kMaxRefusing)
          asio::co_spawn(io, refuse_busy(std::move(sock)), asio::detached);
        continue;
      }
      asio::co_spawn(io, handle_client(std::move(sock)), asio::detached);
    }
  }

  // A client over max_clients: its request is read (any credentials: it is refused whatever
  // they are) under a short deadline, and answered "overloaded": SOCKS5 general failure, or HTTP
  // 503 with the reason.
  static constexpr size_t kMaxRefusing = 256;
  awaitable<void> refuse_busy(tcp::socket client) {
    auto self = shared_from_this();
    ++refusing;
    make_non_blocking(client);
    Millis deadline = std::min<Millis>(cfg.client_timeout, Millis{5'000});
    FrontAuthenticate any = [](const std::string&, const std::string&) -> Result<void> {
      return {};
    };
    auto req = co_await read_front_request(client, deadline, any);
    if (req) {
      Error why(
          NetErrc::overloaded,
          fmt::format("the gateway is at its limit of {} clients; retry later", cfg.max_clients));
      co_await answer_failure(client, *req, why, deadline);
    }
    boost::system::error_code ignored;
    client.close(ignored);
    --refusing;
  }

  awaitable<void> handle_client(tcp::socket client) {
    auto self = shared_from_this();
    ++clients;
    boost::system::error_code ec;
    client.set_option(tcp::no_delay(true), ec);
    make_non_blocking(client);
    ProxyFilters filters;
    const bool open = in_ranges(cfg.open_to, client.remote_endpoint(ec).address());
    FrontAuthenticate authenticate = [&](const std::string& user,
                                         const std::string& pass) -> Result<void> {
      auto f = open && user.empty() && pass.empty() ? Result<ProxyFilters>(cfg.open_filters)
                                                    : check_proxy_login(user, pass, cfg.password);
      if (!f) return std::unexpected(f.error());
      filters = *f;
      return {};
    };
    auto first = co_await read_front_request(client, cfg.client_timeout, authenticate, {}, false,
                                             /*udp_associate=*/true);
    std::optional<FrontRequest> req;
    if (first) req = std::move(*first);
    while (req) {
      if (req->udp) {
        co_await associate(client, *req, filters);
        break;
      }
      if (!req->http) {
        co_await serve(client, *req, filters);
        break;
      }
      // Plain HTTP: request after request on this connection; a CONNECT among them comes back.
      HttpForwarder forwarder;
      forwarder.request_timeout = cfg.client_timeout;
      forwarder.authenticate = authenticate;
      forwarder.connect = [this, &filters](const FrontRequest& r) -> awaitable<Result<HttpHop>> {
        // Early (the request right after OPEN) only without a body: a client that waits for
        // 100 Continue before its body must hear the exit's refusal.
        const bool early = r.http && HttpBodyScanner::for_request(*r.http).done();
        auto opened = co_await open_stream(r, filters, early);
        if (!opened) co_return std::unexpected(opened.error());
        co_return HttpHop{stream_upstream(opened->second), meter(opened->first->lease.deal_id)};
      };
      req = co_await forward_http(client, std::move(*req), forwarder, *splices);
    }
    boost::system::error_code ignored;
    client.close(ignored);
    --clients;
  }

  std::function<void(uint64_t, uint64_t)> meter(const Hash& id) {
    return [this, id](uint64_t up, uint64_t down) {
      with_stats(id, [&](GatewayLeaseStats& s) {
        s.bytes_up += up;
        s.bytes_down += down;
      });
    };
  }

  // A lease that fits, its pair channel, and a stream the exit has connected to the destination.
  // `early`: the stream as soon as OPEN is sent, without waiting for the exit's answer (plain
  // HTTP: the request follows OPEN at once, saving a round trip to the exit; an OPEN the exit
  // refuses resets the stream with the exit's reason, which the forwarder answers the client).
  awaitable<Result<std::pair<std::shared_ptr<Link>, std::shared_ptr<MuxStream>>>> open_stream(
      const FrontRequest& req, const ProxyFilters& f, bool early = false) {
    auto link = co_await choose(f);
    if (!link) co_return std::unexpected(link.error());
    auto l = *link;
    auto ch = co_await channel_of(l);
    if (!ch) {
      with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { ++s.failures; });
      co_return std::unexpected(ch.error());
    }
    auto stream = (*ch)->open(to_payload(OpenMessage{req.destination, req.protocol, req.udp}));
    if (!stream) co_return std::unexpected(stream.error());
    auto st = *stream;
    if (l->opened.size() >= kMaxOpenedStreams) l->opened.pop_front();
    l->opened.push_back({st->id(), format_host(req.destination.host), req.destination.port,
                         to_unix_ms(clock.now())});
    if (early) {
      with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { ++s.connections; });
      co_return std::pair{l, st};
    }
    auto opened = co_await st->wait_opened(cfg.connect_timeout);
    if (!opened) {
      with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { ++s.failures; });
      co_return std::unexpected(opened.error());
    }
    with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { ++s.connections; });
    co_return std::pair{l, st};
  }

  // A SOCKS5 UDP ASSOCIATE: the relay is here, the datagrams go over a UDP stream to the exit,
  // which sends them from the leased IP.
  awaitable<void> associate(tcp::socket& client, const FrontRequest& req, const ProxyFilters& f) {
    auto opened = co_await open_stream(req, f);
    if (!opened) {
      co_await answer_failure(client, req, opened.error(), cfg.client_timeout);
      co_return;
    }
    auto [l, st] = *opened;
    auto up = stream_udp_upstream(st, meter(l->lease.deal_id));
    co_await serve_udp_associate(client, req, std::move(up), *splices, nullptr, cfg.client_timeout);
  }

  // A SOCKS5 CONNECT or an HTTP CONNECT: a tunnel.
  awaitable<void> serve(tcp::socket& client, const FrontRequest& req, const ProxyFilters& f) {
    auto opened = co_await open_stream(req, f);
    if (!opened) {
      co_await answer_failure(client, req, opened.error(), cfg.client_timeout);
      co_return;
    }
    auto [l, st] = *opened;
    Endpoint bound{l->lease.ip, 0};
    auto answered = co_await answer_success(client, req, bound, cfg.client_timeout);
    if (!answered) {
      st->reset();
      co_return;
    }
    if (!req.leftover.empty()) {
      auto w = co_await st->write(req.leftover);
      if (!w) co_return;
    }
    std::function<void(uint64_t, uint64_t)> on_bytes = meter(l->lease.deal_id);
    co_await splice(std::move(client), st, *splices, true, on_bytes);
  }

  // ---- VPN tunnels (gateway_vpn.cc) ------------------------------------------------------------

  // A new lease fitting `f`, its exit asked for a tunnel for `key`; `done` once.
  awaitable<void> open_vpn(ProxyFilters f, WgKey key, std::function<void(Result<VpnLease>)> done);
  // VPN_OPEN on the deal's channel (connected if need be), and the exit's answer.
  awaitable<Result<VpnConfigMessage>> ask_vpn(std::shared_ptr<Link> l);
  void on_vpn_answer(Link& l, const Frame& f);
  // A VPN deal whose channel closed is reconnected (and its tunnel asked for again), so that
  // its invoices are paid with no client to bring the channel back.
  void keep_vpn(const std::shared_ptr<Link>& l);

  void stop_now() {
    stopping = true;
    if (watch_timer) watch_timer->cancel();
    boost::system::error_code ec;
    acceptor.close(ec);
    splices->close();
    for (auto& l : links)
      if (l->channel) l->channel->close(Error(NetErrc::channel_closed, "the gateway is stopping"));
  }
};

}  // namespace ipsx::net
