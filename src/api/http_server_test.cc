// The Beast server over loopback, driven by a plain blocking client: keep-alive, the body limit,
// malformed HTTP, the read deadline, the client's address, the WebSocket event stream, and
// responses that come later (the server answering others meanwhile).
#include "api/http_server.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <thread>

#include "net/asio.h"

namespace ipsx::api {
namespace {

namespace asio = net::asio;
using net::tcp;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("POST", "/echo", [](const HttpRequest& req) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = req.body;
      return r;
    });
    router_.add("POST", "/publish", [this](const HttpRequest& req) {
      events_.publish("test", {{"body", req.body}}, 7);
      HttpResponse r;
      r.body = "{}";
      return r;
    });
    router_.add("GET", "/subscribers", [this](const HttpRequest&) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "subscribers=" + std::to_string(events_.subscribers()) + ";";
      return r;
    });
    router_.add("GET", "/remote", [](const HttpRequest& req) {
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = "remote=" + req.remote;
      return r;
    });
    // A response that comes later: the test replies when it chooses, from its own thread.
    router_.add("GET", "/later", [this](const HttpRequest&) {
      HttpResponse r;
      r.later = [this](HttpResponse::Reply reply) { replies_.set_value(std::move(reply)); };
      return r;
    });
    ServerOptions o;
    o.events = &events_;
    o.body_limit = 1024;
    o.read_timeout = std::chrono::milliseconds(300);
    o.stop_on_signals = false;
    o.cors_origins = {"https://app.example"};
    server_ = std::make_unique<HttpServer>(router_, o);
    auto bound = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound) << bound.error().message();
    port_ = static_cast<uint16_t>(std::stoi(bound->substr(bound->rfind(':') + 1)));
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (!server_) return;
    server_->stop();
    thread_.join();
  }

  tcp::socket connect() {
    tcp::socket s(io_);
    s.connect({asio::ip::make_address("127.0.0.1"), port_});
    return s;
  }
  // Reads until the peer closes or `want` appears; returns what came.
  static std::string read_until(tcp::socket& s, const std::string& want) {
    std::string out;
    std::array<char, 4096> buf;
    boost::system::error_code ec;
    while (want.empty() || out.find(want) == std::string::npos) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf.data(), n);
    }
    return out;
  }
  // The number of event stream subscribers, asked of the server's thread.
  size_t subscribers() {
    tcp::socket s = connect();
    asio::write(s, asio::buffer(std::string("GET /subscribers HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string out = read_until(s, ";");
    size_t at = out.find("subscribers=");
    return at == std::string::npos ? 0 : std::stoul(out.substr(at + 12));
  }
  static std::string post(const std::string& body) {
    return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }

  Router router_;
  std::promise<HttpResponse::Reply> replies_;  // the /later request's reply, once it came
  EventStream events_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  asio::io_context io_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(post("first")));
  EXPECT_NE(read_until(s, "first").find("200 OK"), std::string::npos);
  asio::write(s, asio::buffer(post("second")));
  EXPECT_NE(read_until(s, "second").find("200 OK"), std::string::npos);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413AndJson) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(post(std::string(5000, 'x'))));
  std::string out = read_until(s, "");
  EXPECT_NE(out.find("413"), std::string::npos) << out;
  EXPECT_NE(out.find("\"payload_too_large\""), std::string::npos) << out;
}

TEST_F(HttpServerTest, MalformedHttpIs400) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string("GARBAGE\r\n\r\n")));
  std::string out = read_until(s, "");
  EXPECT_NE(out.find("400"), std::string::npos) << out;
  EXPECT_NE(out.find("\"bad_request\""), std::string::npos) << out;
}

TEST_F(HttpServerTest, SlowClientIsDisconnectedAfterTheReadDeadline) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string("POST /echo HTTP/1.1\r\nHost: x\r\n")));
  auto start = std::chrono::steady_clock::now();
  (void)read_until(s, "");  // returns when the server closes
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(5));
}

TEST_F(HttpServerTest, HandlersSeeTheClientsAddress) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string("GET /remote HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_NE(read_until(s, "remote=127.0.0.1").find("remote=127.0.0.1"), std::string::npos);
}

