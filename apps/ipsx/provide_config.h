// `ipsx provide`'s configuration: the TOML file of its exit and offers (docs/data-plane.md,
// "Provider configuration"), and where it keeps its state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "net/address_policy.h"
#include "vocab/orders.h"

namespace ipsx::cli {

struct ProvideConfig {
  std::string pair_listen = "127.0.0.1:0";
  // What gateways are told to connect to, when it is not pair_listen: behind a NAT, the router's
  // public IP:PORT that forwards to pair_listen (a port forward).
  std::optional<std::string> pair_announce;
  // Behind a NAT nothing can be forwarded on (a carrier's): the relay "IP:PORT" this exit serves
  // through (`ipsx relay`); it is announced as "relay:IP:PORT".
  std::optional<std::string> relay;
  std::optional<std::string> proxy_listen;
  net::DestinationPolicy policy;
  std::optional<uint64_t> chain_id;  // the node's unless given
  std::optional<uint16_t> fee_bps;
  uint64_t offer_seconds = 86'400;
  uint64_t claim_every_seconds = 600;
  uint64_t max_unclaimed_seconds = 60;
  std::vector<Offer> offers;  // without provider, market, expiry, nonce
  // Per offer (same index): behind a NAT, the local address whose traffic leaves as the offer's
  // public IP; empty: the IP is this machine's own.
  std::vector<std::string> local_addresses;
  // Per offer: the daily hours it is on sale, "HH:MM-HH:MM" UTC; empty: always.
  std::vector<std::string> hours;
  // [vpn]: the exit serves `vpn` deals as WireGuard tunnels (docs/vpn.md). Needs CAP_NET_ADMIN.
  struct Vpn {
    std::string interface = "ipsxvpn0";
    uint16_t listen_port = 51820;
    std::optional<std::string> endpoint;  // HOST:PORT requesters dial; default leased IP:port
    std::string subnet = "10.77.0.0/16";
    std::vector<std::string> dns;
    uint16_t mtu = 1420;
  };
  std::optional<Vpn> vpn;
};

// Reads the provider's TOML file at `path`. Throws CommandError naming the file, the line or the
// key at fault.
ProvideConfig load_provide_config(const std::string& path);

// Where a provider keeps its state unless --data says: $XDG_STATE_HOME/ipsx/provider-ADDRESS
// (~/.local/state when unset). Throws CommandError when neither is set.
std::filesystem::path default_provider_data(const Address& provider);

}  // namespace ipsx::cli
