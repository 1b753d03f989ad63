// The ledger's rules over the signed orders (vocab/orders.h): what makes an order valid, what
// makes a deal fit its two orders, its cost. Both backends check exactly these before they move
// money.
#pragma once

#include <array>
#include <cstdint>

#include "core/amount.h"
#include "core/error.h"
#include "vocab/ip.h"
#include "vocab/orders.h"

namespace ipsx::ledger {

// Checks every field of an order; the error names the field (e.g. "offer.maxDuration: ...").
Result<void> validate(const Offer& o);
Result<void> validate(const Request& r);

// Checks that a deal at `price_per_second` between `offer` and `request`, opened at unix second
// `now`, fits both signed orders: same market and fee, price between the offer's and the
// request's maximum, duration inside the offer's bounds, protocols, scope, country, region, ASN,
// type and bandwidth filters, availability, expiry. (What depends on earlier deals or on ratings
// is for the callers to check: the ledger's openDeal and the market.) Errors are
// LedgerErrc::terms_mismatch or bad_order and name the clause.
Result<void> check_fit(const Offer& offer, const Request& request, const U256& price_per_second,
                       uint64_t now);

// The cost of one IP of `request` at `price_per_second`: price * duration, checked.
Result<Amount> deal_cost(const Request& request, const U256& price_per_second);

}  // namespace ipsx::ledger
