// The exit's insides, shared by its three parts and seen by nothing else (net/exit.h is the
// interface): exit.cc pairs gateways and serves their streams (the pair session), exit_billing.cc
// keeps the deals' accounts (invoices, balance proofs, the credit limit and the cut, the usage
// log and its receipts), exit_front.cc serves the per-deal credentials port (the proxy front).
// Every member runs on the exit's io_context unless its comment says otherwise.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/text_hash.h"
#include "crypto/eip191.h"
#include "crypto/eip712.h"
#include "net/exit.h"
#include "net/http_forward.h"
#include "net/io_util.h"
#include "net/mux.h"
#include "net/net_error.h"
#include "net/pair_auth.h"
#include "net/pair_messages.h"
#include "net/proxy_front.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "net/udp_relay.h"
#include "vocab/orders.h"

namespace ipsx::net {

struct Exit::Impl : std::enable_shared_from_this<Impl> {
  // One deal as this exit serves it.
  struct Session {
    ExitDeal deal;
    std::string username;
    std::string password;
    std::vector<std::weak_ptr<MuxChannel>> channels;
    std::vector<std::weak_ptr<SpliceControl>> front;  // front connections, to cut them
    std::optional<ExitPayment> best;
    bool cut = false;
    // The usage log (vocab/usage.h): the records not yet sent to a gateway, the tree of those
    // before them (a record joins it when it is sent, so its root is hashed once a message, not
    // once a connection), the roots sent (to check receipts), the best receipt.
    uint64_t usage_records = 0;
    std::deque<UsageRecord> unsent;
    UsageLog log;
    std::map<uint64_t, Hash> sent_roots;
    std::optional<ExitReceipt> receipt;
    // The deal's WireGuard peer (exit_vpn.cc): its key once added, the tunnel's terms, whether
    // an add runs now, and the tunnel's counters at the last look (what is metered is the rest).
    std::optional<WgKey> vpn_key;
    WgKey vpn_key_pending{};  // the key being added while vpn_adding
    std::optional<VpnConfigMessage> vpn_config;
    bool vpn_adding = false;
    std::vector<std::weak_ptr<MuxChannel>> vpn_waiting;  // answered when the add is done
    static constexpr size_t kMaxVpnWaiting = 8;
    uint64_t vpn_up_seen = 0, vpn_down_seen = 0;
  };

  // One connection's record, finished when the last holder lets go (the connection's coroutine
  // and its meter): then its close time and bytes are final and it joins the deal's log.
  struct ConnectionUsage {
    std::shared_ptr<Impl> impl;
    std::shared_ptr<Session> session;
    UsageRecord record;
    bool counted = true;  // false until a UDP association is accepted: a refusal is no record
    ~ConnectionUsage() {
      if (counted) impl->record_usage(*session, std::move(record));
    }
  };
  static constexpr size_t kMaxUnsentRecords = 65'536;
  static constexpr size_t kMaxSentRoots = 4'096;

  Impl(asio::io_context& io, ExitConfig c, const ExitDealDirectory& d, const Clock& clk)
      : io(io),
        cfg(std::move(c)),
        deals(d),
        clock(clk),
        pair_acceptor(io),
        proxy_acceptor(io),
        invoice_timer(io),
        splices(std::make_shared<SpliceRegistry>(io.get_executor(), cfg.idle_timeout)) {}

