// IP addresses as the geo layer reads them: one 16-byte form for both families, IPv4 mapped as
// ::ffff:a.b.c.d (the form ledger::Offer::ip stores), and prefixes ("10.0.0.0/8", "2001:db8::/32")
// over that form. Mirrors net/address_policy.h's Cidr, which sits in a layer above this one.
// Pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx::geo {

using Ip = std::array<uint8_t, 16>;

// True iff `ip` is ::ffff:a.b.c.d.
bool is_v4_mapped(const Ip& ip);
// The IPv4 address of a mapped `ip` as a host-order integer. REQUIRES: is_v4_mapped(ip).
uint32_t v4_value(const Ip& ip);
// ::ffff:a.b.c.d for the host-order IPv4 address `v4`.
Ip v4_mapped(uint32_t v4);

// "8.8.8.8" (stored mapped) or "2001:4860::8888". Errors: GeoErrc::bad_address quoting the text.
Result<Ip> parse_ip(std::string_view text);
// Dotted quad for a mapped address, RFC 5952 text for any other.
std::string to_string(const Ip& ip);

// An address range: every address whose first `bits` bits equal `prefix`'s.
struct IpPrefix {
  Ip prefix{};       // IPv4 ranges are stored mapped
  uint8_t bits = 0;  // over the 128-bit form: an IPv4 /8 is 104
  bool contains(const Ip& ip) const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};
// "127.0.0.2/32", "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Errors:
// GeoErrc::bad_address naming the text; host bits set past the prefix are refused.
Result<IpPrefix> parse_prefix(std::string_view text);
std::string to_string(const IpPrefix& prefix);

}  // namespace ipsx::geo
