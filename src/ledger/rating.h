// The rating an order's minimum is compared with (Offer::min_requester_rating,
// Request::min_provider_rating): the Bayesian average of a party's 1..5 votes (RatingView) in
// hundredths, blended with kRatingPriorWeight imaginary votes at kRatingPriorMean, so that one
// vote moves a newcomer only a little. The market's matcher (market::Profiles::rating) and the
// ledger's openDeal (both backends: the Centralizer's _ratingOf) compute it exactly so.
#pragma once

#include <cstdint>

#include "ledger/ledger.h"

namespace ipsx::ledger {

inline constexpr uint64_t kRatingPriorWeight = 5;
inline constexpr uint64_t kRatingPriorMean = 300;  // hundredths: 3.00 with no votes

// ⌊(kRatingPriorWeight · kRatingPriorMean + 100 · sum) / (kRatingPriorWeight + count)⌋, in
// 100 .. 500 for votes of 1..5 (exact for any count and sum: computed in 128 bits).
inline uint16_t rating_hundredths(const RatingView& r) {
  __extension__ using U = unsigned __int128;
  U num = U(kRatingPriorWeight) * kRatingPriorMean + U(100) * r.sum;
  U den = U(kRatingPriorWeight) + r.count;
  return static_cast<uint16_t>(num / den);
}

// Whether a party of rating `r` meets an order's `minimum` (hundredths; 0 = anyone).
inline bool meets_minimum(const RatingView& r, uint16_t minimum) {
  return minimum == 0 || rating_hundredths(r) >= minimum;
}

}  // namespace ipsx::ledger
