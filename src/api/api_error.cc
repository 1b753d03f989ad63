#include "api/api_error.h"

#include <fmt/format.h>

#include "eth/eth_error.h"  // the EthErrc values only
#include "ledger/ledger_error.h"
#include "market/market_error.h"

namespace ipsx::api {

nlohmann::json ApiError::to_json() const {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return {{"error", e}};
}

ApiError ApiError::malformed_json(std::string message) {
  return {400, "malformed_json", std::move(message), ""};
}
ApiError ApiError::invalid_field(std::string field, std::string message) {
  return {400, "invalid_field", std::move(message), std::move(field)};
}
ApiError ApiError::not_found(const std::string& path) {
  return {404, "not_found", fmt::format("no route {}", path), ""};
}
ApiError ApiError::method_not_allowed(const std::string& method, const std::string& path) {
  return {405, "method_not_allowed", fmt::format("{} is not allowed on {}", method, path), ""};
}
ApiError ApiError::payload_too_large(size_t limit) {
  return {413, "payload_too_large", fmt::format("the body is over the limit of {} bytes", limit),
          ""};
}
ApiError ApiError::bad_request(std::string message) {
  return {400, "bad_request", std::move(message), ""};
}
ApiError ApiError::internal(std::string message) {
  return {500, "internal", std::move(message), ""};
}
ApiError ApiError::rate_limited(std::string message) {
  return {429, "rate_limited", std::move(message), ""};
}
ApiError ApiError::unknown(std::string code, std::string field, std::string message) {
  return {404, std::move(code), std::move(message), std::move(field)};
}

ApiError from_error(const Error& e) {
  const std::error_code& c = e.code();
  auto with = [&](int status, const char* code) {
    return ApiError{status, code, e.message(), e.field()};
  };
  if (c.category() == market::market_category()) {
    switch (static_cast<market::MarketErrc>(c.value())) {
      case market::MarketErrc::bad_signature:
        return with(422, "bad_signature");
      case market::MarketErrc::bad_order:
        return with(422, "invalid_order");
      case market::MarketErrc::duplicate_order:
        return with(409, "duplicate_order");
      case market::MarketErrc::unknown_order:
        return with(404, "unknown_order");
      case market::MarketErrc::unknown_deal:
        return with(404, "unknown_deal");
      case market::MarketErrc::not_owner:
        return with(403, "not_owner");
      case market::MarketErrc::storage:
        return with(503, "storage_unavailable");
      // The deal protocol's refusals of a status event (docs/protocol.md).
      case market::MarketErrc::wrong_party:
        return with(403, "wrong_party");
      case market::MarketErrc::bad_sequence:
        return with(409, "bad_sequence");
      case market::MarketErrc::bad_transition:
        return with(409, "bad_transition");
      case market::MarketErrc::deal_closed:
        return with(409, "deal_closed");
      case market::MarketErrc::bad_time:
        return with(422, "bad_time");
      case market::MarketErrc::wrong_deal:
        return with(400, "wrong_deal");
      default:
        return with(422, "rejected");
    }
  }
  if (c.category() == ledger::ledger_category()) {
    switch (static_cast<ledger::LedgerErrc>(c.value())) {
      case ledger::LedgerErrc::invalid_argument:
        return with(400, "invalid_field");
      case ledger::LedgerErrc::bad_order:
      case ledger::LedgerErrc::overflow:
        return with(422, "invalid_order");
      case ledger::LedgerErrc::bad_signature:
        return with(422, "bad_signature");
      case ledger::LedgerErrc::unknown_deal:
        return with(404, "unknown_deal");
      case ledger::LedgerErrc::wrong_chain:
        return with(400, "wrong_chain");
      case ledger::LedgerErrc::bad_nonce:
        return with(409, "bad_nonce");
      case ledger::LedgerErrc::insufficient_funds:
        return with(422, "insufficient_funds");
      case ledger::LedgerErrc::not_a_party:
        return with(403, "not_a_party");
      case ledger::LedgerErrc::deal_state:
        return with(409, "deal_state");
      case ledger::LedgerErrc::bad_balance_proof:
        return with(422, "bad_balance_proof");
      case ledger::LedgerErrc::challenge_period:
        return with(409, "challenge_period");
      case ledger::LedgerErrc::already_rated:
        return with(409, "already_rated");
      case ledger::LedgerErrc::bad_rating:
        return with(400, "bad_rating");
      case ledger::LedgerErrc::storage:
      case ledger::LedgerErrc::shutting_down:
        return with(503, "storage_unavailable");
      default:
        return with(422, "rejected");
    }
  }
  // The Ethereum ledger's node out of reach (recognised by the category's name, so that this
  // layer does not link the eth layer).
  if (std::string_view(c.category().name()) == "ipsx.eth" &&
      (c.value() == static_cast<int>(eth::EthErrc::unavailable) ||
       c.value() == static_cast<int>(eth::EthErrc::timeout)))
    return with(503, "ledger_unavailable");
  if (c.category() == core_category()) {
    switch (static_cast<CoreErrc>(c.value())) {
      case CoreErrc::io_error:
        return with(503, "storage_unavailable");
      default:
        return with(400, "invalid_field");
    }
  }
  return with(500, "internal");
}

}  // namespace ipsx::api
