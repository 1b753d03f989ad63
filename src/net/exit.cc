#include "net/exit.h"

#include <openssl/rand.h>

#include "net/exit_impl.h"

namespace ipsx::net {
namespace {

Bytes random_bytes(size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) std::abort();  // no entropy: cannot run
  return out;
}

}  // namespace

// ---- the pair session: pairing, deal lookups, streams ----------------------------------------

std::optional<Error> Exit::Impl::unservable(const Session& s) const {
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

std::shared_ptr<Exit::Impl::Session> Exit::Impl::session_for(const ExitDeal& deal) {
  auto it = sessions.find(deal.id);
  if (it != sessions.end()) return it->second;
  auto s = std::make_shared<Session>();
  s->deal = deal;
  s->username = "deal-" + deal.id.hex().substr(2, 24);
  s->password = to_hex(random_bytes(16), false);
  sessions[deal.id] = s;
  session_count = sessions.size();
  by_username[s->username] = s;
  if (usage_so_far_cb) {
    // A restarted exit continues the deal's log where the provider's store has it (a log that
    // began again at 0 would repeat indexes the store and the requester already hold).
    for (const UsageRecord& r : usage_so_far_cb(deal.id)) {
      if (r.index != s->usage_records) break;  // a gap: the store is damaged past here
      s->log.append(usage_leaf(r));
      ++s->usage_records;
    }
  }
  with_stats(deal.id, [&](ExitDealStats& st) { st.usage_records = s->usage_records; });
  if (auto e = ended.find(deal.id); e != ended.end())
    cut(*s, Error(NetErrc::deal_ended, e->second));
  return s;
}

void Exit::Impl::end_deal(const Hash& id, const std::string& why) {
  if (ended.size() >= kMaxEnded) ended.erase(ended.begin());
  ended.try_emplace(id, why);
  if (auto it = sessions.find(id); it != sessions.end())
    cut(*it->second, Error(NetErrc::deal_ended, why));
}

awaitable<Result<tcp::socket>> Exit::Impl::connect_out(const Session& s, const Endpoint& to,
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
  auto local = cfg.source_of.find(s.deal.leased_ip);
  asio::ip::address from = to_asio(local != cfg.source_of.end() ? local->second : s.deal.leased_ip);
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

awaitable<void> Exit::Impl::accept_pairs() {
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

awaitable<void> Exit::Impl::handle_pair(tcp::socket sock, std::string source) {
  auto self = shared_from_this();
  ++connections;
  boost::system::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  auto stream = std::make_unique<TlsStream>(std::move(sock), *ssl_ctx);
  auto result = co_await pair_handshake(*stream, std::move(source));
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
    if (f.type == FrameType::vpn_open) on_vpn_open(session, weak, f);
  };
  ch->on_closed = [this](const Error&) { --connections; };
  session->channels.push_back(ch);
  ch->start();
}

awaitable<std::optional<ExitDeal>> Exit::Impl::find_deal(std::string source, Hash id) {
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

awaitable<Result<std::pair<std::shared_ptr<Exit::Impl::Session>, Bytes>>>
Exit::Impl::pair_handshake(TlsStream& s, std::string source) {
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
      if (source.empty()) {  // (a relay told the gateway's own address, else the peer is it)
        boost::system::error_code peer_ec;
        auto peer = s.next_layer().remote_endpoint(peer_ec);
        if (!peer_ec) source = peer.address().to_string();
      }
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
    Hash digest =
        crypto::personal_message_hash(pair_auth_message(auth->deal_id, hello.challenge, *binding));
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

awaitable<void> Exit::Impl::serve_stream(std::shared_ptr<Session> s, std::weak_ptr<MuxChannel> weak,
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

awaitable<void> Exit::Impl::serve_udp_stream(std::shared_ptr<Session> s,
                                             std::weak_ptr<MuxChannel> weak,
                                             std::shared_ptr<MuxStream> st,
                                             const OpenMessage& open) {
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

Result<std::unique_ptr<UdpUpstream>> Exit::Impl::udp_upstream(
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

void Exit::Impl::stop_now() {
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
    impl_->usage_so_far_cb = nullptr;
    impl_->vpn_work.join();  // a peer being added posts back to the io_context: let it finish
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
  m.usage_so_far_cb = [this](const Hash& d) {
    return usage_so_far ? usage_so_far(d) : std::vector<UsageRecord>{};
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

Result<void> Exit::set_policy(DestinationPolicy policy) {
  if (impl_->cfg.vpn)
    if (auto r = impl_->cfg.vpn->set_policy(policy); !r) return r;
  {
    std::lock_guard lock(impl_->policy_mu);
    impl_->policy_now = policy;
  }
  asio::post(impl_->io, [impl = impl_, policy = std::move(policy)] { impl->cfg.policy = policy; });
  return {};
}

DestinationPolicy Exit::policy() const {
  std::lock_guard lock(impl_->policy_mu);
  return impl_->policy_now;
}

void Exit::serve_pair(tcp::socket socket, std::string source) {
  asio::post(impl_->io, [impl = impl_, s = std::make_shared<tcp::socket>(std::move(socket)),
                         source = std::move(source)]() mutable {
    if (impl->stopping || impl->connections >= impl->cfg.max_connections) return;  // closes it
    asio::co_spawn(impl->io, impl->handle_pair(std::move(*s), std::move(source)), asio::detached);
  });
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