TEST_F(HttpServerTest, TheEventStreamPushesEachPublishedMessageToWebSocketClients) {
  namespace websocket = boost::beast::websocket;
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> clients;
  for (int i = 0; i < 2; ++i) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(connect());
    ws->handshake("127.0.0.1", "/v1/events");
    clients.push_back(std::move(ws));
  }
  // The subscriptions are made on the server's thread just after the handshake.
  auto publish = [&](const std::string& body) {
    tcp::socket s = connect();
    asio::write(s, asio::buffer(post(body).replace(5, 5, "/publish")));
    read_until(s, "{}");
  };
  for (int i = 0; i < 50 && subscribers() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(subscribers(), 2u);
  publish("one");
  publish("two");
  for (auto& ws : clients) {
    boost::beast::flat_buffer b;
    ws->read(b);
    EXPECT_TRUE(ws->got_text());
    auto m = nlohmann::json::parse(boost::beast::buffers_to_string(b.data()));
    EXPECT_EQ(m["seq"], 1);
    EXPECT_EQ(m["type"], "test");
    EXPECT_EQ(m["atMs"], 7);
    EXPECT_EQ(m["data"]["body"], "one");
    b.clear();
    ws->read(b);
    EXPECT_EQ(nlohmann::json::parse(boost::beast::buffers_to_string(b.data()))["seq"], 2);
  }
  // A client that leaves is unsubscribed.
  clients[0]->close(websocket::close_code::normal);
  for (int i = 0; i < 100 && subscribers() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(subscribers(), 1u);
}

// #23: a bad WebSocket handshake is refused in the API's JSON error shape, not Beast's plain text.
TEST_F(HttpServerTest, ABadWebSocketHandshakeIsRefusedInJson) {
  const std::string upgrade =
      "GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
  tcp::socket s = connect();
  asio::write(s, asio::buffer(upgrade + "Sec-WebSocket-Version: 13\r\n\r\n"));
  std::string got = read_until(s, "}}");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 400 ")) << got;
  EXPECT_NE(got.find("application/json"), std::string::npos) << got;
  EXPECT_NE(got.find("\"code\":\"bad_request\""), std::string::npos) << got;
  EXPECT_NE(got.find("Sec-WebSocket-Key"), std::string::npos) << got;
  tcp::socket v = connect();
  asio::write(v, asio::buffer(upgrade + "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: "
                                        "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  got = read_until(v, "}}");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 426 ")) << got;
  EXPECT_NE(got.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("\"code\":\"upgrade_required\""), std::string::npos) << got;
}

