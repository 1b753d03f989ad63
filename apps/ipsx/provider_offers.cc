#include "provider_offers.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <ctime>

#include <map>
#include <nlohmann/json.hpp>

#include "agent_deals.h"
#include "cli_util.h"
#include "core/clock.h"
#include "ledger/orders.h"
#include "log.h"
#include "sdk/dataplane.h"
#include "sdk/settlement.h"
#include "vocab/ip.h"

namespace ipsx::cli {

namespace {

using json = nlohmann::json;

uint64_t now_s() {
  return static_cast<uint64_t>(to_unix_seconds(SystemClock().now()));
}

}  // namespace

Result<std::optional<DailyHours>> parse_hours(std::string_view text) {
  if (text.empty()) return std::optional<DailyHours>();
  auto bad = [&] {
    return std::unexpected(Error(CoreErrc::invalid_argument,
                                 "'" + std::string(text) +
                                     "': want HH:MM-HH:MM in UTC (as 22:00-06:00), start and "
                                     "end differing"));
  };
  auto minutes = [](std::string_view t) -> std::optional<uint32_t> {
    if (t.size() != 5 || t[2] != ':' || !std::isdigit(static_cast<unsigned char>(t[0])) ||
        !std::isdigit(static_cast<unsigned char>(t[1])) ||
        !std::isdigit(static_cast<unsigned char>(t[3])) ||
        !std::isdigit(static_cast<unsigned char>(t[4])))
      return std::nullopt;
    uint32_t h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0)) return std::nullopt;
    return h * 60 + m;
  };
  if (text.size() != 11 || text[5] != '-') return bad();
  auto a = minutes(text.substr(0, 5)), b = minutes(text.substr(6, 5));
  if (!a || !b || *a % 1440 == *b % 1440) return bad();
  return std::optional<DailyHours>(DailyHours{*a % 1440, *b % 1440});
}

std::pair<uint64_t, uint64_t> next_window(uint64_t t, const DailyHours& h) {
  const uint64_t day = t / 86'400 * 86'400;
  for (uint64_t d = day >= 86'400 ? day - 86'400 : 0;; d += 86'400) {
    const uint64_t start = d + h.start * 60;
    const uint64_t end = h.end > h.start ? d + h.end * 60 : d + 86'400 + h.end * 60;
    if (end > t) return {start, end};
  }
}

EarlierDeals withdraw_earlier_offers(sdk::NodeClient& node, const sdk::Signer& signer,
                                     const std::vector<Offer>& offers) {
  EarlierDeals out{std::vector<uint64_t>(offers.size(), 0),
                   std::vector<std::set<Hash>>(offers.size())};
  std::vector<uint64_t>& busy_until = out.busy_until;
  std::map<std::string, size_t> by_ip;
  for (size_t i = 0; i < offers.size(); ++i) by_ip[format_ip(offers[i].ip)] = i;
  const std::string me = signer.address().to_string();
  std::map<uint64_t, size_t> busy;  // book id -> the IP's index
  for_each_listed(node, "/v1/orders?owner=" + me + "&side=offer&limit=500", "orders",
                  [&](const json& o) {
                    const std::string state = o.value("state", "closed");
                    auto ip = by_ip.find(o.value("offer", json::object()).value("ip", ""));
                    if (state == "closed" || ip == by_ip.end()) return;
                    auto hash = unwrap(Hash::from_hex(o.value("hash", "")), "an order's hash");
                    const std::string what = "withdrawing the earlier offer " + hash.hex();
                    if (state == "resting") {  // the market's signed cancel takes it off the book
                      json body = {{"cancel", {{"orderHash", hash.hex()}}},
                                   {"signature", unwrap(signer.cancel(hash), "cancel").to_hex()}};
                      unwrap(node.post("/v1/orders/" + hash.hex() + "/cancel", body), what);
                    } else {  // filled: cancelled on the ledger, it can never open a deal again
                      auto r = sdk::send_transaction(node, signer, ledger::CancelOrder{hash});
                      // The ledger refuses a cancelOrder only when the order is cancelled
                      // already (an earlier run did it and died before the market saw it).
                      if (!r && r.error().code() != make_error_code(sdk::SdkErrc::invalid_order))
                        unwrap(std::move(r), what);
                    }
                    if (state == "busy") busy[o.value("id", uint64_t{0})] = ip->second;
                    logs::info(fmt::format("withdrew the earlier offer {} for {}",
                                           o.value("id", uint64_t{0}), ip->first),
                               {{"order", hash.hex()}, {"ip", ip->first}});
                  });
  if (busy.empty()) return out;
  for_each_listed(node, "/v1/deals?party=" + me + "&limit=200", "deals", [&](const json& d) {
    auto it = busy.find(d.value("offer", uint64_t{0}));
    // A deal closed on the ledger holds the IP no longer, whatever its protocol status says.
    if (it == busy.end() || d["status"].value("phase", "") == "closed" ||
        d.value("ledger", json::object()).value("state", "") == "closed")
      return;
    uint64_t end_s = (d["times"].value("endMs", uint64_t{0}) + 999) / 1000;
    busy_until[it->second] = std::max(busy_until[it->second], end_s);
    if (auto id = Hash::from_hex(d.value("id", ""))) out.deals[it->second].insert(*id);
  });
  return out;
}

