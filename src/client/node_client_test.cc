// The client's transport over connections that break the ways real ones do: a server that closes
// a kept-alive connection while it idles (every HTTP server does, the node after a few seconds),
// and a connection that breaks after the node took a request but before its answer arrived (a
// restart, a reset). Real sockets on loopback; the node is a live one (api::testing::LiveNode)
// behind a relay that can drop one answer. And https: a CA made for the test, a TLS server with
// a certificate it signed, and the client trusting it, refusing an untrusted or misnamed one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api/live_node.h"
#include "client/node_client.h"
#include "client/signer.h"
#include "http/http_client.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"
#include "net/asio.h"

namespace ipsx::sdk {
namespace {

using json = nlohmann::json;
using ledger::testing::named_key;

int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 16) != 0) return -1;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one whole HTTP message (head and a Content-Length body) from `fd` into `out`; false on
// end of stream or error first. Within 10 s.
bool read_message(int fd, std::string& out) {
  out.clear();
  size_t need = std::string::npos;
  char buf[4096];
  while (need == std::string::npos || out.size() < need) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out.append(buf, static_cast<size_t>(n));
    size_t end = out.find("\r\n\r\n");
    if (need == std::string::npos && end != std::string::npos) {
      size_t length = 0;
      std::string head = out.substr(0, end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (size_t at = head.find("content-length:"); at != std::string::npos)
        length = std::stoul(head.substr(at + 15));
      need = end + 4 + length;
    }
  }
  return true;
}

void send_all(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// A server on loopback that serves each accepted connection with the next of `scripts` (the
// connection's socket; closed after the script returns), on its own thread.
class ScriptedServer {
 public:
  using Script = std::function<void(int fd)>;
  explicit ScriptedServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this] {
      for (auto& script : scripts_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++accepted_;
        script(c);
        ::close(c);
        ++closed_;
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int accepted() const { return accepted_.load(); }
  // Waits (at most 10 s) until the server has closed `n` connections.
  bool wait_closed(int n) const {
    for (int i = 0; i < 1000 && closed_.load() < n; ++i) std::this_thread::sleep_for(Millis(10));
    return closed_.load() >= n;
  }

 private:
  std::vector<Script> scripts_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_{0};
  std::thread thread_;
};

std::string ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(HttpClientConnection, AKeptAliveConnectionTheServerClosedWhileIdleIsReplaced) {
  // The server answers one request and closes the connection, as a server does after its idle
  // timeout; its end of stream reaches the client before the next request.
  ScriptedServer server({[](int fd) {
                           std::string req;
                           if (read_message(fd, req)) send_all(fd, ok("{\"n\":1}"));
                         },
                         [](int fd) {
                           std::string req;
                           if (read_message(fd, req)) send_all(fd, ok("{\"n\":2}"));
                         }});
  auto client = http::HttpClient::create(server.url()).value();
  auto first = client->request("POST", "/a", "{}");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->body, "{\"n\":1}");
  ASSERT_TRUE(server.wait_closed(1));  // its end of stream is on its way (loopback: there)
  // Not resendable, so only the check before sending can save it.
  auto second = client->request("POST", "/a", "{}", "application/json", Millis(5000), false);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->body, "{\"n\":2}");
  EXPECT_FALSE(second->resent);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientConnection, ARequestWhoseAnswerWasLostIsResentOnlyWhenResendable) {
  // Each first connection answers one request, then reads the next and closes unanswered.
  auto answer_then_drop = [](int fd) {
    std::string req;
    if (read_message(fd, req)) send_all(fd, ok("{\"n\":1}"));
    read_message(fd, req);
  };
  auto answer = [](int fd) {
    std::string req;
    if (read_message(fd, req)) send_all(fd, ok("{\"n\":2}"));
  };
  {
    ScriptedServer server({answer_then_drop, answer});
    auto client = http::HttpClient::create(server.url()).value();
    ASSERT_TRUE(client->request("GET", "/a"));
    auto r = client->request("POST", "/a", "{}", "application/json", Millis(5000), true);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->body, "{\"n\":2}");
    EXPECT_TRUE(r->resent);
  }
  {
    ScriptedServer server({answer_then_drop, answer});
    auto client = http::HttpClient::create(server.url()).value();
    ASSERT_TRUE(client->request("GET", "/a"));
    auto r = client->request("POST", "/a", "{}", "application/json", Millis(5000), false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), http::HttpErrc::unavailable);
    EXPECT_NE(r.error().message().find("the server closed the connection before it answered"),
              std::string::npos)
        << r.error().message();
  }
}

