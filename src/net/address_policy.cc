#include "net/address_policy.h"

#include <algorithm>

#include <fmt/format.h>

#include <charconv>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

struct V4Range {
  uint32_t base;
  int bits;
  AddressClass cls;
};

// RFC 6890's special-purpose IPv4 registry, as far as an exit must care.
constexpr V4Range kV4Ranges[] = {
    {0x00000000, 8, AddressClass::unspecified},   // 0.0.0.0/8 "this network"
    {0x0a000000, 8, AddressClass::private_use},   // 10/8
    {0x64400000, 10, AddressClass::shared},       // 100.64/10
    {0x7f000000, 8, AddressClass::loopback},      // 127/8
    {0xa9fe0000, 16, AddressClass::link_local},   // 169.254/16
    {0xac100000, 12, AddressClass::private_use},  // 172.16/12
    {0xc0000000, 24, AddressClass::reserved},     // 192.0.0/24 IETF protocol assignments
    {0xc0000200, 24, AddressClass::reserved},     // 192.0.2/24 TEST-NET-1
    {0xc0586300, 24, AddressClass::reserved},     // 192.88.99/24 6to4 relay anycast
    {0xc0a80000, 16, AddressClass::private_use},  // 192.168/16
    {0xc6120000, 15, AddressClass::reserved},     // 198.18/15 benchmarking
    {0xc6336400, 24, AddressClass::reserved},     // 198.51.100/24 TEST-NET-2
    {0xcb007100, 24, AddressClass::reserved},     // 203.0.113/24 TEST-NET-3
    {0xe0000000, 4, AddressClass::multicast},     // 224/4
    {0xf0000000, 4, AddressClass::reserved},      // 240/4 and the broadcast address
};

uint32_t v4_value(const Ipv4& a) {
  return (uint32_t{a[0]} << 24) | (uint32_t{a[1]} << 16) | (uint32_t{a[2]} << 8) | a[3];
}

Ipv4 v4_at(const Ip& a, size_t offset) {
  return {a[offset], a[offset + 1], a[offset + 2], a[offset + 3]};
}

bool all_zero(const Ip& a, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i)
    if (a[i] != 0) return false;
  return true;
}

}  // namespace

const char* to_string(AddressClass c) {
  switch (c) {
    case AddressClass::global:
      return "global";
    case AddressClass::unspecified:
      return "unspecified";
    case AddressClass::loopback:
      return "loopback";
    case AddressClass::private_use:
      return "private";
    case AddressClass::link_local:
      return "link-local";
    case AddressClass::shared:
      return "shared (CGNAT)";
    case AddressClass::multicast:
      return "multicast";
    case AddressClass::reserved:
      return "reserved";
  }
  return "unknown";
}

std::vector<std::string> non_global_v4_ranges() {
  std::vector<std::string> out;
  for (const V4Range& r : kV4Ranges)
    out.push_back(fmt::format("{}.{}.{}.{}/{}", r.base >> 24, (r.base >> 16) & 0xff,
                              (r.base >> 8) & 0xff, r.base & 0xff, r.bits));
  return out;
}

AddressClass classify(const Ipv4& a) {
  uint32_t v = v4_value(a);
  for (const auto& r : kV4Ranges) {
    uint32_t mask = r.bits == 0 ? 0 : ~uint32_t{0} << (32 - r.bits);
    if ((v & mask) == r.base) return r.cls;
  }
  return AddressClass::global;
}

bool in_ranges(const std::vector<IpPrefix>& ranges, const asio::ip::address& address) {
  Ip ip = address.is_v4() ? to_mapped(address.to_v4().to_bytes()) : address.to_v6().to_bytes();
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const IpPrefix& r) { return r.contains(ip); });
}

Ip to_mapped(const Ipv4& a) {
  Ip out{};
  out[10] = 0xff;
  out[11] = 0xff;
  for (size_t i = 0; i < 4; ++i) out[12 + i] = a[i];
  return out;
}

AddressClass classify(const Ip& a) {
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (the deprecated compatible form, and :: and ::1).
  if (all_zero(a, 0, 10) && a[10] == 0xff && a[11] == 0xff) return classify(v4_at(a, 12));
  if (all_zero(a, 0, 12)) {
    if (all_zero(a, 12, 15) && a[15] == 0) return AddressClass::unspecified;
    if (all_zero(a, 12, 15) && a[15] == 1) return AddressClass::loopback;
    return classify(v4_at(a, 12));
  }
  // 64:ff9b::/96 NAT64 and 64:ff9b:1::/48 local-use NAT64 embed an IPv4 destination.
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) {
    if (all_zero(a, 4, 12)) return classify(v4_at(a, 12));
    return AddressClass::private_use;
  }
  if (a[0] == 0x20 && a[1] == 0x02) return classify(v4_at(a, 2));  // 2002::/16 6to4
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {    // 2001::/32 Teredo
    Ipv4 client = v4_at(a, 12);
    for (auto& b : client) b = static_cast<uint8_t>(~b);
    return classify(client);
  }
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
    return AddressClass::reserved;                              // 2001:db8::/32 documentation
  if ((a[0] & 0xfe) == 0xfc) return AddressClass::private_use;  // fc00::/7 unique local
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return AddressClass::link_local;   // fe80::/10
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return AddressClass::private_use;  // fec0::/10
  if (a[0] == 0xff) return AddressClass::multicast;
  if (a[0] == 0x01 && all_zero(a, 1, 8)) return AddressClass::reserved;  // 100::/64 discard
  return AddressClass::global;
}

Result<void> DestinationPolicy::check(const Ip& address) const {
  for (const auto& r : deny)
    if (r.contains(address))
      return fail(NetErrc::forbidden_destination,
                  fmt::format("destination {} is in the denied range {}", format_host(address),
                              to_string(r)));
  AddressClass cls = classify(address);
  if (cls == AddressClass::global) return {};
  for (const auto& r : allow)
    if (r.contains(address)) return {};
  std::string shown = format_host(address);
  if (all_zero(address, 0, 10) && address[10] == 0xff && address[11] == 0xff)
    shown = format_host(v4_at(address, 12));
  return fail(NetErrc::forbidden_destination,
              fmt::format("destination {} is {} and the exit's policy does not allow it", shown,
                          to_string(cls)));
}

bool is_mail_port(uint16_t port) {
  return port == 25 || port == 465 || port == 587;
}

}  // namespace ipsx::net
