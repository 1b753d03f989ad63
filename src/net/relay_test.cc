// The relay on loopback: a provider's RelayClient serving an echo "exit", gateways joined to it
// through relay_connect, and what the relay refuses (a forged or stale SERVE, an unknown
// provider, a provider over its connection or byte limit, a provider that never dials back).
#include "net/relay.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/eip191.h"
#include "net/dataplane_test_util.h"
#include "net/io_util.h"
#include "net/net_error.h"
#include "net/punch.h"

namespace ipsx::net {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::IoThread;

constexpr int64_t kNow = 1'800'000'000;

// Runs `make()` (an awaitable) on `io` and waits for its result.
template <class T, class Make>
T on(asio::io_context& io, Make make) {
  std::promise<T> p;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { p.set_value(co_await make()); }, asio::detached);
  return p.get_future().get();
}

// An exit stand-in behind the relay: echoes what each relayed connection sends.
awaitable<void> echo(tcp::socket s) {
  std::array<char, 4096> buf;
  for (;;) {
    boost::system::error_code ec;
    size_t n = co_await s.async_read_some(asio::buffer(buf), use_ec(ec));
    if (ec) co_return;
    co_await asio::async_write(s, asio::buffer(buf.data(), n), use_ec(ec));
    if (ec) co_return;
  }
}

class RelayTest : public ::testing::Test {
 protected:
  RelayTest() : clock_(from_unix_ms(kNow * 1000)) {}
  ~RelayTest() override {
    io_.stop();  // nothing runs on the relay's sockets from here on
    for (auto& c : clients_) c->stop();
    if (relay_) relay_->stop();
  }

  void start_relay(RelayConfig cfg = {}) {
    cfg.handshake_timeout = 2s;
    relay_ = std::make_unique<Relay>(io_.io(), cfg, clock_);
    auto port = relay_->start();
    ASSERT_TRUE(port) << port.error().message();
    at_ = tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port);
  }

  // A provider serving an echo exit through the relay.
  RelayClient& serve(const crypto::PrivateKey& k) {
    auto& io = io_.io();
    clients_.push_back(std::make_unique<RelayClient>(
        io, at_, k.clone(), clock_,
        [this, &io](tcp::socket s, std::string source) {
          {
            std::lock_guard lock(mu_);
            sources_.push_back(source);
          }
          asio::co_spawn(io, echo(std::move(s)), asio::detached);
        },
        [this](const std::string& line) {
          std::lock_guard lock(mu_);
          log_.push_back(line);
        },
        200ms));
    clients_.back()->start();
    return *clients_.back();
  }

  bool serving(const Address& a) {
    auto s = relay_->stats();
    return s.contains(a) && s[a].serving;
  }

  // Through the relay to `provider`: sends `text`, returns what came back (or the error).
  Result<std::string> round_trip(const Address& provider, const std::string& text) {
    return on<Result<std::string>>(io_.io(), [&]() -> awaitable<Result<std::string>> {
      auto s = co_await relay_connect(io_.io().get_executor(), at_, provider, 3s);
      if (!s) co_return std::unexpected(s.error());
      if (auto w = co_await write_all_for(*s, asio::buffer(text), 2s); !w)
        co_return std::unexpected(w.error());
      std::string got(text.size(), '\0');
      boost::system::error_code ec;
      co_await asio::async_read(*s, asio::buffer(got), use_ec(ec));
      if (ec) co_return fail(NetErrc::channel_closed, ec.message());
      co_return got;
    });
  }

  // A raw first line to the relay, and its answer.
  std::string ask(const std::string& line) {
    return on<std::string>(io_.io(), [&]() -> awaitable<std::string> {
      auto s = co_await dial(io_.io().get_executor(), at_, std::nullopt, 2s);
      if (!s) co_return "dial: " + s.error().message();
      std::string l = line + "\n";
      (void)co_await write_all_for(*s, asio::buffer(l), 2s);
      std::string answer;
      boost::system::error_code ec;
      co_await asio::async_read_until(*s, asio::dynamic_buffer(answer), '\n', use_ec(ec));
      co_return answer;
    });
  }

  IoThread io_;
  ManualClock clock_;
  std::unique_ptr<Relay> relay_;
  tcp::endpoint at_;
  std::vector<std::unique_ptr<RelayClient>> clients_;
  std::mutex mu_;
  std::vector<std::string> log_;
  std::vector<std::string> sources_;  // the gateway addresses the relay told the provider
};

