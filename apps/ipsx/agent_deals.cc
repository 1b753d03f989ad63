#include "agent_deals.h"
#include "log.h"

#include <fmt/format.h>

#include <iostream>

#include "cli_util.h"
#include "core/clock.h"
#include "market/deal_protocol.h"
#include "net/endpoint.h"

namespace ipsx::cli {

using json = nlohmann::json;

void for_each_listed(sdk::NodeClient& node, const std::string& route, const char* member,
                     const std::function<void(const json&)>& each) {
  std::string after;
  for (;;) {
    auto page = node.get(route + (after.empty() ? "" : "&after=" + after));
    if (!page) throw CommandError(fmt::format("reading {}: {}", route, page.error().message()));
    for (const json& item : page->value(member, json::array())) each(item);
    const json& next = page->value("next", json());
    if (!next.is_string()) return;
    after = next.get<std::string>();
  }
}

std::vector<Hash> deals_to_follow(sdk::NodeClient& node, const Address& me, const char* role) {
  std::vector<Hash> out;
  const uint64_t recent_ms = static_cast<uint64_t>(to_unix_ms(SystemClock().now())) - 86'400'000;
  try {
    for_each_listed(node, "/v1/deals?party=" + me.to_string() + "&limit=200", "deals",
                    [&](const json& d) {
                      auto id = Hash::from_hex(d.value("id", ""));
                      if (!id || d.value(role, "") != me.to_string()) return;
                      const json& st = d.value("status", json::object());
                      if (d.value("ledger", json::object()).value("state", "") == "closed" &&
                          st.value("sinceMs", uint64_t{0}) < recent_ms)
                        return;
                      out.push_back(*id);
                    });
  } catch (const CommandError& e) {
    logs::warning(e.what());
  }
  return out;
}

namespace {

// One deal not seen before: served at the exit, watched, and reported ready if still pending.
void serve_deal(sdk::NodeClient& node, const Hash& id, const std::string& phase,
                sdk::NodeDeals& deals, sdk::StatusReporter& reporter,
                sdk::ProviderSettlement& settlement, std::set<Hash>& known) {
  auto info = sdk::fetch_deal(node, id);
  if (!info || !deals.add(*info)) return;
  known.insert(id);
  settlement.watch(id);
  std::string what;
  if (phase == "pending") {
    auto r = reporter.report(id, market::PartyState::ready);
    what = r ? "ready" : "could not report ready: " + r.error().message();
  } else {
    what = "already " + phase +
           " at the market before this provider saw it; following it to "
           "its settlement";
  }
  logs::info(fmt::format("deal {} for {} with {}: {}", id.hex(), format_ip(info->offer.ip),
                         info->requester.to_string(), what),
             {{"ip", format_ip(info->offer.ip)}});
}

}  // namespace

void serve_new_deals(sdk::NodeClient& node, const Address& me, sdk::NodeDeals& deals,
                     sdk::StatusReporter& reporter, sdk::ProviderSettlement& settlement,
                     std::set<Hash>& known, bool sweep) {
  const std::string route = "/v1/deals?party=" + me.to_string() +
                            (sweep ? "&settled=false&limit=200" : "&status=pending&limit=200");
  try {
    for_each_listed(node, route, "deals", [&](const json& d) {
      auto id = Hash::from_hex(d.value("id", ""));
      if (!id || known.contains(*id) || d.value("provider", "") != me.to_string()) return;
      const std::string phase = d.value("status", json::object()).value("phase", "");
      serve_deal(node, *id, phase, deals, reporter, settlement, known);
    });
  } catch (const CommandError& e) {
    logs::warning(std::string("listing new deals: ") + e.what());
  }
}

}  // namespace ipsx::cli
