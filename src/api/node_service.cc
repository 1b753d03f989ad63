// The node's routes: the node service: the periodic tick, the deals it watches for the event
// stream, the exits' reachability.
#include "api/node_routes_internal.h"

#include <unistd.h>
#include <cstdio>
#include <set>

#include "core/clock.h"
#include "market/exit_directory.h"

namespace ipsx::api::routes {

int64_t now_ms() {
  return to_unix_ms(SystemClock().now());
}

void publish(NodeContext& node, const std::string& type, json data) {
  if (node.events) node.events->publish(type, std::move(data), now_ms());
}

void publish_deals(NodeContext& node, const std::vector<Hash>& deals) {
  if (!node.events) return;
  for (const Hash& d : deals) {
    auto view = node.ledger.deal(d);
    publish(node, "deal", view ? deal_json(*view) : json{{"id", d.hex()}});
    if (auto st = node.market.deal_status(d)) node.watched[d] = *st;
  }
}

// Publishes a "deal_status" event for each watched deal whose status changed since the stream
// last said it (a timeout, the deal's end, a close becoming final); a final close ends the watch.
// Run by the periodic tick only (it reads every watched deal).
void publish_status_changes(NodeContext& node) {
  if (!node.events) return;
  for (auto it = node.watched.begin(); it != node.watched.end();) {
    auto st = node.market.deal_status(it->first);
    if (!st) {
      it = node.watched.erase(it);
      continue;
    }
    if (!(*st == it->second)) {
      publish(node, "deal_status", {{"deal", it->first.hex()}, {"status", status_json(*st)}});
      it->second = *st;
    }
    bool done = st->phase == market::DealPhase::closed && st->final;
    it = done ? node.watched.erase(it) : std::next(it);
  }
}

uint64_t now_s() {
  return static_cast<uint64_t>(now_ms() / 1000);
}

void load_exits(NodeState& s) {
  const std::string& path = s.node.exits_file;
  if (path.empty()) return;
  std::vector<market::SignedExitAnnouncement> live;
  if (std::FILE* in = std::fopen(path.c_str(), "re")) {
    std::string line;
    for (int c; (c = std::fgetc(in)) != EOF;) {
      if (c != '\n') {
        line.push_back(static_cast<char>(c));
        continue;
      }
      auto j = json::parse(line, nullptr, false);
      line.clear();
      if (!j.is_object()) continue;
      auto a = parse_announcement(j);
      if (a && s.exits.announce(*a, now_s())) live.push_back(*a);
    }
    std::fclose(in);
  }
  std::string tmp = path + ".tmp";
  if (std::FILE* out = std::fopen(tmp.c_str(), "we")) {
    for (const auto& a : live)
      if (s.exits.find(a.announcement.provider, now_s()) &&
          s.exits.find(a.announcement.provider, now_s())->announcement.seq == a.announcement.seq)
        std::fprintf(out, "%s\n", exit_json(a).dump().c_str());
    bool ok = std::fflush(out) == 0 && ::fsync(::fileno(out)) == 0;
    std::fclose(out);
    if (ok) std::rename(tmp.c_str(), path.c_str());
  }
  s.exits_log = std::fopen(path.c_str(), "ae");
  if (!s.exits_log)
    std::fprintf(stderr, "exit announcements will not survive a restart: cannot open %s\n",
                 path.c_str());
}

void set_reachable(NodeState& s, const Address& provider, bool reachable) {
  auto r = s.node.market.set_reachable(provider, reachable);
  if (!r) {
    std::fprintf(stderr, "marking %s %s: %s\n", provider.to_string().c_str(),
                 reachable ? "reachable" : "unreachable", r.error().message().c_str());
    return;
  }
  publish_deals(s.node, *r);
}

void exit_announced(NodeState& s, const Address& provider, uint64_t expiry) {
  if (!s.node.checks.exit) return;
  s.reachable_until[provider] = expiry;
  if (!s.node.market.reachable(provider)) set_reachable(s, provider, true);
}

void check_exit_expiries(NodeState& s) {
  if (!s.node.checks.exit) return;
  const uint64_t now = now_s();
  for (auto it = s.reachable_until.begin(); it != s.reachable_until.end();) {
    if (it->second > now) {
      ++it;
    } else if (const auto* a = s.exits.find(it->first, now)) {
      it->second = a->announcement.expiry;
      ++it;
    } else {
      set_reachable(s, it->first, false);
      it = s.reachable_until.erase(it);
    }
  }
}

void sync_reachability(NodeState& s) {
  market::Market& m = s.node.market;
  if (!s.node.checks.exit) {
    for (const Address& p : m.book().suspended_owners()) set_reachable(s, p, true);
    return;
  }
  std::set<Address> providers;
  m.for_each_order([&](const OrderInfo& o) {
    if (o.is_offer && o.live) providers.insert(o.owner);
  });
  for (const Address& p : m.book().suspended_owners()) providers.insert(p);
  const uint64_t now = now_s();
  for (const Address& p : providers) {
    if (const auto* a = s.exits.find(p, now))
      exit_announced(s, p, a->announcement.expiry);
    else if (m.reachable(p))
      set_reachable(s, p, false);
  }
}

}  // namespace ipsx::api::routes

namespace ipsx::api {

void publish_opened(NodeContext& node, const std::vector<Hash>& deals) {
  routes::publish_deals(node, deals);
}

void tick(NodeContext& node, bool periodic) {
  if (periodic && node.on_periodic_tick) node.on_periodic_tick();
  routes::publish_deals(node, node.market.tick());
  if (periodic) routes::publish_status_changes(node);
}

}  // namespace ipsx::api
