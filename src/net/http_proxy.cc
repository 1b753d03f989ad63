// The request head parser and the request head writers. The proxy's own responses and the Basic
// credentials live in http_response.cc.
#include "net/http_proxy.h"

#include <algorithm>

#include <fmt/format.h>

#include "net/http_text.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

Result<void> parse_request_line(std::string_view line, const HttpParseOptions& options,
                                HttpRequestHead& head) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
      sp1 == 0 || sp2 == sp1 + 1 || sp2 + 1 == line.size()) {
    return fail(NetErrc::malformed, fmt::format("request line {} is not METHOD SP TARGET SP "
                                                "VERSION",
                                                quoted(line)));
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_tchar)) {
    return fail(NetErrc::malformed, fmt::format("method {} is not a token", quoted(method)));
  }
  if (version == "HTTP/1.1" || version == "HTTP/1.0") {
    head.minor_version = version.back() - '0';
  } else if (version.starts_with("HTTP/")) {
    return fail(NetErrc::bad_version,
                fmt::format("{} is not supported: HTTP/1.0 or HTTP/1.1 only", quoted(version)));
  } else {
    return fail(NetErrc::malformed, fmt::format("version {} is not HTTP/1.x", quoted(version)));
  }
  for (size_t i = 0; i < target.size(); ++i) {
    auto c = static_cast<unsigned char>(target[i]);
    if (c < 0x21 || c > 0x7e) {
      return fail(NetErrc::bad_target,
                  fmt::format("request target has byte 0x{:02x} at offset {}", c, i));
    }
  }
  head.method = std::string(method);
  if (method == "CONNECT") {
    if (target.front() == '/' || target.find("://") != std::string_view::npos) {
      return fail(NetErrc::bad_target,
                  fmt::format("CONNECT needs host:port, not {}", quoted(target)));
    }
    auto ep = parse_authority(target, std::nullopt);
    if (!ep) return std::unexpected(ep.error());
    head.form = TargetForm::authority;
    head.target = std::move(*ep);
    head.authority = std::string(target);
    return {};
  }
  if (target.find('#') != std::string_view::npos) {
    return fail(NetErrc::bad_target,
                fmt::format("request target {} has a fragment ('#')", quoted(target)));
  }
  if (target == "*") {
    return fail(NetErrc::bad_target, "asterisk-form target '*' is not proxied");
  }
  if (target.front() == '/') {
    if (!options.allow_origin_form) {
      return fail(NetErrc::bad_target,
                  fmt::format("origin-form target {}: a proxy request needs an absolute URI "
                              "(http://host/path) or CONNECT host:port",
                              quoted(target)));
    }
    head.form = TargetForm::origin;
    head.path = std::string(target);
    return {};  // the target endpoint comes from Host once the headers are in
  }
  size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail(NetErrc::bad_target,
                fmt::format("request target {} is not an absolute URI", quoted(target)));
  }
  std::string scheme = lower(target.substr(0, scheme_end));
  if (scheme == "https") {
    return fail(NetErrc::bad_target, "https:// targets are tunnelled: use CONNECT host:443");
  }
  if (scheme != "http") {
    return fail(NetErrc::bad_target, fmt::format("scheme {} is not supported", quoted(scheme)));
  }
  std::string_view rest = target.substr(scheme_end + 3);
  size_t auth_end = std::min(rest.find_first_of("/?"), rest.size());
  auto ep = parse_authority(rest.substr(0, auth_end), 80);
  if (!ep) return std::unexpected(ep.error());
  head.form = TargetForm::absolute;
  head.target = std::move(*ep);
  head.authority = std::string(rest.substr(0, auth_end));
  std::string_view path = rest.substr(auth_end);
  head.path = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
  return {};
}

Result<void> parse_header_line(std::string_view line, std::vector<HttpHeader>& headers) {
  if (line.front() == ' ' || line.front() == '\t') {
    return fail(NetErrc::bad_header,
                fmt::format("header line {} starts with whitespace: obs-fold is not allowed",
                            quoted(line)));
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return fail(NetErrc::bad_header, fmt::format("header line {} has no ':'", quoted(line)));
  }
  std::string_view name = line.substr(0, colon);
  if (name.empty()) return fail(NetErrc::bad_header, "header line with an empty name");
  for (char c : name) {
    if (c == ' ' || c == '\t') {
      return fail(NetErrc::bad_header,
                  fmt::format("header name {} has whitespace before ':'", quoted(name)));
    }
    if (!is_tchar(c)) {
      return fail(NetErrc::bad_header, fmt::format("header name {} is not a token", quoted(name)));
    }
  }
  std::string_view value = trim_ows(line.substr(colon + 1));
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail(NetErrc::bad_header,
                  fmt::format("header {} has control byte 0x{:02x}", quoted(name), c));
    }
  }
  headers.push_back({std::string(name), std::string(value)});
  return {};
}