TEST(HttpClientConnection, SaysWhenNothingListens) {
  uint16_t port = 0;
  int fd = listen_loopback(port);
  ::close(fd);  // bound, then closed: nothing listens there now
  auto client = http::HttpClient::create("http://127.0.0.1:" + std::to_string(port)).value();
  auto r = client->request("GET", "/v1/health");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), http::HttpErrc::unavailable);
  EXPECT_NE(r.error().message().find("nothing accepts connections there"), std::string::npos)
      << r.error().message();
}

// Relays connections to a node; on the first connection it relays `answered` exchanges, then
// passes the next request on to the node, reads the node's answer and closes the client's side
// without it: the node did the work and the client never heard.
class AnswerDroppingRelay {
 public:
  AnswerDroppingRelay(uint16_t upstream, int answered) : upstream_(upstream), answered_(answered) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this] { run(); });
  }
  ~AnswerDroppingRelay() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int dropped() const { return dropped_.load(); }

 private:
  void run() {
    for (int n = 0; !stop_; ++n) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      int u = connect_loopback(upstream_);
      std::string req, res;
      for (int i = 0; u >= 0 && read_message(c, req); ++i) {
        send_all(u, req);
        if (!read_message(u, res)) break;
        if (n == 0 && i == answered_) {
          ++dropped_;
          break;
        }
        send_all(c, res);
      }
      if (u >= 0) ::close(u);
      ::close(c);
    }
  }
  uint16_t upstream_;
  int answered_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> dropped_{0};
  std::thread thread_;
};

// The named provider's offer of 127.0.0.2 in DE at `live`'s market, valid an hour from `now`.
Offer de_offer(api::testing::LiveNode& live, uint64_t now) {
  Offer o;
  o.provider = named_key("provider").address();
  o.ip = parse_ip("127.0.0.2").value();
  o.country = parse_country("DE").value();
  o.protocols = protocol::http;
  o.scopes = scope::crawling;
  o.min_duration = 5;
  o.max_duration = 3600;
  o.price_per_second = U256(10);
  o.market = live.market().address();
  o.expiry = now + 3600;
  o.nonce = 1;
  return o;
}

TEST(NodeClientConnection, AnOrderWhoseAnswerWasLostIsPlacedOnceAndItsDealsFound) {
  SystemClock clock;
  api::testing::LiveNode live(clock);
  auto port = static_cast<uint16_t>(std::stoi(live.url().substr(live.url().rfind(':') + 1)));
  Hash sep = live.ledger().domain().separator();
  uint64_t now = static_cast<uint64_t>(to_unix_seconds(clock.now()));

  Offer o = de_offer(live, now);
  auto direct = NodeClient::connect(live.url()).value();
  ASSERT_TRUE(direct->place_order(Signer(named_key("provider"), sep).offer(o).value()));

  Request r;
  r.requester = named_key("requester").address();
  r.countries = {parse_country("DE").value()};
  r.protocols = protocol::http;
  r.scope = scope::crawling;
  r.duration = 60;
  r.max_price_per_second = U256(12);
  r.budget = U256(12 * 60);
  r.market = live.market().address();
  r.expiry = now + 3600;
  r.nonce = 1;
  AnswerDroppingRelay relay(port, 1);  // the health check passes; the placement's answer is lost
  auto node = NodeClient::connect(relay.url()).value();
  ASSERT_TRUE(node->health());
  auto placed = node->place_order(Signer(named_key("requester"), sep).request(r).value());
  ASSERT_TRUE(placed) << placed.error().message();
  EXPECT_EQ(relay.dropped(), 1);
  EXPECT_TRUE((*placed)["resent"].get<bool>()) << placed->dump();
  EXPECT_EQ((*placed)["hash"], r.struct_hash().hex());
  ASSERT_EQ((*placed)["deals"].size(), 1u) << placed->dump();
  // The one deal the node opened, and no second order.
  auto deals = direct->get("/v1/deals").value();
  ASSERT_EQ(deals["deals"].size(), 1u) << deals.dump();
  EXPECT_EQ((*placed)["deals"][0]["id"], deals["deals"][0]["id"]);
  auto order = direct->get("/v1/orders/" + r.struct_hash().hex()).value();
  EXPECT_EQ(order["deals"], json::array({deals["deals"][0]["id"]}));

  // An order placed twice on purpose is still refused as a duplicate (nothing was resent).
  auto again = direct->place_order(Signer(named_key("requester"), sep).request(r).value());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), SdkErrc::duplicate_order);
}

