// What the agents (`ipsx gateway`, `ipsx provide`) follow of their deals at the node.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "client/node_client.h"
#include "core/address.h"
#include "core/hash.h"
#include "sdk/dataplane.h"
#include "sdk/settlement.h"

namespace ipsx::cli {

// Every page of GET `route` (which takes &after=), calling `each` for each item of `member`.
// Throws CommandError when a page cannot be read.
void for_each_listed(sdk::NodeClient& node, const std::string& route, const char* member,
                     const std::function<void(const nlohmann::json&)>& each);

// The deals of `me` as `role` ("provider" or "requester") that an agent starting up follows:
// every one not closed on the ledger (it may need a claim, a close or a settle), and those closed
// within the last day (still to rate). A node that cannot list them is reported, not fatal.
std::vector<Hash> deals_to_follow(sdk::NodeClient& node, const Address& me, const char* role);

// New deals of this provider (those not in `known`): fetched, served at the exit, watched by
// the settlement, and reported ready while the market still waits for that. With `sweep`, also
// every deal of this provider not yet settled on the ledger: a deal the protocol closed within a
// second of opening (its requester failed at once) is never seen pending, and unwatched it would
// hold its offer's place until the requester's uncooperative close ran its challenge period.
void serve_new_deals(sdk::NodeClient& node, const Address& me, sdk::NodeDeals& deals,
                     sdk::StatusReporter& reporter, sdk::ProviderSettlement& settlement,
                     std::set<Hash>& known, bool sweep);

}  // namespace ipsx::cli
