#include "ledger/orders.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>

#include "core/country.h"
#include "core/keccak.h"
#include "ledger/ledger_error.h"

namespace ipsx::ledger {
namespace {

std::unexpected<Error> bad(std::string_view field, std::string_view why) {
  return fail_at(LedgerErrc::bad_order, std::string(field), why);
}

std::unexpected<Error> mismatch(std::string_view why) {
  return fail(LedgerErrc::terms_mismatch, std::string(why));
}

bool known_bits(uint32_t v, uint32_t all) {
  return (v & ~all) == 0;
}

std::string_view country_view(const CountryCode& c) {
  return {c.data(), 2};
}

}  // namespace

Result<void> validate(const Offer& o) {
  if (o.provider.is_zero()) return bad("offer.provider", "must not be the zero address");
  if (std::all_of(o.ip.begin(), o.ip.end(), [](uint8_t b) { return b == 0; })) {
    return bad("offer.ip", "must not be the unspecified address");
  }
  if (!is_country_code(country_view(o.country))) {
    return bad("offer.country",
               fmt::format("'{}' is not an ISO 3166-1 alpha-2 code", country_view(o.country)));
  }
  if (o.region.size() > 64) return bad("offer.region", "longer than 64 bytes");
  auto t = static_cast<uint8_t>(o.ip_type);
  if (t < 1 || t > 3)
    return bad("offer.ipType", "must be 1 (residential), 2 (datacenter) or 3 (mobile)");
  if (o.protocols == 0 || !known_bits(o.protocols, protocol::all)) {
    return bad("offer.protocols", "must name at least one known protocol");
  }
  if (o.scopes == 0 || !known_bits(o.scopes, scope::all)) {
    return bad("offer.scopes", "must allow at least one known scope");
  }
  if (o.capacity == 0) return bad("offer.capacity", "must be at least 1");
  if (o.min_duration < kMinDurationSeconds || o.min_duration > kMaxDurationSeconds) {
    return bad("offer.minDuration", "must be within 5 s .. 30 days");
  }
  if (o.max_duration < o.min_duration || o.max_duration > kMaxDurationSeconds) {
    return bad("offer.maxDuration", "must be within minDuration .. 30 days");
  }
  if (o.available_until != 0 && o.available_until <= o.available_from) {
    return bad("offer.availableUntil", "must be after availableFrom (or 0 for no end)");
  }
  if (o.market.is_zero()) return bad("offer.market", "must name the market");
  if (o.fee_bps > kMaxFeeBps) return bad("offer.feeBps", "must be at most 10000");
  if (o.min_requester_rating > kMaxRating)
    return bad("offer.minRequesterRating", "must be at most 500");
  if (o.expiry == 0) return bad("offer.expiry", "must be set");
  if (!o.price_per_second.checked_mul(kMaxDurationSeconds)) {
    return fail_at(LedgerErrc::overflow, "offer.pricePerSecond", "price * 30 days overflows");
  }
  return {};
}

Result<void> validate(const Request& r) {
  if (r.requester.is_zero()) return bad("request.requester", "must not be the zero address");
  if (r.count == 0 || r.count > 100'000) return bad("request.count", "must be within 1 .. 100000");
  if (r.countries.size() > 300) return bad("request.countries", "more than 300 entries");
  for (size_t i = 0; i < r.countries.size(); ++i) {
    if (!is_country_code(country_view(r.countries[i]))) {
      return bad(
          fmt::format("request.countries[{}]", i),
          fmt::format("'{}' is not an ISO 3166-1 alpha-2 code", country_view(r.countries[i])));
    }
  }
  if (r.region.size() > 64) return bad("request.region", "longer than 64 bytes");
  if ((r.ip_types & ~0b1110) != 0) return bad("request.ipTypes", "unknown IP type bits");
  if (r.protocols == 0 || !known_bits(r.protocols, protocol::all)) {
    return bad("request.protocols", "must name at least one known protocol");
  }
  if (!std::has_single_bit(r.scope) || !known_bits(r.scope, scope::all)) {
    return bad("request.scope", "must be exactly one known scope");
  }
  if (r.min_provider_rating > kMaxRating)
    return bad("request.minProviderRating", "must be at most 500");
  if (r.duration < kMinDurationSeconds || r.duration > kMaxDurationSeconds) {
    return bad("request.duration", "must be within 5 s .. 30 days");
  }
  if (r.market.is_zero()) return bad("request.market", "must name the market");
  if (r.fee_bps > kMaxFeeBps) return bad("request.feeBps", "must be at most 10000");
  if (r.expiry == 0) return bad("request.expiry", "must be set");
  auto per_ip = r.max_price_per_second.checked_mul(r.duration);
  if (!per_ip || !per_ip->checked_mul(r.count)) {
    return fail_at(LedgerErrc::overflow, "request.maxPricePerSecond",
                   "price * duration * count overflows");
  }
  return {};
}

Result<Amount> deal_cost(const Request& request, const U256& price_per_second) {
  auto c = price_per_second.checked_mul(request.duration);
  if (!c) return fail(LedgerErrc::overflow, "price * duration overflows");
  return Amount::from_base(*c);
}

Result<void> check_fit(const Offer& offer, const Request& request, const U256& price,
                       uint64_t now) {
  if (offer.market != request.market) return mismatch("the orders name different markets");
  if (offer.fee_bps != request.fee_bps) return mismatch("the orders name different fees");
  if (offer.provider == request.requester) return mismatch("provider and requester are the same");
  if (price < offer.price_per_second) return mismatch("price is below the offer's price");
  if (price > request.max_price_per_second) return mismatch("price is above the request's maximum");
  if (request.duration < offer.min_duration || request.duration > offer.max_duration) {
    return mismatch("duration is outside the offer's bounds");
  }
  if ((request.protocols & ~offer.protocols) != 0)
    return mismatch("the offer does not serve every requested protocol");
  if ((request.scope & offer.scopes) == 0)
    return mismatch("the offer does not allow the request's scope");
  if (!request.countries.empty() && std::find(request.countries.begin(), request.countries.end(),
                                              offer.country) == request.countries.end()) {
    return mismatch("the offer's country is not among the requested ones");
  }
  if (!request.region.empty() && request.region != offer.region) return mismatch("region differs");
  if (request.asn != 0 && request.asn != offer.asn) return mismatch("ASN differs");
  if (request.ip_types != 0 &&
      (request.ip_types & (1u << static_cast<uint8_t>(offer.ip_type))) == 0) {
    return mismatch("the offer's IP type is not among the requested ones");
  }
  if (offer.bandwidth_kbps < request.min_bandwidth_kbps)
    return mismatch("bandwidth below the request's minimum");
  uint64_t start = std::max(now, request.start);
  if (start < offer.available_from)
    return mismatch("the rental starts before the offer is available");
  // start + duration > until, without wrapping for a start near 2^64.
  if (offer.available_until != 0 &&
      (start > offer.available_until || request.duration > offer.available_until - start)) {
    return mismatch("the rental ends after the offer's availability");
  }
  return {};
}

}  // namespace ipsx::ledger