TEST_F(RelayTest, JoinsAGatewayToTheProviderAndCountsTheBytes) {
  start_relay();
  auto p = *crypto::PrivateKey::generate();
  serve(p);
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  for (int i = 0; i < 3; ++i) {
    auto got = round_trip(p.address(), fmt::format("hello {}", i));
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(*got, fmt::format("hello {}", i));
  }
  // Big enough to need many reads on each side.
  std::string big(1 << 20, 'x');
  auto got = round_trip(p.address(), big);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size(), big.size());
  ASSERT_TRUE(eventually([&] { return relay_->stats()[p.address()].open == 0; }));
  RelayProviderStats st = relay_->stats()[p.address()];
  EXPECT_EQ(st.connections, 4u);
  EXPECT_EQ(st.bytes, 2 * (big.size() + 3 * std::string("hello 0").size()));
  std::lock_guard lock(mu_);
  // The provider hears each gateway's address (its exit's per-address limit counts it).
  ASSERT_EQ(sources_.size(), 4u);
  for (const auto& s : sources_) EXPECT_EQ(s, "127.0.0.1");
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_[0].find("serving through the relay 127.0.0.1:"), std::string::npos) << log_[0];
}

// A punch: the relay tells each side the other's endpoint, the two connect to each other at
// once (TCP's simultaneous open, here on loopback), and the bytes flow between them without the
// relay, which counts the punch and carries nothing.
TEST_F(RelayTest, PunchesADirectConnectionBetweenGatewayAndProvider) {
  start_relay();
  auto p = *crypto::PrivateKey::generate();
  serve(p);
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  for (int i = 0; i < 3; ++i) {
    auto got = on<Result<std::string>>(io_.io(), [&]() -> awaitable<Result<std::string>> {
      auto r = co_await relay_punch(io_.io().get_executor(), at_, p.address(), 3s);
      if (!r) co_return std::unexpected(r.error());
      EXPECT_NE(r->peer.port(), at_.port());
      boost::system::error_code ec;
      EXPECT_EQ(r->socket.remote_endpoint(ec), r->peer);
      std::string text = fmt::format("punched {}", i);
      if (auto w = co_await write_all_for(r->socket, asio::buffer(text), 2s); !w)
        co_return std::unexpected(w.error());
      std::string back(text.size(), '\0');
      co_await asio::async_read(r->socket, asio::buffer(back), use_ec(ec));
      if (ec) co_return fail(NetErrc::channel_closed, ec.message());
      co_return back;
    });
    ASSERT_TRUE(got) << got.error().message() << " / " << fmt::format("{}", fmt::join(log_, "; "));
    EXPECT_EQ(*got, fmt::format("punched {}", i));
  }
  RelayProviderStats st = relay_->stats()[p.address()];
  EXPECT_EQ(st.punches, 3u);
  EXPECT_EQ(st.connections, 0u);
  EXPECT_EQ(st.bytes, 0u);
  EXPECT_EQ(st.open, 0u);
  std::lock_guard lock(mu_);
  ASSERT_EQ(sources_.size(), 3u);
  for (const auto& s : sources_) EXPECT_EQ(s, "127.0.0.1");
}