ProviderOffers::ProviderOffers(NodeSession& s, const sdk::Signer& signer, ProvideConfig& c,
                               uint16_t fee_bps)
    : s_(s),
      signer_(signer),
      c_(c),
      fee_bps_(fee_bps),
      nonce_(static_cast<uint64_t>(to_unix_ms(SystemClock().now()))),
      until_(c.offers.size(), 0),
      last_offer_(c.offers.size()),
      last_from_(c.offers.size(), 0),
      prev_offer_(c.offers.size()),
      prev_from_(c.offers.size(), 0),
      last_base_(c.offers.size(), 0),
      prev_base_(c.offers.size(), 0),
      held_by_(c.offers.size()),
      paused_(c.offers.size(), false),
      hours_(c.offers.size()),
      hours_text_(c.offers.size()),
      checked_(c.offers.size()),
      renew_ahead_(std::min<uint64_t>(600, c.offer_seconds / 2)) {
  for (size_t i = 0; i < c.hours.size() && i < c.offers.size(); ++i) {
    hours_text_[i] = c.hours[i];
    hours_[i] = parse_hours(c.hours[i]).value_or(std::nullopt);  // checked when it was read
  }
}

void ProviderOffers::resume(EarlierDeals earlier) {
  until_ = std::move(earlier.busy_until);
  held_by_ = std::move(earlier.deals);
}

