// The gateway's username grammar: how a client asks for the kind of IP it wants through the one
// field every proxy client can set, the SOCKS5 / Basic username. The convention of commercial
// proxy gateways: tokens joined by '-', keys followed by their value, e.g.
//   country-de-type-residential-session-abc-ttl-600
// The grammar, its keys and its errors are in docs/proxy-protocols.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "vocab/orders.h"

namespace ipsx::net {

// A username longer than this is refused (SOCKS5 carries at most 255 bytes too).
inline constexpr size_t kMaxProxyUsernameBytes = 255;
// The longest account, city, region and session value.
inline constexpr size_t kMaxProxyNameBytes = 64;
// ttl bounds: a lease lasts 5 s .. 30 days (vocab/orders.h).
inline constexpr uint64_t kMinSessionTtl = kMinDurationSeconds;
inline constexpr uint64_t kMaxSessionTtl = kMaxDurationSeconds;

// What a username asks for. An unset field means "any".
struct ProxyFilters {
  std::optional<std::string> account;  // user-NAME / customer-NAME: [A-Za-z0-9_]{1,64}
  std::optional<CountryCode> country;  // ISO 3166-1 alpha-2, upper case
  std::optional<std::string> region;   // [A-Za-z0-9 ]{1,64}: the username's '_' is a space
  std::optional<std::string> city;     // as region
  std::optional<uint32_t> asn;         // 1..4294967295
  std::optional<IpType> type;
  std::optional<std::string> session;   // sticky session id: [A-Za-z0-9_]{1,64}, case-sensitive
  std::optional<uint64_t> ttl_seconds;  // session lifetime, kMinSessionTtl..kMaxSessionTtl
  bool exclusive = false;               // no other requester on the IP meanwhile

  friend bool operator==(const ProxyFilters&, const ProxyFilters&) = default;
};

// Parses a username. The empty username is no filter at all. Otherwise the '-'-separated tokens
// are read left to right as `key value` pairs, except the flag `exclusive` which has no value.
// Keys (ASCII case-insensitive): country, region, city, asn, type, session, ttl, exclusive, and
// `user` or `customer` (the account name), which may only be the first token. Errors name the
// token: unknown_key ("unknown key 'colour'"), duplicate_key, bad_value (value out of grammar or
// range, or a key at the end with no value), missing_session (ttl without session), empty_token
// (a leading, trailing or doubled '-'), too_large (over kMaxProxyUsernameBytes).
Result<ProxyFilters> parse_proxy_username(std::string_view username);

// Filters given in the password, for tools that set only a password (IPRoyal's convention):
// the gateway's password, '_', then '_'-separated `key-value` tokens with the keys and aliases of
// a username (SECRET_country-de_session-abc_lifetime-30m). `password_filters` is what follows
// that '_' (empty: none). The username is then a username of this grammar, or a plain account
// name (1..64 of [A-Za-z0-9_]) taken as the account. A key given in both is refused
// (duplicate_key). Errors about the username say "username: ...", about the password's filters
// "the password's filters: ...".
Result<ProxyFilters> parse_proxy_login(std::string_view username,
                                       std::string_view password_filters);

// A client's login at the gateway: `password` must be `secret` (compared in constant time),
// alone or followed by '_' and filters (parse_proxy_login); else unauthorized. An empty secret
// lets nobody in.
Result<ProxyFilters> check_proxy_login(std::string_view username, std::string_view password,
                                       std::string_view secret);

// The canonical username for `filters`: keys in the order user, country, region, city, asn,
// type, session, ttl, exclusive; lower-case keys, country and type; spaces as '_'. Parsing it
// gives `filters` back. Fails (invalid_argument) for a field parse_proxy_username would refuse.
Result<std::string> to_string(const ProxyFilters& filters);

}  // namespace ipsx::net
