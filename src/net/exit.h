// The exit: the provider's side of the data plane. It serves deals only:
//
// - Pair channel (TLS 1.3, pair_auth.h, mux.h): a gateway proves it holds the requester's wallet
//   of a live deal; then each stream it opens is connected to its destination from the deal's
//   leased IP, within the deal's protocols and scopes and the exit's destination policy.
// - Proxy front (optional): ordinary SOCKS5 and HTTP proxy connections authenticated by the
//   per-deal credentials the exit hands the requester over the pair channel, so a leased IP
//   works as the `ip:port:user:pass` proxy every proxy seller hands out.
// - Metering and billing: bytes and connections per deal; time is billed from the deal's start
//   at its price per second. Every invoice interval the exit sends each paired gateway what the
//   deal owes; the gateway answers with a balance proof, which the exit verifies and keeps (the
//   provider claims it on the ledger). When unpaid use passes the credit limit, or the deal's time
//   is over, the exit cuts the deal: every stream and front connection of it is closed and new
//   ones are refused.
// - VPN (optional, ExitConfig::vpn): for a deal whose offer serves `vpn`, the requester's signed
//   WireGuard key becomes a peer whose traffic leaves from the leased IP under the same policy;
//   billed like any deal, metered by the tunnel's counters, removed when the deal is cut.
//
// Single-threaded: run the io_context it is given on one thread. Thread-safe: stats(), the
// directory (called on the exit's thread), stop() and end_deal() (post).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/address.h"
#include "core/amount.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "net/address_policy.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "net/pair_messages.h"
#include "vocab/usage.h"

