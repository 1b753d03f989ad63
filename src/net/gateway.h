// The gateway: the requester's side of the data plane. A local SOCKS5 and HTTP proxy (one port,
// both protocols) that crawlers, browsers and VPN apps use unchanged:
//
// - The client's username carries filters (proxy_username.h: country-de-type-residential-
//   session-abc-ttl-600); the password is the gateway's own. Each client connection is mapped to a
//   leased IP whose attributes fit the filters: the same IP for a session id until its ttl ends,
//   the next fitting IP in turn otherwise.
// - When no leased IP fits, the gateway asks the market (GatewayMarket) for one and waits a
//   bounded time; nothing found is HTTP 503 / SOCKS5 general failure with the reason.
// - Each lease's exit is reached over one pair channel (TLS 1.3, the provider-certified key, the
//   requester's signature) that carries every client connection to that exit as a stream. An
//   exit that fails is HTTP 504 / SOCKS5 host unreachable, and the deal is reported failed.
// - It pays the exits' invoices with balance proofs signed by the requester's wallet, never more
//   than the deal's time so far (by its own clock) and never above the deal's deposit.
//
// Single-threaded like the exit: run its io_context on one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/address.h"
#include "core/amount.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "net/net_error.h"
#include "net/pair_messages.h"
#include "net/proxy_username.h"
#include "vocab/orders.h"

