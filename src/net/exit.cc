#include "net/exit.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/eip191.h"
#include "crypto/eip712.h"
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
namespace {

Bytes random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) std::abort();  // no entropy: cannot run
  return out;
}

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

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
  const ExitDealDirectory& deals;
  static constexpr size_t kLookupThreads = 4;
  asio::thread_pool lookups{kLookupThreads};  // where `deals` is asked (see find_deal)
  // Per source address: lookups running, and the handshakes waiting for a turn (a waiter's timer
  // is cancelled to hand it the slot of a lookup that finished).
  struct LookupGate {
    size_t running = 0;
    std::deque<std::shared_ptr<asio::steady_timer>> waiting;
  };
  std::unordered_map<std::string, LookupGate> lookup_gates;
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
  std::unordered_map<std::string, std::shared_ptr<Session>> by_username;
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
  std::optional<Error> unservable(const Session& s) const {
    if (s.cut) {
      std::lock_guard lock(stats_mu);
      auto it = stats.find(s.deal.id);
      std::string why =
          it != stats.end() && it->second.cut_reason ? *it->second.cut_reason : std::string("cut");
      bool unpaid = why.rfind("unpaid", 0) == 0;
      return Error(unpaid ? NetErrc::unpaid : NetErrc::deal_ended,
                   fmt::format("deal {} is cut: {}", s.deal.id.hex(), why));
    }
    uint64_t t = now_s();
    if (t < s.deal.start)
      return Error(NetErrc::deal_ended,
                   fmt::format("deal {} starts at {}", s.deal.id.hex(), s.deal.start));
    if (t >= s.deal.end)
      return Error(NetErrc::deal_ended,
                   fmt::format("deal {} ended at {}", s.deal.id.hex(), s.deal.end));
    return std::nullopt;
  }

  std::shared_ptr<Session> session_for(const ExitDeal& deal) {
    auto it = sessions.find(deal.id);
    if (it != sessions.end()) return it->second;
    auto s = std::make_shared<Session>();
    s->deal = deal;
    s->username = "deal-" + deal.id.hex().substr(2, 24);
    s->password = to_hex(random_bytes(16), false);
    sessions[deal.id] = s;
    session_count = sessions.size();
    by_username[s->username] = s;
    with_stats(deal.id, [](ExitDealStats&) {});
    if (auto e = ended.find(deal.id); e != ended.end())
      cut(*s, Error(NetErrc::deal_ended, e->second));
    return s;
  }

  // The provider's agent saw the deal end on the ledger (or the market): cut it now, and refuse
  // it from here on even if no gateway has paired for it yet.
  void end_deal(const Hash& id, const std::string& why) {
    if (ended.size() >= kMaxEnded) ended.erase(ended.begin());
    ended.try_emplace(id, why);
    if (auto it = sessions.find(id); it != sessions.end())
      cut(*it->second, Error(NetErrc::deal_ended, why));
  }

  U256 owed(const Session& s) const {
    uint64_t t = std::min(now_s(), s.deal.end);
    uint64_t secs = t > s.deal.start ? t - s.deal.start : 0;
    auto v = s.deal.price_per_second.checked_mul(U256(secs));
    U256 amount = v ? *v : U256::max();
    return amount < s.deal.max_amount ? amount : s.deal.max_amount;
  }

  U256 credit_limit(const Session& s) const {
    auto v = s.deal.price_per_second.checked_mul(U256(cfg.credit_seconds));
    return v ? *v : U256::max();
  }

  void cut(Session& s, const Error& why) {
    if (s.cut) return;
    s.cut = true;
    with_stats(s.deal.id, [&](ExitDealStats& st) { st.cut_reason = why.message(); });
    if (on_cut) on_cut(s.deal.id, why);
    for (auto& w : s.channels)
      if (auto ch = w.lock()) {
        ch->send_control(FrameType::cut, error_payload(why));
        // Let the CUT frame leave before the channel goes.
        auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
        t->async_wait([t, ch, why](const boost::system::error_code&) { ch->close(why); });
      }
    for (auto& w : s.front)
      if (auto c = w.lock())
        if (c->abort) c->abort();
    s.channels.clear();
    s.front.clear();
  }

  // Every interval: bill each deal, cut what is unpaid or over.
  awaitable<void> billing() {
    auto self = shared_from_this();
    while (!stopping) {
      invoice_timer.expires_after(cfg.invoice_interval);
      boost::system::error_code ec;
      co_await invoice_timer.async_wait(use_ec(ec));
      if (stopping) break;
      std::vector<Hash> over;
      for (auto& [id, s] : sessions) {
        if (now_s() >= s->deal.end + kForgetAfterEndSeconds) {
          over.push_back(id);
          continue;
        }
        if (s->cut) continue;
        U256 due = owed(*s);
        ExitDealStats st;
        with_stats(id, [&](ExitDealStats& x) {
          x.owed = due;
          st = x;
        });
        U256 unpaid = due > st.paid ? *due.checked_sub(st.paid) : U256{};
        if (unpaid > credit_limit(*s)) {
          cut(*s, Error(NetErrc::unpaid,
                        fmt::format("unpaid: owes {}, paid {}, credit limit {}", due.to_dec(),
                                    st.paid.to_dec(), credit_limit(*s).to_dec())));
          continue;
        }
        send_usage(*s);
        InvoiceMessage inv{id, due,
                           std::min(now_s(), s->deal.end) - std::min(now_s(), s->deal.start),
                           st.bytes_up, st.bytes_down};
        Bytes payload = to_payload(inv);
        std::erase_if(s->channels, [](auto& w) { return w.expired(); });
        for (auto& w : s->channels)
          if (auto ch = w.lock()) ch->send_control(FrameType::invoice, payload);
        if (now_s() >= s->deal.end) cut(*s, Error(NetErrc::deal_ended, "the deal's time is over"));
      }
      for (const Hash& id : over) forget(id);
    }
  }

  // Drops a deal long over: its session, its front username and its stats. Its connections, if
  // any linger, hold the session themselves until they close.
  void forget(const Hash& id) {
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    cut(*it->second, Error(NetErrc::deal_ended, "the deal's time is over"));
    by_username.erase(it->second->username);
    sessions.erase(it);
    session_count = sessions.size();
    std::lock_guard lock(stats_mu);
    stats.erase(id);
  }

  void on_proof(Session& s, MuxChannel& ch, const Frame& f) {
    auto p = parse_proof(f.payload);
    auto reject = [&](std::string why) {
      ch.close(Error(NetErrc::unauthorized, "balance proof refused: " + why));
    };
    if (!p) return reject(p.error().message());
    if (p->deal_id != s.deal.id) return reject("for another deal");
    if (p->amount > s.deal.max_amount) return reject("above the deal's deposit");
    BalanceProof bp{p->deal_id, p->amount};
    Hash digest = crypto::eip712::digest(s.deal.domain_separator, bp.struct_hash());
    auto signer = crypto::recover(digest, p->signature);
    if (!signer || *signer != s.deal.requester) return reject("not signed by the requester");
    if (s.best && p->amount <= s.best->amount) return;  // stale or repeated: harmless
    ExitPayment payment{p->deal_id, p->amount, p->signature};
    // The provider keeps it (durably) before it counts as paid: a proof it could not keep does
    // not extend the requester's credit.
    if (on_payment && !on_payment(payment)) return;
    s.best = payment;
    with_stats(s.deal.id, [&](ExitDealStats& st) { st.paid = p->amount; });
  }
  std::function<bool(const ExitPayment&)> on_payment;
  std::function<void(const Hash&, const Error&)> on_cut;

  // ---- Outbound connections --------------------------------------------------------------------

  // Checks the request against the deal and the policy, resolves, and connects from the leased IP.
  awaitable<Result<tcp::socket>> connect_out(const Session& s, const Endpoint& to,
                                             uint32_t protocol) {
    if (protocol != protocol::socks5 && protocol != protocol::http &&
        protocol != protocol::https_connect)
      co_return fail(NetErrc::not_permitted, fmt::format("unknown protocol {}", protocol));
    if ((s.deal.protocols & protocol) == 0)
      co_return fail(NetErrc::not_permitted,
                     fmt::format("the deal's offer does not serve {}",
                                 protocol == protocol::socks5 ? "socks5"
                                 : protocol == protocol::http ? "http"
                                                              : "https-connect"));
    if (is_mail_port(to.port) &&
        !((s.deal.protocols & protocol::smtp) && s.deal.request_scope == scope::email))
      co_return fail(
          NetErrc::not_permitted,
          fmt::format("port {} needs a deal for email (smtp protocol, email scope)", to.port));
    if (connections >= cfg.max_connections)
      co_return fail(NetErrc::overloaded, "the exit is at its connection limit");
    asio::ip::address from = to_asio(s.deal.leased_ip);
    std::vector<asio::ip::address> candidates;
    if (auto* a4 = std::get_if<Ipv4>(&to.host)) {
      candidates.push_back(asio::ip::address_v4(*a4));
    } else if (auto* a6 = std::get_if<Ip>(&to.host)) {
      candidates.push_back(to_asio(*a6));
    } else {
      tcp::resolver resolver(io);
      boost::system::error_code ec;
      auto results = co_await resolver.async_resolve(std::get<std::string>(to.host),
                                                     std::to_string(to.port), use_ec(ec));
      if (ec)
        co_return fail(NetErrc::exit_failed,
                       fmt::format("resolving {}: {}", format_host(to.host), ec.message()));
      for (const auto& r : results) candidates.push_back(r.endpoint().address());
    }
    std::optional<Error> first;
    for (const auto& addr : candidates) {
      if (addr.is_v4() != from.is_v4()) continue;  // leave from the leased IP's family only
      if (auto ok = cfg.policy.check(from_asio(addr)); !ok) {
        if (!first) first = ok.error();
        continue;
      }
      asio::any_io_executor ex = io.get_executor();
      tcp::endpoint target(addr, to.port);
      auto sock = co_await dial(ex, target, from, cfg.connect_timeout);
      if (sock) co_return std::move(*sock);
      if (!first) first = sock.error();
    }
    if (first) co_return std::unexpected(*first);
    co_return fail(NetErrc::exit_failed, fmt::format("{} has no {} address", format_host(to.host),
                                                     from.is_v4() ? "IPv4" : "IPv6"));
  }

  std::shared_ptr<ConnectionUsage> track(const std::shared_ptr<Session>& s, const Endpoint& to,
                                         uint32_t stream, bool counted = true) {
    auto u = std::make_shared<ConnectionUsage>();
    u->counted = counted;
    u->impl = shared_from_this();
    u->session = s;
    u->record.host = format_host(to.host);
    u->record.port = to.port;
    u->record.stream = stream;
    u->record.opened_ms = to_unix_ms(clock.now());
    return u;
  }

  // The deal's meter, also counting into one connection's record.
  std::function<void(uint64_t, uint64_t)> meter(const Hash& id,
                                                std::shared_ptr<ConnectionUsage> usage) {
    return [deal = meter(id), usage = std::move(usage)](uint64_t up, uint64_t down) {
      deal(up, down);
      usage->record.bytes_up += up;
      usage->record.bytes_down += down;
    };
  }

  void record_usage(Session& s, UsageRecord r) {
    r.deal_id = s.deal.id;
    r.index = s.usage_records++;
    r.closed_ms = std::max(r.opened_ms, to_unix_ms(clock.now()));
    if (s.unsent.size() >= kMaxUnsentRecords) {  // no gateway for long: it joins the log unsent
      s.log.append(usage_leaf(s.unsent.front()));
      s.unsent.pop_front();
    }
    with_stats(s.deal.id, [&](ExitDealStats& st) { st.usage_records = s.usage_records; });
    if (on_usage) on_usage(r);
    s.unsent.push_back(std::move(r));
  }

  // Sends the records no gateway has seen, in messages of at most kMaxUsageRecordsPerMessage,
  // each with the log's size and root after its last record.
  void send_usage(Session& s) {
    std::erase_if(s.channels, [](auto& w) { return w.expired(); });
    if (s.unsent.empty() || s.channels.empty()) return;
    while (!s.unsent.empty()) {
      UsageMessage m{s.deal.id, {}, 0, {}};
      while (!s.unsent.empty() && m.records.size() < kMaxUsageRecordsPerMessage) {
        s.log.append(usage_leaf(s.unsent.front()));
        m.records.push_back(std::move(s.unsent.front()));
        s.unsent.pop_front();
      }
      m.count = s.log.size();
      m.root = s.log.root();
      s.sent_roots[m.count] = m.root;
      if (s.sent_roots.size() > kMaxSentRoots) s.sent_roots.erase(s.sent_roots.begin());
      Bytes payload = to_payload(m);
      for (auto& w : s.channels)
        if (auto ch = w.lock()) ch->send_control(FrameType::usage, payload);
    }
  }

  void on_receipt(Session& s, MuxChannel& ch, const Frame& f) {
    auto m = parse_receipt(f.payload);
    auto reject = [&](std::string why) {
      ch.close(Error(NetErrc::unauthorized, "usage receipt refused: " + why));
    };
    if (!m) return reject(m.error().message());
    if (m->deal_id != s.deal.id) return reject("for another deal");
    auto sent = s.sent_roots.find(m->count);
    if (sent == s.sent_roots.end() || sent->second != m->root)
      return reject("not the root of the log's first " + std::to_string(m->count) + " records");
    UsageReceipt r{m->deal_id, m->count, m->root};
    auto signer = crypto::recover(crypto::eip712::digest(s.deal.domain_separator, r.struct_hash()),
                                  m->signature);
    if (!signer || *signer != s.deal.requester) return reject("not signed by the requester");
    if (s.receipt && s.receipt->count >= m->count) return;
    s.receipt = ExitReceipt{m->deal_id, s.deal.requester, m->count, m->root, m->signature};
    with_stats(s.deal.id, [&](ExitDealStats& st) { st.usage_receipted = m->count; });
    if (on_receipt_cb) on_receipt_cb(*s.receipt);
  }
  std::function<void(const UsageRecord&)> on_usage;
  std::function<void(const ExitReceipt&)> on_receipt_cb;

  std::function<void(uint64_t, uint64_t)> meter(const Hash& id) {
    return [this, id](uint64_t up, uint64_t down) {
      with_stats(id, [&](ExitDealStats& st) {
        st.bytes_up += up;
        st.bytes_down += down;
      });
    };
  }

  // ---- Pair channel ----------------------------------------------------------------------------

  awaitable<void> accept_pairs() {
    auto self = shared_from_this();
    while (!stopping) {
      boost::system::error_code ec;
      tcp::socket sock = co_await pair_acceptor.async_accept(use_ec(ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        co_await pause_after_accept_error(ec);  // e.g. EMFILE: serve the connections we have
        continue;
      }
      if (connections >= cfg.max_connections) continue;  // closes it
      asio::co_spawn(io, handle_pair(std::move(sock)), asio::detached);
    }
  }

  awaitable<void> handle_pair(tcp::socket sock) {
    auto self = shared_from_this();
    ++connections;
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    auto stream = std::make_unique<TlsStream>(std::move(sock), *ssl_ctx);
    auto result = co_await pair_handshake(*stream);
    if (!result) {
      boost::system::error_code ignored;
      stream->next_layer().close(ignored);
      --connections;
      co_return;
    }
    auto [session, leftover] = std::move(*result);
    auto ch = std::make_shared<MuxChannel>(std::move(stream), false, std::move(leftover));
    ch->max_streams = cfg.max_streams_per_channel;
    std::weak_ptr<MuxChannel> weak = ch;
    ch->on_open = [this, session, weak](std::shared_ptr<MuxStream> st, Bytes payload) {
      asio::co_spawn(io, serve_stream(session, weak, std::move(st), std::move(payload)),
                     asio::detached);
    };
    ch->on_control = [this, session, weak](const Frame& f) {
      auto c = weak.lock();
      if (!c) return;
      if (f.type == FrameType::proof) on_proof(*session, *c, f);
      if (f.type == FrameType::receipt) on_receipt(*session, *c, f);
    };
    ch->on_closed = [this](const Error&) { --connections; };
    session->channels.push_back(ch);
    ch->start();
  }

  // The directory may block (the node's directory asks the node about a deal it has not seen
  // yet), so it is asked on the lookup thread while this thread serves everything else.
  // At most cfg.max_lookups_per_address run at once for one source; the others wait in order.
  awaitable<std::optional<ExitDeal>> find_deal(std::string source, Hash id) {
    auto self = shared_from_this();
    LookupGate& gate = lookup_gates[source];  // elements of an unordered_map never move
    if (gate.running < std::max<size_t>(1, cfg.max_lookups_per_address)) {
      ++gate.running;
    } else {
      auto turn = std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
      gate.waiting.push_back(turn);
      ++lookups_waiting;
      boost::system::error_code ec;
      co_await turn->async_wait(use_ec(ec));  // cancelled: a finished lookup's slot is ours
      --lookups_waiting;
    }
    // A directory that throws is a deal not found: the slot must come back either way.
    auto deal = co_await asio::co_spawn(
        lookups,
        [this, id]() -> awaitable<std::optional<ExitDeal>> {
          std::optional<ExitDeal> found;
          try {
            found = deals.find(id);
          } catch (const std::exception&) {
          }
          co_return found;
        },
        asio::use_awaitable);
    LookupGate& after = lookup_gates[source];
    if (!after.waiting.empty()) {
      after.waiting.front()->cancel();
      after.waiting.pop_front();
    } else if (--after.running == 0) {
      lookup_gates.erase(source);
    }
    co_return deal;
  }

  // TLS, HELLO, AUTH, WELCOME. The session served and the bytes read past AUTH.
  awaitable<Result<std::pair<std::shared_ptr<Session>, Bytes>>> pair_handshake(TlsStream& s) {
    boost::system::error_code ec;
    bool expired;
    {
      Deadline deadline(s.next_layer(), cfg.handshake_timeout);
      ec = co_await s.handshake(TlsStream::Role::server);
      expired = deadline.expired();
    }
    if (ec)
      co_return fail(expired ? NetErrc::timed_out : NetErrc::tls, "TLS handshake: " + ec.message());

    HelloMessage hello{provider, tls.key_sha256, key_valid_until, key_signature,
                       random_bytes(kChallengeBytes)};
    Frame hello_frame{FrameType::hello, 0, to_payload(hello)};
    auto sent = co_await write_one_frame(s, hello_frame, cfg.handshake_timeout);
    if (!sent) co_return std::unexpected(sent.error());
    Bytes buffer;
    auto frame = co_await read_one_frame(s, buffer, cfg.handshake_timeout);
    if (!frame) co_return std::unexpected(frame.error());
    // Checks AUTH; the error is sent back as REFUSED before the connection closes.
    Result<AuthMessage> auth = frame->type == FrameType::auth
                                   ? parse_auth(frame->payload)
                                   : fail(NetErrc::malformed, "expected auth");
    // A deal with a session here (another channel of the same requester) needs no lookup.
    std::optional<ExitDeal> deal;
    if (auth) {
      if (auto it = sessions.find(auth->deal_id); it != sessions.end()) {
        deal = it->second->deal;
      } else {
        boost::system::error_code peer_ec;
        auto peer = s.next_layer().remote_endpoint(peer_ec);
        std::string source;  // a named local: gcc 12 destroys a conditional's temporary twice
        if (!peer_ec) source = peer.address().to_string();
        deal = co_await find_deal(source, auth->deal_id);
      }
    }
    std::shared_ptr<Session> session;
    std::optional<Error> refusal = [&]() -> std::optional<Error> {
      if (!auth) return auth.error();
      auto binding = channel_binding(s.native_handle());
      if (!binding) return binding.error();
      if (!deal)
        return Error(NetErrc::unauthorized, fmt::format("no deal {} here", auth->deal_id.hex()));
      Hash digest = crypto::personal_message_hash(
          pair_auth_message(auth->deal_id, hello.challenge, *binding));
      auto signer = crypto::recover(digest, auth->signature);
      if (!signer || *signer != deal->requester)
        return Error(NetErrc::unauthorized, "the signature is not the deal's requester's");
      session = session_for(*deal);
      return unservable(*session);
    }();
    if (refusal) {
      Frame refused{FrameType::refused, 0, error_payload(*refusal)};
      co_await write_one_frame(s, refused, cfg.handshake_timeout);
      co_return std::unexpected(*refusal);
    }
    WelcomeMessage welcome{session->username, session->password, proxy_port.load(),
                           static_cast<uint64_t>(cfg.invoice_interval.count()),
                           credit_limit(*session)};
    Frame welcome_frame{FrameType::welcome, 0, to_payload(welcome)};
    auto ok = co_await write_one_frame(s, welcome_frame, cfg.handshake_timeout);
    if (!ok) co_return std::unexpected(ok.error());
    co_return std::pair{session, std::move(buffer)};
  }

  awaitable<void> serve_stream(std::shared_ptr<Session> s, std::weak_ptr<MuxChannel> weak,
                               std::shared_ptr<MuxStream> st, Bytes payload) {
    auto self = shared_from_this();
    auto refuse = [&](const Error& e) {
      with_stats(s->deal.id, [](ExitDealStats& x) { ++x.refused; });
      if (auto ch = weak.lock()) ch->refuse_open(st->id(), error_payload(e));
    };
    auto open = parse_open(payload);
    if (!open) co_return refuse(open.error());
    if (auto why = unservable(*s)) co_return refuse(*why);
    if (open->udp) co_return co_await serve_udp_stream(s, weak, st, *open);
    auto sock = co_await connect_out(*s, open->destination, open->protocol);
    if (!sock) co_return refuse(sock.error());
    auto ch = weak.lock();
    if (!ch || st->closed()) co_return;
    ch->accept_open(st->id());
    ch.reset();
    ++connections;
    with_stats(s->deal.id, [](ExitDealStats& x) { ++x.connections; });
    auto on_bytes = meter(s->deal.id, track(s, open->destination, st->id()));
    co_await splice(std::move(*sock), st, *splices, false, on_bytes);
    --connections;
  }

  // A UDP stream from a gateway's UDP ASSOCIATE: datagrams leave from the leased IP.
  awaitable<void> serve_udp_stream(std::shared_ptr<Session> s, std::weak_ptr<MuxChannel> weak,
                                   std::shared_ptr<MuxStream> st, const OpenMessage& open) {
    auto usage = track(s, open.destination, st->id(), false);  // recorded once accepted
    auto up = udp_upstream(*s, open.protocol, meter(s->deal.id, usage));
    auto ch = weak.lock();
    if (!up) {
      with_stats(s->deal.id, [](ExitDealStats& x) { ++x.refused; });
      if (ch) ch->refuse_open(st->id(), error_payload(up.error()));
      co_return;
    }
    if (!ch || st->closed()) co_return;
    ch->accept_open(st->id());
    ch.reset();
    ++connections;
    with_stats(s->deal.id, [](ExitDealStats& x) { ++x.connections; });
    usage->counted = true;
    usage.reset();  // the upstream's meter holds it until the stream ends
    co_await relay_udp_stream(st, std::move(*up), *splices);
    --connections;
  }

  // A UDP socket on the leased IP for a deal that serves SOCKS5, under the destination policy.
  Result<std::unique_ptr<UdpUpstream>> udp_upstream(
      const Session& s, uint32_t protocol, std::function<void(uint64_t, uint64_t)> on_bytes) {
    if (protocol != protocol::socks5 || (s.deal.protocols & protocol) == 0)
      return fail(NetErrc::not_permitted, "UDP ASSOCIATE needs a deal whose offer serves socks5");
    if (connections >= cfg.max_connections)
      return fail(NetErrc::overloaded, "the exit is at its connection limit");
    return exit_udp_upstream(
        io.get_executor(), to_asio(s.deal.leased_ip),
        [this](const asio::ip::address& a) { return cfg.policy.check(from_asio(a)); },
        std::move(on_bytes));
  }

  // ---- Proxy front -----------------------------------------------------------------------------

  awaitable<void> accept_front() {
    auto self = shared_from_this();
    while (!stopping) {
      boost::system::error_code ec;
      tcp::socket sock = co_await proxy_acceptor.async_accept(use_ec(ec));
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) break;
        co_await pause_after_accept_error(ec);
        continue;
      }
      if (connections >= cfg.max_connections) continue;
      asio::co_spawn(io, handle_front(std::move(sock)), asio::detached);
    }
  }

  awaitable<void> handle_front(tcp::socket client) {
    auto self = shared_from_this();
    ++connections;
    boost::system::error_code ec;
    client.set_option(tcp::no_delay(true), ec);
    make_non_blocking(client);
    std::shared_ptr<Session> session;
    FrontAuthenticate authenticate = [&](const std::string& user,
                                         const std::string& pass) -> Result<void> {
      auto it = by_username.find(user);
      if (it == by_username.end() || !equal_secret(pass, it->second->password))
        return fail(NetErrc::unauthorized, "unknown deal credentials");
      session = it->second;
      return {};
    };
    auto first = co_await read_front_request(client, cfg.handshake_timeout, authenticate, {}, false,
                                             /*udp_associate=*/true);
    std::optional<FrontRequest> req;
    if (first) req = std::move(*first);
    auto control = std::make_shared<SpliceControl>();
    while (req) {
      if (req->udp) {
        co_await associate(client, *req, session, control);
        break;
      }
      if (!req->http) {
        co_await tunnel(client, *req, session, control);
        break;
      }
      // Plain HTTP: request after request on this connection; a CONNECT among them comes back.
      HttpForwarder forwarder;
      forwarder.request_timeout = cfg.handshake_timeout;
      forwarder.authenticate = authenticate;
      forwarder.control = control;
      forwarder.connect = [this, &session,
                           control](const FrontRequest& r) -> awaitable<Result<HttpHop>> {
        auto out = co_await connect_front(*session, r, control);
        if (!out) co_return std::unexpected(out.error());
        auto self = shared_from_this();
        co_return HttpHop{socket_upstream(std::move(*out), [self] { --self->connections; }),
                          meter(session->deal.id, track(session, r.destination, 0))};
      };
      req = co_await forward_http(client, std::move(*req), forwarder, *splices);
      std::erase_if(session->front, [](auto& w) { return w.expired(); });
    }
    boost::system::error_code ignored;
    client.close(ignored);
    --connections;
  }

  // For a front request of `s`: the deal must be live; a connection from the leased IP, counted
  // (the caller decrements `connections` when it closes). Refusals are counted too.
  awaitable<Result<tcp::socket>> connect_front(Session& s, const FrontRequest& req,
                                               const std::shared_ptr<SpliceControl>& control) {
    Result<tcp::socket> out = std::unexpected(Error(NetErrc::deal_ended, ""));
    if (auto why = unservable(s))
      out = std::unexpected(*why);
    else
      out = co_await connect_out(s, req.destination, req.protocol);
    if (!out) {
      with_stats(s.deal.id, [](ExitDealStats& x) { ++x.refused; });
      co_return out;
    }
    ++connections;
    with_stats(s.deal.id, [](ExitDealStats& x) { ++x.connections; });
    bool known = false;
    for (auto& w : s.front) known = known || w.lock() == control;
    if (!known) s.front.push_back(control);
    co_return out;
  }

  // A SOCKS5 UDP ASSOCIATE at the front: datagrams leave from the leased IP, under the same
  // policy, metered to the deal, while the control connection lasts.
  awaitable<void> associate(tcp::socket& client, const FrontRequest& req,
                            std::shared_ptr<Session> session,
                            std::shared_ptr<SpliceControl> control) {
    Session& s = *session;
    std::optional<Error> why = unservable(s);
    Result<std::unique_ptr<UdpUpstream>> up = std::unexpected(Error(NetErrc::exit_failed, ""));
    auto usage = track(session, req.destination, 0, false);  // recorded once accepted
    if (!why) {
      up = udp_upstream(s, req.protocol, meter(s.deal.id, usage));
      if (!up) why = up.error();
    }
    if (why) {
      with_stats(s.deal.id, [](ExitDealStats& x) { ++x.refused; });
      co_await answer_failure(client, req, *why, cfg.handshake_timeout);
      co_return;
    }
    ++connections;
    with_stats(s.deal.id, [](ExitDealStats& x) { ++x.connections; });
    s.front.push_back(control);
    usage->counted = true;
    usage.reset();  // the upstream's meter holds it until the association ends
    co_await serve_udp_associate(client, req, std::move(*up), *splices, control,
                                 cfg.handshake_timeout);
    --connections;
    std::erase_if(session->front, [](auto& w) { return w.expired(); });
  }

  // A SOCKS5 CONNECT or an HTTP CONNECT at the front: a tunnel from the leased IP.
  awaitable<void> tunnel(tcp::socket& client, const FrontRequest& req,
                         std::shared_ptr<Session> session, std::shared_ptr<SpliceControl> control) {
    auto out = co_await connect_front(*session, req, control);
    if (!out) {
      co_await answer_failure(client, req, out.error(), cfg.handshake_timeout);
      co_return;
    }
    boost::system::error_code ec;
    tcp::endpoint local = out->local_endpoint(ec);
    Endpoint bound{from_asio(local.address()), local.port()};
    bool ok = static_cast<bool>(co_await answer_success(client, req, bound, cfg.handshake_timeout));
    if (ok && !req.leftover.empty()) {
      auto written =
          co_await write_all_for(*out, asio::buffer(req.leftover), cfg.handshake_timeout);
      ok = static_cast<bool>(written);
    }
    if (ok) {
      with_stats(session->deal.id, [&](ExitDealStats& x) { x.bytes_up += req.leftover.size(); });
      std::function<void(uint64_t, uint64_t)> on_bytes =
          meter(session->deal.id, track(session, req.destination, 0));
      co_await splice(std::move(client), std::move(*out), *splices, on_bytes, control);
    }
    --connections;
    std::erase_if(session->front, [](auto& w) { return w.expired(); });
  }

  void stop_now() {
    stopping = true;
    boost::system::error_code ec;
    pair_acceptor.close(ec);
    proxy_acceptor.close(ec);
    invoice_timer.cancel();
    splices->close();
    for (auto& [id, s] : sessions) {
      for (auto& w : s->channels)
        if (auto ch = w.lock()) ch->close(Error(NetErrc::channel_closed, "the exit is stopping"));
      for (auto& w : s->front)
        if (auto c = w.lock())
          if (c->abort) c->abort();
    }
  }
};

