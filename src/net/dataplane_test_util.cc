#include "net/dataplane_test_util.h"

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <stdexcept>

namespace ipsx::net::testing {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test CA: ") + what);
}

CertPtr make_cert(EVP_PKEY* key, EVP_PKEY* signer, X509* issuer, const char* cn, bool ca) {
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ca ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  if (ca) {
    add(NID_basic_constraints, "critical,CA:TRUE");
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_basic_constraints, "CA:FALSE");
    add(NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    add(NID_ext_key_usage, "serverAuth");
  }
  check(X509_sign(cert.get(), signer, EVP_sha256()) != 0, "sign");
  return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "open");
  if (cert) PEM_write_X509(f, cert);
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

}  // namespace

TestCa make_test_ca(const std::string& dir) {
  KeyPtr ca_key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  check(ca_key && key, "keygen");
  CertPtr ca = make_cert(ca_key.get(), ca_key.get(), nullptr, "ipsx test CA", true);
  CertPtr cert = make_cert(key.get(), ca_key.get(), ca.get(), "localhost", false);
  TestCa out{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  write_pem(out.ca_file, ca.get(), nullptr);
  write_pem(out.cert_file, cert.get(), nullptr);
  write_pem(out.key_file, nullptr, key.get());
  return out;
}

EchoServer::EchoServer(const TestCa* tls, const std::string& address) : acceptor_(io_.io()) {
  tcp::endpoint ep(asio::ip::make_address(address), 0);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  if (tls) {
    ssl_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ssl_->use_certificate_chain_file(tls->cert_file);
    ssl_->use_private_key_file(tls->key_file, asio::ssl::context::pem);
  }
  asio::co_spawn(io_.io(), accept(), asio::detached);
}

EchoServer::~EchoServer() {
  asio::post(io_.io(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  io_.stop();
}

awaitable<void> EchoServer::accept() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await acceptor_.async_accept(use_ec(ec));
    if (ec) co_return;
    std::string peer = s.remote_endpoint(ec).address().to_string();
    if (ssl_) {
      asio::co_spawn(
          io_.io(),
          [this, s = std::move(s), peer]() mutable -> awaitable<void> {
            SslStream tls(std::move(s), *ssl_);
            boost::system::error_code e;
            co_await tls.async_handshake(asio::ssl::stream_base::server, use_ec(e));
            if (!e) co_await serve(tls, peer);
          },
          asio::detached);
    } else {
      asio::co_spawn(
          io_.io(),
          [this, s = std::move(s), peer]() mutable -> awaitable<void> { co_await serve(s, peer); },
          asio::detached);
    }
  }
}

template <class Stream>
awaitable<void> EchoServer::serve(Stream& s, std::string peer) {
  std::string in;
  std::array<char, 4096> buf;
  for (;;) {  // keep-alive: one response per request head
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      boost::system::error_code ec;
      size_t n = co_await s.async_read_some(asio::buffer(buf), use_ec(ec));
      if (ec) co_return;
      in.append(buf.data(), n);
      if (in.size() > 64 * 1024) co_return;
    }
    std::string head = in.substr(0, end);
    in.erase(0, end + 4);
    std::string body = peer + "\n";
    auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
    std::string method = head.substr(0, sp1);
    std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string lower_head = head;
    for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // A request body (Content-Length only) is read; "/echo" answers with it.
    size_t cl = lower_head.find("\r\ncontent-length:");
    size_t request_body = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 17));
    while (in.size() < request_body) {
      boost::system::error_code ec;
      size_t n = co_await s.async_read_some(asio::buffer(buf), use_ec(ec));
      if (ec) co_return;
      in.append(buf.data(), n);
    }
    std::string received = in.substr(0, request_body);
    in.erase(0, request_body);
    if (path == "/echo") body = received;
    if (path.rfind("/bytes/", 0) == 0) body.assign(std::stoul(path.substr(7)), 'x');
    bool close = lower_head.find("connection: close") != std::string::npos;
    std::string resp;
    if (path.rfind("/chunked/", 0) == 0) {
      // The body in chunks of at most 1000 bytes, with an extension and a trailer.
      size_t n = std::stoul(path.substr(9));
      resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n";
      if (close) resp += "Connection: close\r\n";
      resp += "\r\n";
      if (method != "HEAD") {
        for (size_t sent = 0; sent < n; sent += 1000)
          resp += fmt::format("{:x};i=1\r\n{}\r\n", std::min<size_t>(1000, n - sent),
                              std::string(std::min<size_t>(1000, n - sent), 'c'));
        resp += "0\r\nX-Trailer: t\r\n\r\n";
      }
    } else if (path.rfind("/close/", 0) == 0) {
      // No length: the body ends when this server closes the connection.
      resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" +
             std::string(std::stoul(path.substr(7)), 'z');
      close = true;
    } else if (path == "/status/204") {
      resp = "HTTP/1.1 204 No Content\r\n\r\n";
    } else {
      resp = fmt::format(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
          body.size(), close ? "Connection: close\r\n" : "", method == "HEAD" ? "" : body);
    }
    boost::system::error_code ec;
    co_await asio::async_write(s, asio::buffer(resp), use_ec(ec));
    if (ec || close) co_return;
  }
}

Run run(const std::string& command) {
  Run r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TestDeal make_deal(const crypto::PrivateKey& provider, const crypto::PrivateKey& requester,
                   const std::string& ip, const char* country, uint16_t exit_port, uint64_t start,
                   uint64_t seconds, uint64_t price, uint32_t protocols, uint32_t scope) {
  static std::atomic<uint32_t> counter{0};
  TestDeal d;
  Hash id;
  RAND_bytes(id.data(), 28);
  uint32_t c = ++counter;
  id.bytes()[28] = static_cast<uint8_t>(c >> 24);
  id.bytes()[29] = static_cast<uint8_t>(c >> 16);
  id.bytes()[30] = static_cast<uint8_t>(c >> 8);
  id.bytes()[31] = static_cast<uint8_t>(c);
  Hash sep = ledger_domain(31337, Address{}).separator();
  auto leased = asio::ip::make_address(ip);
  d.exit.id = id;
  d.exit.requester = requester.address();
  d.exit.leased_ip = from_asio(leased);
  d.exit.protocols = protocols;
  d.exit.request_scope = scope;
  d.exit.price_per_second = U256(price);
  d.exit.max_amount = Amount::from_base(U256(price * seconds));
  d.exit.start = start;
  d.exit.end = start + seconds;
  d.exit.domain_separator = sep;
  d.lease.deal_id = id;
  d.lease.provider = provider.address();
  d.lease.exit = tcp::endpoint(asio::ip::make_address("127.0.0.1"), exit_port);
  d.lease.ip = d.exit.leased_ip;
  d.lease.country = {country[0], country[1]};
  d.lease.type = IpType::residential;
  d.lease.price_per_second = U256(price);
  d.lease.max_amount = d.exit.max_amount;
  d.lease.start = start;
  d.lease.end = start + seconds;
  d.lease.domain_separator = sep;
  return d;
}

}  // namespace ipsx::net::testing
