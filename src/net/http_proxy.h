// HTTP/1.1 proxying (RFC 9110, RFC 9112) as pure functions over text: the request head a proxy
// client sends (CONNECT tunnels in authority-form; plain HTTP in absolute-form), its
// Proxy-Authorization Basic credentials (RFC 7617), the head rewritten for the origin, and the
// proxy's own responses. No sockets and no clock: the gateway reads, calls these, and writes.
//
// Strict by design, because a lenient proxy is a request-smuggling proxy: lines end in CRLF only,
// obs-fold is refused, conflicting Content-Length values and Transfer-Encoding beside
// Content-Length are refused, and Connection cannot strip the framing headers or Host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/hex.h"
#include "net/endpoint.h"
#include "net/parse_step.h"

namespace ipsx::net {

// Bounds on a request head; exceeding one is NetErrc::too_large.
struct HttpParseOptions {
  size_t max_head_bytes = 16 * 1024;  // request line + headers + the blank line
  size_t max_line_bytes = 8 * 1024;   // one line, without its CRLF
  size_t max_headers = 100;
  // Origin-form ("GET /path HTTP/1.1" with a Host header) is refused from proxy clients; an
  // origin-side reader (and the round-trip checks) set this to accept it.
  bool allow_origin_form = false;
};

// The request-target forms of RFC 9112 §3.2: CONNECT host:port, http://host/path, /path.
enum class TargetForm : uint8_t { authority, absolute, origin };
// How the request body ends (RFC 9112 §6.3): no body, after content_length bytes, or chunked.
enum class BodyFraming : uint8_t { none, content_length, chunked };

// One header line.
struct HttpHeader {
  std::string name;   // as received; compare ASCII case-insensitively
  std::string value;  // without leading and trailing whitespace
  friend bool operator==(const HttpHeader&, const HttpHeader&) = default;
};

// A parsed request head: what to connect to, what to forward, and how the body is framed.
struct HttpRequestHead {
  std::string method;  // case-sensitive token: "CONNECT", "GET", ...
  TargetForm form = TargetForm::absolute;
  Endpoint target;        // where to connect: CONNECT's host:port, the URI's (port 80 by default)
  std::string authority;  // the target's host[:port] text as received; the forwarded Host
  std::string path;       // origin-form path and query, at least "/"; empty for CONNECT
  int minor_version = 1;  // HTTP/1.0 or HTTP/1.1
  std::vector<HttpHeader> headers;  // in order
  bool keep_alive = true;           // 1.1: unless "Connection: close"; 1.0: only with "keep-alive"
  BodyFraming framing = BodyFraming::none;  // always none for CONNECT: what follows is tunnel
  uint64_t content_length = 0;              // when framing is content_length

