// The JSON-RPC transport over the shared HTTP client (src/http): POST, a 2xx answer's body, the
// client's failures in the eth layer's codes.
#include "eth/http_transport.h"

#include <fmt/format.h>

#include "http/http_client.h"

namespace ipsx::eth {

struct HttpTransport::Impl {
  std::unique_ptr<http::HttpClient> client;
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpTransport::~HttpTransport() = default;

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(std::string_view url) {
  auto client = http::HttpClient::create(url, kMaxRpcResponse);
  if (!client) {
    return fail(CoreErrc::invalid_argument, fmt::format("RPC {}", client.error().message()));
  }
  auto impl = std::make_unique<Impl>();
  impl->client = std::move(*client);
  return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(impl)));
}

Result<std::string> HttpTransport::post(std::string_view body, Millis timeout) {
  // Every method the backend sends is idempotent (a raw transaction resent has the same hash), so
  // a request lost on a connection the node closed while idle is resent once on a new one.
  auto reply = impl_->client->request("POST", "", body, "application/json", timeout, true);
  if (!reply) {
    const auto& code = reply.error().code();
    EthErrc e = code == make_error_code(http::HttpErrc::timeout)     ? EthErrc::timeout
                : code == make_error_code(http::HttpErrc::too_large) ? EthErrc::too_large
                                                                     : EthErrc::unavailable;
    return fail(e, reply.error().message());
  }
  if (reply->status < 200 || reply->status >= 300) {
    impl_->client->close();
    return fail(EthErrc::unavailable, fmt::format("{}: HTTP {}: {}", endpoint(), reply->status,
                                                  quoted(reply->body, 200)));
  }
  return std::move(reply->body);
}

std::string HttpTransport::endpoint() const {
  return impl_->client->endpoint();
}

}  // namespace ipsx::eth