  asio::io_context& io;
  ExitConfig cfg;
  // The policy as set_policy last set it, for other threads (cfg.policy is the io thread's).
  mutable std::mutex policy_mu;
  DestinationPolicy policy_now = cfg.policy;
  const ExitDealDirectory& deals;
  static constexpr size_t kLookupThreads = 4;
  asio::thread_pool lookups{kLookupThreads};  // where `deals` is asked (see find_deal)
  // Where the VPN's peers are added and removed (cfg.vpn runs the system's tools): a thread of
  // its own, so that neither a burst of tunnels nor slow lookups delay the other. Joined by
  // ~Exit, before the io_context its jobs post back to can go.
  asio::thread_pool vpn_work{1};
  // Per source address: lookups running, and the handshakes waiting for a turn (a waiter's timer
  // is cancelled to hand it the slot of a lookup that finished).
  struct LookupGate {
    size_t running = 0;
    std::deque<std::shared_ptr<asio::steady_timer>> waiting;
  };
  TextMap<LookupGate> lookup_gates;
  std::atomic<size_t> lookups_waiting{0};
  const Clock& clock;
  Address provider;
  TlsIdentity tls;
  std::shared_ptr<asio::ssl::context> ssl_ctx;
  crypto::Signature key_signature;
  uint64_t key_valid_until = 0;
  tcp::acceptor pair_acceptor;
  tcp::acceptor proxy_acceptor;
  asio::steady_timer invoice_timer;
  std::shared_ptr<SpliceRegistry> splices;
  std::atomic<uint16_t> pair_port{0};
  std::atomic<uint16_t> proxy_port{0};
  std::atomic<size_t> connections{0};
  bool stopping = false;