  // The value of the first header called `name` (ASCII case-insensitive), if any. The view is
  // into this head and valid while it lives unchanged.
  std::optional<std::string_view> header(std::string_view name) const;
  friend bool operator==(const HttpRequestHead&, const HttpRequestHead&) = default;
};

// Parses a request head from the front of `in`, which may hold only part of it. Leading empty
// lines are skipped (RFC 9112 §2.2). Needs "METHOD SP target SP HTTP/1.x" with:
//   CONNECT and authority-form "host:port" / "[v6]:port" (port required), or
//   another method and absolute-form "http://host[:port][/path][?query]" (scheme
//   case-insensitive; https and other schemes, fragments, userinfo refused: bad_target);
//   origin-form only when options.allow_origin_form (the target then comes from Host).
// Headers: "name: value" with a token name and no space before ':'; values without control
// bytes; obs-fold refused; at most one Host. Body framing: Content-Length (duplicates must agree;
// any disagreement is refused), or Transfer-Encoding whose last coding is chunked, never both and
// never on HTTP/1.0. Errors: bad_version, malformed, bad_target, bad_address, bad_header,
// too_large. An error is final: no more bytes make the head valid. Each call scans `in` from its
// start; re-calling as bytes arrive is bounded by the head limit.
ParseResult<HttpRequestHead> parse_request_head(std::string_view in,
                                                const HttpParseOptions& options = {});

// The user and password of HTTP Basic authentication (RFC 7617).
struct BasicCredentials {
  std::string username;
  std::string password;
  friend bool operator==(const BasicCredentials&, const BasicCredentials&) = default;
};

// Decodes a Proxy-Authorization value "Basic <base64(user:pass)>" (scheme case-insensitive).
// The user is everything before the first ':'. Refused (bad_credentials): another scheme, bad
// base64, no ':', a control byte in user or password, more than 1024 decoded bytes.
Result<BasicCredentials> parse_basic_credentials(std::string_view value);

// The head's Proxy-Authorization credentials; nullopt without the header. More than one
// Proxy-Authorization header is bad_credentials. (Kept apart from parse_request_head so the
// gateway answers bad credentials with 407, not 400.)
Result<std::optional<BasicCredentials>> proxy_credentials(const HttpRequestHead& head);

// "Basic <base64(user:pass)>". Fails (invalid_argument) for a ':' or a control byte in the user,
// or a control byte in the password.
Result<std::string> write_basic_credentials(const BasicCredentials& credentials);

// The head as a proxy client would send it: the same request line form and headers. What
// parse_request_head accepted, this writes so that it parses back equal.
std::string write_proxy_request_head(const HttpRequestHead& head);

// The head to send to the origin for a plain-HTTP request: origin-form request line with the
// client's version, headers in order without the hop-by-hop ones (Proxy-Authorization,
// Proxy-Connection, Connection and the names it lists, Keep-Alive, TE, Trailer, Upgrade), and
// Host set to the target's authority (RFC 9112 §3.2.2) where the client had it, or first. Host,
// Content-Length and Transfer-Encoding stay even if Connection lists them. With
// `keep_alive_upstream` false a "Connection: close" is added (for 1.1), with it true a
// "Connection: keep-alive" (for 1.0). No Via header: the gateway does not announce itself.
// Fails (invalid_argument) for a CONNECT head, which is tunnelled, not forwarded.
Result<std::string> write_forward_head(const HttpRequestHead& head, bool keep_alive_upstream);

// --- Responses from the origin, and message bodies (RFC 9112 §4, §6, §7). ---

// How a response body ends (RFC 9112 §6.3): no body (HEAD, 1xx, 204, 304), after content_length
// bytes, with the last chunk, or when the origin closes the connection.
enum class ResponseFraming : uint8_t { none, content_length, chunked, close_delimited };

// Bounds on a response head; origins send longer heads than clients (cookies, CSPs).
inline constexpr HttpParseOptions kResponseHeadOptions{64 * 1024, 16 * 1024, 200, false};

// A parsed response head from the origin.
struct HttpResponseHead {
  int minor_version = 1;  // HTTP/1.0 or HTTP/1.1
  int status = 200;       // 100..599
  std::string reason;     // the reason phrase as received (may be empty)
  std::vector<HttpHeader> headers;
  bool keep_alive = true;  // the origin keeps its connection after this response
  ResponseFraming framing = ResponseFraming::none;
  uint64_t content_length = 0;  // when framing is content_length

  // 1xx: another response head follows on the same connection.
  bool interim() const { return status < 200; }
  std::optional<std::string_view> header(std::string_view name) const;
  friend bool operator==(const HttpResponseHead&, const HttpResponseHead&) = default;
};

// Parses a response head from the front of `in`, answering the request with `request_method`
// (HEAD has no response body). Lines end in CRLF; the same header rules as requests; a status
// line "HTTP/1.x SP 3DIGIT [SP reason]". Framing by RFC 9112 §6.3: no body for HEAD, 1xx, 204 and
// 304; Transfer-Encoding ending in chunked; Content-Length; else close-delimited (also for a
// Transfer-Encoding that does not end in chunked). Refused (bad_header): Transfer-Encoding beside
// Content-Length, in HTTP/1.0, or chunked twice; disagreeing Content-Length values; 101 Switching
// Protocols (the proxy never forwards Upgrade, so an origin may not switch). keep_alive: 1.1
// unless Connection lists close, 1.0 only with keep-alive; never for close-delimited bodies.
ParseResult<HttpResponseHead> parse_response_head(
    std::string_view in, std::string_view request_method,
    const HttpParseOptions& options = kResponseHeadOptions);

// The response head to send the client: "HTTP/1.1 <status> <reason>" (the proxy's own version),
// the headers in order without the hop-by-hop ones (Connection and the names it lists,
// Proxy-Connection, Keep-Alive, TE, Upgrade; never Content-Length or Transfer-Encoding), then
// "Connection: close" when `keep_alive` is false, "Connection: keep-alive" when it is true and
// the client speaks HTTP/1.0 (`client_minor_version` 0).
std::string write_response_head(const HttpResponseHead& head, bool keep_alive,
                                int client_minor_version);

// Finds where a message body ends in bytes that arrive piecewise, without decoding it: the proxy
// relays the body as it is (chunks, extensions and trailers included) and needs to know only
// where the next message starts. Pure and incremental: any split of the same bytes gives the same
// answers. Chunked bodies (RFC 9112 §7.1) are checked strictly: 1..16 hex digits of size,
// extensions and trailer lines of visible text (HTAB allowed), CRLF only; a size line over
// kMaxChunkLineBytes or trailers over kMaxTrailerBytes are too_large.
class HttpBodyScanner {
 public:
  static constexpr size_t kMaxChunkLineBytes = 4096;
  static constexpr size_t kMaxTrailerBytes = 16 * 1024;

