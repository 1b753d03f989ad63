#include "net/endpoint.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "net/http_text.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// inet_pton wants a NUL-terminated string; text longer than any address is refused first.
template <int Family, class Out>
bool pton(std::string_view text, Out& out) {
  char buf[64];
  if (text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(Family, buf, out.data()) == 1;
}

// True iff the name's last label (ignoring one trailing dot) reads as a number to a resolver:
// all decimal digits, or "0x" followed by hex digits.
bool numeric_last_label(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  size_t dot = name.rfind('.');
  std::string_view label = dot == std::string_view::npos ? name : name.substr(dot + 1);
  if (label.empty()) return false;
  if (std::all_of(label.begin(), label.end(), is_digit)) return true;
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    return std::all_of(label.begin() + 2, label.end(), is_hex_digit);
  }
  return false;
}

Result<uint16_t> parse_port(std::string_view text) {
  if (text.empty()) return fail(NetErrc::bad_address, "empty port");
  if (text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
    return fail(NetErrc::bad_address, fmt::format("port {} is not a number", quoted(text)));
  }
  uint32_t port = 0;
  for (char c : text) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port == 0 || port > 65535) {
    return fail(NetErrc::bad_address, fmt::format("port {} is outside 1..65535", port));
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

Result<void> check_domain(std::string_view name) {
  if (name.empty()) return fail(NetErrc::bad_address, "empty domain name");
  if (name.size() > kMaxDomainBytes) {
    return fail(NetErrc::bad_address, fmt::format("domain name of {} bytes is longer than {}",
                                                  name.size(), kMaxDomainBytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x21 || c > 0x7e) {
      return fail(NetErrc::bad_address,
                  fmt::format("domain name {} has a non-printable byte 0x{:02x} at offset {}",
                              quoted(name), c, i));
    }
  }
  Ipv4 v4;
  if (numeric_last_label(name) && !pton<AF_INET>(name, v4)) {
    return fail(NetErrc::bad_address,
                fmt::format("domain name {} ends in a number but is not a dotted-quad IPv4 address",
                            quoted(name)));
  }
  return {};
}

std::string format_host(const Host& host) {
  char buf[INET6_ADDRSTRLEN];
  if (const auto* v4 = std::get_if<Ipv4>(&host)) {
    inet_ntop(AF_INET, v4->data(), buf, sizeof buf);
    return buf;
  }
  if (const auto* v6 = std::get_if<Ip>(&host)) {
    inet_ntop(AF_INET6, v6->data(), buf, sizeof buf);
    return fmt::format("[{}]", buf);
  }
  return std::get<std::string>(host);
}

std::string to_string(const Endpoint& endpoint) {
  return fmt::format("{}:{}", format_host(endpoint.host), endpoint.port);
}

Result<Endpoint> parse_authority(std::string_view text, std::optional<uint16_t> default_port) {
  if (text.empty()) return fail(NetErrc::bad_address, "empty host");
  if (text.find('@') != std::string_view::npos) {
    return fail(NetErrc::bad_address,
                fmt::format("authority {} has userinfo ('@'), which is not allowed", quoted(text)));
  }
  Endpoint out;
  std::string_view rest;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return fail(NetErrc::bad_address, fmt::format("IPv6 literal {} lacks ']'", quoted(text)));
    }
    Ip v6;
    std::string_view literal = text.substr(1, close - 1);
    if (!pton<AF_INET6>(literal, v6)) {
      return fail(NetErrc::bad_address, fmt::format("{} is not an IPv6 address", quoted(literal)));
    }
    out.host = v6;
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return fail(NetErrc::bad_address,
                  fmt::format("unexpected {} after the IPv6 literal", quoted(rest)));
    }
  } else {
    size_t colon = text.find(':');
    std::string_view host = text.substr(0, colon);
    if (colon != std::string_view::npos) rest = text.substr(colon);
    if (rest.size() > 1 && rest.find(':', 1) != std::string_view::npos) {
      return fail(NetErrc::bad_address,
                  fmt::format("{}: an IPv6 address must be in brackets", quoted(text)));
    }
    if (host.empty()) return fail(NetErrc::bad_address, "empty host");
    for (char c : host) {
      bool ok = is_digit(c) || is_alpha(c) || c == '-' || c == '.' || c == '_';
      if (!ok) {
        return fail(NetErrc::bad_address,
                    fmt::format("host {} has a character outside letters, digits, '-', '.', '_'",
                                quoted(host)));
      }
    }
    Ipv4 v4;
    if (pton<AF_INET>(host, v4)) {
      out.host = v4;
    } else {
      if (auto ok = check_domain(host); !ok) return std::unexpected(ok.error());
      out.host = std::string(host);
    }
  }
  if (rest.empty()) {
    if (!default_port) {
      return fail(NetErrc::bad_address, fmt::format("{} lacks a port", quoted(text)));
    }
    out.port = *default_port;
    return out;
  }
  auto port = parse_port(rest.substr(1));
  if (!port) return std::unexpected(port.error());
  out.port = *port;
  return out;
}

}  // namespace ipsx::net
