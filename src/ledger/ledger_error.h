// The ledger layer's error codes. Every rejection has its own code, so callers (and the
// conformance suite) can tell them apart; the message names the values involved.
#pragma once

#include <system_error>

#include "core/error.h"

namespace ipsx::ledger {

enum class LedgerErrc {
  bad_signature = 1,     // signature malformed, or it does not recover to the sender
  wrong_chain,           // transaction prepared for another chain id
  bad_nonce,             // replayed or skipped account nonce
  insufficient_funds,    // token balance, allowance, native coin or wallet balance too low
  transfers_locked,      // token transfers before the sale is finalized
  sale_not_open,         // buy before the sale window or after it / after finalize
  hard_cap_exceeded,     // buy beyond the sale's hard cap
  sale_not_finalizable,  // finalize before the window ended and below the cap, or twice
  sale_not_finalized,    // claim of unsold tokens before finalize
  nothing_to_claim,      // no unsold share (never bought, or already claimed)
  bad_order,             // an order's signature, fields, expiry or cancellation
  terms_mismatch,        // the deal's terms do not fit the signed orders
  order_exhausted,       // request fully filled or offer at capacity
  unknown_deal,
  not_a_party,        // the sender may not act on this deal
  deal_state,         // operation not allowed in the deal's current state
  bad_balance_proof,  // proof not signed by the requester, not higher, or above deposit
  challenge_period,   // settle before the challenge period ended
  already_rated,
  bad_rating,  // score outside 1..5
  overflow,    // an amount would overflow
  invalid_argument,
  storage,  // the store failed or is corrupted
  shutting_down,
  sale_not_refundable,  // refund while the sale is open, reached its soft cap or has none
};

const std::error_category& ledger_category();
inline std::error_code make_error_code(LedgerErrc e) {
  return {static_cast<int>(e), ledger_category()};
}

}  // namespace ipsx::ledger

template <>
struct std::is_error_code_enum<ipsx::ledger::LedgerErrc> : std::true_type {};