Result<uint64_t> parse_content_length(std::string_view value) {
  auto items = split_list(value);
  if (items.empty()) return fail(NetErrc::bad_header, "empty Content-Length");
  std::optional<uint64_t> out;
  for (std::string_view item : items) {
    if (item.size() > 19 || !std::all_of(item.begin(), item.end(), is_digit)) {
      return fail(NetErrc::bad_header,
                  fmt::format("Content-Length {} is not a number", quoted(value)));
    }
    uint64_t v = 0;
    for (char c : item) v = v * 10 + static_cast<uint64_t>(c - '0');
    if (out && *out != v) {
      return fail(NetErrc::bad_header,
                  fmt::format("conflicting Content-Length values {} and {}", *out, v));
    }
    out = v;
  }
  return *out;
}

// Everything that needs the whole header block: Host, body framing, persistence.
Result<void> finish_head(HttpRequestHead& head) {
  size_t hosts = 0;
  std::optional<uint64_t> content_length;
  bool has_te = false;
  std::vector<std::string> codings;
  std::vector<std::string> connection;
  for (const HttpHeader& h : head.headers) {
    std::string name = lower(h.name);
    if (name == "host") {
      ++hosts;
    } else if (name == "content-length") {
      auto v = parse_content_length(h.value);
      if (!v) return std::unexpected(v.error());
      if (content_length && *content_length != *v) {
        return fail(NetErrc::bad_header, fmt::format("conflicting Content-Length values {} and {}",
                                                     *content_length, *v));
      }
      content_length = *v;
    } else if (name == "transfer-encoding") {
      has_te = true;
      for (auto item : split_list(h.value)) codings.push_back(lower(item));
    } else if (name == "connection" || name == "proxy-connection") {
      for (auto item : split_list(h.value)) connection.push_back(lower(item));
    }
  }
  if (hosts > 1) return fail(NetErrc::bad_header, "more than one Host header");
  if (has_te) {
    if (head.minor_version == 0) {
      return fail(NetErrc::bad_header, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (content_length) {
      return fail(NetErrc::bad_header, "both Content-Length and Transfer-Encoding");
    }
    if (codings.empty() || codings.back() != "chunked") {
      return fail(NetErrc::bad_header, "Transfer-Encoding does not end in chunked");
    }
    if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
      return fail(NetErrc::bad_header, "Transfer-Encoding applies chunked twice");
    }
    head.framing = BodyFraming::chunked;
  } else if (content_length) {
    head.framing = BodyFraming::content_length;
    head.content_length = *content_length;
  }
  if (head.form == TargetForm::authority) {
    head.framing = BodyFraming::none;
    head.content_length = 0;
  }
  auto has = [&](std::string_view token) {
    return std::find(connection.begin(), connection.end(), token) != connection.end();
  };
  head.keep_alive = head.minor_version == 1 ? !has("close") : has("keep-alive") && !has("close");
  if (head.form == TargetForm::origin) {
    auto host = head.header("Host");
    if (!host) return fail(NetErrc::bad_header, "origin-form request without Host");
    auto ep = parse_authority(*host, 80);
    if (!ep) return std::unexpected(ep.error());
    head.target = std::move(*ep);
    head.authority = std::string(*host);
  }
  return {};
}

// The line structure shared by request and response heads: an optional run of empty lines
// (requests only), the first line, header lines, the blank line. `first_line` and `finish` fill
// the head; `what` names it in errors.
template <class Head, class FirstLine, class Finish>
ParseResult<Head> parse_head(std::string_view in, const HttpParseOptions& options,
                             std::string_view what, bool skip_empty_lines, FirstLine first_line,
                             Finish finish) {
  using Step = ParseStep<Head>;
  Head head;
  bool have_first_line = false;
  auto too_large = [&] {
    return fail(NetErrc::too_large,
                fmt::format("{} head is longer than {} bytes", what, options.max_head_bytes));
  };
  size_t pos = 0;
  while (true) {
    size_t eol = std::min(in.find_first_of("\r\n", pos), in.size());
    size_t length = eol - pos;
    if (length > options.max_line_bytes) {
      return fail(NetErrc::too_large,
                  fmt::format("{} is longer than {} bytes",
                              have_first_line ? "a header line" : fmt::format("the {} line", what),
                              options.max_line_bytes));
    }
    size_t need = 0;  // > 0 when the buffer ends inside the head
    if (eol == in.size()) {
      need = length > 0 ? 4 : have_first_line ? 2 : 1;  // this line's CRLF, then a blank line
    } else if (in[eol] == '\n') {
      return fail(NetErrc::malformed, fmt::format("bare LF at offset {}: lines end in CRLF", eol));
    } else if (eol + 1 == in.size()) {
      need = length > 0 || !have_first_line ? 3 : 1;
    } else if (in[eol + 1] != '\n') {
      return fail(NetErrc::malformed, fmt::format("bare CR at offset {}: lines end in CRLF", eol));
    }
    if (need > 0) {
      if (in.size() + need > options.max_head_bytes) return too_large();
      return Step::more(need);
    }
    std::string_view line = in.substr(pos, length);
    pos = eol + 2;
    if (pos > options.max_head_bytes) return too_large();
    if (line.empty()) {
      if (!have_first_line) {
        if (skip_empty_lines) continue;  // empty lines before a request line are skipped
        return fail(NetErrc::malformed, fmt::format("empty line before the {} line", what));
      }
      if (auto ok = finish(head); !ok) return std::unexpected(ok.error());
      return Step::done(std::move(head), pos);
    }
    if (!have_first_line) {
      if (auto ok = first_line(line, head); !ok) return std::unexpected(ok.error());
      have_first_line = true;
      continue;
    }
    if (head.headers.size() == options.max_headers) {
      return fail(NetErrc::too_large,
                  fmt::format("more than {} header lines", options.max_headers));
    }
    if (auto ok = parse_header_line(line, head.headers); !ok) return std::unexpected(ok.error());
  }
}

Result<void> parse_status_line(std::string_view line, HttpResponseHead& head) {
  if (!line.starts_with("HTTP/")) {
    return fail(NetErrc::malformed, fmt::format("status line {} is not HTTP/1.x", quoted(line)));
  }
  std::string_view version = line.substr(0, std::min(line.find(' '), line.size()));
  if (version == "HTTP/1.1" || version == "HTTP/1.0") {
    head.minor_version = version.back() - '0';
  } else {
    return fail(NetErrc::bad_version,
                fmt::format("{} is not supported: HTTP/1.0 or HTTP/1.1 only", quoted(version)));
  }
  std::string_view rest = line.substr(version.size());
  if (rest.size() < 4 || rest[0] != ' ' || !is_digit(rest[1]) || !is_digit(rest[2]) ||
      !is_digit(rest[3]) || rest[1] < '1' || rest[1] > '5' || (rest.size() > 4 && rest[4] != ' ')) {
    return fail(
        NetErrc::malformed,
        fmt::format("status line {} is not HTTP-version SP 3DIGIT SP reason", quoted(line)));
  }
  head.status = (rest[1] - '0') * 100 + (rest[2] - '0') * 10 + (rest[3] - '0');
  std::string_view reason = rest.size() > 4 ? rest.substr(5) : std::string_view();
  for (char ch : reason) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail(NetErrc::malformed, fmt::format("reason phrase has control byte 0x{:02x}", c));
    }
  }
  head.reason = std::string(reason);
  return {};
}