void ProviderOffers::place(bool first, std::optional<size_t> only, const char* why) {
  for (size_t i = 0; i < c_.offers.size(); ++i) {
    if (only && i != *only) continue;
    if (paused_[i] || (!first && !only && now_s() + renew_ahead_ < until_[i])) continue;
    Offer offer = c_.offers[i];
    const uint64_t base = until_[i];  // where this offer's window may start, hours aside
    const std::string ip = format_ip(offer.ip);
    if (s_.proves_ownership) {
      if (auto p =
              sdk::prove_ip(*s_.node, signer_.address(), ip, Millis(5'000), c_.local_addresses[i]);
          !p) {
        if (first) throw CommandError(p.error().message());
        logs::warning(p.error().message(), {{"ip", ip}});
        checked_[i] = p.error().message();
        continue;
      }
      if (first)
        logs::info(fmt::format("proved to the node that it sends from {}", ip), {{"ip", ip}});
    }
    offer.market = s_.market;
    offer.fee_bps = fee_bps_;
    offer.available_from = until_[i];  // 0 at first, unless earlier offers' deals still run
    offer.available_until = std::max(now_s(), until_[i]) + c_.offer_seconds;
    if (hours_[i]) {  // only within the IP's daily hours: the window now, or the next one
      const uint64_t t = std::max(now_s(), until_[i]);
      auto [start, end] = next_window(t, *hours_[i]);
      if (start > t) offer.available_from = start;
      offer.available_until = std::min(end, std::max(t, start) + c_.offer_seconds);
    }
    offer.expiry = offer.available_until;
    offer.nonce = ++nonce_;
    auto placed = s_.node->place_order(unwrap(signer_.offer(offer), "offer"));
    if (!placed) {
      checked_[i] = "the node refused the offer: " + placed.error().message();
      if (first) unwrap(placed, "placing the offer of " + ip);
      logs::warning(fmt::format("placing the offer of {} again: {}", ip, placed.error().message()),
                    {{"ip", ip}});
      continue;
    }
    until_[i] = offer.available_until;
    checked_[i] = fmt::format("{}{} at {}", s_.proves_ownership ? "ownership proved, " : "",
                              "location and offer accepted",
                              fmt::format("{:%H:%M:%S} UTC", fmt::gmtime(std::time(nullptr))));
    // The offer it follows stays on sale until its own end (the successor is placed ahead).
    prev_offer_[i] = last_offer_[i];
    prev_from_[i] = last_from_[i];
    prev_base_[i] = last_base_[i];
    last_base_[i] = base;
    // (the hash the node answers: the signer fills the offer's provider in)
    if (auto h = Hash::from_hex(placed->value("hash", ""))) last_offer_[i] = *h;
    last_from_[i] = offer.available_from;
    logs::info(fmt::format("offer {} for {} ({}) placed{}", placed->value("id", json()).dump(), ip,
                           std::string(offer.country.begin(), offer.country.end()),
                           first  ? ""
                           : only ? why
                                  : ", to follow the last one when it expires"),
               {{"order", placed->value("hash", "")}, {"ip", ip}});
  }
}

void ProviderOffers::ended(const Hash& deal) {
  for (size_t i = 0; i < held_by_.size(); ++i)
    if (held_by_[i].erase(deal) && held_by_[i].empty()) freed_.insert(i);
}

void ProviderOffers::place_freed() {
  for (size_t i : freed_) again(i);
  freed_.clear();
}

void ProviderOffers::again(size_t i) {
  if (!last_offer_[i] || last_from_[i] <= now_s()) return;
  auto w = withdraw_unsold(*last_offer_[i]);
  if (!w || !*w) {  // sold meanwhile: it stays, and so does its window
    if (!w)
      logs::warning(fmt::format("withdrawing the waiting offer {}: {}", last_offer_[i]->hex(),
                                w.error().message()),
                    {{"order", last_offer_[i]->hex()}});
    return;
  }
  last_offer_[i].reset();
  until_[i] = 0;
  place(false, i, ", for sale at once: the earlier deals holding it are closed");
}

Result<bool> ProviderOffers::withdraw_unsold(const Hash& h) {
  auto sold = [&]() -> Result<std::optional<bool>> {  // nullopt: not on the book any more
    auto order = s_.node->get("/v1/orders/" + h.hex());
    if (!order) return std::unexpected(order.error());
    if (!order->value("deals", json::array()).empty()) return std::optional<bool>(true);
    if (order->value("state", "") != "resting") return std::optional<bool>();
    return std::optional<bool>(false);
  };
  auto before = sold();
  if (!before) return std::unexpected(before.error());
  if (!*before || **before) return false;  // gone (expired, cancelled), or sold
  json body = {{"cancel", {{"orderHash", h.hex()}}},
               {"signature", unwrap(signer_.cancel(h), "cancel").to_hex()}};
  if (auto r = s_.node->post("/v1/orders/" + h.hex() + "/cancel", body); !r)
    return std::unexpected(r.error());
  // A deal may have opened between the look and the cancel: its window is then held.
  auto after = sold();
  if (!after) return std::unexpected(after.error());
  logs::info(fmt::format("withdrew the offer {}", h.hex()), {{"order", h.hex()}});
  return !(*after && **after);
}

Result<std::string> ProviderOffers::change(size_t i, const OfferChange& ch) {
  Offer& o = c_.offers[i];
  const std::string ip = format_ip(o.ip);
  std::optional<std::optional<DailyHours>> hours;
  if (ch.hours) {
    auto h = parse_hours(*ch.hours);
    if (!h) return std::unexpected(h.error());
    hours = *h;
  }
  const bool pausing = ch.paused.value_or(paused_[i]);
  // Both offers on sale (the current one and, near its end, its successor) are withdrawn if
  // nothing was sold on them; what was sold keeps its terms.
  bool prev_free = false, last_free = false;
  if (prev_offer_[i]) {
    auto w = withdraw_unsold(*prev_offer_[i]);
    if (!w) return std::unexpected(w.error());
    prev_free = *w;
    prev_offer_[i].reset();
  }
  if (last_offer_[i]) {
    auto w = withdraw_unsold(*last_offer_[i]);
    if (!w) return std::unexpected(w.error());
    last_free = *w;
    if (last_free) {
      last_offer_[i].reset();
      // The next offer sells the withdrawn windows (from the earlier one's start if it went too;
      // from where they could start, whatever the hours that shifted them).
      until_[i] = prev_free ? prev_base_[i] : last_base_[i];
    }
  }
  if (ch.price_per_second) o.price_per_second = *ch.price_per_second;
  if (ch.scopes) o.scopes = *ch.scopes;
  if (ch.protocols) o.protocols = *ch.protocols;
  if (hours) {
    hours_[i] = *hours;
    hours_text_[i] = *ch.hours;
  }
  paused_[i] = pausing;
  if (pausing)
    return last_free || !last_offer_[i]
               ? ip + " paused: its offer is withdrawn; running deals go on"
               : ip + " paused: its offer was sold, its deals go on, and no other follows";
  if (!last_offer_[i] || until_[i] <= now_s()) {
    place(false, i, ", for sale at once with the new terms");
    if (!last_offer_[i] || until_[i] <= now_s())
      return std::unexpected(Error(CoreErrc::invalid_argument, checked_[i]));
    return ip + ": a new offer with these terms is on the book";
  }
  return ip + ": its offer was sold and keeps its terms; the next one has the new ones";
}

void ProviderOffers::preset(size_t i, const OfferChange& ch) {
  Offer& o = c_.offers[i];
  if (ch.price_per_second) o.price_per_second = *ch.price_per_second;
  if (ch.scopes) o.scopes = *ch.scopes;
  if (ch.protocols) o.protocols = *ch.protocols;
  if (ch.paused) paused_[i] = *ch.paused;
  if (ch.hours)
    if (auto h = parse_hours(*ch.hours)) {
      hours_[i] = *h;
      hours_text_[i] = *ch.hours;
    }
}

std::vector<OfferView> ProviderOffers::view() const {
  std::vector<OfferView> out;
  for (size_t i = 0; i < c_.offers.size(); ++i) {
    const Offer& o = c_.offers[i];
    out.push_back({format_ip(o.ip), std::string(o.country.begin(), o.country.end()),
                   to_string(o.ip_type), o.price_per_second, o.protocols, o.scopes, o.capacity,
                   paused_[i], hours_text_[i], last_offer_[i], last_from_[i], until_[i],
                   checked_[i]});
  }
  return out;
}

}  // namespace ipsx::cli