Exit::Exit(asio::io_context& io, ExitConfig config, const ExitDealDirectory& deals,
           const crypto::PrivateKey& provider_key, const Clock& clock)
    : impl_(std::make_shared<Impl>(io, std::move(config), deals, clock)) {
  impl_->provider = provider_key.address();
  // The TLS identity and the wallet's certificate of it are made here, on the caller's thread.
  auto id = generate_tls_identity();
  if (id) {
    impl_->tls = std::move(*id);
    impl_->key_valid_until = impl_->now_s() + impl_->cfg.key_validity_seconds;
    auto sig = crypto::sign(provider_key,
                            crypto::personal_message_hash(exit_key_message(
                                impl_->provider, impl_->tls.key_sha256, impl_->key_valid_until)));
    if (sig) impl_->key_signature = *sig;
  }
}

Exit::~Exit() {
  if (impl_) {
    impl_->on_payment = nullptr;
    impl_->on_cut = nullptr;
    impl_->on_usage = nullptr;
    impl_->on_receipt_cb = nullptr;
  }
}

Result<void> Exit::start() {
  auto& m = *impl_;
  if (m.tls.certificate_pem.empty()) return fail(NetErrc::tls, "no TLS identity");
  auto ctx = make_server_context(m.tls);
  if (!ctx) return std::unexpected(ctx.error());
  m.ssl_ctx = *ctx;
  auto pp = listen_on(m.pair_acceptor, m.cfg.pair_listen);
  if (!pp) return std::unexpected(pp.error());
  m.pair_port = *pp;
  if (m.cfg.proxy_listen) {
    auto fp = listen_on(m.proxy_acceptor, *m.cfg.proxy_listen);
    if (!fp) return std::unexpected(fp.error());
    m.proxy_port = *fp;
    asio::co_spawn(m.io, m.accept_front(), asio::detached);
  }
  m.on_payment = [this](const ExitPayment& p) { return on_payment ? on_payment(p) : true; };
  m.on_cut = [this](const Hash& deal, const Error& why) {
    if (on_cut) on_cut(deal, why);
  };
  m.on_usage = [this](const UsageRecord& r) {
    if (on_usage) on_usage(r);
  };
  m.on_receipt_cb = [this](const ExitReceipt& r) {
    if (on_receipt) on_receipt(r);
  };
  m.splices->start();
  asio::co_spawn(m.io, m.accept_pairs(), asio::detached);
  asio::co_spawn(m.io, m.billing(), asio::detached);
  return {};
}

void Exit::end_deal(const Hash& deal_id, std::string why) {
  asio::post(impl_->io,
             [impl = impl_, deal_id, why = std::move(why)] { impl->end_deal(deal_id, why); });
}

void Exit::stop() {
  asio::post(impl_->io, [impl = impl_] { impl->stop_now(); });
}

uint16_t Exit::pair_port() const {
  return impl_->pair_port;
}
uint16_t Exit::proxy_port() const {
  return impl_->proxy_port;
}
const Address& Exit::provider() const {
  return impl_->provider;
}

ExitDealStats Exit::stats(const Hash& deal_id) const {
  std::lock_guard lock(impl_->stats_mu);
  auto it = impl_->stats.find(deal_id);
  return it == impl_->stats.end() ? ExitDealStats{} : it->second;
}

size_t Exit::open_connections() const {
  return impl_->connections;
}

size_t Exit::deals_held() const {
  return impl_->session_count;
}

size_t Exit::lookups_waiting() const {
  return impl_->lookups_waiting;
}

}  // namespace ipsx::net
