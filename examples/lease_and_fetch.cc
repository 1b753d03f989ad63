// Lease an IP on an IPSX node and fetch a page through it, with the C++ SDK.
//
//   lease_and_fetch NODE_URL KEYSTORE_FILE PASSWORD_FILE COUNTRY MAX_PRICE PAGE_URL
//   lease_and_fetch http://127.0.0.1:8080 wallet.json pw DE 0.002 http://example.org/
//
// What it does, step by step:
//  1. unlocks the requester's wallet (an Ethereum keystore v3 file) and reads what the node's
//     orders must name (GET /v1/health: the market, its commission, the chain id);
//  2. runs an in-process gateway whose market is the SDK's NodeLeases: asked for an IP in
//     COUNTRY, it signs a request (at most MAX_PRICE IPSX per second, 60 seconds), places it at
//     the node, reads the deal and the provider's exit, and pairs with that exit;
//  3. sends one HTTP GET for PAGE_URL through the gateway, the username carrying the filter
//     (`country-de`), and prints the status line and the body: the page as fetched from the
//     leased IP. The gateway pays the exit's invoices with balance proofs meanwhile.
// The requester's Centralizer wallet must hold enough IPSX to back the request.
#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "client/node_client.h"
#include "client/signer.h"
#include "crypto/keystore.h"
#include "net/asio.h"
#include "net/gateway.h"
#include "sdk/dataplane.h"

using namespace ipsx;
namespace asio = net::asio;

namespace {

// Fails with a message naming what failed.
template <class T>
T need(Result<T> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
  return std::move(*r);
}
void need(Result<void> r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
}

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[v & 63] : '=';
  }
  return out;
}

// One GET of `url` through the HTTP proxy at 127.0.0.1:`port`; the whole answer.
std::string get_through_proxy(uint16_t port, const std::string& user, const std::string& password,
                              const std::string& url) {
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string host = url.substr(url.find("//") + 2);
  host = host.substr(0, host.find('/'));
  std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: Basic {}\r\nConnection: close\r\n\r\n",
      url, host, base64(user + ":" + password));
  asio::write(s, asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(answer, 1 << 20), ec);  // until the proxy closes
  return answer;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 7) {
    std::cerr << "usage: lease_and_fetch NODE_URL KEYSTORE_FILE PASSWORD_FILE COUNTRY MAX_PRICE "
                 "PAGE_URL\n";
    return 2;
  }
  const std::string node_url = argv[1], country = argv[4], page = argv[6];

  // 1. The wallet and the node.
  std::string password = need(crypto::read_small_file(argv[3], 4096), "password file");
  password = password.substr(0, password.find('\n'));
  crypto::PrivateKey key = need(
      crypto::decrypt_keystore(need(crypto::read_small_file(argv[2], 65536), "keystore"), password),
      "keystore");
  auto node = need(sdk::NodeClient::connect(node_url), "node URL");
  nlohmann::json health = need(node->health(), "the node");
  // The ledger's EIP-712 domain, as the node states it: its chain id and verifying address.
  sdk::Signer requester = sdk::Signer::for_chain(
      key.clone(), health.at("chainId").get<uint64_t>(),
      need(Address::parse(health.at("verifyingContract").get<std::string>()), "verifyingContract"));

  // 2. The lease policy and the in-process gateway.
  sdk::LeasePolicy policy;
  policy.duration_seconds = 60;
  policy.max_price_per_second = need(Amount::parse(argv[5]), "MAX_PRICE").base();
  policy.protocols = protocol::http;
  policy.scope = scope::crawling;
  policy.market = need(Address::parse(health.value("market", "")), "the node's market");
  policy.fee_bps = health.value("feeBps", uint16_t{0});
  sdk::NodeLeases leases(node_url, requester, policy);

  net::GatewayConfig config;  // 127.0.0.1, any free port
  config.password = "example";
  asio::io_context io;
  SystemClock clock;
  net::Gateway gateway(io, config, key.clone(), &leases, clock);
  gateway.on_lease_event = [&](const Hash& deal, net::LeaseEvent e, const std::string& why) {
    if (e == net::LeaseEvent::connected) std::cerr << "leased: deal " << deal.hex() << "\n";
    leases.on_lease_event(deal, e, why);
  };
  need(gateway.start(), "the gateway");
  std::thread io_thread([&io] { io.run(); });

  // 3. The page, through the leased IP.
  std::string answer = get_through_proxy(gateway.port(), "country-" + country, "example", page);
  gateway.stop();
  io.stop();
  io_thread.join();

  size_t head_end = answer.find("\r\n\r\n");
  std::string status = answer.substr(0, answer.find("\r\n"));
  std::cerr << status << "\n";
  if (head_end != std::string::npos) std::cout << answer.substr(head_end + 4);
  return status.find(" 200 ") != std::string::npos ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "lease_and_fetch: " << e.what() << "\n";
  return 1;
}