  std::unordered_map<Hash, std::shared_ptr<Session>, FixedBytesHasher> sessions;
  std::atomic<size_t> session_count{0};  // sessions.size(), for other threads
  // A deal's session (and its stats) is forgotten this long after the deal's end: a long-running
  // exit holds only recent deals. A later pairing finds the deal over and is refused.
  static constexpr uint64_t kForgetAfterEndSeconds = 600;
  TextMap<std::shared_ptr<Session>> by_username;
  // Deals ended by end_deal() before or after their session began (bounded: an old entry only
  // matters until the deal's own end, which the exit enforces anyway).
  static constexpr size_t kMaxEnded = 65'536;
  std::unordered_map<Hash, std::string, FixedBytesHasher> ended;
  mutable std::mutex stats_mu;  // guards `stats` only: read from other threads
  std::unordered_map<Hash, ExitDealStats, FixedBytesHasher> stats;

  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(clock.now())); }

  template <class F>
  void with_stats(const Hash& id, F&& f) {
    std::lock_guard lock(stats_mu);
    f(stats[id]);
  }

  // ---- Deal state ------------------------------------------------------------------------------

  // Why the deal cannot be served now, if it cannot.
  std::optional<Error> unservable(const Session& s) const;

  std::shared_ptr<Session> session_for(const ExitDeal& deal);

  // The provider's agent saw the deal end on the ledger (or the market): cut it now, and refuse
  // it from here on even if no gateway has paired for it yet.
  void end_deal(const Hash& id, const std::string& why);

  Amount owed(const Session& s) const;

  Amount credit_limit(const Session& s) const;

  void cut(Session& s, const Error& why);

  // Every interval: bill each deal, cut what is unpaid or over.
  awaitable<void> billing();

  // Drops a deal long over: its session, its front username and its stats. Its connections, if
  // any linger, hold the session themselves until they close.
  void forget(const Hash& id);

  void on_proof(Session& s, MuxChannel& ch, const Frame& f);
  std::function<bool(const ExitPayment&)> on_payment;
  std::function<void(const Hash&, const Error&)> on_cut;

  // ---- Outbound connections --------------------------------------------------------------------

  // Checks the request against the deal and the policy, resolves, and connects from the leased IP.
  awaitable<Result<tcp::socket>> connect_out(const Session& s, const Endpoint& to,
                                             uint32_t protocol);

  std::shared_ptr<ConnectionUsage> track(const std::shared_ptr<Session>& s, const Endpoint& to,
                                         uint32_t stream, bool counted = true);

  // The deal's meter, also counting into one connection's record.
  std::function<void(uint64_t, uint64_t)> meter(const Hash& id,
                                                std::shared_ptr<ConnectionUsage> usage) {
    return [deal = meter(id), usage = std::move(usage)](uint64_t up, uint64_t down) {
      deal(up, down);
      usage->record.bytes_up += up;
      usage->record.bytes_down += down;
    };
  }

  void record_usage(Session& s, UsageRecord r);

  // Sends the records no gateway has seen, in messages of at most kMaxUsageRecordsPerMessage,
  // each with the log's size and root after its last record.
  void send_usage(Session& s);

  void on_receipt(Session& s, MuxChannel& ch, const Frame& f);

  // ---- VPN (exit_vpn.cc) -----------------------------------------------------------------------

  // A requester's VPN_OPEN: checked (the deal serves vpn and is live, the key signed by the
  // requester), the peer added on a lookup thread, then VPN_CONFIG (or VPN_REFUSED) sent back.
  void on_vpn_open(const std::shared_ptr<Session>& s, const std::weak_ptr<MuxChannel>& weak,
                   const Frame& f);
  // The deal's peer removed (on a lookup thread), if it has one: for a cut deal.
  void remove_vpn_peer(Session& s);
  // Every billing tick: the tunnels' new bytes into their deals' stats.
  void meter_vpn();
  std::function<void(const UsageRecord&)> on_usage;
  std::function<void(const ExitReceipt&)> on_receipt_cb;
  std::function<std::vector<UsageRecord>(const Hash&)> usage_so_far_cb;

  std::function<void(uint64_t, uint64_t)> meter(const Hash& id) {
    return [this, id](uint64_t up, uint64_t down) {
      with_stats(id, [&](ExitDealStats& st) {
        st.bytes_up += up;
        st.bytes_down += down;
      });
    };
  }

  // ---- Pair channel ----------------------------------------------------------------------------

  awaitable<void> accept_pairs();

  // `source`: the gateway's address when the socket's peer is not it (a relay); empty: the peer.
  awaitable<void> handle_pair(tcp::socket sock, std::string source = {});

  // The directory may block (the node's directory asks the node about a deal it has not seen
  // yet), so it is asked on the lookup thread while this thread serves everything else.
  // At most cfg.max_lookups_per_address run at once for one source; the others wait in order.
  awaitable<std::optional<ExitDeal>> find_deal(std::string source, Hash id);

  // TLS, HELLO, AUTH, WELCOME. The session served and the bytes read past AUTH.
  awaitable<Result<std::pair<std::shared_ptr<Session>, Bytes>>> pair_handshake(TlsStream& s,
                                                                               std::string source);

  awaitable<void> serve_stream(std::shared_ptr<Session> s, std::weak_ptr<MuxChannel> weak,
                               std::shared_ptr<MuxStream> st, Bytes payload);

  // A UDP stream from a gateway's UDP ASSOCIATE: datagrams leave from the leased IP.
  awaitable<void> serve_udp_stream(std::shared_ptr<Session> s, std::weak_ptr<MuxChannel> weak,
                                   std::shared_ptr<MuxStream> st, const OpenMessage& open);

  // A UDP socket on the leased IP for a deal that serves SOCKS5, under the destination policy.
  Result<std::unique_ptr<UdpUpstream>> udp_upstream(
      const Session& s, uint32_t protocol, std::function<void(uint64_t, uint64_t)> on_bytes);

  // ---- Proxy front -----------------------------------------------------------------------------

  awaitable<void> accept_front();

  awaitable<void> handle_front(tcp::socket client);

  // For a front request of `s`: the deal must be live; a connection from the leased IP, counted
  // (the caller decrements `connections` when it closes). Refusals are counted too.
  awaitable<Result<tcp::socket>> connect_front(Session& s, const FrontRequest& req,
                                               const std::shared_ptr<SpliceControl>& control);

  // A SOCKS5 UDP ASSOCIATE at the front: datagrams leave from the leased IP, under the same
  // policy, metered to the deal, while the control connection lasts.
  awaitable<void> associate(tcp::socket& client, const FrontRequest& req,
                            std::shared_ptr<Session> session,
                            std::shared_ptr<SpliceControl> control);

  // A SOCKS5 CONNECT or an HTTP CONNECT at the front: a tunnel from the leased IP.
  awaitable<void> tunnel(tcp::socket& client, const FrontRequest& req,
                         std::shared_ptr<Session> session, std::shared_ptr<SpliceControl> control);

  void stop_now();
};

}  // namespace ipsx::net
