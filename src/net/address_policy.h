// What an exit may connect to on a requester's behalf. An exit runs on a provider's machine,
// often inside a home network: by default it refuses every destination that is not a public
// unicast address (loopback, private, link-local, shared CGNAT space, multicast, reserved), so a
// requester cannot reach the provider's router or LAN. The operator may allow ranges explicitly
// (the tests allow 127.0.0.0/8). Mail ports need a deal made for email (the smtp protocol and the
// email scope). Pure functions; docs/proxy-protocols.md lists the ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "vocab/ip.h"

namespace ipsx::net {

// Why an address is not public unicast, or `global` when it is.
enum class AddressClass : uint8_t {
  global,
  unspecified,  // 0.0.0.0/8, ::
  loopback,     // 127.0.0.0/8, ::1
  private_use,  // 10/8, 172.16/12, 192.168/16, fc00::/7
  link_local,   // 169.254/16, fe80::/10
  shared,       // 100.64/10 (carrier-grade NAT)
  multicast,    // 224/4, ff00::/8
  reserved,     // 240/4, 255.255.255.255, 192.0.0/24, 198.18/15, documentation ranges, ...
};
const char* to_string(AddressClass c);

// IPv4 addresses are classified in their IPv4-mapped IPv6 form (::ffff:a.b.c.d), as the ledger
// stores them; IPv4-compatible, NAT64 (64:ff9b::/96), 6to4 and Teredo forms embed an IPv4
// address and are classified by it, so a v6 spelling cannot smuggle a private v4 address past.
AddressClass classify(const Ip& address);
AddressClass classify(const Ipv4& address);
Ip to_mapped(const Ipv4& address);

// The destination rules of one exit.
struct DestinationPolicy {
  std::vector<IpPrefix> allow;  // ranges allowed whatever their class
  std::vector<IpPrefix> deny;   // ranges refused even when global (checked first)
  // Ok, or NetErrc::forbidden_destination naming the address and its class.
  Result<void> check(const Ip& address) const;
};

// Whether `address` (v4 or v6; v4 compared in its mapped form) is in one of `ranges`.
bool in_ranges(const std::vector<IpPrefix>& ranges, const asio::ip::address& address);

// The IPv4 ranges classify() counts as not global, as "a.b.c.d/n" (for firewall rules that must
// refuse what the policy refuses: net/wireguard.h).
std::vector<std::string> non_global_v4_ranges();

// Mail submission and relay ports: 25, 465, 587.
bool is_mail_port(uint16_t port);

}  // namespace ipsx::net
