// The exchange's vocabulary: the signed orders (R5, R6) and proofs of payment (R9) as EIP-712
// typed data, and the names they are made of (country, IP type, protocol and scope sets). These
// exact types are what wallets sign, what the ledger (both backends) verifies before it moves
// money, what the market indexes and what the exits and gateways serve; docs/orders.md lists them.
// Every layer above core and crypto may use this one; it uses nothing else (docs/architecture.md).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.h"
#include "core/amount.h"
#include "core/hash.h"
#include "crypto/eip712.h"
#include "crypto/keys.h"
#include "vocab/ip.h"

namespace ipsx {

// Rentals last from 5 seconds to 30 days (R6).
inline constexpr uint64_t kMinDurationSeconds = 5;
inline constexpr uint64_t kMaxDurationSeconds = 30ull * 24 * 3600;
inline constexpr uint16_t kMaxFeeBps = 10'000;
inline constexpr uint16_t kMaxRating = 500;  // ratings in hundredths: 1.00 .. 5.00

enum class IpType : uint8_t { residential = 1, datacenter = 2, mobile = 3 };
// "residential", "datacenter", "mobile"; and back (exactly these, lower case).
const char* to_string(IpType type);
std::optional<IpType> parse_ip_type(std::string_view text);
// Comma-separated names to bits: "http,https-connect,socks5,smtp,vpn" (protocol::) and
// "crawling,streaming,email,general,vpn" (scope::). Errors: CoreErrc::invalid_argument naming
// the unknown value.
Result<uint32_t> parse_protocols(std::string_view names);
Result<uint32_t> parse_scopes(std::string_view names);

// Bits of Offer::protocols and Request::protocols.
namespace protocol {
inline constexpr uint32_t http = 1, https_connect = 2, socks5 = 4, smtp = 8, vpn = 16;
inline constexpr uint32_t all = 31;
}  // namespace protocol

// Bits of Offer::scopes and the single bit of Request::scope: what the IP may be used for.
namespace scope {
inline constexpr uint32_t crawling = 1, streaming = 2, email = 4, general = 8, vpn = 16;
inline constexpr uint32_t all = 31;
}  // namespace scope

using CountryCode = std::array<char, 2>;

// A provider's offer of one IP (the offer order list, R5).
struct Offer {
  Address provider;
  Ip ip{};  // IPv6, or IPv4 mapped as ::ffff:a.b.c.d
  CountryCode country{};
  std::string region;  // region or city, free text, may be empty
  uint32_t asn = 0;
  IpType ip_type = IpType::residential;
  uint32_t protocols = 0;  // protocol:: bits served
  uint32_t scopes = 0;     // scope:: bits allowed
  uint32_t bandwidth_kbps = 0;
  uint32_t capacity = 1;         // 1 = exclusive; k = up to k requesters at once
  uint64_t available_from = 0;   // unix seconds
  uint64_t available_until = 0;  // unix seconds; 0 = no end
  uint64_t min_duration = kMinDurationSeconds;
  uint64_t max_duration = kMaxDurationSeconds;
  U256 price_per_second;  // IPSX base units per IP-second
  Address market;
  uint16_t fee_bps = 0;
  uint16_t min_requester_rating = 0;  // hundredths; 0 = anyone
  uint64_t expiry = 0;                // unix seconds
  uint64_t nonce = 0;

  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// A requester's request for IPs (the request order list, R5).
struct Request {
  Address requester;
  uint32_t count = 1;
  std::vector<CountryCode> countries;  // empty = any
  std::string region;                  // empty = any
  uint32_t asn = 0;                    // 0 = any
  uint8_t ip_types = 0;                // bit (1 << IpType); 0 = any
  uint32_t protocols = 0;              // all of these must be served
  uint32_t scope = 0;                  // exactly one scope:: bit
  uint16_t min_provider_rating = 0;
  uint32_t min_bandwidth_kbps = 0;
  bool exclusive = false;         // no other requester on the IP meanwhile
  bool distinct_subnets = false;  // the IPs of one request in distinct /24 (/48 for v6)
  uint64_t start = 0;             // unix seconds; 0 = now
  uint64_t duration = 0;          // seconds
  U256 max_price_per_second;
  U256 budget;  // total over all IPs of the request
  bool all_or_none = false;
  Address market;
  uint16_t fee_bps = 0;
  uint64_t expiry = 0;
  uint64_t nonce = 0;

  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// The requester's promise to pay `amount` (cumulative, ever-increasing) for a deal (R9).
struct BalanceProof {
  Hash deal_id;
  U256 amount;
  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// The provider's consent to close a deal at `amount` (for a cooperative close).
struct ClosingConsent {
  Hash deal_id;
  U256 amount;
  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// An owner's off-chain word to a market: take this order off the book (docs/orders.md). A type
// of its own, with no nonce, so that no signed cancel is the digest of a ledger transaction (the
// ledger's cancelOrder is CancelOrder(bytes32 orderHash,uint64 nonce) at the account's nonce):
// whoever holds it cannot submit it to the ledger as the owner's transaction.
struct OrderCancel {
  Hash order_hash;
  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// The EIP-712 domain every ledger signature uses: name "IPSX", version "1", the chain id and the
// verifying contract (the Centralizer's address on Ethereum; when embedded, the address derived
// from the genesis hash, ledger::embedded_verifying_contract in genesis.h).
crypto::eip712::Domain ledger_domain(uint64_t chain_id, const Address& verifying_contract);

// "DE" -> {'D','E'}; fails (CoreErrc::invalid_argument) unless an assigned ISO 3166-1 alpha-2
// code.
Result<CountryCode> parse_country(std::string_view text);

}  // namespace ipsx
