#include "node_session.h"
#include "log.h"

#include "cli_util.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "http/http_client.h"

namespace ipsx::cli {

NodeSession open_node(const std::string& url, Millis wait) {
  NodeSession s;
  s.node = unwrap(sdk::NodeClient::connect(url), "--node");
  auto answer = s.node->health();
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (bool told = false; !answer && std::chrono::steady_clock::now() < deadline;) {
    const auto& code = answer.error().code();
    if (code != http::HttpErrc::unavailable && code != http::HttpErrc::timeout) break;
    if (!told)
      logs::warning(fmt::format("the node at {} does not answer ({}); retrying for up to {} s", url,
                                answer.error().message(), wait.count() / 1000));
    told = true;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    answer = s.node->health();
  }
  nlohmann::json health = unwrap(std::move(answer), "--node " + url);
  s.market = unwrap(Address::parse(health.value("market", "")), "the node's market address");
  s.fee_bps = health.value("feeBps", uint16_t{0});
  if (!health.contains("chainId") || !health["chainId"].is_number_unsigned() ||
      !health.contains("verifyingContract"))
    throw CommandError("--node " + url +
                       ": its health names no chainId and verifyingContract (an older node?)");
  s.chain_id = health["chainId"].get<uint64_t>();
  s.verifying_contract = unwrap(Address::parse(health.value("verifyingContract", "")),
                                "the node's verifying contract");
  if (health.contains("tokenContract"))
    s.token_contract =
        unwrap(Address::parse(health.value("tokenContract", "")), "the node's token contract");
  for (const nlohmann::json& c : health.value("offerChecks", nlohmann::json::array()))
    if (c == "ownership") s.proves_ownership = true;
  return s;
}

AgentSession open_agent(const std::string& node_url, const std::string& keystore,
                        const std::string& address, const std::string& password_file,
                        std::optional<uint64_t> chain_id, const char* what, Millis wait) {
  crypto::PrivateKey key = unlock_key(keystore, address, password_file);
  NodeSession s = open_node(node_url, wait);
  sdk::Signer signer = sdk::Signer::for_chain(key.clone(), agree(chain_id, s.chain_id, what),
                                              s.verifying_contract, s.token_contract);
  return AgentSession{std::move(key), std::move(s), std::move(signer)};
}

}  // namespace ipsx::cli
