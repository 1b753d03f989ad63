// WireGuard on this host, for VPN deals (docs/vpn.md). The kernel's WireGuard where the host has
// the module, Debian's `wireguard-go` (userspace, a TUN device) where it does not; configured
// with the system's tools (`ip`, `wg`, `nft`), run without a shell (net/run_command.h). Everything
// here needs CAP_NET_ADMIN, and says so when it is missing.
//
// - WgInterface: one interface, its key, port and address; peers added and removed; each peer's
//   byte counters. Removed (with every route through it) when the object goes.
// - WireguardExit: the provider's side (ExitVpn): one interface serving every VPN deal of the
//   exit, a tunnel address per deal from a subnet, and an nftables table of its own that sends a
//   peer's traffic out from its deal's leased IP (source NAT) under the exit's destination policy
//   (ranges that are not public refused unless allowed, mail ports only for email deals, nothing
//   to the provider's host itself). The table and the interface go when it goes.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "net/address_policy.h"
#include "net/endpoint.h"
#include "net/exit.h"
#include "net/pair_messages.h"
#include "net/run_command.h"
#include "vocab/ip.h"

namespace ipsx::net {

struct WgKeyPair {
  WgKey private_key{};
  WgKey public_key{};
};
// A fresh Curve25519 key pair (OpenSSL's X25519, from its CSPRNG).
WgKeyPair wg_generate_key();
std::string wg_key_base64(const WgKey& key);
// The public key of a private one (X25519). Errors: CoreErrc::invalid_argument.
Result<WgKey> wg_public_key(const WgKey& private_key);
// 44 characters of base64 for 32 bytes. Errors: CoreErrc::invalid_argument.
Result<WgKey> wg_parse_key(std::string_view base64);

// Interface names the kernel takes: 1 to 15 of [A-Za-z0-9_.-], not "." or "..".
Result<void> check_interface_name(std::string_view name);

// Whether this process may configure the network (CAP_NET_ADMIN in its namespace), with what to
// do when it may not.
Result<void> check_net_admin();

class WgInterface {
 public:
  struct Options {
    std::string name;
    WgKey private_key{};
    uint16_t listen_port = 0;  // 0: any
    Ip address{};              // IPv4 mapped
    uint8_t prefix = 32;       // of the IPv4 address
    uint16_t mtu = 1420;
  };
  // Errors: no CAP_NET_ADMIN, an interface of that name already there, neither the kernel's
  // WireGuard nor wireguard-go, a tool failing (its message).
  static Result<std::unique_ptr<WgInterface>> create(const Options& o);
  ~WgInterface();
  WgInterface(const WgInterface&) = delete;
  WgInterface& operator=(const WgInterface&) = delete;

  const std::string& name() const { return name_; }
  // "kernel" or "wireguard-go".
  const char* implementation() const { return child_ ? "wireguard-go" : "kernel"; }
  uint16_t listen_port() const;

  // Adds or updates a peer: the ranges it may send from and is sent to, where it is (for the
  // side that dials), a keepalive in seconds (0: none).
  Result<void> set_peer(const WgKey& public_key, const std::vector<std::string>& allowed_ips,
                        const std::optional<Endpoint>& endpoint = std::nullopt,
                        uint16_t keepalive = 0);
  Result<void> remove_peer(const WgKey& public_key);
  // Bytes received from (first) and sent to (second) each peer.
  Result<std::map<WgKey, std::pair<uint64_t, uint64_t>>> transfer() const;
  // Seconds since the epoch of each peer's latest handshake (0: none yet).
  Result<std::map<WgKey, uint64_t>> latest_handshakes() const;

 private:
  WgInterface() = default;
  std::string name_;
  std::unique_ptr<ChildProcess> child_;  // wireguard-go, when the kernel has no WireGuard
};

struct WireguardExitConfig {
  std::string interface = "ipsxvpn0";
  uint16_t listen_port = 51820;
  // What requesters dial; none: the deal's leased IP and listen_port (a provider whose leased
  // IP is this host's public address). Behind a NAT: the router's address and a UDP port it
  // forwards here.
  std::optional<Endpoint> endpoint;
  IpPrefix subnet;      // IPv4, /8 to /29: the first address is the exit's, the others the deals'
  std::vector<Ip> dns;  // resolvers the requesters use through the tunnel
  uint16_t mtu = 1420;
  DestinationPolicy policy;
  std::map<Ip, Ip> source_of;  // as ExitConfig: a leased IP's local address behind a NAT
  // The exit's WireGuard key: the provider keeps it across restarts (its data directory), so
  // that tunnels resume with the same key and, for the same deal, the same address. None: a
  // fresh one.
  std::optional<WgKey> private_key;
};

// One DESTROY event of `conntrack -E -o timestamp,extended`: the flow's original source (host
// order), its destination and port, the bytes each way, when it ended (unix ms) and how long it
// lasted (seconds, as conntrack counts them; 0 without nf_conntrack_timestamp).
struct ConntrackFlow {
  uint32_t source = 0;
  std::string destination;
  uint16_t port = 0;
  uint64_t bytes_up = 0, bytes_down = 0;
  int64_t closed_ms = 0;
  int64_t duration_s = 0;
};
// Nothing for a line that is no IPv4 DESTROY event with its counters.
std::optional<ConntrackFlow> parse_conntrack_event(std::string_view line);
// One NEW event of `conntrack -E -e NEW -o timestamp`: a flow's original source (host order),
// destination and port (0 without one, as for ICMP) and when it began (unix ms).
struct ConntrackStart {
  uint32_t source = 0;
  std::string destination;
  uint16_t port = 0;
  int64_t at_ms = 0;
};
// Nothing for a line that is no IPv4 NEW event with its time.
std::optional<ConntrackStart> parse_conntrack_new(std::string_view line);

// The flows this host opens from its tunnel addresses, as its own connection tracking sees them
// begin (`conntrack -E -e NEW`, a child): what a requester checks the exit's usage records of its
// VPN deals against (docs/usage-receipts.md). Needs CAP_NET_ADMIN and conntrack on the PATH.
class FlowWatch {
 public:
  // `table`: the name of an nftables table of its own, whose one rule makes the kernel track
  // this host's connections (it tracks none in a namespace where no rule asks for it); removed
  // with the watch.
  static Result<std::unique_ptr<FlowWatch>> start(const std::string& table);
  ~FlowWatch();
  FlowWatch(const FlowWatch&) = delete;
  FlowWatch& operator=(const FlowWatch&) = delete;
  // Flows from `source` (a tunnel address) are kept from now on.
  void watch(const Ip& source);
  // Whether a flow to host:port began within `skew_ms` of `opened_ms`; the flow found is used up
  // (each vouches for one record). Thread-safe.
  bool take(const std::string& host, uint16_t port, int64_t opened_ms, int64_t skew_ms);

