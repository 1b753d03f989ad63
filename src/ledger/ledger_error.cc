#include "ledger/ledger_error.h"

#include <string>

namespace ipsx::ledger {
namespace {

class LedgerCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.ledger"; }
  std::string message(int c) const override {
    switch (static_cast<LedgerErrc>(c)) {
      case LedgerErrc::bad_signature:
        return "bad signature";
      case LedgerErrc::wrong_chain:
        return "wrong chain id";
      case LedgerErrc::bad_nonce:
        return "bad nonce";
      case LedgerErrc::insufficient_funds:
        return "insufficient funds";
      case LedgerErrc::transfers_locked:
        return "transfers locked until the sale is finalized";
      case LedgerErrc::sale_not_open:
        return "sale not open";
      case LedgerErrc::hard_cap_exceeded:
        return "hard cap exceeded";
      case LedgerErrc::sale_not_finalizable:
        return "sale cannot be finalized now";
      case LedgerErrc::sale_not_finalized:
        return "sale not finalized";
      case LedgerErrc::nothing_to_claim:
        return "nothing to claim";
      case LedgerErrc::bad_order:
        return "bad order";
      case LedgerErrc::terms_mismatch:
        return "deal terms do not fit the orders";
      case LedgerErrc::order_exhausted:
        return "order exhausted";
      case LedgerErrc::unknown_deal:
        return "unknown deal";
      case LedgerErrc::not_a_party:
        return "not a party to the deal";
      case LedgerErrc::deal_state:
        return "wrong deal state";
      case LedgerErrc::bad_balance_proof:
        return "bad balance proof";
      case LedgerErrc::challenge_period:
        return "challenge period not over";
      case LedgerErrc::already_rated:
        return "already rated";
      case LedgerErrc::bad_rating:
        return "bad rating";
      case LedgerErrc::overflow:
        return "amount overflow";
      case LedgerErrc::invalid_argument:
        return "invalid argument";
      case LedgerErrc::storage:
        return "storage failure";
      case LedgerErrc::shutting_down:
        return "ledger shutting down";
      case LedgerErrc::sale_not_refundable:
        return "sale not refundable";
    }
    return "unknown ledger error";
  }
};

}  // namespace

const std::error_category& ledger_category() {
  static const LedgerCategory category;
  return category;
}

}  // namespace ipsx::ledger