Result<void> finish_response(HttpResponseHead& head, std::string_view request_method) {
  std::optional<uint64_t> content_length;
  bool has_te = false;
  std::vector<std::string> codings;
  std::vector<std::string> connection;
  for (const HttpHeader& h : head.headers) {
    std::string name = lower(h.name);
    if (name == "content-length") {
      auto v = parse_content_length(h.value);
      if (!v) return std::unexpected(v.error());
      if (content_length && *content_length != *v) {
        return fail(NetErrc::bad_header, fmt::format("conflicting Content-Length values {} and {}",
                                                     *content_length, *v));
      }
      content_length = *v;
    } else if (name == "transfer-encoding") {
      has_te = true;
      for (auto item : split_list(h.value)) codings.push_back(lower(item));
    } else if (name == "connection" || name == "proxy-connection") {
      for (auto item : split_list(h.value)) connection.push_back(lower(item));
    }
  }
  if (head.status == 101) {
    return fail(NetErrc::bad_header, "101 Switching Protocols to a request without Upgrade");
  }
  if (has_te) {
    if (head.minor_version == 0) {
      return fail(NetErrc::bad_header, "Transfer-Encoding in an HTTP/1.0 response");
    }
    if (content_length) {
      return fail(NetErrc::bad_header, "both Content-Length and Transfer-Encoding");
    }
    if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
      return fail(NetErrc::bad_header, "Transfer-Encoding applies chunked twice");
    }
  }
  auto has = [&](std::string_view token) {
    return std::find(connection.begin(), connection.end(), token) != connection.end();
  };
  head.keep_alive = head.minor_version == 1 ? !has("close") : has("keep-alive") && !has("close");
  head.content_length = 0;
  if (request_method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304) {
    head.framing = ResponseFraming::none;
  } else if (has_te) {
    head.framing = !codings.empty() && codings.back() == "chunked"
                       ? ResponseFraming::chunked
                       : ResponseFraming::close_delimited;
  } else if (content_length) {
    head.framing = ResponseFraming::content_length;
    head.content_length = *content_length;
  } else {
    head.framing = ResponseFraming::close_delimited;
  }
  if (head.framing == ResponseFraming::close_delimited) head.keep_alive = false;
  return {};
}

