#include "node_session.h"

#include "cli_util.h"

namespace ipsx::cli {

NodeSession open_node(const std::string& url) {
  NodeSession s;
  s.node = unwrap(sdk::NodeClient::connect(url), "--node");
  nlohmann::json health = unwrap(s.node->health(), "--node " + url);
  s.market = unwrap(Address::parse(health.value("market", "")), "the node's market address");
  s.fee_bps = health.value("feeBps", uint16_t{0});
  s.chain_id = health.value("chainId", uint64_t{1337});
  if (health.contains("verifyingContract"))
    s.verifying_contract = unwrap(Address::parse(health.value("verifyingContract", "")),
                                  "the node's verifying contract");
  if (health.contains("tokenContract"))
    s.token_contract =
        unwrap(Address::parse(health.value("tokenContract", "")), "the node's token contract");
  for (const nlohmann::json& c : health.value("offerChecks", nlohmann::json::array()))
    if (c == "ownership") s.proves_ownership = true;
  return s;
}

}  // namespace ipsx::cli
