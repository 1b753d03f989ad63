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

using crypto::eip712::StructHasher;
using crypto::eip712::type_hash;

Hash bytes_word(const uint8_t* data, size_t n) {
  Hash h;
  std::copy(data, data + n, h.bytes().begin());
  return h;
}

Hash country_word(const CountryCode& c) {
  return bytes_word(reinterpret_cast<const uint8_t*>(c.data()), 2);
}

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

const std::string& Offer::encoded_type() {
  static const std::string t =
      "Offer(address provider,bytes16 ip,bytes2 country,string region,uint32 asn,uint8 ipType,"
      "uint32 protocols,uint32 scopes,uint32 bandwidthKbps,uint32 capacity,uint64 availableFrom,"
      "uint64 availableUntil,uint64 minDuration,uint64 maxDuration,uint256 pricePerSecond,"
      "address market,uint16 feeBps,uint16 minRequesterRating,uint64 expiry,uint64 nonce)";
  return t;
}

Hash Offer::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th)
      .add_address(provider)
      .add_word(bytes_word(ip.data(), 16))
      .add_word(country_word(country))
      .add_string(region)
      .add_uint(asn)
      .add_uint(static_cast<uint64_t>(ip_type))
      .add_uint(protocols)
      .add_uint(scopes)
      .add_uint(bandwidth_kbps)
      .add_uint(capacity)
      .add_uint(available_from)
      .add_uint(available_until)
      .add_uint(min_duration)
      .add_uint(max_duration)
      .add_uint(price_per_second)
      .add_address(market)
      .add_uint(fee_bps)
      .add_uint(min_requester_rating)
      .add_uint(expiry)
      .add_uint(nonce)
      .finish();
}

const std::string& Request::encoded_type() {
  static const std::string t =
      "Request(address requester,uint32 count,bytes2[] countries,string region,uint32 asn,"
      "uint8 ipTypes,uint32 protocols,uint32 scope,uint16 minProviderRating,"
      "uint32 minBandwidthKbps,bool exclusive,bool distinctSubnets,uint64 start,uint64 duration,"
      "uint256 maxPricePerSecond,uint256 budget,bool allOrNone,address market,uint16 feeBps,"
      "uint64 expiry,uint64 nonce)";
  return t;
}

Hash Request::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  std::vector<uint8_t> words;
  words.reserve(countries.size() * 32);
  for (const CountryCode& c : countries) {
    Hash w = country_word(c);
    words.insert(words.end(), w.bytes().begin(), w.bytes().end());
  }
  return StructHasher(th)
      .add_address(requester)
      .add_uint(count)
      .add_word(keccak256(ByteView(words)))
      .add_string(region)
      .add_uint(asn)
      .add_uint(ip_types)
      .add_uint(protocols)
      .add_uint(scope)
      .add_uint(min_provider_rating)
      .add_uint(min_bandwidth_kbps)
      .add_bool(exclusive)
      .add_bool(distinct_subnets)
      .add_uint(start)
      .add_uint(duration)
      .add_uint(max_price_per_second)
      .add_uint(budget)
      .add_bool(all_or_none)
      .add_address(market)
      .add_uint(fee_bps)
      .add_uint(expiry)
      .add_uint(nonce)
      .finish();
}

const std::string& BalanceProof::encoded_type() {
  static const std::string t = "BalanceProof(bytes32 dealId,uint256 amount)";
  return t;
}

Hash BalanceProof::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th).add_word(deal_id).add_uint(amount).finish();
}

const std::string& OrderCancel::encoded_type() {
  static const std::string t = "OrderCancel(bytes32 orderHash)";
  return t;
}

Hash OrderCancel::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th).add_word(order_hash).finish();
}

const std::string& ClosingConsent::encoded_type() {
  static const std::string t = "ClosingConsent(bytes32 dealId,uint256 amount)";
  return t;
}

Hash ClosingConsent::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th).add_word(deal_id).add_uint(amount).finish();
}

crypto::eip712::Domain ledger_domain(uint64_t chain_id, const Address& verifying_contract) {
  return {"IPSX", "1", U256(chain_id), verifying_contract, std::nullopt};
}

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

SubnetKey subnet_key(const std::array<uint8_t, 16>& ip) {
  bool v4 = std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t b) { return b == 0; }) &&
            ip[10] == 0xff && ip[11] == 0xff;
  SubnetKey k{};
  if (v4) {
    k = {0xff, 0xff, ip[12], ip[13], ip[14], 0};
  } else {
    std::copy(ip.begin(), ip.begin() + 6, k.begin());
  }
  return k;
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

const char* to_string(IpType type) {
  switch (type) {
    case IpType::residential:
      return "residential";
    case IpType::datacenter:
      return "datacenter";
    case IpType::mobile:
      return "mobile";
  }
  return "unknown";
}

std::optional<IpType> parse_ip_type(std::string_view text) {
  for (IpType t : {IpType::residential, IpType::datacenter, IpType::mobile})
    if (text == to_string(t)) return t;
  return std::nullopt;
}

namespace {

struct BitName {
  std::string_view name;
  uint32_t bit;
};

Result<uint32_t> parse_bits(std::string_view names, std::span<const BitName> table,
                            std::string_view what) {
  uint32_t out = 0;
  size_t pos = 0;
  while (pos <= names.size()) {
    size_t comma = std::min(names.find(',', pos), names.size());
    std::string_view item = names.substr(pos, comma - pos);
    auto it =
        std::find_if(table.begin(), table.end(), [&](const BitName& b) { return b.name == item; });
    if (it == table.end()) {
      std::string known;
      for (const BitName& b : table) known += (known.empty() ? "" : ", ") + std::string(b.name);
      return fail(LedgerErrc::bad_order,
                  fmt::format("unknown {} {} (known: {})", what, quoted(item), known));
    }
    out |= it->bit;
    pos = comma + 1;
  }
  return out;
}

constexpr BitName kProtocolNames[] = {{"http", protocol::http},
                                      {"https-connect", protocol::https_connect},
                                      {"socks5", protocol::socks5},
                                      {"smtp", protocol::smtp},
                                      {"vpn", protocol::vpn}};
constexpr BitName kScopeNames[] = {{"crawling", scope::crawling},
                                   {"streaming", scope::streaming},
                                   {"email", scope::email},
                                   {"general", scope::general},
                                   {"vpn", scope::vpn}};

}  // namespace

Result<uint32_t> parse_protocols(std::string_view names) {
  return parse_bits(names, kProtocolNames, "protocol");
}

Result<uint32_t> parse_scopes(std::string_view names) {
  return parse_bits(names, kScopeNames, "scope");
}

Result<std::array<uint8_t, 16>> parse_ip(std::string_view text) {
  std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return out;
  return fail(LedgerErrc::invalid_argument,
              fmt::format("'{}' is not an IPv4 or IPv6 address", text));
}

std::string format_ip(const std::array<uint8_t, 16>& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  bool mapped = std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t b) { return b == 0; }) &&
                ip[10] == 0xff && ip[11] == 0xff;
  if (mapped) {
    inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  }
  return buf;
}

Result<CountryCode> parse_country(std::string_view text) {
  if (!is_country_code(text)) {
    return fail(LedgerErrc::invalid_argument,
                fmt::format("'{}' is not an ISO 3166-1 alpha-2 country code", text));
  }
  return CountryCode{text[0], text[1]};
}

}  // namespace ipsx::ledger
