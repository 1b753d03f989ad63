// The market's read-only queries for the node's API: its signed orders and its deals. Kept apart
// from market.cc (the commands) so that they stay small and never change the state.
#include "market/market.h"

#include <algorithm>

namespace ipsx::market {

Hash cancel_struct_hash(const Hash& order_hash) {
  return OrderCancel{order_hash}.struct_hash();
}

namespace {

OrderInfo info_of(OrderId id, bool is_offer, const Offer& offer, const Request& request,
                  const Hash& hash, const Address& owner, const crypto::Signature& sig,
                  const OrderBook& book) {
  OrderInfo i;
  i.id = id;
  i.is_offer = is_offer;
  i.offer = is_offer ? &offer : nullptr;
  i.request = is_offer ? nullptr : &request;
  i.hash = hash;
  i.owner = owner;
  i.signature = sig;
  i.resting = book.contains(id);
  i.live = book.is_live(id);
  return i;
}

}  // namespace

void Market::for_each_order(const std::function<void(const OrderInfo&)>& f) const {
  for (const auto& [id, s] : orders_)
    f(info_of(id, s.is_offer, s.offer, s.request, s.hash, s.owner, s.signature, book_));
}

std::optional<OrderInfo> Market::order(OrderId id) const {
  auto it = orders_.find(id);
  if (it == orders_.end()) return std::nullopt;
  const Signed& s = it->second;
  return info_of(id, s.is_offer, s.offer, s.request, s.hash, s.owner, s.signature, book_);
}

std::optional<OrderInfo> Market::order(const Hash& order_hash) const {
  auto it = by_hash_.find(order_hash);
  if (it == by_hash_.end()) return std::nullopt;
  return order(it->second);
}

void Market::for_each_deal(const std::function<void(const DealRecord&)>& f) const {
  for (const auto& [id, d] : deals_) f(d);
}

void Market::for_each_deal_from(const std::optional<Hash>& after,
                                const std::function<bool(const DealRecord&)>& f) const {
  for (auto it = after ? deals_.upper_bound(*after) : deals_.begin(); it != deals_.end(); ++it)
    if (!f(it->second)) return;
}

std::vector<Hash> Market::deals_of(OrderId order) const {
  std::vector<Hash> out;
  auto [from, to] = deals_by_order_.equal_range(order);
  for (auto i = from; i != to; ++i) out.push_back(i->second);
  std::sort(out.begin(), out.end());
  return out;
}

DealStatus Market::status_of(const DealRecord& d) const {
  return d.progress.status(now(), config_.timeouts);
}

}  // namespace ipsx::market
