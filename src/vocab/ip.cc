#include "vocab/ip.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ipsx {

bool is_v4_mapped(const Ip& ip) {
  for (size_t i = 0; i < 10; ++i)
    if (ip[i] != 0) return false;
  return ip[10] == 0xff && ip[11] == 0xff;
}

uint32_t v4_value(const Ip& ip) {
  return (uint32_t{ip[12]} << 24) | (uint32_t{ip[13]} << 16) | (uint32_t{ip[14]} << 8) | ip[15];
}

Ip v4_mapped(uint32_t v4) {
  Ip ip{};
  ip[10] = 0xff;
  ip[11] = 0xff;
  ip[12] = static_cast<uint8_t>(v4 >> 24);
  ip[13] = static_cast<uint8_t>(v4 >> 16);
  ip[14] = static_cast<uint8_t>(v4 >> 8);
  ip[15] = static_cast<uint8_t>(v4);
  return ip;
}

SubnetKey subnet_key(const Ip& ip) {
  SubnetKey k{};
  if (is_v4_mapped(ip)) {
    k = {0xff, 0xff, ip[12], ip[13], ip[14], 0};
  } else {
    std::copy(ip.begin(), ip.begin() + 6, k.begin());
  }
  return k;
}

Result<Ip> parse_ip(std::string_view text) {
  // inet_pton wants a C string; the longest address text is 45 bytes (IPv4-embedded IPv6).
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf)
    return fail(CoreErrc::invalid_argument,
                fmt::format("{} is not an IPv4 or IPv6 address", quoted(text)));
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Ip ip{};
  if (text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, ip.data()) == 1) return ip;
  } else {
    in_addr a{};
    if (inet_pton(AF_INET, buf, &a) == 1) return v4_mapped(ntohl(a.s_addr));
  }
  return fail(CoreErrc::invalid_argument,
              fmt::format("{} is not an IPv4 or IPv6 address", quoted(text)));
}

std::string format_ip(const Ip& ip) {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4_mapped(ip)) {
    in_addr a{};
    a.s_addr = htonl(v4_value(ip));
    inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  }
  return buf;
}

bool IpPrefix::contains(const Ip& ip) const {
  size_t full = bits / 8;
  for (size_t i = 0; i < full; ++i)
    if (ip[i] != prefix[i]) return false;
  if (bits % 8 == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
  return (ip[full] & mask) == (prefix[full] & mask);
}

Result<IpPrefix> parse_prefix(std::string_view text) {
  auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip)
    return fail(CoreErrc::invalid_argument,
                fmt::format("range {}: not an IP address", quoted(text)));
  IpPrefix p{*ip, 0};
  int max_bits = is_v4_mapped(*ip) && text.find(':') == std::string_view::npos ? 32 : 128;
  int len = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view l = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (l.empty() || ec != std::errc{} || end != l.data() + l.size() || len < 0 || len > max_bits)
      return fail(CoreErrc::invalid_argument,
                  fmt::format("range {}: prefix length is not 0..{}", quoted(text), max_bits));
  }
  p.bits = static_cast<uint8_t>(max_bits == 32 ? 96 + len : len);
  for (size_t bit = p.bits; bit < 128; ++bit)
    if (p.prefix[bit / 8] & (0x80 >> (bit % 8)))
      return fail(CoreErrc::invalid_argument,
                  fmt::format("range {}: address has bits set past the prefix", quoted(text)));
  return p;
}

std::string to_string(const IpPrefix& p) {
  if (is_v4_mapped(p.prefix) && p.bits >= 96)
    return fmt::format("{}/{}", format_ip(p.prefix), p.bits - 96);
  return fmt::format("{}/{}", format_ip(p.prefix), p.bits);
}

}  // namespace ipsx
