// The node's routes (docs/api.md, docs/api/openapi.yaml): health, placing signed orders through
// the Market, the market's depth, the ledger's latest block, and the OpenAPI document itself.
#pragma once

#include <string>

#include "api/router.h"
#include "ledger/ledger.h"
#include "market/market.h"

namespace ipsx::api {

// What the routes serve. `market` and `ledger` must outlive the router; the routes call the
// market from the server's one thread only (the Market is not thread-safe).
struct NodeContext {
  market::Market& market;
  ledger::Ledger& ledger;
  std::string openapi_yaml;
};

// Adds GET /v1/health, POST /v1/orders, GET /v1/market/depth, GET /v1/ledger/blocks/latest and
// GET /v1/openapi.yaml to `router`.
void add_node_routes(Router& router, NodeContext& node);

// The OpenAPI document checked in as docs/api/openapi.yaml (embedded at build time).
const std::string& openapi_yaml();

}  // namespace ipsx::api
