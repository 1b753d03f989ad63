// The transport under the JSON-RPC client: one HTTP/1.1 POST of a JSON body, answered with the
// response body, within a deadline. An interface so that tests (and other transports) can stand
// in for the network; HttpTransport is the real one over Boost.Beast.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "eth/eth_error.h"

namespace ipsx::eth {

// Replies larger than this are refused (EthErrc::too_large): a log query over a long range is
// the largest answer the backend asks for.
inline constexpr size_t kMaxRpcResponse = 64u << 20;

class RpcTransport {
 public:
  virtual ~RpcTransport() = default;
  // POSTs `body` (Content-Type: application/json) and returns the 2xx response's body. Fails with
  // unavailable (cannot connect, connection lost, non-2xx status), timeout (no complete answer
  // within `timeout`), too_large. Thread-safe; concurrent calls are serialized or pooled.
  virtual Result<std::string> post(std::string_view body, Millis timeout) = 0;
  // Where requests go, for messages ("http://127.0.0.1:8545/").
  virtual std::string endpoint() const = 0;
};

// HTTP/1.1 over TCP (no TLS), keep-alive: one connection reused while it works, reopened after
// any failure. A request that fails after the connection was reused is retried once on a fresh
// connection (the server may have closed an idle connection); callers decide any retry beyond.
class HttpTransport final : public RpcTransport {
 public:
  // `url` is http://host[:port][/path]; the host is resolved on each (re)connect.
  static Result<std::unique_ptr<HttpTransport>> create(std::string_view url);
  ~HttpTransport() override;

  Result<std::string> post(std::string_view body, Millis timeout) override;
  std::string endpoint() const override;

  struct Impl;

 private:
  explicit HttpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipsx::eth
