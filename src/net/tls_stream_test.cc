#include "net/tls_stream.h"

#include <gtest/gtest.h>

#include "net/tls.h"

namespace ipsx::net {
namespace {

// A client and a server TlsStream over a loopback TCP pair, on one io_context.
struct TlsPair {
  asio::io_context io;
  std::shared_ptr<asio::ssl::context> server_ctx = *make_server_context(*generate_tls_identity());
  std::shared_ptr<asio::ssl::context> client_ctx = make_client_context();
  std::unique_ptr<TlsStream> client, server;

  TlsPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket c(io), s(io);
    c.connect(acceptor.local_endpoint());
    acceptor.accept(s);
    client = std::make_unique<TlsStream>(std::move(c), *client_ctx);
    server = std::make_unique<TlsStream>(std::move(s), *server_ctx);
  }

  // Runs both handshakes; true when both succeeded.
  bool handshake() {
    boost::system::error_code a, b;
    asio::co_spawn(
        io, [&]() -> awaitable<void> { a = co_await client->handshake(TlsStream::Role::client); },
        asio::detached);
    asio::co_spawn(
        io, [&]() -> awaitable<void> { b = co_await server->handshake(TlsStream::Role::server); },
        asio::detached);
    io.run();
    io.restart();
    return !a && !b;
  }
};

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + seed);
  return b;
}

// Reads until `want` bytes arrived or the stream fails.
awaitable<Bytes> read_exactly(TlsStream& s, size_t want) {
  Bytes got;
  std::vector<uint8_t> buf(10'000);  // not a multiple of the record size
  while (got.size() < want) {
    boost::system::error_code ec;
    size_t n = co_await s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(n));
  }
  co_return got;
}

TEST(TlsStream, MegabytesBothWaysAtOnceArriveIntact) {
  TlsPair p;
  ASSERT_TRUE(p.handshake());
  // Each side writes more than the sockets buffer while the other writes too: a write that
  // waited for its peer to read before reading itself would deadlock here.
  Bytes up = pattern(3 * 1024 * 1024 + 17, 1), down = pattern(2 * 1024 * 1024 + 5, 2);
  Bytes got_up, got_down;
  boost::system::error_code wrote_up, wrote_down;
  asio::co_spawn(
      p.io, [&]() -> awaitable<void> { wrote_up = co_await p.client->write(up); }, asio::detached);
  asio::co_spawn(
      p.io, [&]() -> awaitable<void> { wrote_down = co_await p.server->write(down); },
      asio::detached);
  asio::co_spawn(
      p.io, [&]() -> awaitable<void> { got_up = co_await read_exactly(*p.server, up.size()); },
      asio::detached);
  asio::co_spawn(
      p.io, [&]() -> awaitable<void> { got_down = co_await read_exactly(*p.client, down.size()); },
      asio::detached);
  p.io.run();
  EXPECT_FALSE(wrote_up);
  EXPECT_FALSE(wrote_down);
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST(TlsStream, ClosedPeerEndsTheReadWithAnError) {
  TlsPair p;
  ASSERT_TRUE(p.handshake());
  p.server->next_layer().close();
  boost::system::error_code ec;
  asio::co_spawn(
      p.io,
      [&]() -> awaitable<void> {
        std::vector<uint8_t> buf(100);
        co_await p.client->read_some(asio::buffer(buf), ec);
      },
      asio::detached);
  p.io.run();
  EXPECT_TRUE(ec);
}

TEST(TlsStream, PlaintextPeerFailsTheHandshake) {
  TlsPair p;
  boost::system::error_code ec;
  asio::co_spawn(
      p.io,
      [&]() -> awaitable<void> { ec = co_await p.server->handshake(TlsStream::Role::server); },
      asio::detached);
  asio::write(p.client->next_layer(), asio::buffer(std::string("GET / HTTP/1.1\r\n\r\n")));
  p.io.run();
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace ipsx::net
