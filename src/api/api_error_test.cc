#include "api/api_error.h"

#include <gtest/gtest.h>

#include "ledger/ledger_error.h"
#include "market/market_error.h"

namespace ipsx::api {
namespace {

template <class Code>
Error at_field(Code code, std::string field, std::string_view why) {
  return fail_at(code, std::move(field), why).error();
}

// The field travels as a value beside the message: the API reports the one the error carries and
// reads nothing out of the message.
TEST(ApiErrorTest, TheFieldIsTheErrorsOwnNotReadFromTheMessage) {
  Error e = at_field(market::MarketErrc::bad_order, "request.countries[1]", "not a country");
  EXPECT_EQ(e.message(), "request.countries[1]: not a country");
  EXPECT_EQ(e.field(), "request.countries[1]");
  EXPECT_EQ(e.field_root(), "request");
  EXPECT_EQ(from_error(e).field, "request.countries[1]");
  EXPECT_EQ(e.with_context("placing it").field(), "request.countries[1]");
  // A message that merely looks like "path: text" names no field.
  EXPECT_EQ(from_error(Error(market::MarketErrc::storage, "journal: disk full")).field, "");
  EXPECT_EQ(Error(market::MarketErrc::storage, "x").field_root(), "");
}

TEST(ApiErrorTest, MarketErrorsMapToStableCodesAndStatuses) {
  ApiError e = from_error(at_field(market::MarketErrc::bad_order, "offer.market", "names 0x1"));
  EXPECT_EQ(e.status, 422);
  EXPECT_EQ(e.code, "invalid_order");
  EXPECT_EQ(e.field, "offer.market");
  e = from_error(Error(market::MarketErrc::duplicate_order, "this offer was placed before"));
  EXPECT_EQ(e.status, 409);
  EXPECT_EQ(e.code, "duplicate_order");
  EXPECT_EQ(e.field, "");
  e = from_error(Error(market::MarketErrc::bad_signature, "offer: signed by 0x1, not 0x2"));
  EXPECT_EQ(e.status, 422);
  EXPECT_EQ(e.code, "bad_signature");
  EXPECT_EQ(from_error(Error(market::MarketErrc::storage, "disk")).status, 503);
}

TEST(ApiErrorTest, LedgerFieldErrorsAre400AndNameTheField) {
  ApiError e =
      from_error(at_field(ledger::LedgerErrc::invalid_argument, "offer.capacity", "missing"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_EQ(e.field, "offer.capacity");
  e = from_error(Error(ledger::LedgerErrc::bad_order, "offer.country: unknown"));
  EXPECT_EQ(e.status, 422);
  EXPECT_EQ(e.code, "invalid_order");
}

TEST(ApiErrorTest, UnknownCategoriesAreInternal) {
  ApiError e = from_error(Error(std::make_error_code(std::errc::io_error), "boom"));
  EXPECT_EQ(e.status, 500);
  EXPECT_EQ(e.code, "internal");
}

TEST(ApiErrorTest, DealProtocolRefusalsHaveTheirOwnCodes) {
  using market::MarketErrc;
  struct Case {
    MarketErrc errc;
    int status;
    const char* code;
  };
  for (const Case& c : {Case{MarketErrc::wrong_party, 403, "wrong_party"},
                        Case{MarketErrc::bad_sequence, 409, "bad_sequence"},
                        Case{MarketErrc::bad_transition, 409, "bad_transition"},
                        Case{MarketErrc::deal_closed, 409, "deal_closed"},
                        Case{MarketErrc::bad_time, 422, "bad_time"},
                        Case{MarketErrc::wrong_deal, 400, "wrong_deal"},
                        Case{MarketErrc::unknown_deal, 404, "unknown_deal"},
                        Case{MarketErrc::not_owner, 403, "not_owner"}}) {
    ApiError e = from_error(Error(c.errc, "x"));
    EXPECT_EQ(e.status, c.status) << c.code;
    EXPECT_EQ(e.code, c.code);
  }
  EXPECT_EQ(from_error(Error(ledger::LedgerErrc::unknown_deal, "no deal")).code, "unknown_deal");
  ApiError limited = ApiError::rate_limited("slow down");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.code, "rate_limited");
}

TEST(ApiErrorTest, JsonBodyLeavesOutAnEmptyField) {
  nlohmann::json j = ApiError::not_found("/x").to_json();
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_FALSE(j["error"].contains("field"));
  j = ApiError::invalid_field("signature", "missing").to_json();
  EXPECT_EQ(j["error"]["field"], "signature");
  EXPECT_EQ(j["error"]["message"], "missing");
}

}  // namespace
}  // namespace ipsx::api
