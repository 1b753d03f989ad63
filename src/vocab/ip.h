// IP addresses and ranges as the whole exchange speaks of them: one 16-byte form for both
// families, IPv4 mapped as ::ffff:a.b.c.d (the form Offer::ip is signed in), and prefixes
// ("10.0.0.0/8", "2001:db8::/32") over that form. Pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx {

using Ip = std::array<uint8_t, 16>;

// True iff `ip` is ::ffff:a.b.c.d.
bool is_v4_mapped(const Ip& ip);
// The IPv4 address of a mapped `ip` as a host-order integer. REQUIRES: is_v4_mapped(ip).
uint32_t v4_value(const Ip& ip);
// ::ffff:a.b.c.d for the host-order IPv4 address `v4`.
Ip v4_mapped(uint32_t v4);

// "8.8.8.8" (stored mapped) or "2001:4860::8888". Errors: CoreErrc::invalid_argument quoting the
// text.
Result<Ip> parse_ip(std::string_view text);
// Dotted quad for a mapped address, RFC 5952 text for any other.
std::string format_ip(const Ip& ip);

// The subnet an IP counts in for Request::distinct_subnets: its /24 for IPv4 (mapped),
// ff ff a b c 00; its /48 for IPv6, the first six bytes.
using SubnetKey = std::array<uint8_t, 6>;
SubnetKey subnet_key(const Ip& ip);

// An address range: every address whose first `bits` bits equal `prefix`'s.
struct IpPrefix {
  Ip prefix{};       // IPv4 ranges are stored mapped
  uint8_t bits = 0;  // over the 128-bit form: an IPv4 /8 is 104
  bool contains(const Ip& ip) const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};
// "127.0.0.2/32", "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Errors:
// CoreErrc::invalid_argument naming the text; host bits set past the prefix are refused.
Result<IpPrefix> parse_prefix(std::string_view text);
std::string to_string(const IpPrefix& prefix);

}  // namespace ipsx
