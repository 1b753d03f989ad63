// Helpers shared by the ledger state's files (state.cc, state_ops.cc); not for other code.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/amount.h"
#include "ledger/ledger.h"
#include "ledger/ledger_error.h"

namespace ipsx::ledger::state_util {

inline std::string dec(const Amount& a) {
  return a.base().to_dec();
}

inline Event make_event(EventKind kind, std::vector<Address> accounts,
                        std::vector<std::pair<std::string, std::string>> fields,
                        std::optional<Hash> deal = std::nullopt) {
  Event e;
  e.kind = kind;
  e.accounts = std::move(accounts);
  e.fields = std::move(fields);
  e.deal = deal;
  return e;
}

}  // namespace ipsx::ledger::state_util

// Unwraps a Result<Amount> inside an op, mapping core overflow to LedgerErrc::overflow.
#define IPSX_TRY_AMOUNT(var, expr)                                            \
  auto var##_r = (expr);                                                      \
  if (!var##_r) return fail(LedgerErrc::overflow, var##_r.error().message()); \
  Amount var = *var##_r
