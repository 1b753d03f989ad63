// A small HTTP/1.1 client over TCP (no TLS) for the programs that talk to an IPSX node or an
// Ethereum JSON-RPC endpoint: one request at a time on one kept-alive connection, every step
// within a deadline, the answer's size bounded. Synchronous from the caller's view; Boost.Beast
// underneath (http_client.cc is the one file that compiles it).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "core/clock.h"
#include "core/error.h"

namespace ipsx::http {

enum class HttpErrc {
  bad_url = 1,  // not http://host[:port][/path]
  unavailable,  // cannot resolve or connect, or the connection broke before a whole answer
  timeout,      // no whole answer within the deadline
  too_large,    // the answer's body is over the client's limit
};

const std::error_category& http_category();
inline std::error_code make_error_code(HttpErrc e) {
  return {static_cast<int>(e), http_category()};
}

// One answer: any status (4xx and 5xx are answers too; the caller reads their body).
struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string retry_after;  // the Retry-After header, if any
  std::string body;
};

// A parsed http://host[:port][/path] URL.
struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string path = "/";  // always starts with '/'
  std::string to_string() const;
};
Result<HttpUrl> parse_http_url(std::string_view url);

class HttpClient {
 public:
  // `url`'s path is a prefix of every request's target (e.g. http://127.0.0.1:8080/ or
  // http://127.0.0.1:8545/rpc). Nothing connects until the first request.
  static Result<std::unique_ptr<HttpClient>> create(std::string_view url,
                                                    size_t max_body = 16u << 20);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method` to the URL's path joined with `target` ("" or "/v1/health"; a leading '/'
  // is not doubled), with `body` of `content_type` when the body is not empty. Connects if no
  // connection is open. A request that fails on a reused connection before any answer arrived
  // is sent once more on a fresh one only when `idempotent` (a server may close an idle
  // connection at any time); callers decide on retries beyond that. Thread-safe: concurrent
  // calls are serialized.
  Result<HttpReply> request(std::string_view method, std::string_view target,
                            std::string_view body = {},
                            std::string_view content_type = "application/json",
                            Millis timeout = Millis(10'000), bool idempotent = true);

  // http://host:port/path, for messages.
  std::string endpoint() const;
  // Closes the connection (the next request opens a new one).
  void close();

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipsx::http

template <>
struct std::is_error_code_enum<ipsx::http::HttpErrc> : std::true_type {};
