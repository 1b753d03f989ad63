// What the node's routes share (node_routes.h is the interface): the routes' state, the parsed
// inputs, and the helpers one resource's file uses from another's. The routes live in one file
// per resource: node_routes.cc (the routing table, input parsing, /metrics), node_orders.cc,
// node_deals.cc, node_exits.cc, node_ledger_routes.cc (profiles, market data, the ledger), and
// node_service.cc (the periodic tick, the deal watcher of the event stream, the exits'
// reachability).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/metrics.h"
#include "api/node_routes.h"
#include "market/exit_directory.h"

namespace ipsx::api::routes {

using json = nlohmann::json;
using market::DealRecord;
using market::OrderId;
using market::OrderInfo;

template <typename T>

using Parsed = std::expected<T, ApiError>;

// Worker threads for the work of a request that needs no state of the node (parsing a body,
// hashing orders, recovering signatures), so that the server's one thread is left the market.
// The destructor drops the jobs not started and joins the threads; called from a job (whose
// captures held the last reference to the owner), it lets that thread end by itself.
class Workers {
 public:
  explicit Workers(size_t threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  // Queues `job` behind the others, or before them (`first`: an answer whose client waits,
  // not new work). False if the workers are stopping: the job is dropped (a caller whose job
  // holds a reply runs it itself then, so that no client waits for ever).
  [[nodiscard]] bool run(std::function<void()> job, bool first = false);
  size_t size() const { return threads_.size(); }

 private:
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
    bool stopping = false;
  };
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::vector<std::thread> threads_;
};

// One POST /v1/orders: its orders as the workers parsed and verified them, waiting for the server's
// thread to place them with the others verified meanwhile (place_verified: one journal sync for
// the group), then its answer.
struct OrderTicket {
  bool batch = false;  // {"orders": [...]}: answered with one result per order
  std::vector<Parsed<market::Placement>> orders;
  std::optional<ApiError> refused;       // the body as a whole
  std::optional<HttpResponse> response;  // set once placed
  // With NodeContext::post: where the answer goes once every fill the orders caused has its
  // outcome (answer()).
  HttpResponse::Reply reply;
};

// What the routes share besides the node: the metrics and the limiters.
struct NodeState {
  NodeContext& node;
  market::ExitDirectory exits;     // providers re-announce (market/exit_directory.h)
  std::FILE* exits_log = nullptr;  // node.exits_file, open for appending (or none)
  // With checks.exit: the providers the market holds reachable thanks to an announcement, and
  // when that announcement expires (then, unless renewed, the provider is suspended).
  std::map<Address, uint64_t> reachable_until;
  Metrics metrics;
  RateLimiter per_ip;  // taken by the router's guard and, for batches, by the workers
  std::mutex per_ip_mu;
  RateLimiter per_address;
  std::atomic<uint64_t> limited_ip = 0;  // the workers count batches' refusals too
  uint64_t limited_address = 0;
  Hash domain_separator;  // the ledger's, for the workers
  // Orders verified by the workers, not yet placed (guarded by verified_mu).
  std::mutex verified_mu;
  std::vector<std::shared_ptr<OrderTicket>> verified;
  Workers workers;  // last: stopped before the rest goes

