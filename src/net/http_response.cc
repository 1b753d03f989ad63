// The proxy's own responses and HTTP Basic credentials (declared in http_proxy.h).
#include <fmt/format.h>

#include "net/base64.h"
#include "net/http_proxy.h"
#include "net/http_text.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

constexpr size_t kMaxCredentialBytes = 1024;
constexpr size_t kMaxReasonBytes = 200;

bool has_control(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Printable ASCII only, at most kMaxReasonBytes, trimmed: safe inside a header line.
std::string sanitize(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < kMaxReasonBytes; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  return std::string(trim_ows(out));
}

const char* status_text(ProxyStatus status) {
  switch (status) {
    case ProxyStatus::bad_request:
      return "Bad Request";
    case ProxyStatus::forbidden:
      return "Forbidden";
    case ProxyStatus::request_header_fields_too_large:
      return "Request Header Fields Too Large";
    case ProxyStatus::bad_gateway:
      return "Bad Gateway";
    case ProxyStatus::service_unavailable:
      return "Service Unavailable";
    case ProxyStatus::gateway_timeout:
      return "Gateway Timeout";
  }
  return "Error";
}

}  // namespace

Result<BasicCredentials> parse_basic_credentials(std::string_view value) {
  value = trim_ows(value);
  size_t sp = value.find(' ');
  std::string_view scheme = value.substr(0, sp);
  if (!iequals(scheme, "Basic")) {
    return fail(NetErrc::bad_credentials,
                fmt::format("authorization scheme {} is not Basic", quoted(scheme, 16)));
  }
  if (sp == std::string_view::npos)
    return fail(NetErrc::bad_credentials, "Basic without credentials");
  auto decoded = base64_decode(trim_ows(value.substr(sp)), kMaxCredentialBytes);
  if (!decoded) return std::unexpected(decoded.error());
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) {
    return fail(NetErrc::bad_credentials,
                "Basic credentials have no ':' between user and password");
  }
  BasicCredentials out{decoded->substr(0, colon), decoded->substr(colon + 1)};
  if (has_control(out.username) || has_control(out.password)) {
    return fail(NetErrc::bad_credentials, "Basic credentials hold a control byte");
  }
  return out;
}

Result<std::optional<BasicCredentials>> proxy_credentials(const HttpRequestHead& head) {
  std::optional<std::string_view> value;
  for (const HttpHeader& h : head.headers) {
    if (!iequals(h.name, "Proxy-Authorization")) continue;
    if (value) return fail(NetErrc::bad_credentials, "more than one Proxy-Authorization header");
    value = h.value;
  }
  if (!value) return std::optional<BasicCredentials>();
  auto c = parse_basic_credentials(*value);
  if (!c) return std::unexpected(c.error());
  return std::optional<BasicCredentials>(std::move(*c));
}

Result<std::string> write_basic_credentials(const BasicCredentials& credentials) {
  const auto& [user, password] = credentials;
  if (user.find(':') != std::string::npos || has_control(user) || has_control(password)) {
    return fail(NetErrc::invalid_argument,
                "Basic credentials: the user may not hold ':', neither may hold a control byte");
  }
  if (user.size() + 1 + password.size() > kMaxCredentialBytes) {
    return fail(NetErrc::invalid_argument,
                fmt::format("Basic credentials longer than {} bytes", kMaxCredentialBytes));
  }
  return "Basic " + base64_encode(user + ":" + password);
}

std::string write_connect_established() {
  return "HTTP/1.1 200 Connection established\r\n\r\n";
}

namespace {
// A quoted string (an HTTP quoted-string, a structured field's sf-string): printable ASCII
// only, '"' and '\\' escaped.
std::string quoted(std::string_view text) {
  std::string out;
  for (char c : sanitize(text)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::string write_proxy_auth_required(std::string_view realm, bool keep_alive) {
  return fmt::format(
      "HTTP/1.1 407 Proxy Authentication Required\r\n"
      "Proxy-Authenticate: Basic realm=\"{}\"\r\n"
      "Proxy-Status: ipsx; error=http_request_denied; details=\"proxy credentials required\"\r\n"
      "Content-Length: 0\r\n{}\r\n",
      quoted(realm), keep_alive ? "" : "Connection: close\r\n");
}

std::string_view proxy_status_error_for(ProxyStatus status) {
  switch (status) {
    case ProxyStatus::bad_request:
    case ProxyStatus::request_header_fields_too_large:
      return "http_request_error";
    case ProxyStatus::forbidden:
      return "http_request_denied";
    case ProxyStatus::bad_gateway:
      return "destination_unavailable";
    case ProxyStatus::service_unavailable:
      return "proxy_internal_response";
    case ProxyStatus::gateway_timeout:
      return "connection_timeout";
  }
  return "proxy_internal_error";
}

ProxyStatus status_for(const Error& parse_error) {
  return parse_error.code() == NetErrc::too_large ? ProxyStatus::request_header_fields_too_large
                                                  : ProxyStatus::bad_request;
}

std::string write_error_response(ProxyStatus status, std::string_view reason, bool keep_alive,
                                 std::string_view error_type) {
  std::string text = sanitize(reason);
  if (text.empty()) text = status_text(status);
  if (error_type.empty()) error_type = proxy_status_error_for(status);
  return fmt::format(
      "HTTP/1.1 {} {}\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n"
      "Content-Length: {}\r\n"
      "Proxy-Status: ipsx; error={}; details=\"{}\"\r\n"
      "X-IPSX-Reason: {}\r\n{}\r\n{}\n",
      static_cast<int>(status), status_text(status), text.size() + 1, error_type, quoted(text),
      text, keep_alive ? "" : "Connection: close\r\n", text);
}

}  // namespace ipsx::net