// A PUNCH for a provider the relay does not serve is refused with the reason; one the provider
// never answers ends at the relay's handshake timeout, and gives back its place.
TEST_F(RelayTest, RefusesAPunchNobodyAnswers) {
  start_relay();
  auto stranger = *crypto::PrivateKey::generate();
  auto r = on<Result<RelayPunch>>(io_.io(), [&]() -> awaitable<Result<RelayPunch>> {
    co_return co_await relay_punch(io_.io().get_executor(), at_, stranger.address(), 3s);
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is not served by this relay"), std::string::npos)
      << r.error().message();

  // A provider's control connection that never answers: a SERVE made by hand.
  auto p = *crypto::PrivateKey::generate();
  auto sig = crypto::sign(p, crypto::personal_message_hash(relay_serve_message(p.address(), kNow)));
  std::promise<void> served;
  auto control = std::make_shared<tcp::socket>(io_.io());
  asio::co_spawn(
      io_.io(),
      [&]() -> awaitable<void> {
        auto s = co_await dial(io_.io().get_executor(), at_, std::nullopt, 2s);
        if (s) {
          *control = std::move(*s);
          std::string l = fmt::format("IPSX-RELAY/1 SERVE {} {} {}\n", p.address().to_string(),
                                      kNow, sig->to_hex());
          (void)co_await write_all_for(*control, asio::buffer(l), 2s);
        }
        served.set_value();
      },
      asio::detached);
  served.get_future().get();
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  r = on<Result<RelayPunch>>(io_.io(), [&]() -> awaitable<Result<RelayPunch>> {
    co_return co_await relay_punch(io_.io().get_executor(), at_, p.address(), 5s);
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("did not answer the punch in time"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(relay_->stats()[p.address()].open, 0u);
  asio::post(io_.io(), [control] {
    boost::system::error_code ignored;
    control->close(ignored);
  });
}

// Attack on a punch: while a side punches, its port listens for the peer's SYN; a stranger who
// connects to it first (someone scanning, or racing the peer) is not taken for the peer: its
// connection is closed, and the punch still joins the two sides.
TEST_F(RelayTest, APunchTakesOnlyItsPeer) {
  auto free_port = [&] {
    tcp::acceptor a(io_.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
  };
  const tcp::endpoint gw(asio::ip::make_address("127.0.0.1"), free_port());
  const tcp::endpoint pv(asio::ip::make_address("127.0.0.1"), free_port());
  std::promise<Result<tcp::socket>> gw_done;
  asio::co_spawn(
      io_.io(),
      [&]() -> awaitable<void> {
        gw_done.set_value(co_await punch(io_.io().get_executor(), gw, pv, 3s));
      },
      asio::detached);
  // The stranger connects to the punching port and waits to be closed.
  auto stranger = on<std::string>(io_.io(), [&]() -> awaitable<std::string> {
    asio::steady_timer t(io_.io());
    for (int i = 0; i < 50; ++i) {
      auto s = co_await dial(io_.io().get_executor(), gw, std::nullopt, 1s);
      if (!s) {  // not listening yet
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
        continue;
      }
      std::array<char, 1> b;
      boost::system::error_code ec;
      Deadline d(*s, 2s);
      co_await s->async_read_some(asio::buffer(b), use_ec(ec));
      co_return d.expired() ? std::string("held") : ec.message();
    }
    co_return std::string("never connected");
  });
  EXPECT_NE(stranger, "held");
  EXPECT_NE(stranger, "never connected");
  auto pv_side = on<Result<tcp::socket>>(io_.io(), [&]() -> awaitable<Result<tcp::socket>> {
    co_return co_await punch(io_.io().get_executor(), pv, gw, 3s);
  });
  auto gw_side = gw_done.get_future().get();
  ASSERT_TRUE(gw_side) << gw_side.error().message();
  ASSERT_TRUE(pv_side) << pv_side.error().message();
  boost::system::error_code ec;
  EXPECT_EQ(gw_side->remote_endpoint(ec), pv);
  EXPECT_EQ(pv_side->remote_endpoint(ec), gw);
  asio::post(io_.io(), [a = std::make_shared<tcp::socket>(std::move(*gw_side)),
                        b = std::make_shared<tcp::socket>(std::move(*pv_side))] {});
}

// Attack by a relay: PUNCH names the address a provider's SYNs go to. A relay (here a fake one
// on loopback) naming the provider's LAN, a multicast or an unspecified address, or no port,
// gets no punch: the provider does not even answer PUNCHING. One naming an address of the
// relay's own kind (loopback here) does.
TEST_F(RelayTest, AProviderPunchesOnlyWhereAPunchMayGo) {
  auto& io = io_.io();
  tcp::acceptor fake(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  at_ = fake.local_endpoint();
  std::atomic<int> punching{0};
  auto control = std::make_shared<tcp::socket>(io);
  std::promise<void> said;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        *control = co_await fake.async_accept(asio::use_awaitable);
        std::string line;
        co_await asio::async_read_until(*control, asio::dynamic_buffer(line), '\n',
                                        asio::use_awaitable);
        std::string out =
            "OK\nPUNCH t1 10.9.9.9 7000\nPUNCH t2 224.0.0.1 7000\nPUNCH t3 0.0.0.0 7000\n"
            "PUNCH t4 127.0.0.1 notaport\n";
        co_await asio::async_write(*control, asio::buffer(out), asio::use_awaitable);
        said.set_value();
        for (;;) {  // every later connection: the provider answering a PUNCH
          boost::system::error_code ec;
          tcp::socket s = co_await fake.async_accept(use_ec(ec));
          if (ec) co_return;
          std::string first;
          co_await asio::async_read_until(s, asio::dynamic_buffer(first), '\n', use_ec(ec));
          if (first.find(" PUNCHING ") != std::string::npos) ++punching;
        }
      },
      asio::detached);
  auto p = *crypto::PrivateKey::generate();
  serve(p);
  said.get_future().get();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(punching.load(), 0);
  asio::post(io, [control] {
    static const std::string good = "PUNCH t5 127.0.0.1 9\n";
    boost::system::error_code ignored;
    asio::write(*control, asio::buffer(good), ignored);
  });
  EXPECT_TRUE(eventually([&] { return punching.load() == 1; }));
  asio::post(io, [&fake, control] {
    boost::system::error_code ignored;
    fake.close(ignored);
    control->close(ignored);
  });
  std::this_thread::sleep_for(50ms);
}

TEST_F(RelayTest, RefusesAnUnknownProviderWithTheReason) {
  start_relay();
  auto stranger = *crypto::PrivateKey::generate();
  auto got = round_trip(stranger.address(), "x");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), make_error_code(NetErrc::exit_failed));
  EXPECT_NE(got.error().message().find("is not served by this relay"), std::string::npos)
      << got.error().message();
  EXPECT_NE(ask("GET / HTTP/1.1").find("ERR not the relay protocol"), std::string::npos);
}

// Nobody can serve for a provider without its key, with a signature of long ago, or by replaying
// one (attack).
TEST_F(RelayTest, RefusesAForgedOrStaleServe) {
  start_relay();
  auto p = *crypto::PrivateKey::generate();
  auto thief = *crypto::PrivateKey::generate();
  auto line = [&](const crypto::PrivateKey& signer, int64_t at) {
    auto sig =
        crypto::sign(signer, crypto::personal_message_hash(relay_serve_message(p.address(), at)));
    return fmt::format("IPSX-RELAY/1 SERVE {} {} {}", p.address().to_string(), at, sig->to_hex());
  };
  EXPECT_NE(ask(line(thief, kNow)).find("ERR the signature is not the provider's"),
            std::string::npos);
  EXPECT_NE(ask(line(p, kNow - 3600)).find("ERR the time"), std::string::npos);
  EXPECT_FALSE(serving(p.address()));
  EXPECT_EQ(ask(line(p, kNow)), "OK\n");
  // The line travels in the clear: someone who saw it cannot send it again to take the
  // provider's gateways (nor an older one), only the provider a newer one.
  EXPECT_NE(ask(line(p, kNow)).find("ERR a SERVE of time"), std::string::npos);
  EXPECT_NE(ask(line(p, kNow - 1)).find("is not newer"), std::string::npos);
  EXPECT_EQ(ask(line(p, kNow + 1)), "OK\n");
}

TEST_F(RelayTest, LimitsAProvidersConnectionsAndBytes) {
  RelayConfig cfg;
  cfg.max_bytes_per_provider = 100;
  start_relay(cfg);
  auto p = *crypto::PrivateKey::generate();
  serve(p);
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  ASSERT_TRUE(round_trip(p.address(), std::string(60, 'a')));  // 120 bytes carried
  ASSERT_TRUE(eventually([&] { return relay_->stats()[p.address()].open == 0; }));
  auto over = round_trip(p.address(), "b");
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().message().find("has used its 100 bytes"), std::string::npos)
      << over.error().message();
  EXPECT_EQ(relay_->stats()[p.address()].refused, 1u);
}

// A provider that holds its control connection but never dials back: the gateway is told, after
// the handshake timeout, and the place it held is free again.
// One address cannot hold more than max_connections_per_source of a provider's places.
TEST_F(RelayTest, LimitsTheConnectionsOfOneGatewayAddress) {
  RelayConfig cfg;
  cfg.max_connections_per_source = 2;
  start_relay(cfg);
  auto p = *crypto::PrivateKey::generate();
  serve(p);
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  // Two held open, echoing; a third from the same address is refused with the reason.
  auto hold = [&]() -> awaitable<Result<tcp::socket>> {
    co_return co_await relay_connect(io_.io().get_executor(), at_, p.address(), 3s);
  };
  auto a = on<Result<tcp::socket>>(io_.io(), hold);
  auto b = on<Result<tcp::socket>>(io_.io(), hold);
  ASSERT_TRUE(a && b);
  auto third = round_trip(p.address(), "x");
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message().find("the most one address may"), std::string::npos)
      << third.error().message();
  asio::post(io_.io(), [&] {
    boost::system::error_code ignored;
    a->close(ignored);
  });
  ASSERT_TRUE(eventually([&] { return round_trip(p.address(), "y").has_value(); }));
  asio::post(io_.io(), [&] {
    boost::system::error_code ignored;
    b->close(ignored);
  });
}

TEST_F(RelayTest, AGatewayHearsWhenTheProviderNeverDialsBack) {
  RelayConfig cfg;
  cfg.max_connections_per_provider = 1;
  start_relay(cfg);
  auto p = *crypto::PrivateKey::generate();
  auto sig = crypto::sign(p, crypto::personal_message_hash(relay_serve_message(p.address(), kNow)));
  std::string hello =
      fmt::format("IPSX-RELAY/1 SERVE {} {} {}\n", p.address().to_string(), kNow, sig->to_hex());
  tcp::socket control(io_.io());
  control.connect(at_);
  asio::write(control, asio::buffer(hello));
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  auto got = round_trip(p.address(), "x");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message().find("did not dial back in time"), std::string::npos)
      << got.error().message();
  RelayProviderStats st = relay_->stats()[p.address()];
  EXPECT_EQ(st.open, 0u);
  EXPECT_EQ(st.refused, 1u);
  // What the relay sent on the control connection: OK, then the DIAL it waited for.
  std::string said;
  asio::read_until(control, asio::dynamic_buffer(said), "DIAL");
  EXPECT_TRUE(said.starts_with("OK\nDIAL")) << said;
}

// A provider that reconnects (a new SERVE) replaces its old control connection; when it goes,
// the relay stops serving it.
TEST_F(RelayTest, StopsServingAProviderThatLeaves) {
  start_relay();
  auto p = *crypto::PrivateKey::generate();
  RelayClient& c = serve(p);
  ASSERT_TRUE(eventually([&] { return serving(p.address()); }));
  asio::post(io_.io(), [&c] { c.stop(); });
  ASSERT_TRUE(eventually([&] { return !serving(p.address()); }));
  auto got = round_trip(p.address(), "x");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message().find("is not served"), std::string::npos);
}

}  // namespace
}  // namespace ipsx::net