namespace ipsx::net {

// What the exit needs to know about a deal it serves (from the market's deal book and the
// provider's own offer).
struct ExitDeal {
  Hash id;
  Address requester;
  Ip leased_ip{};              // outbound connections leave from here (IPv4 mapped)
  uint32_t protocols = 0;      // protocol:: bits of the offer
  uint32_t request_scope = 0;  // the request's scope:: bit
  U256 price_per_second;
  Amount max_amount;      // the deal's deposit: no proof may go above it
  uint64_t start = 0;     // unix seconds
  uint64_t end = 0;       // unix seconds
  Hash domain_separator;  // of the ledger's EIP-712 domain, for balance proofs
};

// Where the exit learns about deals. The node's market implements it; a provider's config can
// list deals too. The exit calls find() on lookup threads of its own (several calls may run at
// once), so it may block (on a request to the node, say) without stalling the connections being
// served; it must be safe to call from several threads at once.
class ExitDealDirectory {
 public:
  virtual ~ExitDealDirectory() = default;
  virtual std::optional<ExitDeal> find(const Hash& deal_id) const = 0;
};

// A deal's WireGuard peer (docs/vpn.md): the requester's key, the leased IP its traffic leaves
// from, and whether mail ports are allowed (a deal made for email).
struct VpnPeer {
  Hash deal_id;
  WgKey public_key{};
  Ip leased_ip{};
  bool email = false;
};

// Bytes through a deal's tunnel since its first peer was added (monotonic).
struct VpnCounter {
  Hash deal_id;
  uint64_t bytes_up = 0;    // from the requester
  uint64_t bytes_down = 0;  // to the requester
};

// One finished flow through a deal's tunnel, as the provider's connection tracking saw it: where
// it went and its bytes (a usage record of the deal's log, docs/usage-receipts.md).
struct VpnFlow {
  Hash deal_id;
  int64_t opened_ms = 0;  // unix ms
  int64_t closed_ms = 0;
  std::string host;   // the destination's address
  uint16_t port = 0;  // its port (0 for ICMP and the like)
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
};

// Where the exit's VPN deals are served: net/wireguard.h's WireguardExit on a host, a fake in
// tests. add_peer and remove_peer may block (they run the system's tools): the exit calls them
// on its lookup threads, one deal at a time; counters() must not block.
class ExitVpn {
 public:
  virtual ~ExitVpn() = default;
  // Adds the deal's peer, replacing an earlier key of the same deal; its tunnel's terms.
  virtual Result<VpnConfigMessage> add_peer(const VpnPeer& peer) = 0;
  // The deal's peer removed: its packets are dropped from then on. Nothing if it has none.
  virtual void remove_peer(const Hash& deal_id) = 0;
  virtual std::vector<VpnCounter> counters() const = 0;
  // The flows that ended since the last call (must not block). None by default.
  virtual std::vector<VpnFlow> take_flows() { return {}; }
  // The destination policy's allow and deny lists replaced for every peer (thread-safe).
  virtual Result<void> set_policy(const DestinationPolicy& policy) = 0;
};

struct ExitConfig {
  tcp::endpoint pair_listen{asio::ip::make_address("127.0.0.1"), 0};
  std::optional<tcp::endpoint> proxy_listen;  // the SOCKS5/HTTP front, if any
  DestinationPolicy policy;
  // Behind a NAT: the local address whose traffic leaves as a leased IP (the router's public
  // address, which this machine cannot bind). Connections for a deal on such an IP leave from the
  // local address; any other leased IP is bound as it is.
  std::map<Ip, Ip> source_of;
  Millis handshake_timeout{10'000};
  Millis connect_timeout{10'000};
  Millis idle_timeout{300'000};
  Millis invoice_interval{1'000};
  uint64_t credit_seconds = 30;            // unpaid use tolerated: price * credit_seconds
  uint64_t key_validity_seconds = 86'400;  // of the wallet's certificate of the TLS key
  size_t max_connections = 20'000;         // pair channels + front connections + destinations
  size_t max_streams_per_channel = 16'384;
  // Directory lookups (deals this exit has no session for) running at once for one source
  // address; more wait their turn. One address asking about made-up deals from a slow directory
  // then holds at most this many of the lookup threads, and the others serve everyone else.
  size_t max_lookups_per_address = 2;
  // Serves `vpn` deals (a WireGuard tunnel out of the leased IP); none: they are refused a tunnel.
  std::shared_ptr<ExitVpn> vpn;
};

// What the exit has metered for one deal.
struct ExitDealStats {
  uint64_t bytes_up = 0;    // requester -> destinations
  uint64_t bytes_down = 0;  // destinations -> requester
  uint64_t connections = 0;
  uint64_t refused = 0;
  Amount owed;                   // at the last invoice
  Amount paid;                   // the best balance proof so far
  uint64_t usage_records = 0;    // connections in the deal's usage log
  uint64_t usage_receipted = 0;  // of them, covered by the requester's best receipt
  std::optional<std::string> cut_reason;
  bool operator==(const ExitDealStats&) const = default;
};

// A verified balance proof: what the provider claims on the ledger.
struct ExitPayment {
  Hash deal_id;
  Amount amount;
  crypto::Signature signature;
};

// A usage receipt the requester signed (UsageReceipt), verified: the first `count`
// records of the deal's usage log have `root`.
struct ExitReceipt {
  Hash deal_id;
  Address requester;
  uint64_t count = 0;
  Hash root;
  crypto::Signature signature;
};

class Exit {
 public:
  // `provider_key` certifies the exit's fresh TLS key; it is used only at start.
  Exit(asio::io_context& io, ExitConfig config, const ExitDealDirectory& deals,
       const crypto::PrivateKey& provider_key, const Clock& clock);
  ~Exit();
  Exit(const Exit&) = delete;
  Exit& operator=(const Exit&) = delete;

  // Binds the listeners and starts accepting. Errors: the address in use, the TLS setup.
  Result<void> start();
  // Stops accepting and closes every connection (posted to the exit's thread; returns at once).
  void stop();
  // Cuts the deal as the exit's own billing would (CUT frame to its gateways, every stream, front
  // connection and UDP association of it closed) and refuses it from then on, also if no gateway
  // has paired for it yet. For a deal the ledger marks closing or closed. Thread-safe (posted).
  void end_deal(const Hash& deal_id, std::string why);
  // Replaces the destination policy (its allow and deny lists): the VPN's rules at once, then the
  // proxies' for every connection from then on (posted). Thread-safe. Fails (nothing changed
  // for the proxies) when the VPN's rules could not be replaced.
  Result<void> set_policy(DestinationPolicy policy);
  // The policy in force (thread-safe).
  DestinationPolicy policy() const;
  // Serves a connection that reached the exit another way than its listener (through a relay,
  // net/relay.h) as a pair channel, exactly as an accepted one. `source`: the gateway's address
  // as the relay saw it (what the per-address lookup limit counts), empty for the socket's peer.
  // Thread-safe (posted).
  void serve_pair(tcp::socket socket, std::string source = {});

  uint16_t pair_port() const;
  uint16_t proxy_port() const;  // 0 without a front
  const Address& provider() const;

  // Called on the exit's thread for each new best balance proof, before it counts as paid: the
  // provider stores it (durably) and returns true, or returns false and the proof is ignored (the
  // gateway's next proof is tried again; unpaid use past the credit limit cuts the deal).
  std::function<bool(const ExitPayment&)> on_payment;

  // Called on the exit's thread once for each deal the exit cuts, with why: NetErrc::unpaid
  // (unpaid use passed the credit limit: a requester that stopped paying, or vanished),
  // NetErrc::deal_ended (its time is over, or end_deal). The provider reports an unpaid cut to
  // the market, which closes the deal so that it is settled and its place freed at once.
  std::function<void(const Hash& deal, const Error& why)> on_cut;

  // Called on the exit's thread for each connection of a deal once it closed (its record joins
  // the deal's usage log, docs/usage-receipts.md), and for each new best usage receipt. The
  // provider keeps both: the log stays with it, and a record with its audit path and a receipt
  // proves to anyone that the requester used the connection.
  std::function<void(const UsageRecord&)> on_usage;
  std::function<void(const ExitReceipt&)> on_receipt;
  // Called on the exit's thread when it first holds a deal: the records of the deal's usage log
  // kept from before (the provider's store, after a restart), in order, which the log then
  // continues (the next record's index, the tree the roots are computed over). None: a new log.
  std::function<std::vector<UsageRecord>(const Hash& deal)> usage_so_far;

  ExitDealStats stats(const Hash& deal_id) const;
  size_t open_connections() const;
  // Deals the exit holds state for (paired at least once, not yet forgotten: a deal's state goes
  // ten minutes after its end).
  size_t deals_held() const;
  // Pair handshakes waiting for their turn at a directory lookup (see max_lookups_per_address).
  size_t lookups_waiting() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ipsx::net