// Many orders through place_orders: 100 to a request, one answer per order in order, each what
// place_order gives (a placement, or the API's error with its code); and a batch whose answer
// was lost is sent again, its orders answered as placed, not as duplicates.
TEST(NodeClientConnection, ManyOrdersArePlacedInBatchesAndAnsweredOneByOne) {
  SystemClock clock;
  api::testing::LiveNodeOptions lo;
  lo.journal = true;
  lo.unlimited = true;  // 153 orders from one address and one wallet within a second
  api::testing::LiveNode live(clock, lo);
  auto port = static_cast<uint16_t>(std::stoi(live.url().substr(live.url().rfind(':') + 1)));
  Hash sep = live.ledger().domain().separator();
  uint64_t now = static_cast<uint64_t>(to_unix_seconds(clock.now()));
  Signer provider(named_key("provider"), sep);
  std::vector<json> orders;
  for (uint64_t i = 0; i < 150; ++i) {
    Offer o = de_offer(live, now);
    o.nonce = 100 + i;
    o.ip = parse_ip(fmt::format("10.1.{}.{}", i / 256, i % 256)).value();
    orders.push_back(provider.offer(o).value());
  }
  orders.push_back(orders[3]);  // the same order again: refused, alone
  auto direct = NodeClient::connect(live.url()).value();
  auto placed = direct->place_orders(orders);
  ASSERT_TRUE(placed) << placed.error().message();
  ASSERT_EQ(placed->size(), orders.size());
  for (size_t i = 0; i < 150; ++i) ASSERT_TRUE((*placed)[i]) << i << (*placed)[i].error().message();
  EXPECT_EQ((*placed)[150].error().code(), SdkErrc::duplicate_order);
  EXPECT_EQ((*(*placed)[7])["hash"],
            ledger::offer_from_json(orders[7]["offer"])->struct_hash().hex());

  std::vector<json> more;
  for (uint64_t i = 0; i < 3; ++i) {
    Offer o = de_offer(live, now);
    o.nonce = 1'000 + i;
    o.ip = parse_ip(fmt::format("10.2.0.{}", i)).value();
    more.push_back(provider.offer(o).value());
  }
  AnswerDroppingRelay relay(port, 1);  // the health check passes; the batch's answer is lost
  auto node = NodeClient::connect(relay.url()).value();
  ASSERT_TRUE(node->health());
  auto again = node->place_orders(more);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(relay.dropped(), 1);
  for (auto& r : *again) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE((*r)["resent"].get<bool>()) << r->dump();
  }
}

// ---- https ---------------------------------------------------------------------------------

struct Pem {
  std::string cert, key;
};

std::string to_pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string to_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, e, -1);
  X509_EXTENSION_free(e);
}

// A certificate for `cn` with the subject alternative names `san`, signed by `issuer` with
// `issuer_key` (itself when null: a CA).
X509* make_cert(EVP_PKEY* key, const char* cn, const char* san, X509* issuer, EVP_PKEY* issuer_key,
                long serial) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  if (issuer) {
    add_ext(x, issuer, NID_subject_alt_name, san);
  } else {
    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
  return x;
}

// A CA made for the test, and server certificates it signed.
struct TestCa {
  TestCa() {
    key = EVP_EC_gen("P-256");
    cert = make_cert(key, "IPSX test CA", nullptr, nullptr, nullptr, 1);
    file = dir.path() / "ca.pem";
    std::ofstream(file) << to_pem(cert);
  }
  ~TestCa() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  Pem issue(const char* san) {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    X509* x = make_cert(k, "server", san, cert, key, ++serial);
    Pem out{to_pem(x), to_pem(k)};
    ERR_clear_error();  // what making them left in this thread's queue
    X509_free(x);
    EVP_PKEY_free(k);
    return out;
  }
  ledger::testing::TempDir dir;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string file;
  long serial = 1;
};

