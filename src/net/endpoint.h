// Where a proxied connection or datagram goes: an IPv4 address, an IPv6 address or a domain name,
// and a port. SOCKS5 and HTTP proxying both produce an Endpoint, so the gateway handles a
// destination the same way whichever protocol the client speaks. Pure functions, no resolver.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/error.h"
#include "vocab/ip.h"

namespace ipsx::net {

using Ipv4 = std::array<uint8_t, 4>;
// A domain name is kept as text, unresolved: the exit resolves it (RFC 1928's DOMAINNAME case).
// An IPv6 address is the vocabulary's Ip (vocab/ip.h).
using Host = std::variant<Ipv4, Ip, std::string>;

// A destination (or a bound address): host and port. Compared field by field; a domain name
// and the address it resolves to are different endpoints.
struct Endpoint {
  Host host;
  uint16_t port = 0;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The longest domain name SOCKS5 can carry (one length byte) and that DNS allows.
inline constexpr size_t kMaxDomainBytes = 255;

// Checks a domain name: 1..255 bytes of visible ASCII (0x21..0x7e; a NUL, a space, a control byte
// or a byte >= 0x80 is refused, naming it and its offset). A name whose last label is numeric
// ("10.1", "0x7f.1", "4294967295") must be a dotted-quad IPv4 address: resolvers read such names
// as numbers, which would let a name slip past an address filter. Errors: NetErrc::bad_address.
Result<void> check_domain(std::string_view name);

// "1.2.3.4", "[2001:db8::1]" (RFC 5952 text in brackets) or the domain name as stored.
std::string format_host(const Host& host);

// "host:port", the host as format_host writes it.
std::string to_string(const Endpoint& endpoint);

// Parses an authority as a URI or an HTTP CONNECT carries it: "host[:port]" where host is a
// dotted-quad IPv4 address, a bracketed IPv6 literal ("[::1]:443") or a domain name of letters,
// digits, '-', '.' and '_' that passes check_domain. Without a port, `default_port` is used; with
// no default, the port is required. Ports are 1..65535 in decimal. Refused: userinfo ('@'), an
// empty host or port, an IPv6 zone id, an unbracketed IPv6 address. Errors: bad_address.
Result<Endpoint> parse_authority(std::string_view text, std::optional<uint16_t> default_port);

}  // namespace ipsx::net
