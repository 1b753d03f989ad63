// The Beast server over loopback, driven by a plain blocking client: keep-alive, the body limit,
// malformed HTTP and the read deadline.
#include "api/http_server.h"

#include <gtest/gtest.h>

#include <array>
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
    ServerOptions o;
    o.body_limit = 1024;
    o.read_timeout = std::chrono::milliseconds(300);
    o.stop_on_signals = false;
    server_ = std::make_unique<HttpServer>(router_, o);
    auto bound = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound) << bound.error().message();
    port_ = static_cast<uint16_t>(std::stoi(bound->substr(bound->rfind(':') + 1)));
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
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
  static std::string post(const std::string& body) {
    return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }

  Router router_;
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

}  // namespace
}  // namespace ipsx::api
