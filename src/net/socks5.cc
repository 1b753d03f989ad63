#include "net/socks5.h"

#include <algorithm>

#include <fmt/format.h>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

constexpr uint8_t kAtypIpv4 = 0x01, kAtypDomain = 0x03, kAtypIpv6 = 0x04;
// The shortest ATYP DST.ADDR DST.PORT: a one-byte domain name.
constexpr size_t kMinAddressBytes = 1 + 1 + 1 + 2;

// Parses ATYP ADDR PORT starting at in[at]; `consumed` counts from `at`.
ParseResult<Endpoint> read_address(ByteView in, size_t at) {
  if (in.size() <= at) return ParseStep<Endpoint>::more(at + kMinAddressBytes - in.size());
  uint8_t atyp = in[at];
  size_t addr_bytes = 0;
  size_t addr_at = at + 1;
  switch (atyp) {
    case kAtypIpv4:
      addr_bytes = 4;
      break;
    case kAtypIpv6:
      addr_bytes = 16;
      break;
    case kAtypDomain:
      if (in.size() <= at + 1) return ParseStep<Endpoint>::more(at + kMinAddressBytes - in.size());
      addr_bytes = in[at + 1];
      if (addr_bytes == 0) return fail(NetErrc::bad_address, "empty domain name (length 0)");
      addr_at = at + 2;
      break;
    default:
      return fail(
          NetErrc::unsupported_address_type,
          fmt::format("address type 0x{:02x} is not IPv4 (1), domain (3) or IPv6 (4)", atyp));
  }
  size_t end = addr_at + addr_bytes + 2;
  if (in.size() < end) return ParseStep<Endpoint>::more(end - in.size());
  Endpoint ep;
  auto addr = in.subspan(addr_at, addr_bytes);
  if (atyp == kAtypIpv4) {
    Ipv4 v4;
    std::copy(addr.begin(), addr.end(), v4.begin());
    ep.host = v4;
  } else if (atyp == kAtypIpv6) {
    Ip v6;
    std::copy(addr.begin(), addr.end(), v6.begin());
    ep.host = v6;
  } else {
    std::string name(addr.begin(), addr.end());
    if (auto ok = check_domain(name); !ok) return std::unexpected(ok.error());
    ep.host = std::move(name);
  }
  ep.port = static_cast<uint16_t>(in[end - 2] << 8 | in[end - 1]);
  return ParseStep<Endpoint>::done(std::move(ep), end - at);
}

Result<void> write_address(Bytes& out, const Endpoint& ep) {
  if (const auto* v4 = std::get_if<Ipv4>(&ep.host)) {
    out.push_back(kAtypIpv4);
    out.insert(out.end(), v4->begin(), v4->end());
  } else if (const auto* v6 = std::get_if<Ip>(&ep.host)) {
    out.push_back(kAtypIpv6);
    out.insert(out.end(), v6->begin(), v6->end());
  } else {
    const auto& name = std::get<std::string>(ep.host);
    if (auto ok = check_domain(name); !ok) {
      return fail(NetErrc::invalid_argument, ok.error().message());
    }
    out.push_back(kAtypDomain);
    out.push_back(static_cast<uint8_t>(name.size()));
    out.insert(out.end(), name.begin(), name.end());
  }
  out.push_back(static_cast<uint8_t>(ep.port >> 8));
  out.push_back(static_cast<uint8_t>(ep.port));
  return {};
}

// VER CODE RSV ATYP ADDR PORT, shared by requests (CODE = CMD) and replies (CODE = REP).
// `check_code` refuses a code byte; it runs as soon as the byte has arrived.
template <class CheckCode>
ParseResult<std::pair<uint8_t, Endpoint>> parse_framed(ByteView in, CheckCode check_code) {
  using Step = ParseStep<std::pair<uint8_t, Endpoint>>;
  if (!in.empty() && in[0] != kSocks5Version) {
    return fail(NetErrc::bad_version, fmt::format("SOCKS version {} is not 5", in[0]));
  }
  if (in.size() >= 2) {
    if (auto ok = check_code(in[1]); !ok) return std::unexpected(ok.error());
  }
  if (in.size() >= 3 && in[2] != 0) {
    return fail(NetErrc::malformed, fmt::format("reserved byte is 0x{:02x}, not 0", in[2]));
  }
  auto addr = read_address(in, 3);
  if (!addr) return std::unexpected(addr.error());
  if (!addr->complete()) return Step::more(addr->need);
  return Step::done({in[1], std::move(*addr->message)}, 3 + addr->consumed);
}

