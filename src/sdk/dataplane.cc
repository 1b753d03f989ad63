#include "sdk/dataplane.h"

#include <thread>
#include <utility>

#include <fmt/format.h>

#include "ledger/tx_codec.h"
#include "market/exit_directory.h"
#include "market/market_error.h"
#include "net/asio.h"
#include "net/net_error.h"

namespace ipsx::sdk {
namespace {

using json = nlohmann::json;

// An announced "IP:PORT" ("[v6]:PORT") as a socket endpoint; a name is refused.
std::optional<net::tcp::endpoint> ip_endpoint(std::string_view text) {
  auto e = net::parse_authority(text, std::nullopt);
  if (!e || std::holds_alternative<std::string>(e->host)) return std::nullopt;
  net::asio::ip::address address =
      std::holds_alternative<net::Ipv4>(e->host)
          ? net::asio::ip::address(net::asio::ip::address_v4(std::get<net::Ipv4>(e->host)))
          : net::asio::ip::address(net::asio::ip::address_v6(std::get<Ip>(e->host)));
  return net::tcp::endpoint(address, e->port);
}

// An announced exit: "IP:PORT", or "relay:IP:PORT" for an exit served through a relay.
std::optional<net::ExitAddress> exit_address(std::string_view text) {
  constexpr std::string_view kRelay = "relay:";
  const bool relayed = text.starts_with(kRelay);
  if (relayed) text.remove_prefix(kRelay.size());
  auto at = ip_endpoint(text);
  if (!at) return std::nullopt;
  return net::ExitAddress{*at, relayed};
}

uint64_t now_s() {
  return static_cast<uint64_t>(to_unix_seconds(SystemClock().now()));
}

Result<Hash> hash_field(const json& j, const char* name) {
  if (!j.contains(name) || !j[name].is_string())
    return fail(SdkErrc::bad_response, fmt::format("the node's answer has no '{}'", name));
  return Hash::from_hex(j[name].get<std::string>());
}

// Reads a signed order's document (GET /v1/orders/{id}): its "offer" or "request".
Result<json> order_doc(NodeClient& node, const json& id, const char* kind) {
  std::string text = id.is_string() ? id.get<std::string>() : id.dump();
  auto o = node.get("/v1/orders/" + url_encode(text));
  if (!o) return std::unexpected(o.error());
  if (!o->contains(kind) || !(*o)[kind].is_object())
    return fail(SdkErrc::bad_response, fmt::format("order {} has no '{}'", text, kind));
  return (*o)[kind];
}

}  // namespace

Result<DealInfo> fetch_deal(NodeClient& node, const Hash& deal_id) {
  auto d = node.get("/v1/deals/" + deal_id.hex());
  if (!d) return std::unexpected(d.error());
  try {
    DealInfo info;
    info.id = deal_id;
    info.provider = Address::parse((*d)["provider"].get<std::string>()).value();
    info.requester = Address::parse((*d)["requester"].get<std::string>()).value();
    info.exclusive = d->value("exclusive", false);
    info.phase = (*d)["status"]["phase"].get<std::string>();
    info.start = (*d)["times"]["startMs"].get<uint64_t>() / 1000;
    info.end = (*d)["times"]["endMs"].get<uint64_t>() / 1000;
    auto offer = order_doc(node, (*d)["offer"], "offer");
    if (!offer) return std::unexpected(offer.error());
    auto request = order_doc(node, (*d)["request"], "request");
    if (!request) return std::unexpected(request.error());
    auto o = ledger::offer_from_json(*offer);
    if (!o) return std::unexpected(o.error());
    auto r = ledger::request_from_json(*request);
    if (!r) return std::unexpected(r.error());
    info.offer = *o;
    info.request = *r;
    if (d->contains("pricePerSecond")) {
      auto p = U256::from_dec((*d)["pricePerSecond"].get<std::string>());
      if (!p) return std::unexpected(p.error());
      info.price_per_second = *p;
    } else {
      info.price_per_second = info.offer.price_per_second;
    }
    return info;
  } catch (const std::exception& e) {
    return fail(SdkErrc::bad_response,
                fmt::format("deal {}: unexpected answer ({})", deal_id.hex(), e.what()));
  }
}

Result<std::string> fetch_exit(NodeClient& node, const Address& provider) {
  auto e = node.get("/v1/exits/" + provider.to_string());
  if (!e) return std::unexpected(e.error());
  if (!e->contains("exit") || !(*e)["exit"].is_object() || !(*e)["exit"].contains("endpoint") ||
      !(*e)["exit"]["endpoint"].is_string())
    return fail(SdkErrc::bad_response, "exit answer without exit.endpoint");
  return (*e)["exit"]["endpoint"].get<std::string>();
}

Result<void> announce_exit(NodeClient& node, const Signer& provider, const std::string& endpoint,
                           uint64_t expiry, uint64_t seq) {
  market::ExitAnnouncement a{provider.address(), endpoint, expiry, seq};
  auto sig = provider.exit_announcement(a);
  if (!sig) return std::unexpected(sig.error());
  json body = {{"exit",
                {{"provider", a.provider.to_string()},
                 {"endpoint", a.endpoint},
                 {"expiry", a.expiry},
                 {"seq", a.seq}}},
               {"signature", sig->to_hex()}};
  auto r = node.post("/v1/exits", body);
  if (!r) return std::unexpected(r.error());
  return {};
}

namespace {

// At most this many replacements of a transaction the chain has not mined by the node's deadline.
constexpr int kMaxReplacements = 3;

// The node's answer when a transaction was sent but had no receipt by its deadline: it holds its
// nonce (and every later transaction of the account) until mined, so it is worth replacing.
bool still_pending(const Error& e) {
  return e.code() == make_error_code(SdkErrc::ledger_unavailable) &&
         e.message().find("may still be mined") != std::string::npos;
}

// The ledger's id of a transaction body sent (keccak-256 of its digest and signature).
std::optional<Hash> sent_id(const json& body) {
  auto d = Hash::from_hex(body.value("digest", ""));
  auto sig = crypto::Signature::from_hex(body.value("signature", ""));
  if (!d || !sig) return std::nullopt;
  ledger::SignedTx t;
  t.tx.digest = *d;
  t.signature = *sig;
  return t.id();
}

}  // namespace

Result<json> send_transaction(NodeClient& node, const Signer& signer, const ledger::Op& op) {
  std::optional<uint64_t> replacing;  // the nonce of a version sent that may still be mined
  std::vector<Hash> sent_ids;         // the versions sent at that nonce
  for (int attempt = 0, replaced = 0;; ++attempt) {
    json ask = {{"from", signer.address().to_string()}, {"op", ledger::to_json(op)}};
    if (replacing) ask["nonce"] = *replacing;  // the node raises its fees over the pending one's
    auto prepared = node.post("/v1/ledger/transactions/prepare", ask);
    if (!prepared) return std::unexpected(prepared.error());
    auto body = signer.transaction(*prepared, op);
    if (!body) return std::unexpected(body.error());
    auto sent = node.post("/v1/ledger/transactions", *body);
    if (sent) return sent;
    const Error& e = sent.error();
    if (!replacing && attempt == 0 && e.code() == make_error_code(SdkErrc::bad_nonce)) continue;
    if (still_pending(e) && replaced < kMaxReplacements && prepared->contains("nonce") &&
        (*prepared)["nonce"].is_number_unsigned()) {
      // Not mined by the node's deadline (fees the chain no longer takes, a congested pool): the
      // same operation again at the same nonce, with higher fees; whichever is mined counts.
      replacing = (*prepared)["nonce"].get<uint64_t>();
      if (auto id = sent_id(*body)) sent_ids.push_back(*id);
      ++replaced;
      continue;
    }
    if (replacing && e.code() == make_error_code(SdkErrc::bad_nonce)) {
      // The nonce was used meanwhile: by an earlier version, if the ledger has one.
      // (The node's history may reach the block a moment after the chain: asked a few times.)
      for (int look = 0; look < 10; ++look) {
        for (auto id = sent_ids.rbegin(); id != sent_ids.rend(); ++id) {
          auto found = node.get("/v1/ledger/transactions/" + id->hex());
          if (found) return found;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
    return sent;
  }
}

Result<void> prove_ip(NodeClient& node, const Address& provider, const std::string& ip,
                      Millis timeout, const std::string& local) {
  auto issued = node.post("/v1/probes", {{"provider", provider.to_string()}, {"ip", ip}});
  if (!issued) return std::unexpected(issued.error());
  const std::string endpoint = issued->value("endpoint", ""), line = issued->value("line", "");
  auto fail = [&](const std::string& why) -> Result<void> {
    return std::unexpected(
        Error(CoreErrc::io_error,
              fmt::format("proving {} to the node's probe listener {}: {}", ip, endpoint, why)));
  };
  namespace asio = net::asio;
  boost::system::error_code ec;
  auto source = asio::ip::make_address(local.empty() ? ip : local, ec);
  if (ec)
    return fail(local.empty() ? "not an IP address" : "local address " + local + ": not an IP");
  auto found = ip_endpoint(endpoint);
  if (!found || line.empty()) return fail("the node's answer is not an IP:PORT and a line");
  const net::tcp::endpoint dest = *found;
  if (source.is_v4() && dest.address().is_v6())
    source = asio::ip::make_address_v6(asio::ip::v4_mapped, source.to_v4());

  asio::io_context io;
  net::tcp::socket socket(io);
  socket.open(dest.protocol(), ec);
  if (!ec) socket.bind(net::tcp::endpoint(source, 0), ec);
  if (ec)
    return fail(local.empty()
                    ? "cannot send from this address here: " + ec.message()
                    : "cannot send from the local address " + local + ": " + ec.message());
  std::string answer;
  boost::system::error_code result = asio::error::timed_out;
  socket.async_connect(dest, [&](boost::system::error_code e) {
    if (e) {
      result = e;
      return;
    }
    asio::async_write(socket, asio::buffer(line), [&](boost::system::error_code e2, size_t) {
      if (e2) {
        result = e2;
        return;
      }
      asio::async_read_until(socket, asio::dynamic_buffer(answer, 1024), '\n',
                             [&](boost::system::error_code e3, size_t) { result = e3; });
    });
  });
  io.run_for(timeout);
  if (result) return fail(result.message());
  answer.erase(answer.find('\n'));
  if (!answer.starts_with("OK"))
    return fail(answer.starts_with("ERR ") ? answer.substr(4) : answer);
  return {};
}

Result<json> send_status(NodeClient& node, const Signer& signer, const market::StatusEvent& e,
                         const std::string& path) {
  auto se = signer.status(e);
  if (!se) return std::unexpected(se.error());
  json body = {{"event",
                {{"dealId", e.deal_id.hex()},
                 {"party", static_cast<int>(e.party)},
                 {"status", static_cast<int>(e.state)},
                 {"at", to_unix_ms(e.at)},
                 {"seq", e.seq}}},
               {"signature", se->signature.to_hex()}};
  if (!path.empty()) body["path"] = path;
  return node.post("/v1/deals/" + e.deal_id.hex() + "/events", body);
}

// ---- StatusReporter ---------------------------------------------------------------------------

StatusReporter::StatusReporter(NodeClient& node, const Signer& signer, market::Party party)
    : node_(node), signer_(signer), party_(party) {}

Result<void> StatusReporter::send(const Hash& deal, market::PartyState state) {
  uint64_t seq;
  std::string path;
  {
    std::lock_guard lock(mu_);
    seq = ++seq_[deal];
    if (auto p = path_.find(deal); p != path_.end()) path = p->second;
  }
  auto r = send_status(node_, signer_, {deal, party_, state, SystemClock().now(), seq}, path);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> StatusReporter::report(const Hash& deal, market::PartyState state) {
  auto r = send(deal, state);
  if (!r && r.error().code() == SdkErrc::bad_sequence) {
    // This program restarted, or another one reports for the same wallet: take the party's
    // last seq from the node and send once more.
    auto d = node_.get("/v1/deals/" + deal.hex());
    if (!d) return std::unexpected(d.error());
    const char* side = party_ == market::Party::provider ? "provider" : "requester";
    uint64_t last = (*d)["parties"][side].value("seq", uint64_t{0});
    {
      std::lock_guard lock(mu_);
      seq_[deal] = last;
    }
    r = send(deal, state);
  }
  std::lock_guard lock(mu_);
  bool live = state == market::PartyState::ready || state == market::PartyState::connected;
  if (r && live) {
    live_[deal] = {state, SystemClock().now()};
  } else if (!live) {
    live_.erase(deal);
    path_.erase(deal);
  }
  return r;
}

std::vector<Hash> StatusReporter::heartbeat(Millis interval) {
  std::vector<std::pair<Hash, market::PartyState>> due;
  Timestamp now = SystemClock().now();
  {
    std::lock_guard lock(mu_);
    for (const auto& [deal, l] : live_)
      if (now - l.sent >= interval) due.emplace_back(deal, l.state);
  }
  std::vector<Hash> closed;
  for (const auto& [deal, state] : due) {
    auto r = report(deal, state);
    if (!r &&
        (r.error().code() == SdkErrc::deal_closed || r.error().code() == SdkErrc::not_found)) {
      std::lock_guard lock(mu_);
      live_.erase(deal);
      seq_.erase(deal);
      path_.erase(deal);
      closed.push_back(deal);
    }
  }
  return closed;
}

size_t StatusReporter::live() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

// ---- NodeLeases -------------------------------------------------------------------------------

NodeLeases::NodeLeases(std::string node_url, const Signer& requester, LeasePolicy policy)
    : node_(NodeClient::connect(node_url).value()),
      requester_(requester),
      policy_(std::move(policy)),
      reporter_(*node_, requester, market::Party::requester),
      nonce_(static_cast<uint64_t>(to_unix_ms(SystemClock().now()))),
      worker_([this] { run(); }) {}

NodeLeases::~NodeLeases() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void NodeLeases::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void NodeLeases::run() {
  const Millis heartbeat = market::heartbeat_interval(market::ProtocolTimeouts{});
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, Millis(1000), [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
    }
    if (job) job();
    reporter_.heartbeat(heartbeat);
  }
}

void NodeLeases::acquire(const net::ProxyFilters& filters,
                         std::function<void(Result<net::Lease>)> done) {
  post([this, filters, done = std::move(done)] { done(lease_for(filters)); });
}

void NodeLeases::locate(const Address& provider,
                        std::function<void(Result<net::ExitAddress>)> done) {
  post([this, provider, done = std::move(done)] {
    auto text = fetch_exit(*node_, provider);
    if (!text) return done(std::unexpected(text.error()));
    auto at = exit_address(*text);
    if (!at)
      return done(fail(SdkErrc::bad_response,
                       "the node's exit endpoint is not IP:PORT or relay:IP:PORT: " + *text));
    done(*at);
  });
}

void StatusReporter::set_path(const Hash& deal, std::string path) {
  std::lock_guard lock(mu_);
  path_[deal] = std::move(path);
}

void NodeLeases::on_lease_event(const Hash& deal, net::LeaseEvent event,
                                const std::string& reason) {
  // The path, from the reason's first words (net/gateway.h: "direct to", "relayed through",
  // "punched to", "stays relayed"): sent to the node with the reports, at once when it changes.
  if (event == net::LeaseEvent::connected || event == net::LeaseEvent::path) {
    const char* path = reason.starts_with("direct")    ? "direct"
                       : reason.starts_with("punched") ? "punched"
                                                       : "relayed";
    reporter_.set_path(deal, path);
  }
  if (event == net::LeaseEvent::path) {
    if (!reason.starts_with("stays"))  // a new path: said at once
      post([this, deal] { (void)reporter_.report(deal, market::PartyState::connected); });
    return;  // the deal goes on, by another path
  }
  market::PartyState state = event == net::LeaseEvent::connected ? market::PartyState::connected
                             : event == net::LeaseEvent::failed  ? market::PartyState::failed
                                                                 : market::PartyState::closed;
  post([this, deal, state] { (void)reporter_.report(deal, state); });
}

NodeLeases::Totals NodeLeases::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

Result<net::Lease> NodeLeases::lease_for(const net::ProxyFilters& f) {
  Request r;
  r.count = 1;
  if (f.country) r.countries = {*f.country};
  if (f.city) r.region = *f.city;
  if (f.region) r.region = *f.region;
  if (f.asn) r.asn = *f.asn;
  if (f.type) r.ip_types = static_cast<uint8_t>(1u << static_cast<unsigned>(*f.type));
  r.protocols = policy_.protocols;
  r.scope = policy_.scope;
  r.exclusive = f.exclusive;
  r.duration = policy_.duration_seconds;
  r.max_price_per_second = policy_.max_price_per_second;
  auto cost = ledger::deal_cost(r, policy_.max_price_per_second);
  if (!cost) return std::unexpected(cost.error());
  r.budget = cost->base();
  U256 committed;
  {
    std::lock_guard lock(mu_);
    committed = totals_.committed;
    ++totals_.requests;
  }
  if (policy_.committed_elsewhere)
    committed = committed.checked_add(policy_.committed_elsewhere()).value_or(U256::max());
  auto after = committed.checked_add(r.budget);
  if (!policy_.budget.is_zero() && (!after || *after > policy_.budget)) {
    return fail(net::NetErrc::no_lease,
                fmt::format("the gateway's budget is spent ({} of {} base units committed)",
                            committed.to_dec(), policy_.budget.to_dec()));
  }
  r.market = policy_.market;
  r.fee_bps = policy_.fee_bps;
  r.expiry = now_s() + 60;
  {
    std::lock_guard lock(mu_);
    r.nonce = ++nonce_;
  }
  auto signed_request = requester_.request(r);
  if (!signed_request) return std::unexpected(signed_request.error());
  auto placed = node_->place_order(*signed_request);
  if (!placed) return std::unexpected(placed.error());
  const json& deals = (*placed)["deals"];
  if (!deals.is_array() || deals.empty()) {
    // Nothing fits now: withdraw the request so it cannot match later, unattended.
    if (auto h = hash_field(*placed, "hash")) {
      if (auto sig = requester_.cancel(*h)) {
        (void)node_->post("/v1/orders/" + h->hex() + "/cancel", json{{"signature", sig->to_hex()}});
      }
    }
    std::lock_guard lock(mu_);
    ++totals_.nothing_fits;
    return fail(net::NetErrc::no_lease, "no offer on the market fits these filters");
  }
  const json& first = deals[0];
  auto id = first.is_string() ? Hash::from_hex(first.get<std::string>()) : hash_field(first, "id");
  if (!id) return std::unexpected(id.error());
  {
    std::lock_guard lock(mu_);
    opened_.push_back(*id);
  }
  auto info = fetch_deal(*node_, *id);
  if (!info) return std::unexpected(info.error());
  auto endpoint_text = fetch_exit(*node_, info->provider);
  if (!endpoint_text) {
    (void)reporter_.report(*id, market::PartyState::failed);
    return fail(net::NetErrc::exit_failed,
                fmt::format("the provider {} announces no exit: {}", info->provider.to_string(),
                            endpoint_text.error().message()));
  }
  auto exit_endpoint = exit_address(*endpoint_text);
  if (!exit_endpoint) {
    (void)reporter_.report(*id, market::PartyState::failed);
    return fail(net::NetErrc::exit_failed,
                fmt::format("exit endpoint {} is not an IP address and port", *endpoint_text));
  }
  net::Lease lease;
  lease.deal_id = *id;
  lease.provider = info->provider;
  lease.exit = exit_endpoint->at;
  lease.relayed = exit_endpoint->relayed;
  lease.ip = info->offer.ip;
  lease.country = info->offer.country;
  lease.region = info->offer.region;
  lease.asn = info->offer.asn;
  lease.type = info->offer.ip_type;
  lease.exclusive = info->exclusive;
  lease.price_per_second = info->price_per_second;
  // What the deal reserved: its price for its whole time (the ledger checked that it fits).
  auto reserved = Amount::from_base(info->price_per_second).mul(U256(info->end - info->start));
  if (!reserved) {
    (void)reporter_.report(*id, market::PartyState::failed);
    return fail(net::NetErrc::exit_failed,
                fmt::format("deal {}: its price for its time overflows", id->hex()));
  }
  lease.max_amount = *reserved;
  lease.start = info->start;
  lease.end = info->end;
  lease.domain_separator = requester_.domain_separator();
  std::lock_guard lock(mu_);
  ++totals_.leases;
  totals_.committed = totals_.committed.checked_add(lease.max_amount.base()).value_or(U256::max());
  return lease;
}

std::vector<Hash> NodeLeases::take_opened() {
  std::lock_guard lock(mu_);
  return std::exchange(opened_, {});
}

// ---- NodeDeals --------------------------------------------------------------------------------

NodeDeals::NodeDeals(std::string node_url, Address provider, Hash domain_separator,
                     std::set<Ip> ips)
    : node_(NodeClient::connect(node_url, ClientOptions{Millis(2'000)}).value()),
      provider_(provider),
      domain_(domain_separator),
      ips_(std::move(ips)) {}

std::optional<net::ExitDeal> NodeDeals::to_exit_deal(const DealInfo& info) const {
  if (info.provider != provider_ || !ips_.contains(info.offer.ip)) return std::nullopt;
  net::ExitDeal d;
  d.id = info.id;
  d.requester = info.requester;
  d.leased_ip = info.offer.ip;
  d.protocols = info.offer.protocols;
  d.request_scope = info.request.scope;
  d.price_per_second = info.price_per_second;
  // What the deal reserved: its price for its whole time. A deal whose cost overflows is none
  // the ledger could have opened: not served.
  auto cost = Amount::from_base(info.price_per_second).mul(U256(info.end - info.start));
  if (!cost) return std::nullopt;
  d.max_amount = *cost;
  d.start = info.start;
  d.end = info.end;
  d.domain_separator = domain_;
  return d;
}

std::optional<net::ExitDeal> NodeDeals::add(const DealInfo& info) const {
  auto d = to_exit_deal(info);
  if (!d) return std::nullopt;
  std::lock_guard lock(mu_);
  deals_[d->id] = *d;
  return d;
}

std::optional<net::ExitDeal> NodeDeals::find(const Hash& deal_id) const {
  Timestamp now = SystemClock().now();
  {
    std::lock_guard lock(mu_);
    if (auto it = deals_.find(deal_id); it != deals_.end()) return it->second;
    if (auto it = misses_.find(deal_id); it != misses_.end() && now - it->second < Millis(1000))
      return std::nullopt;
  }
  // A deal matched a moment ago may reach the exit before the provider's polling sees it.
  auto info = fetch_deal(*node_, deal_id);
  std::lock_guard lock(mu_);
  if (!info) {
    if (misses_.size() > 4096) misses_.clear();
    misses_[deal_id] = now;
    return std::nullopt;
  }
  auto d = to_exit_deal(*info);
  if (d) deals_[deal_id] = *d;
  return d;
}

}  // namespace ipsx::sdk
