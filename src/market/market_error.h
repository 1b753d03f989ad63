// The market layer's error codes. Every rejection has its own code, so a node (and its tests) can
// tell them apart; the message names the values involved.
#pragma once

#include <system_error>

#include "core/error.h"

namespace ipsx::market {

enum class MarketErrc {
  wrong_party = 1,   // the event's party may not report that status, or is not a deal party
  bad_transition,    // not a legal successor of the party's current status
  deal_closed,       // the deal was already closed at the event's time (or the close is final)
  bad_time,          // event time before the deal opened, too far ahead, or before the last one
  bad_signature,     // malformed, or does not recover to the expected party
  bad_sequence,      // a party's sequence number replayed (too low) or skipped (too high)
  wrong_deal,        // the event names another deal
  invalid_argument,  // e.g. a zero or negative timeout
  bad_order,         // an order names another market or fee, or is expired
  duplicate_order,   // an order (same EIP-712 hash) was placed before
  unknown_order,     // no such order in the book
  not_owner,         // a cancel not signed by the order's owner
  unknown_deal,      // no such deal in the deal book
  storage,           // the journal failed or is corrupted
};

const std::error_category& market_category();
inline std::error_code make_error_code(MarketErrc e) {
  return {static_cast<int>(e), market_category()};
}

}  // namespace ipsx::market

template <>
struct std::is_error_code_enum<ipsx::market::MarketErrc> : std::true_type {};