Result<Bytes> write_framed(uint8_t code, const Endpoint& ep) {
  Bytes out = {kSocks5Version, code, 0x00};
  if (auto ok = write_address(out, ep); !ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace

const char* to_string(Socks5Reply reply) {
  switch (reply) {
    case Socks5Reply::succeeded:
      return "succeeded";
    case Socks5Reply::general_failure:
      return "general SOCKS server failure";
    case Socks5Reply::not_allowed:
      return "connection not allowed by ruleset";
    case Socks5Reply::network_unreachable:
      return "network unreachable";
    case Socks5Reply::host_unreachable:
      return "host unreachable";
    case Socks5Reply::connection_refused:
      return "connection refused";
    case Socks5Reply::ttl_expired:
      return "TTL expired";
    case Socks5Reply::command_not_supported:
      return "command not supported";
    case Socks5Reply::address_type_not_supported:
      return "address type not supported";
  }
  return "unassigned";
}

Socks5Reply reply_for(const Error& error) {
  if (error.code() == NetErrc::unsupported_command) return Socks5Reply::command_not_supported;
  if (error.code() == NetErrc::unsupported_address_type) {
    return Socks5Reply::address_type_not_supported;
  }
  return Socks5Reply::general_failure;
}

bool Socks5Greeting::offers(uint8_t method) const {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

ParseResult<Socks5Greeting> parse_greeting(ByteView in) {
  using Step = ParseStep<Socks5Greeting>;
  if (in.empty()) return Step::more(3);
  if (in[0] != kSocks5Version) {
    return fail(NetErrc::bad_version, fmt::format("SOCKS version {} is not 5", in[0]));
  }
  if (in.size() < 2) return Step::more(2);
  size_t n = in[1];
  if (n == 0) return fail(NetErrc::malformed, "greeting offers no methods (NMETHODS = 0)");
  if (in.size() < 2 + n) return Step::more(2 + n - in.size());
  Socks5Greeting g;
  g.methods.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
  return Step::done(std::move(g), 2 + n);
}

ParseResult<Socks5UserPass> parse_userpass(ByteView in) {
  using Step = ParseStep<Socks5UserPass>;
  constexpr size_t kMin = 4;  // VER ULEN UNAME(1) PLEN
  if (in.empty()) return Step::more(kMin);
  if (in[0] != kUserPassVersion) {
    return fail(NetErrc::bad_version, fmt::format("username/password version {} is not 1", in[0]));
  }
  if (in.size() < 2) return Step::more(kMin - in.size());
  size_t ulen = in[1];
  if (ulen == 0) return fail(NetErrc::malformed, "empty username (ULEN = 0)");
  size_t plen_at = 2 + ulen;
  if (in.size() <= plen_at) return Step::more(plen_at + 1 - in.size());
  size_t end = plen_at + 1 + in[plen_at];
  if (in.size() < end) return Step::more(end - in.size());
  Socks5UserPass up;
  up.username.assign(in.begin() + 2, in.begin() + static_cast<std::ptrdiff_t>(plen_at));
  up.password.assign(in.begin() + static_cast<std::ptrdiff_t>(plen_at) + 1,
                     in.begin() + static_cast<std::ptrdiff_t>(end));
  return Step::done(std::move(up), end);
}

ParseResult<Socks5Request> parse_request(ByteView in) {
  auto framed = parse_framed(in, [](uint8_t cmd) -> Result<void> {
    if (cmd < 1 || cmd > 3) {
      return fail(NetErrc::unsupported_command,
                  fmt::format("command 0x{:02x} is not CONNECT, BIND or UDP ASSOCIATE", cmd));
    }
    return {};
  });
  if (!framed) return std::unexpected(framed.error());
  if (!framed->complete()) return ParseStep<Socks5Request>::more(framed->need);
  auto& [cmd, ep] = *framed->message;
  return ParseStep<Socks5Request>::done({static_cast<Socks5Command>(cmd), std::move(ep)},
                                        framed->consumed);
}

ParseResult<Socks5Response> parse_reply(ByteView in) {
  auto framed = parse_framed(in, [](uint8_t rep) -> Result<void> {
    if (rep > 8)
      return fail(NetErrc::malformed, fmt::format("reply code 0x{:02x} is unassigned", rep));
    return {};
  });
  if (!framed) return std::unexpected(framed.error());
  if (!framed->complete()) return ParseStep<Socks5Response>::more(framed->need);
  auto& [rep, ep] = *framed->message;
  return ParseStep<Socks5Response>::done({static_cast<Socks5Reply>(rep), std::move(ep)},
                                         framed->consumed);
}

Bytes write_method_selection(uint8_t method) {
  return {kSocks5Version, method};
}

Bytes write_userpass_status(bool success) {
  return {kUserPassVersion, static_cast<uint8_t>(success ? 0x00 : 0x01)};
}

Result<Bytes> write_reply(Socks5Reply reply, const Endpoint& bound) {
  return write_framed(static_cast<uint8_t>(reply), bound);
}

Bytes write_reply(Socks5Reply reply) {
  return {kSocks5Version, static_cast<uint8_t>(reply), 0x00, kAtypIpv4, 0, 0, 0, 0, 0, 0};
}

Result<Socks5UdpHeader> parse_udp_header(ByteView datagram) {
  if (datagram.size() > kMaxUdpDatagramBytes) {
    return fail(NetErrc::too_large, fmt::format("datagram of {} bytes is longer than {}",
                                                datagram.size(), kMaxUdpDatagramBytes));
  }
  if (datagram.size() < 3) {
    return fail(NetErrc::malformed,
                fmt::format("datagram of {} bytes is shorter than its header", datagram.size()));
  }
  if (datagram[0] != 0 || datagram[1] != 0) {
    return fail(NetErrc::malformed, "datagram's reserved bytes are not 0");
  }
  if (datagram[2] != 0) {
    return fail(
        NetErrc::fragmented,
        fmt::format("datagram fragment {} dropped: fragmentation is not supported", datagram[2]));
  }
  auto addr = read_address(datagram, 3);
  if (!addr) return std::unexpected(addr.error());
  if (!addr->complete()) {
    return fail(NetErrc::malformed,
                fmt::format("datagram of {} bytes ends inside its header", datagram.size()));
  }
  return Socks5UdpHeader{std::move(*addr->message), 3 + addr->consumed};
}

Result<Bytes> write_udp_header(const Endpoint& destination) {
  Bytes out = {0x00, 0x00, 0x00};
  if (auto ok = write_address(out, destination); !ok) return std::unexpected(ok.error());
  return out;
}

Result<Bytes> write_greeting(const Socks5Greeting& greeting) {
  if (greeting.methods.empty() || greeting.methods.size() > 255) {
    return fail(NetErrc::invalid_argument,
                fmt::format("a greeting offers 1..255 methods, not {}", greeting.methods.size()));
  }
  Bytes out = {kSocks5Version, static_cast<uint8_t>(greeting.methods.size())};
  out.insert(out.end(), greeting.methods.begin(), greeting.methods.end());
  return out;
}

Result<Bytes> write_userpass(const Socks5UserPass& credentials) {
  const auto& u = credentials.username;
  const auto& p = credentials.password;
  if (u.empty() || u.size() > 255 || p.size() > 255) {
    return fail(NetErrc::invalid_argument,
                fmt::format("username of {} bytes (1..255) or password of {} bytes (0..255)",
                            u.size(), p.size()));
  }
  Bytes out = {kUserPassVersion, static_cast<uint8_t>(u.size())};
  out.insert(out.end(), u.begin(), u.end());
  out.push_back(static_cast<uint8_t>(p.size()));
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

Result<Bytes> write_request(const Socks5Request& request) {
  return write_framed(static_cast<uint8_t>(request.command), request.destination);
}

}  // namespace ipsx::net
