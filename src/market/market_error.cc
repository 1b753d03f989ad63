#include "market/market_error.h"

#include <string>

namespace ipsx::market {
namespace {

class MarketCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.market"; }
  std::string message(int c) const override {
    switch (static_cast<MarketErrc>(c)) {
      case MarketErrc::wrong_party:
        return "wrong party";
      case MarketErrc::bad_transition:
        return "illegal status transition";
      case MarketErrc::deal_closed:
        return "deal closed";
      case MarketErrc::bad_time:
        return "bad event time";
      case MarketErrc::bad_signature:
        return "bad signature";
      case MarketErrc::bad_sequence:
        return "bad sequence number";
      case MarketErrc::wrong_deal:
        return "event for another deal";
      case MarketErrc::invalid_argument:
        return "invalid argument";
      case MarketErrc::bad_order:
        return "order not for this market";
      case MarketErrc::duplicate_order:
        return "order placed before";
      case MarketErrc::unknown_order:
        return "unknown order";
      case MarketErrc::not_owner:
        return "not the order's owner";
      case MarketErrc::unknown_deal:
        return "unknown deal";
      case MarketErrc::storage:
        return "journal failure";
    }
    return "unknown market error";
  }
};

}  // namespace

const std::error_category& market_category() {
  static const MarketCategory category;
  return category;
}

}  // namespace ipsx::market