  static HttpBodyScanner none() { return HttpBodyScanner(Kind::length, 0); }
  static HttpBodyScanner length(uint64_t n) { return HttpBodyScanner(Kind::length, n); }
  static HttpBodyScanner chunked() { return HttpBodyScanner(Kind::chunked, 0); }
  // Ends only when the connection does: every byte is body, done() never turns true.
  static HttpBodyScanner until_close() { return HttpBodyScanner(Kind::until_close, 0); }
  static HttpBodyScanner for_request(const HttpRequestHead& head);
  static HttpBodyScanner for_response(const HttpResponseHead& head);

  // Takes the bytes that follow those scanned so far; returns how many of them belong to the
  // body (all of them unless it ends inside `in`). Errors (malformed, too_large) are final.
  Result<size_t> scan(ByteView in);
  Result<size_t> scan(std::string_view in) {
    return scan(ByteView(reinterpret_cast<const uint8_t*>(in.data()), in.size()));
  }
  // The whole body has been scanned.
  bool done() const { return state_ == State::done; }
  // The body ends only when the connection closes.
  bool ends_at_close() const { return kind_ == Kind::until_close; }
  uint64_t scanned() const { return scanned_; }

 private:
  enum class Kind : uint8_t { length, chunked, until_close };
  enum class State : uint8_t {
    size,       // hex digits of the chunk size
    extension,  // after the size: BWS ; ext, up to CR
    size_lf,    // the LF of the size line
    data,       // `remaining_` bytes of chunk data (or the whole length body)
    data_cr,    // CRLF after chunk data
    data_lf,
    trailer,  // a trailer line (or the final empty line) starts
    trailer_line,
    trailer_lf,
    final_lf,  // the LF of the empty line that ends the body
    done,
    failed,
  };
  HttpBodyScanner(Kind kind, uint64_t length);

  Kind kind_;
  State state_;
  uint64_t remaining_ = 0;
  uint64_t scanned_ = 0;
  size_t digits_ = 0;
  size_t line_bytes_ = 0;
  size_t trailer_bytes_ = 0;
};

// --- The proxy's own responses. ---

// "HTTP/1.1 200 Connection established\r\n\r\n": the tunnel is open.
std::string write_connect_established();

// 407 with `Proxy-Authenticate: Basic realm="<realm>"` and an empty body. The realm is written as
// a quoted-string: '"' and '\' escaped, bytes outside printable ASCII replaced by '?'.
std::string write_proxy_auth_required(std::string_view realm, bool keep_alive);

// The error statuses the gateway answers with (docs/proxy-protocols.md says when).
enum class ProxyStatus : uint16_t {
  bad_request = 400,
  forbidden = 403,
  request_header_fields_too_large = 431,
  bad_gateway = 502,
  service_unavailable = 503,
  gateway_timeout = 504,
};

// The status for a request head that parse_request_head refused: 431 for too_large, else 400.
ProxyStatus status_for(const Error& parse_error);

// An error response: the status line, RFC 9209's `Proxy-Status: ipsx; error=<type>;
// details="<reason>"`, `X-IPSX-Reason: <reason>` (the same words, for older clients), a
// text/plain body of the reason and a newline, Content-Length, and "Connection: close" unless
// `keep_alive`. `error_type` is one of RFC 9209's proxy error types (section 2.3); empty: the
// status's usual one (proxy_status_error_for). The reason is untrusted-safe: bytes outside
// printable ASCII become '?', at most 200 bytes are kept, and an empty reason becomes the status
// text.
std::string write_error_response(ProxyStatus status, std::string_view reason,
                                 bool keep_alive = false, std::string_view error_type = {});
// The RFC 9209 error type a refusal with this status is, when nothing more precise is known.
std::string_view proxy_status_error_for(ProxyStatus status);

}  // namespace ipsx::net
