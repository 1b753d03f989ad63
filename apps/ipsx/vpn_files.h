// What a VPN lease gives the requester's device (docs/vpn.md): its wg-quick file, and the checks
// of the exit's terms before they are used. Shared by `ipsx vpn` and the requester's console.
#pragma once

#include <string>
#include <vector>

#include "core/hash.h"
#include "net/pair_messages.h"
#include "net/wireguard.h"

namespace ipsx::cli {

// The wg-quick file for the tunnel: what the official WireGuard apps import (and show as a QR
// code). `allowed`: the IPv4 ranges it carries ("0.0.0.0/0": everything, IPv6 too).
std::string wg_quick_file(const net::WgKeyPair& keys, const net::VpnConfigMessage& c,
                          const std::vector<std::string>& allowed, const Hash& deal);

// Throws CommandError unless the exit's tunnel address is private or shared and its endpoint a
// public address and port.
void check_tunnel_terms(const net::VpnConfigMessage& c);

}  // namespace ipsx::cli
