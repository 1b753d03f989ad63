// The node's routes (docs/api.md, docs/api/openapi.yaml): health; signed orders placed, listed,
// read and cancelled through the Market; the deals it opened, listed and read, and the parties'
// signed status events; profiles; market data (depth, recent trades); the ledger's accounts,
// blocks, deals and events; Prometheus metrics; the OpenAPI document itself; and GET /v1/events,
// which answers 426 unless the server upgrades it to the WebSocket event stream. Every state
// change carries the signature of the wallet it concerns: the node never holds users' keys.
//
// add_node_routes() also installs the router's guard (per-IP rate limit) and observer (metrics).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "api/event_stream.h"
#include "api/ip_probe.h"
#include "api/rate_limit.h"
#include "api/router.h"
#include "ledger/ledger.h"
#include "market/market.h"

namespace ipsx::geo {
class GeoDatabase;
}

namespace ipsx::api {

class LedgerWatch;

// Checks of an offer before the market sees it (docs/api.md "Offer checks"). A null member turns
// that check off.
struct OfferChecks {
  // The offer's country, ASN and type must agree with what the geo data says of its IP.
  const geo::GeoDatabase* location = nullptr;
  // A probe (ip_probe.h) must have proved that the provider can send from the IP.
  IpProofs* ownership = nullptr;
  std::string probe_endpoint;  // where probe connections go, "host:port"
  // Offers fill only while their provider announces a live exit (POST /v1/exits): the market
  // suspends a provider whose announcement expired, or who offers before announcing, and resumes
  // it when it announces (Market::set_reachable). So no deal is opened that nobody can serve.
  bool exit = false;
};

// What the routes serve. `market` and `ledger` must outlive the router; the routes call the
// market from the server's one thread only (the Market is not thread-safe).
struct NodeContext {
  market::Market& market;
  ledger::Ledger& ledger;
  std::string openapi_yaml;
  // Where the routes publish what changed (orders, cancels, deals, status events); none if null.
  EventStream* events = nullptr;
  OfferChecks checks = {};
  // With `events`: the deals whose status the stream last published, until their close is
  // final, so that changes the clock makes (timeouts, the end) are published too ("deal_status").
  std::map<Hash, market::DealStatus> watched = {};
  // The path each deal's traffic takes (direct, relayed, punched), as its requester's gateway
  // last said with a status report (unsigned: the requester's word). Not kept across restarts:
  // the next heartbeat says it again.
  std::map<Hash, std::string> paths = {};
  // The ledger's last health finding (ledger_watch.h), if the node watches it (`ipsx node` does):
  // health reports it and, while the ledger is unusable, the ledger routes and order placement
  // answer 503 ledger_unavailable. Without, health asks the ledger directly.
  const LedgerWatch* watch = nullptr;
  // On Ethereum: the token contract (health's `tokenContract`), for wallets that check the
  // transactions prepared for them.
  std::optional<Address> token_contract = std::nullopt;
  // Where the node keeps the providers' exit announcements across restarts: a log of the signed
  // announcements, one JSON object a line, read back (each checked again) by add_node_routes()
  // and compacted to the live ones. Empty: kept in memory only.
  std::string exits_file = {};
  // More series for GET /metrics, in the exposition format (the backend's own: on Ethereum the
  // keeper's transactions sent again and lost, and the reorganisations it saw). Empty: none.
  std::function<std::string()> ledger_metrics = {};
  // The program's version, for ipsx_build_info on /metrics.
  std::string version = "unknown";
  // Sees every answer after the metrics do (`ipsx node`'s access log at --log-level debug).
  Router::Observer access_log = {};
  // Set by add_node_routes(): the routes' own work at each periodic tick (suspending the
  // providers whose exit announcement expired).
  std::function<void()> on_periodic_tick = {};
  // Runs work on the server's thread (HttpServer::post). Required when the market opens deals in
  // the background (Market::open_deals_in_background): an order's answer then waits for its
  // fills' outcomes without holding that thread. Empty: orders are placed where their answer is
  // made (tests without a server).
  std::function<void(std::function<void()>)> post = {};
};

// Rate limits (token buckets, rate 0 = none). `per_ip`: every request, by the client's IP.
// `per_address`: signed state changes (orders, cancels, status events) by the wallet that signed
// them, counted once the signature is known to be that wallet's (so nobody can spend another's).
struct NodeLimits {
  RateLimit per_ip{50, 100};
  RateLimit per_address{5, 20};
  size_t max_keys = 100'000;  // buckets kept per limiter
};

// Publishes "deal" events for deals the market opened in the background (its `opened`).
void publish_opened(NodeContext& node, const std::vector<Hash>& deals);

// Adds every route of docs/api/openapi.yaml to `router`, with its guard and observer.
void add_node_routes(Router& router, NodeContext& node, NodeLimits limits = {});

// The market's tick (deadlines, window openings, freed places), publishing the deals it opens.
// The node runs it every second (`periodic`: also publishes the status changes the clock made,
// "deal_status"); the routes run it before each signed change.
void tick(NodeContext& node, bool periodic = false);

// The OpenAPI document checked in as docs/api/openapi.yaml (embedded at build time).
const std::string& openapi_yaml();

}  // namespace ipsx::api
