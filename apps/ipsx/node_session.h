// A connection to a node and what signatures and orders must name there, from GET /v1/health:
// shared by the commands that talk to a node (`ipsx gateway`, `ipsx provide`, `ipsx vpn`, and the
// client commands of client_commands.cc).
#pragma once

#include "core/clock.h"

#include <memory>
#include <optional>
#include <string>

#include "client/node_client.h"
#include "client/signer.h"
#include "core/address.h"

namespace ipsx::cli {

struct NodeSession {
  std::unique_ptr<sdk::NodeClient> node;
  Address market;  // the market operator orders must name
  uint16_t fee_bps = 0;
  uint64_t chain_id = 0;
  Address verifying_contract;             // the EIP-712 domain's (genesis-derived when embedded)
  std::optional<Address> token_contract;  // on Ethereum: the IPSX token
  bool proves_ownership = false;          // the node wants a probe from an IP before offers for it
};

// Connects to the node at `url` and reads its health. Throws CommandError naming the URL if the
// node does not answer or the answer lacks the market's address. With `wait`, a node that cannot
// be reached (restarting, say) is asked again every second until then, saying so once in the log:
// the agents (ipsx provide, ipsx gateway) resume after a crash even if their node is
// not back yet.
NodeSession open_node(const std::string& url, Millis wait = Millis(0));

// An agent's wallet at its node (`ipsx gateway`, `provide`, `vpn`): the key unlocked (unlock_key),
// the node's health read (open_node, waiting up to `wait`), and the signer for the node's chain,
// whose id must be `chain_id` when one is given (`what` names where it was given).
struct AgentSession {
  crypto::PrivateKey key;
  NodeSession node;
  sdk::Signer signer;
};
AgentSession open_agent(const std::string& node_url, const std::string& keystore,
                        const std::string& address, const std::string& password_file,
                        std::optional<uint64_t> chain_id, const char* what, Millis wait);

}  // namespace ipsx::cli