// An https server on 127.0.0.1 with `pem`, answering every request of every connection with 200
// and the number of connections it has accepted, until destroyed.
class TlsServer {
 public:
  explicit TlsServer(const Pem& pem) : ctx_(net::asio::ssl::context::tls_server) {
    ctx_.use_certificate_chain(net::asio::buffer(pem.cert));
    ctx_.use_private_key(net::asio::buffer(pem.key), net::asio::ssl::context::pem);
    acceptor_.open(net::tcp::v4());
    acceptor_.bind({net::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~TlsServer() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // ends a blocking accept
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void serve() {
    for (;;) {
      boost::system::error_code ec;
      net::SslStream s(ioc_, ctx_);
      acceptor_.accept(s.next_layer(), ec);
      if (ec) return;
      int n = ++accepted_;
      s.handshake(net::asio::ssl::stream_base::server, ec);
      std::string buf;
      while (!ec) {
        size_t end = net::asio::read_until(s, net::asio::dynamic_buffer(buf), "\r\n\r\n", ec);
        if (ec) break;
        buf.erase(0, end);
        std::string body = "{\"connections\":" + std::to_string(n) + "}";
        net::asio::write(s, net::asio::buffer(ok(body)), ec);
      }
    }
  }
  net::asio::io_context ioc_;
  net::asio::ssl::context ctx_;
  net::tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(HttpClientTls, TrustsACertificateFromItsCaFileAndKeepsTheConnection) {
  TestCa ca;
  TlsServer server(ca.issue("DNS:localhost,IP:127.0.0.1"));
  for (std::string host : {"127.0.0.1", "localhost"}) {
    auto url = fmt::format("https://{}:{}/", host, server.port());
    auto client = http::HttpClient::create(url, 1 << 20, ca.file).value();
    EXPECT_EQ(client->endpoint(), url);
    auto first = client->request("GET", "/v1/health");
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_EQ(first->status, 200u);
    auto second = client->request("GET", "/v1/health");
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(second->body, first->body) << "the second request reused the connection";
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientTls, RefusesAnUntrustedOrMisnamedCertificate) {
  TestCa ca, other;
  TlsServer server(ca.issue("DNS:localhost,IP:127.0.0.1"));
  auto url = fmt::format("https://127.0.0.1:{}", server.port());
  // Signed by a CA the client does not trust (here: another test CA; without a file, the
  // system's store, which has neither).
  for (const std::string& trusted : {other.file, std::string()}) {
    auto r = http::HttpClient::create(url, 1 << 20, trusted).value()->request("GET", "/");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), http::HttpErrc::tls) << r.error().message();
    EXPECT_NE(r.error().message().find("not trusted or does not name 127.0.0.1"), std::string::npos)
        << r.error().message();
  }
  // Trusted, but for another name.
  TlsServer misnamed(ca.issue("DNS:elsewhere.example"));
  auto r = http::HttpClient::create(fmt::format("https://127.0.0.1:{}", misnamed.port()), 1 << 20,
                                    ca.file)
               .value()
               ->request("GET", "/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), http::HttpErrc::tls) << r.error().message();
  // A CA file that is not there is named.
  auto missing =
      http::HttpClient::create(url, 1 << 20, "/nonexistent/ca.pem").value()->request("GET", "/");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), http::HttpErrc::tls);
  EXPECT_NE(missing.error().message().find("/nonexistent/ca.pem"), std::string::npos)
      << missing.error().message();
}

// #19: the node serves its API over https (cert and key in its configuration): the SDK reaches
// it with the CA that signed the certificate and places a signed order through it; a client that
// does not trust the CA, or speaks plain http to it, gets nothing.
TEST(NodeOverTls, TheSdkReachesANodeServingHttpsAndPlacesASignedOrder) {
  TestCa ca;
  Pem pem = ca.issue("DNS:localhost,IP:127.0.0.1");
  std::ofstream(ca.dir.path() / "node.pem") << pem.cert;
  std::ofstream(ca.dir.path() / "node.key") << pem.key;
  SystemClock clock;
  api::testing::LiveNodeOptions o;
  o.tls_certificate_file = (ca.dir.path() / "node.pem").string();
  o.tls_key_file = (ca.dir.path() / "node.key").string();
  api::testing::LiveNode node(clock, o);
  ASSERT_EQ(node.url().rfind("https://127.0.0.1:", 0), 0u) << node.url();

  ClientOptions co;
  co.ca_file = ca.file;
  auto client = NodeClient::connect(node.url(), co);
  ASSERT_TRUE(client) << client.error().message();
  auto health = (*client)->get("/v1/health");
  ASSERT_TRUE(health) << health.error().message();
  EXPECT_EQ((*health)["status"], "ok");
  Offer offer = de_offer(node, static_cast<uint64_t>(to_unix_seconds(clock.now())));
  Signer provider(named_key("provider"), node.ledger().domain().separator());
  auto placed = (*client)->place_order(provider.offer(offer).value());
  ASSERT_TRUE(placed) << placed.error().message();
  EXPECT_EQ((*placed)["hash"], offer.struct_hash().hex());

  // Without the CA the certificate is not trusted; plain http to the https port gets no answer.
  auto untrusted = NodeClient::connect(node.url(), {});
  ASSERT_TRUE(untrusted);
  auto refused = (*untrusted)->get("/v1/health");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("not trusted"), std::string::npos)
      << refused.error().message();
  std::string plain = node.url();
  plain.replace(0, 5, "http");
  auto cleartext = NodeClient::connect(plain, {});
  ASSERT_TRUE(cleartext);
  EXPECT_FALSE((*cleartext)->get("/v1/health"));
}

TEST(HttpClientTls, ParsesHttpsUrls) {
  auto u = http::parse_http_url("https://rpc.example/v2/KEY").value();
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.path, "/v2/KEY");
  EXPECT_EQ(u.to_string(), "https://rpc.example:443/v2/KEY");
  EXPECT_FALSE(http::parse_http_url("http://a:8080").value().tls);
  EXPECT_EQ(http::parse_http_url("ftp://a").error().code(), http::HttpErrc::bad_url);
}

}  // namespace
}  // namespace ipsx::sdk