// #23: CORS. A listed origin's preflight is answered and its requests carry the allowing
// headers; another origin's get none (the browser then refuses the page the answer).
TEST_F(HttpServerTest, AListedOriginMayCallFromABrowser) {
  tcp::socket pre = connect();
  asio::write(pre, asio::buffer(std::string(
                       "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n"
                       "Access-Control-Request-Method: POST\r\n"
                       "Access-Control-Request-Headers: content-type\r\n\r\n")));
  std::string got = read_until(pre, "\r\n\r\n");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 204 ")) << got;
  EXPECT_NE(got.find("Access-Control-Allow-Origin: https://app.example\r\n"), std::string::npos)
      << got;
  EXPECT_NE(got.find("Access-Control-Allow-Methods: GET, POST\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("Access-Control-Allow-Headers: Content-Type\r\n"), std::string::npos) << got;
  tcp::socket s = connect();
  std::string req = post("hi");
  req.insert(req.find("\r\n") + 2, "Origin: https://app.example\r\n");
  asio::write(s, asio::buffer(req));
  got = read_until(s, "hi");
  EXPECT_NE(got.find("Access-Control-Allow-Origin: https://app.example\r\n"), std::string::npos)
      << got;
  EXPECT_NE(got.find("Vary: Origin\r\n"), std::string::npos) << got;
  tcp::socket other = connect();
  req = post("hi");
  req.insert(req.find("\r\n") + 2, "Origin: https://evil.example\r\n");
  asio::write(other, asio::buffer(req));
  got = read_until(other, "hi");
  EXPECT_EQ(got.find("Access-Control-Allow-Origin"), std::string::npos) << got;
  tcp::socket pre2 = connect();
  asio::write(pre2, asio::buffer(std::string(
                        "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
                        "Access-Control-Request-Method: POST\r\n\r\n")));
  got = read_until(pre2, "}}");
  EXPECT_TRUE(got.starts_with("HTTP/1.1 405 ")) << got;
}

// #19: a ledger transaction on a chain waits for its block (seconds); the node's API used to wait
// with it, answering nobody. A later response leaves the server free: another client is answered
// while the first waits, and the first gets its answer, finished on the server's thread, when
// the work replies from its own.
TEST_F(HttpServerTest, OthersAreAnsweredWhileALaterResponseWaits) {
  tcp::socket waiting = connect();
  asio::write(waiting, asio::buffer(std::string("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")));
  HttpResponse::Reply reply = replies_.get_future().get();  // the handler ran and returned

  tcp::socket other = connect();
  asio::write(other, asio::buffer(post("meanwhile")));
  EXPECT_NE(read_until(other, "meanwhile").find("200 OK"), std::string::npos);

  std::thread::id finished_on;
  reply([&finished_on] {
    finished_on = std::this_thread::get_id();
    HttpResponse r;
    r.status = 201;
    r.content_type = "text/plain";
    r.body = "done later;";
    return r;
  });
  std::string out = read_until(waiting, "done later;");
  EXPECT_NE(out.find("201"), std::string::npos) << out;
  EXPECT_EQ(finished_on, thread_.get_id());
  // The connection stays usable.
  asio::write(waiting, asio::buffer(post("next")));
  EXPECT_NE(read_until(waiting, "next").find("200 OK"), std::string::npos);
}

// The work may reply after the server is gone (a ledger finishing at shutdown): nothing happens.
TEST_F(HttpServerTest, AReplyAfterTheServerIsGoneIsDropped) {
  tcp::socket waiting = connect();
  asio::write(waiting, asio::buffer(std::string("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")));
  HttpResponse::Reply reply = replies_.get_future().get();
  server_->stop();
  thread_.join();
  server_.reset();
  bool finished = false;
  reply([&finished] {
    finished = true;
    return HttpResponse{};
  });
  EXPECT_FALSE(finished);
}

// One client address may hold max_connections_per_address connections; more from it are closed
// at once, while another address is still served, and a closed one frees its place.
TEST_F(HttpServerTest, OneAddressCannotTakeEveryConnection) {
  ServerOptions o;
  o.stop_on_signals = false;
  o.max_connections_per_address = 3;
  HttpServer server(router_, o);
  auto bound = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(bound) << bound.error().message();
  const auto port = static_cast<uint16_t>(std::stoi(bound->substr(bound->rfind(':') + 1)));
  std::thread t([&] { server.run(); });
  auto from = [&](const char* source) {
    tcp::socket s(io_);
    s.open(tcp::v4());
    s.bind({asio::ip::make_address(source), 0});
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
  };
  auto served = [&](tcp::socket& s) {
    boost::system::error_code ec;
    asio::write(s, asio::buffer(std::string("GET /remote HTTP/1.1\r\nHost: x\r\n\r\n")), ec);
    return read_until(s, "remote=").find("200 OK") != std::string::npos;
  };
  std::vector<tcp::socket> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(from("127.0.0.1"));
    EXPECT_TRUE(served(held.back())) << i;  // kept alive: each holds its place
  }
  tcp::socket fourth = from("127.0.0.1");
  EXPECT_FALSE(served(fourth));
  tcp::socket other = from("127.0.0.2");
  EXPECT_TRUE(served(other));
  held.pop_back();  // closed: its place is free once the server has seen it go
  bool again = false;
  for (int i = 0; i < 50 && !again; ++i) {
    tcp::socket s = from("127.0.0.1");
    again = served(s);
    if (!again) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(again);
  server.stop();
  t.join();
}

}  // namespace
}  // namespace ipsx::api