  NodeState(NodeContext& n, const NodeLimits& l)
      : node(n),
        exits(n.ledger.domain().separator()),
        per_ip(l.per_ip, l.max_keys),
        per_address(l.per_address, l.max_keys),
        domain_separator(n.ledger.domain().separator()),
        workers(std::max<unsigned>(1, std::thread::hardware_concurrency())) {}
  ~NodeState() {
    if (exits_log) std::fclose(exits_log);
  }
  NodeState(const NodeState&) = delete;
  NodeState& operator=(const NodeState&) = delete;
};

using State = std::shared_ptr<NodeState>;

// The optional `country` and `type` filters of a query.
struct PlaceFilter {
  std::optional<CountryCode> country;
  std::optional<IpType> type;
};

// ---- node_routes.cc: parsing the inputs and the metrics

Parsed<uint64_t> parse_uint(const std::string& text, const std::string& field);

// `limit` from the query: 1..max, `fallback` when absent.
Parsed<size_t> parse_limit(const std::map<std::string, std::string>& q, size_t fallback,
                           size_t max);

Parsed<PlaceFilter> parse_place_filter(const std::map<std::string, std::string>& q);

Parsed<Address> parse_address(const std::string& text, const std::string& field);

Parsed<Hash> parse_hash(const std::string& text, const std::string& field);

Parsed<crypto::Signature> parse_signature(const json& body);

// A JSON unsigned integer (not a float, not negative, not a string).
Parsed<uint64_t> uint_field(const json& obj, const std::string& name, const std::string& path);

// Which backend keeps the ledger: "embedded" (the node's own) or "ethereum" (contracts).
std::string ledger_kind(NodeContext& node);

bool on_ethereum(NodeContext& node);

// The signer of `struct_hash` under the ledger's domain, if the signature recovers.
std::optional<Address> signer_of(NodeContext& node, const Hash& struct_hash,
                                 const crypto::Signature& sig);

// The per-address limit for a signed state change, charged only when `signer` is `owner` (a
// change someone else signed is refused by the market anyway, and must not spend the owner's
// tokens).
std::optional<HttpResponse> limit_address(NodeState& s, const std::optional<Address>& signer,
                                          const Address& owner);
// The same as an error and the seconds to wait (limit_address answers them as a response).
std::optional<std::pair<ApiError, long>> address_limited(NodeState& s,
                                                         const std::optional<Address>& signer,
                                                         const Address& owner);

// ---- node_service.cc: the node service: the periodic tick, the deals it watches for the event
// stream, the exits' reachability

int64_t now_ms();

void publish(NodeContext& node, const std::string& type, json data);

// The same, with the event's data made by `make()` only if someone subscribed (the sequence
// counts the event either way).
template <class F>
void publish_with(NodeContext& node, const std::string& type, F&& make) {
  if (!node.events) return;
  publish(node, type, node.events->subscribers() ? json(make()) : json());
}

// Publishes a "deal" event per deal opened, and watches its status from then on.
void publish_deals(NodeContext& node, const std::vector<Hash>& deals);

uint64_t now_s();

// Reads node.exits_file back into the directory (each announcement checked again; the expired
// and superseded are dropped), rewrites it with the live ones and opens it for appending. A line
// that does not parse is skipped: the file is the node's own, and soft state.
void load_exits(NodeState& s);

// Tells the market whether `provider`'s exit can be reached (checks.exit), publishing the deals a
// provider coming back opens. A failure (the journal) is logged; the next tick or announcement
// tries again.
void set_reachable(NodeState& s, const Address& provider, bool reachable);

// A live announcement of `provider` was accepted (or found at start): its offers may fill.
void exit_announced(NodeState& s, const Address& provider, uint64_t expiry);

// Each periodic tick: the providers whose announcement expired unrenewed fill nothing more.
void check_exit_expiries(NodeState& s);

// At start: the market's view of each provider agrees with the announcements the node holds
// (those of its last run, reloaded). Without the check, no provider stays suspended.
void sync_reachability(NodeState& s);

// ---- node_orders.cc: orders (POST /v1/orders, GET /v1/orders..., cancels)

json deal_json(const ledger::DealView& v);

HttpResponse place_order(NodeState& s, const HttpRequest& req);

HttpResponse list_orders(NodeContext& node, const HttpRequest& req);

HttpResponse get_order(NodeContext& node, const HttpRequest& req);

// Body: {"cancel": {"orderHash": "0x.."}, "signature": "0x.."} as `ipsx order cancel` writes it,
// signed over OrderCancel(bytes32 orderHash); "cancel" may be left out (the path names the
// order), but if present must agree. A "nonce" is refused: it was part of the old cancel, which
// was the ledger's CancelOrder transaction at nonce 0, and a signature over that is no cancel.
HttpResponse cancel_order(NodeState& s, const HttpRequest& req);

// ---- node_deals.cc: deals (GET /v1/deals..., status events)

json status_json(const market::DealStatus& st);

json ledger_deal_json(const ledger::DealView& v);

HttpResponse list_deals(NodeContext& node, const HttpRequest& req);

HttpResponse get_deal(NodeContext& node, const HttpRequest& req);

// Body: {"event": {"dealId", "party", "status", "at", "seq"}, "signature"} as `ipsx order event`
// writes it (party and status as numbers, or names).
HttpResponse post_event(NodeState& s, const HttpRequest& req);

// ---- node_exits.cc: exit announcements (POST /v1/exits, GET /v1/exits/{provider})

json exit_json(const market::SignedExitAnnouncement& a);

// {"exit": {"provider", "endpoint", "expiry", "seq"}, "signature"}: a provider's signed
// announcement of where its exit listens (the signature is checked by ExitDirectory::announce).
Parsed<market::SignedExitAnnouncement> parse_announcement(const json& j);

// Body: {"exit": {"provider", "endpoint", "expiry", "seq"}, "signature"}: a provider's signed
// announcement of where its exit listens.
HttpResponse announce_exit(NodeState& s, const HttpRequest& req);

HttpResponse get_exit(NodeState& s, const HttpRequest& req);

// ---- node_ledger_routes.cc: profiles, market data, the ledger's routes and transactions, offer
// probes

HttpResponse get_profile(NodeContext& node, const HttpRequest& req);

HttpResponse depth(NodeContext& node, const HttpRequest& req);
// GET /v1/market/countries: live offers (by IP type, with the cheapest price) and requests per
// country, for the market's map.
HttpResponse countries(NodeContext& node, const HttpRequest& req);

std::map<std::string, uint64_t> deals_by_phase(NodeContext& node);

// Recent deals as market data: prices by country and IP type, newest first, and the counts.
HttpResponse trades(NodeContext& node, const HttpRequest& req);

HttpResponse latest_block(NodeContext& node);

HttpResponse block_by_number(NodeContext& node, const HttpRequest& req);

HttpResponse account(NodeContext& node, const HttpRequest& req);

// GET /v1/ledger/transactions/{id}: one transaction by its id, with its block's number.
HttpResponse transaction_by_id(NodeContext& node, const HttpRequest& req);

HttpResponse account_transactions(NodeContext& node, const HttpRequest& req);

HttpResponse account_events(NodeContext& node, const HttpRequest& req);

HttpResponse ledger_deal(NodeContext& node, const HttpRequest& req);

HttpResponse ledger_deal_events(NodeContext& node, const HttpRequest& req);

HttpResponse supply(NodeContext& node);

// The crowd sale: its terms, and how far it got. Amounts in IPSX (`sold`, `pool`, `unclaimed`)
// or in the native coin (`hardCap`, `softCap`, `raised`, `refunded`); `rate` in IPSX base units
// per native base unit; `state` upcoming | open | ended | finalized | failed.
HttpResponse sale(NodeContext& node);

// POST /v1/ledger/transactions/prepare: the transaction the sender must sign, with its next nonce
// unless one is given. Nothing changes.
HttpResponse prepare_tx(NodeState& s, const HttpRequest& req);

// POST /v1/ledger/transactions: a signed transaction, applied by the ledger; 201 with its receipt.
// On the embedded ledger the digest is recomputed from the fields (a given one must agree); on
// Ethereum it names the transaction prepare built.
HttpResponse send_tx(NodeState& s, const HttpRequest& req);

// POST /v1/probes {"provider", "ip"}: a challenge to present from that IP at the probe listener.
HttpResponse issue_probe(NodeState& s, const HttpRequest& req);

json offer_checks_json(const OfferChecks& c);

}  // namespace ipsx::api::routes