namespace ipsx::net {

// Where an exit is reached: its pair channel's address, or a relay's that the provider serves
// through (an exit behind a NAT).
struct ExitAddress {
  tcp::endpoint at;
  bool relayed = false;
  bool operator==(const ExitAddress&) const = default;
};

// One leased IP: the deal and where its exit listens.
struct Lease {
  Hash deal_id;
  Address provider;
  tcp::endpoint exit;    // the exit's pair-channel address, or its relay's
  bool relayed = false;  // `exit` is a relay (net/relay.h) the provider serves through
  Ip ip{};               // the leased IP (IPv4 mapped)
  CountryCode country{};
  std::string region;  // region or city, as the offer has it
  uint32_t asn = 0;
  IpType type = IpType::residential;
  bool exclusive = false;
  U256 price_per_second;
  Amount max_amount;  // the deal's deposit
  uint64_t start = 0;
  uint64_t end = 0;
  Hash domain_separator;  // of the ledger's EIP-712 domain, for balance proofs
};

// True iff `lease` has what `filters` ask for (country, region or city, ASN, type, exclusive).
bool lease_fits(const Lease& lease, const ProxyFilters& filters);

// Where the gateway gets new leases: the node's market client places a signed request and waits
// for the deal (the node issue); tests give leases of deals they made. `acquire` may answer on
// any thread, once. An answer that comes after the Gateway was stopped or destroyed is dropped,
// so a market may outlive the gateway's io_context.
class GatewayMarket {
 public:
  virtual ~GatewayMarket() = default;
  virtual void acquire(const ProxyFilters& filters, std::function<void(Result<Lease>)> done) = 0;
  // Where `provider`'s exit listens now, as the market last heard it (its live announcement).
  // The gateway asks when it cannot reach a lease's exit, which may have moved: a provider that
  // restarted listens elsewhere. `done` may be called on any thread, once. By default: unknown.
  virtual void locate(const Address& provider, std::function<void(Result<ExitAddress>)> done) {
    (void)provider;
    done(std::unexpected(Error(NetErrc::exit_failed, "the market cannot locate exits")));
  }
};

struct GatewayConfig {
  tcp::endpoint listen{asio::ip::make_address("127.0.0.1"), 0};
  std::string password;            // every client must give it; empty refuses everyone
  Millis client_timeout{30'000};   // reading a client's request
  Millis connect_timeout{10'000};  // pair channel to an exit, and an exit's answer to OPEN
  Millis acquire_timeout{10'000};  // waiting for the market
  Millis idle_timeout{300'000};
  uint64_t default_session_ttl = 600;  // seconds a sticky session lasts without ttl-
  uint64_t pay_slack_seconds = 2;      // clock skew the gateway accepts in an invoice
  // Clients served at once; one over it is answered "overloaded" (SOCKS5 general failure,
  // HTTP 503) once it has sent its request, and closed.
  size_t max_clients = 20'000;
  // Connections one deal's pair channel carries at once (the exit has its own cap,
  // ExitConfig::max_streams_per_channel); a client over it is answered "overloaded".
  size_t max_streams_per_channel = 16'384;
  // Whether the requester uses the exits' fronts itself (the per-deal ip:port:user:pass
  // credentials). The gateway cannot see those connections, and the provider knows the
  // credentials too, so by default a usage record of the front is disputed, not signed: a
  // provider cannot put a connection of its own on the requester's receipt.
  bool sign_front_usage = false;
  // Whether the requester signs the usage records of its VPN leases' flows (the exit's
  // connection tracking: destination, port, bytes), which the gateway cannot check either.
  bool sign_vpn_usage = false;
  // Otherwise each such record is checked with this, when set: whether this host opened that
  // flow through the tunnel (`ipsx vpn`'s FlowWatch, from its own connection tracking); a record
  // it does not vouch for is disputed. Called on the gateway's thread.
  std::function<bool(const UsageRecord&)> vpn_flow_check;
  // Clients from these source ranges may give no credentials at all (a browser cannot on its
  // command line; a PAC file names no password): they are served with `open_filters`. Empty:
  // every client gives the password.
  std::vector<IpPrefix> open_to;
  ProxyFilters open_filters;
  // Whether a relayed deal tries to move to a hole punched through both NATs (net/punch.h),
  // and how long the punch may take.
  bool punch = true;
  Millis punch_timeout{5'000};
  // A pair channel from which nothing has come for this long is dead (the exit invoices every
  // second, and the gateway pings it every third of this): closed, and reconnected by the next
  // client. A deal whose exit worked and then cannot be reached (its relay restarting, a NAT's
  // mappings lost, the provider reconnecting) is kept for reconnect_grace before it is failed;
  // clients meanwhile get the reason.
  Millis silence_timeout{15'000};
  Millis reconnect_grace{30'000};
};

// What the gateway did with one deal.
struct GatewayLeaseStats {
  uint64_t connections = 0;
  uint64_t failures = 0;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  Amount paid;  // the last balance proof sent
  bool connected = false;
  std::string path;  // direct, relayed or punched, once connected
  // The exit's per-deal proxy credentials, once paired: the leased IP as an ordinary
  // ip:port:user:pass proxy (port 0 when the exit runs no front).
  Ip ip{};  // the leased IP
  std::string proxy_username;
  std::string proxy_password;
  uint16_t proxy_port = 0;
  std::optional<std::string> failed;  // why the lease was dropped
  // A VPN lease (open_vpn): the requester's address in the tunnel and the exit's endpoint; its
  // bytes above are the exit's count of the tunnel's, from its invoices.
  std::optional<std::string> vpn_address;
  std::optional<std::string> vpn_endpoint;
  // The times the exit confirmed the same tunnel again after a reconnect (a restarted exit has
  // lost the WireGuard session: the requester's side then restarts its handshake at once).
  uint64_t vpn_renewals = 0;
  uint64_t usage_receipted = 0;               // usage log records the requester signed for
  std::optional<std::string> usage_disputed;  // why it stopped signing usage receipts
};

// A VPN tunnel over a lease (docs/vpn.md): the deal, and the exit's answer (its WireGuard key and
// endpoint, the requester's address in the tunnel).
struct VpnLease {
  Lease lease;
  VpnConfigMessage config;
  std::chrono::steady_clock::time_point opened_at;  // when the market's deal came
};

// Deal status reports for the deal protocol: connected, or failed with the reason.
// connected: the deal's first pair channel, with its path ("direct to IP:PORT", "relayed through
// IP:PORT"); path: a relayed deal moved to a punched path, or stays relayed (with why).
enum class LeaseEvent { connected, failed, cut, path };

class Gateway {
 public:
  Gateway(asio::io_context& io, GatewayConfig config, crypto::PrivateKey requester_key,
          GatewayMarket* market, const Clock& clock);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  Result<void> start();
  void stop();
  uint16_t port() const;

  // Adds a lease (thread-safe: posted to the gateway's thread).
  void add_lease(Lease lease);
  // Stops using a lease whose deal the ledger marks closing or closed: its channel is closed and
  // new clients get another lease (thread-safe: posted). Reported as LeaseEvent::cut.
  void end_lease(const Hash& deal_id, std::string why);

  // Called on the gateway's thread.
  // `reason`: for `connected`, the path ("direct to IP:PORT", "relayed through IP:PORT").
  std::function<void(const Hash& deal, LeaseEvent, const std::string& reason)> on_lease_event;

  // Leases an IP that fits `filters` (the market's requests must name the vpn protocol) and asks
  // its exit for a WireGuard tunnel for `public_key`, signed here by the requester's wallet.
  // `done` is called once, on the gateway's thread. From then on the gateway keeps the deal's
  // pair channel up (reconnecting it and asking again for the same tunnel) and pays its invoices
  // until the lease ends (end_lease, the exit's cut, the deal's end). Thread-safe (posted).
  void open_vpn(ProxyFilters filters, WgKey public_key, std::function<void(Result<VpnLease>)> done);

  // Leases an IP that fits `filters` now, before any client asks (the requester's console): the
  // lease is chosen as for a client with that username (one that fits is reused; else the market
  // is asked), a session in the filters binds it, so that clients giving the same username get
  // the same IP, and its pair channel is connected. `done` is called once, on the gateway's
  // thread, with the deal. Thread-safe (posted).
  void prepare(ProxyFilters filters, std::function<void(Result<Hash>)> done);

  GatewayLeaseStats stats(const Hash& deal_id) const;
  size_t open_clients() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ipsx::net
