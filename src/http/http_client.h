// A small HTTP/1.1 client over TCP or TLS for the programs that talk to an IPSX node or an
// Ethereum JSON-RPC endpoint: one request at a time on one kept-alive connection, every step
// within a deadline, the answer's size bounded. https:// verifies the server's certificate chain
// (the system's CA certificates, or a CA file) and its name (SNI sent for names). Synchronous from
// the caller's view; Boost.Beast underneath (http_client.cc is the one file that compiles it).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "core/clock.h"
#include "core/error.h"

namespace ipsx::http {

enum class HttpErrc {
  bad_url = 1,  // not http(s)://host[:port][/path]
  unavailable,  // cannot resolve or connect, or the connection broke before a whole answer
  timeout,      // no whole answer within the deadline
  too_large,    // the answer's body is over the client's limit
  tls,          // https: the TLS handshake failed (an untrusted or misnamed certificate, ...)
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
  // True when the request went out twice: its first connection, kept alive from an earlier
  // request, broke before any answer, and the request was resendable (see request()).
  bool resent = false;
};

// A parsed http(s)://host[:port][/path] URL.
struct HttpUrl {
  bool tls = false;  // https
  std::string host;
  std::string port = "80";  // 443 for https
  std::string path = "/";   // always starts with '/'
  std::string to_string() const;
};
Result<HttpUrl> parse_http_url(std::string_view url);

// The CA file every https client of the process trusts unless it names its own (a command
// line's --ca-file); empty: the system's store.
void set_default_ca_file(std::string path);

class HttpClient {
 public:
  // `url`'s path is a prefix of every request's target (e.g. http://127.0.0.1:8080/ or
  // https://rpc.example/v2/KEY). Nothing connects until the first request. For https, the
  // server's certificate must chain to a certificate in `ca_file` (PEM) or, if that is empty,
  // in the process default (set_default_ca_file) or else the system's store.
  static Result<std::unique_ptr<HttpClient>> create(std::string_view url,
                                                    size_t max_body = 16u << 20,
                                                    std::string ca_file = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `method` to the URL's path joined with `target` ("" or "/v1/health"; a leading '/'
  // is not doubled), with `body` of `content_type` when the body is not empty. Connects if no
  // connection is open. A kept-alive connection that the server has closed while it idled (its
  // end of stream already arrived) is replaced before the request goes out. A request that
  // still fails on a reused connection before any answer arrived (the server closed it at the
  // same moment, or went down with the request unanswered) is sent once more on a fresh
  // connection only when `idempotent`, and the reply says so (HttpReply::resent): the caller
  // passes true for what the server deduplicates. Callers decide on retries beyond that.
  // Thread-safe: concurrent calls are serialized.
  Result<HttpReply> request(std::string_view method, std::string_view target,
                            std::string_view body = {},
                            std::string_view content_type = "application/json",
                            Millis timeout = Millis(10'000), bool idempotent = true);

  // http(s)://host:port/path, for messages.
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
