#include "vocab/orders.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>

#include "core/country.h"
#include "core/keccak.h"

namespace ipsx {
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
      return fail(CoreErrc::invalid_argument,
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

Result<CountryCode> parse_country(std::string_view text) {
  if (!is_country_code(text)) {
    return fail(CoreErrc::invalid_argument,
                fmt::format("'{}' is not an ISO 3166-1 alpha-2 country code", text));
  }
  return CountryCode{text[0], text[1]};
}

}  // namespace ipsx