 private:
  FlowWatch() = default;
  void read();                                 // on reader_
  static constexpr size_t kMaxKept = 100'000;  // the oldest go first
  std::mutex mu_;
  std::set<uint32_t> sources_;
  std::deque<ConntrackStart> flows_;
  std::unique_ptr<ChildProcess> child_;
  int fd_ = -1;
  std::thread reader_;
  std::string table_;
};

// The default subnet: 10.77.0.0/16.
IpPrefix default_vpn_subnet();

class WireguardExit : public ExitVpn {
 public:
  // Creates the interface and the nftables table, turns IPv4 forwarding on. Errors: as
  // WgInterface::create, the subnet, the table (nft's message).
  static Result<std::unique_ptr<WireguardExit>> start(WireguardExitConfig config);
  ~WireguardExit() override;

  Result<VpnConfigMessage> add_peer(const VpnPeer& peer) override;
  void remove_peer(const Hash& deal_id) override;
  std::vector<VpnCounter> counters() const override;
  std::vector<VpnFlow> take_flows() override;
  // Refills the `allowed` and `denied` sets (the router's and the endpoint's addresses stay
  // denied) in one nft transaction.
  Result<void> set_policy(const DestinationPolicy& policy) override;

  const WgInterface& interface() const { return *wg_; }
  const WgKey& public_key() const { return keys_.public_key; }
  // The nftables table's name ("ip" family).
  const std::string& table() const { return table_; }

 private:
  WireguardExit() = default;
  struct Peer {
    WgKey key{};
    uint32_t address = 0;  // host order
    Ip source{};
    bool email = false;
    // Counters of earlier keys of the deal, and of this one at the last poll.
    uint64_t base_up = 0, base_down = 0, up = 0, down = 0;
  };
  Result<void> nft(const std::string& script) const;
  // The `allowed` and `denied` sets' elements for `policy` (IPv4 ranges; denied with the
  // addresses always denied).
  std::pair<std::vector<std::string>, std::vector<std::string>> policy_sets(
      const DestinationPolicy& policy) const;
  void poll_loop();
  void read_flows();  // the conntrack child's events, on flow_reader_
  // A free address for the deal: the same one for the same deal whenever it is free (a
  // restarted exit gives a resumed tunnel its address back), the next free one otherwise.
  std::optional<uint32_t> allocate(const Hash& deal) const;
  void publish();  // the counters for counters(), under mu_

  WireguardExitConfig cfg_;
  WgKeyPair keys_;
  std::unique_ptr<WgInterface> wg_;
  std::string table_;
  std::vector<std::string> always_denied_;  // the router's and the endpoint's addresses
  uint32_t first_ = 0, last_ = 0;           // the deals' addresses, host order
  mutable std::mutex mu_;
  std::unordered_map<Hash, Peer, FixedBytesHasher> peers_;
  std::set<uint32_t> used_;  // addresses held by peers
  uint64_t generation_ = 0;  // bumped by every change of peers_, so a poll knows it raced one
  mutable std::mutex cache_mu_;
  std::vector<VpnCounter> cache_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread poller_;
  // The flows (usage records): conntrack's DESTROY events for the subnet, read on a thread; each
  // address's latest deal (kept after its peer goes: its flushed flows end after it).
  std::unordered_map<uint32_t, Hash> owner_;  // under mu_
  std::unique_ptr<ChildProcess> conntrack_;
  int conntrack_fd_ = -1;
  std::thread flow_reader_;
  std::mutex flows_mu_;
  std::vector<VpnFlow> flows_;
  static constexpr size_t kMaxPendingFlows = 65'536;
};

}  // namespace ipsx::net
