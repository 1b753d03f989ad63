#include "node_answers.h"

#include <fmt/format.h>

#include <iostream>

#include "core/amount.h"
#include "vocab/orders.h"

namespace ipsx::cli {

using json = nlohmann::json;

std::string text(const json& j, const std::string& pointer) {
  json::json_pointer p(pointer);
  if (!j.contains(p) || j.at(p).is_null()) return "";
  const json& v = j.at(p);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

namespace {

// A count of base units (as the API writes prices) as IPSX.
std::string ipsx(const json& j, const std::string& pointer) {
  auto a = Amount::parse_base(text(j, pointer));
  return a ? a->to_string() : text(j, pointer);
}

// The array at `key`; empty if absent.
const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : empty;
}

// One deal of GET /v1/deals as a line.
void deal_line(const json& d) {
  std::cout << fmt::format("{}  {:<7}  provider {}  requester {}  {} IPSX/s\n", text(d, "/id"),
                           text(d, "/status/phase"), text(d, "/provider"), text(d, "/requester"),
                           ipsx(d, "/pricePerSecond"));
}

// One line per price level of the depth.
void levels_lines(const char* side, const json& levels) {
  for (const json& l : levels) {
    std::cout << fmt::format("  {:<22} {} IPSX/s: {} IP(s) in {} order(s)\n", side,
                             ipsx(l, "/pricePerSecond"), text(l, "/ips"), text(l, "/orders"));
  }
}

}  // namespace

void show_account(const json& a) {
  std::cout << fmt::format(
      "{}: {} IPSX; wallet {} IPSX ({} reserved); native {}; nonce {}; rated {} times\n",
      text(a, "/address"), text(a, "/balance"), text(a, "/wallet/balance"),
      text(a, "/wallet/reserved"), text(a, "/nativeBalance"), text(a, "/nonce"),
      text(a, "/rating/count"));
}

void show_sale(const json& s) {
  std::cout << fmt::format(
      "sale: {}; {} raised of a {} cap, {} IPSX sold, {} left in the pool, {} unclaimed\n",
      text(s, "/state"), text(s, "/raised"), text(s, "/hardCap"), text(s, "/sold"),
      text(s, "/pool"), text(s, "/unclaimed"));
  if (text(s, "/softCap") != "0") {
    std::cout << fmt::format(
        "  soft cap {}: {}; {} refunded\n", text(s, "/softCap"),
        text(s, "/state") == "failed"
            ? "not reached, buyers take their coin back with `ipsx sale refund`"
            : "below it at the end, the sale fails and refunds",
        text(s, "/refunded"));
  }
  std::cout << fmt::format("  rate {} IPSX base units per native base unit; treasury {}\n",
                           text(s, "/rate"), text(s, "/treasury"));
  std::cout << fmt::format("  from {} to {} (unix ms)\n", text(s, "/startMs"), text(s, "/endMs"));
}

void show_orders(const json& answer) {
  for (const json& o : list(answer, "orders")) {
    std::cout << fmt::format("{:>4}  {:<7}  {:<7}  {}  owner {}\n", text(o, "/id"),
                             text(o, "/kind"), text(o, "/state"), text(o, "/hash"),
                             text(o, "/owner"));
  }
  if (list(answer, "orders").empty()) std::cout << "no orders\n";
}

void show_deals(const json& answer) {
  for (const json& d : list(answer, "deals")) deal_line(d);
  if (list(answer, "deals").empty()) std::cout << "no deals\n";
}

void show_deal(const json& d) {
  deal_line(d);
  std::string reason = text(d, "/status/reason");
  std::cout << fmt::format("  status {}{} since {} ms\n", text(d, "/status/phase"),
                           reason.empty() ? "" : " (" + reason + ")", text(d, "/status/sinceMs"));
  for (const char* side : {"provider", "requester"}) {
    std::string at = fmt::format("/parties/{}/", side);
    std::cout << fmt::format("  {} reported {} (seq {})\n", side, text(d, at + "state"),
                             text(d, at + "seq"));
  }
  const json protocols = d.value(json::json_pointer("/request/protocols"), json());
  if (protocols.is_number_unsigned() && (protocols.get<uint32_t>() & protocol::vpn))
    std::cout << "  service: VPN (a WireGuard tunnel out of the leased IP; docs/vpn.md)\n";
  if (d.contains("path"))
    std::cout << fmt::format("  path: {} (as the requester's gateway reports it)\n",
                             text(d, "/path"));
  if (d.contains("agent")) {
    const bool vpn = d.contains(json::json_pointer("/agent/vpn"));
    std::cout << fmt::format(
        "  traffic (the requester's agent): {} bytes up, {} down; paid {} IPSX{}\n",
        text(d, "/agent/bytesUp"), text(d, "/agent/bytesDown"), text(d, "/agent/paid"),
        vpn ? ", tunnel address " + text(d, "/agent/vpn/address") : "");
  }
  if (d.contains("ledger")) {
    std::cout << fmt::format("  ledger: {}, deposit {} IPSX, claimed {} IPSX, reason {}\n",
                             text(d, "/ledger/state"), text(d, "/ledger/deposit"),
                             text(d, "/ledger/claimed"), text(d, "/ledger/reason"));
  }
}

void show_depth(const json& d) {
  std::cout << fmt::format("{}: {} live offers, {} resting requests, {} open deals\n",
                           text(d, "/country"), text(d, "/liveOffers"), text(d, "/restingRequests"),
                           text(d, "/openDeals"));
  const json offers = d.value("offers", json::object());
  for (const auto& [type, levels] : offers.items())
    levels_lines(("offers " + type).c_str(), levels);
  levels_lines("requests", list(d, "requests"));
}

void show_trades(const json& t) {
  for (const json& x : list(t, "trades")) {
    std::cout << fmt::format("{}  {} {:<11}  {} IPSX/s  at {} ms\n", text(x, "/deal"),
                             text(x, "/country"), text(x, "/ipType"), ipsx(x, "/pricePerSecond"),
                             text(x, "/atMs"));
  }
  std::cout << fmt::format("{} trade(s); {} open deal(s)\n", text(t, "/summary/count"),
                           text(t, "/openDeals"));
}

void show_receipt(const json& r) {
  std::cout << fmt::format("{} {} in block {}\n", text(r, "/op"), text(r, "/id"),
                           text(r, "/block"));
  // On Ethereum: the chain's own hash, for `cast tx`, `cast receipt` and explorers.
  if (r.contains("chainTx")) std::cout << "  transaction " << text(r, "/chainTx") << "\n";
  for (const json& e : list(r, "events")) {
    std::string fields;
    for (const json& f : list(e, "fields"))
      fields += fmt::format(" {}={}", text(f, "/0"), text(f, "/1"));
    std::cout << "  " << text(e, "/kind") << fields << "\n";
  }
}

void show_placed(const json& p) {
  std::cout << fmt::format("{} {} placed: {}\n", text(p, "/kind"), text(p, "/id"),
                           text(p, "/hash"));
  for (const json& d : list(p, "deals")) {
    std::cout << fmt::format(
        "  deal {} opened: provider {} requester {} at {} IPSX/s for {} s, deposit {} IPSX\n",
        text(d, "/id"), text(d, "/provider"), text(d, "/requester"), ipsx(d, "/pricePerSecond"),
        text(d, "/duration"), text(d, "/deposit"));
  }
  for (const json& r : list(p, "refused")) {
    std::cout << fmt::format("  fill of offer {} for request {} refused: {}\n", text(r, "/offer"),
                             text(r, "/request"), text(r, "/message"));
  }
}

}  // namespace ipsx::cli