// The hop-by-hop header names of a message: the fixed ones and those its Connection (or
// Proxy-Connection) lists, except Host and the framing headers, which must not be stripped.
std::vector<std::string> hop_by_hop(const std::vector<HttpHeader>& headers,
                                    std::vector<std::string> fixed) {
  for (const HttpHeader& h : headers) {
    std::string name = lower(h.name);
    if (name != "connection" && name != "proxy-connection") continue;
    for (auto item : split_list(h.value)) {
      std::string token = lower(item);
      // Listing a framing header or Host must not strip it: that would desynchronize the peer.
      if (token != "host" && token != "content-length" && token != "transfer-encoding") {
        fixed.push_back(std::move(token));
      }
    }
  }
  return fixed;
}

}  // namespace

std::optional<std::string_view> HttpRequestHead::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::optional<std::string_view> HttpResponseHead::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

ParseResult<HttpRequestHead> parse_request_head(std::string_view in,
                                                const HttpParseOptions& options) {
  return parse_head<HttpRequestHead>(
      in, options, "request", true,
      [&](std::string_view line, HttpRequestHead& head) {
        return parse_request_line(line, options, head);
      },
      [](HttpRequestHead& head) { return finish_head(head); });
}

ParseResult<HttpResponseHead> parse_response_head(std::string_view in,
                                                  std::string_view request_method,
                                                  const HttpParseOptions& options) {
  return parse_head<HttpResponseHead>(
      in, options, "response", false, parse_status_line,
      [&](HttpResponseHead& head) { return finish_response(head, request_method); });
}

std::string write_response_head(const HttpResponseHead& head, bool keep_alive,
                                int client_minor_version) {
  std::vector<std::string> drop =
      hop_by_hop(head.headers, {"connection", "proxy-connection", "keep-alive", "te", "upgrade"});
  std::string out = fmt::format("HTTP/1.1 {:03d} {}\r\n", head.status, head.reason);
  for (const HttpHeader& h : head.headers) {
    if (std::find(drop.begin(), drop.end(), lower(h.name)) == drop.end()) {
      out += h.name + ": " + h.value + "\r\n";
    }
  }
  if (!keep_alive) out += "Connection: close\r\n";
  if (keep_alive && client_minor_version == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

std::string write_proxy_request_head(const HttpRequestHead& head) {
  std::string out = head.method + " ";
  switch (head.form) {
    case TargetForm::authority:
      out += head.authority;
      break;
    case TargetForm::absolute:
      out += "http://" + head.authority + head.path;
      break;
    case TargetForm::origin:
      out += head.path;
      break;
  }
  out += fmt::format(" HTTP/1.{}\r\n", head.minor_version);
  for (const HttpHeader& h : head.headers) out += h.name + ": " + h.value + "\r\n";
  out += "\r\n";
  return out;
}

Result<std::string> write_forward_head(const HttpRequestHead& head, bool keep_alive_upstream) {
  if (head.form == TargetForm::authority) {
    return fail(NetErrc::invalid_argument, "a CONNECT request is tunnelled, not forwarded");
  }
  std::vector<std::string> drop =
      hop_by_hop(head.headers, {"proxy-authorization", "proxy-connection", "connection",
                                "keep-alive", "te", "trailer", "upgrade"});
  std::string line = fmt::format("{} {} HTTP/1.{}\r\n", head.method, head.path, head.minor_version);
  std::string host = "Host: " + head.authority + "\r\n";
  std::string out = line;
  bool host_written = false;
  for (const HttpHeader& h : head.headers) {
    std::string name = lower(h.name);
    if (name == "host") {
      out += host;
      host_written = true;
    } else if (std::find(drop.begin(), drop.end(), name) == drop.end()) {
      out += h.name + ": " + h.value + "\r\n";
    }
  }
  if (!host_written) out.insert(line.size(), host);
  if (!keep_alive_upstream && head.minor_version == 1) out += "Connection: close\r\n";
  if (keep_alive_upstream && head.minor_version == 0) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

}  // namespace ipsx::net
