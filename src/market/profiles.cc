#include "market/profiles.h"

#include "ledger/rating.h"

namespace ipsx::market {

uint16_t bayesian_rating(uint64_t count, uint64_t sum, uint64_t prior_weight,
                         uint16_t prior_mean_x100) {
  if (count + prior_weight == 0) return prior_mean_x100;
  // (w * m + 100 * sum) / (w + n); sums of 1..5 votes stay far below 2^64 for any real count.
  uint64_t num = prior_weight * prior_mean_x100 + 100 * sum;
  return static_cast<uint16_t>(num / (prior_weight + count));
}

uint32_t Profile::provider_uptime_per_mille() const {
  if (provided == 0) return 1000;
  return static_cast<uint32_t>(provided_active * 1000 / provided);
}

Profile Profiles::get(const Address& a) const {
  Profile p;
  if (auto it = history_.find(a); it != history_.end()) p = it->second;
  p.id = a;
  if (auto r = ledger_.rating(a)) {
    p.ratings = r->count;
    p.rating_sum = r->sum;
  }
  p.rating = ledger::rating_hundredths({p.ratings, p.rating_sum});
  return p;
}

// The ledger's rule (ledger/rating.h), so that the book and openDeal agree on every minimum.
uint16_t Profiles::rating(const Address& a) const {
  auto r = ledger_.rating(a);
  return ledger::rating_hundredths(r ? *r : ledger::RatingView{});
}

void Profiles::record_outcome(const Address& provider, const Address& requester,
                              ledger::CloseReason reason, bool became_active) {
  auto idx = static_cast<size_t>(reason);
  Profile& p = history_[provider];
  p.provided += 1;
  if (became_active) p.provided_active += 1;
  if (idx < p.closed_by_reason.size()) p.closed_by_reason[idx] += 1;
  Profile& q = history_[requester];
  q.requested += 1;
  if (idx < q.closed_by_reason.size()) q.closed_by_reason[idx] += 1;
}

bool Profiles::set_preference(const Address& a, const std::string& key, const std::string& value) {
  if (key.empty() || key.size() > 64 || value.size() > 256) return false;
  Profile& p = history_[a];
  if (!p.preferences.contains(key) && p.preferences.size() >= 32) return false;
  p.preferences[key] = value;
  return true;
}

}  // namespace ipsx::market
