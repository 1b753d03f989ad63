#include "net/proxy_username.h"

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "core/country.h"
#include "net/http_text.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

constexpr std::array<std::string_view, 8> kKeys = {"country", "region",  "city", "asn",
                                                   "type",    "session", "ttl",  "exclusive"};

bool is_name_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '_';
}

// True iff `s` is 1..kMaxProxyNameBytes characters, each accepted by `ok`.
template <class Pred>
bool is_name(std::string_view s, Pred ok) {
  return !s.empty() && s.size() <= kMaxProxyNameBytes && std::all_of(s.begin(), s.end(), ok);
}

std::unexpected<Error> bad_value(std::string_view key, std::string_view value,
                                 std::string_view why) {
  return fail(NetErrc::bad_value,
              fmt::format("bad value {} for '{}': {}", quoted(value), key, why));
}

// A decimal number of 1..10 digits (fits in uint64_t).
std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), is_digit)) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

// Sets one key's field from its value; the key is known, lower case, and not seen before.
Result<void> apply(ProxyFilters& f, std::string_view key, std::string_view value) {
  const char* names = "1..64 letters, digits and '_'";
  if (key == "country") {
    std::string code = {value.size() == 2 ? static_cast<char>(value[0] & ~0x20) : '\0',
                        value.size() == 2 ? static_cast<char>(value[1] & ~0x20) : '\0'};
    if (value.size() != 2 || !is_alpha(value[0]) || !is_alpha(value[1]) || !is_country_code(code)) {
      return bad_value(key, value, "not an ISO 3166-1 alpha-2 country code");
    }
    f.country = CountryCode{code[0], code[1]};
  } else if (key == "region" || key == "city") {
    if (!is_name(value, is_name_char)) return bad_value(key, value, names);
    std::string text(value);
    std::replace(text.begin(), text.end(), '_', ' ');
    (key == "city" ? f.city : f.region) = std::move(text);
  } else if (key == "asn") {
    auto n = parse_number(value);
    if (!n || *n == 0 || *n > UINT32_MAX)
      return bad_value(key, value, "not a number in 1..4294967295");
    f.asn = static_cast<uint32_t>(*n);
  } else if (key == "type") {
    auto t = parse_ip_type(lower(value));
    if (!t) return bad_value(key, value, "not residential, datacenter or mobile");
    f.type = *t;
  } else if (key == "session") {
    if (!is_name(value, is_name_char)) return bad_value(key, value, names);
    f.session = std::string(value);
  } else if (key == "ttl") {
    auto n = parse_number(value);
    if (!n || *n < kMinSessionTtl || *n > kMaxSessionTtl) {
      return bad_value(
          key, value,
          fmt::format("not a number of seconds in {}..{}", kMinSessionTtl, kMaxSessionTtl));
    }
    f.ttl_seconds = *n;
  }
  return {};
}

// Other sellers' names for our keys (docs/proxy-protocols.md, "Other sellers' usernames"), and
// the value in our terms: Oxylabs' cc, st, sessid and sesstime (minutes), Bright Data's state,
// Smartproxy's sessionduration (minutes), IPRoyal's lifetime (a number and a unit: s, m, h, d).
struct Alias {
  std::string_view name, key;
};
constexpr std::array<Alias, 7> kAliases = {{{"cc", "country"},
                                            {"st", "region"},
                                            {"state", "region"},
                                            {"sessid", "session"},
                                            {"sesstime", "ttl"},
                                            {"sessionduration", "ttl"},
                                            {"lifetime", "ttl"}}};

// An alias's value in the canonical key's terms; `out` holds a converted one.
Result<std::string_view> alias_value(std::string_view alias, std::string_view value,
                                     std::string& out) {
  if (alias == "sesstime" || alias == "sessionduration" || alias == "lifetime") {
    uint64_t unit = 60;  // minutes, unless lifetime names its unit
    std::string_view digits = value;
    if (alias == "lifetime") {
      static constexpr std::pair<char, uint64_t> kUnits[] = {
          {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
      auto u = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& p) {
        return !value.empty() && (value.back() | 0x20) == p.first;
      });
      if (u == std::end(kUnits))
        return bad_value(alias, value, "not a number with a unit s, m, h or d (30m)");
      unit = u->second;
      digits.remove_suffix(1);
    }
    auto n = parse_number(digits);
    if (!n) return bad_value(alias, value, "not a number");
    out = std::to_string(*n * unit);
    return std::string_view(out);
  }
  if ((alias == "st" || alias == "state") && value.size() > 3 && value[2] == '_' &&
      is_alpha(value[0]) && is_alpha(value[1]))
    return value.substr(3);  // a state after its country: us_california
  return value;
}

// The grammar; `whole`: the username is all there is (a ttl needs its session here).
Result<ProxyFilters> parse_filters(std::string_view username, bool whole) {
  ProxyFilters f;
  if (username.size() > kMaxProxyUsernameBytes) {
    return fail(NetErrc::too_large, fmt::format("username of {} bytes is longer than {}",
                                                username.size(), kMaxProxyUsernameBytes));
  }
  if (username.empty()) return f;
  std::vector<std::string_view> tokens;
  for (size_t start = 0;;) {
    size_t dash = username.find('-', start);
    tokens.push_back(username.substr(start, dash - start));
    if (tokens.back().empty()) {
      return fail(NetErrc::empty_token,
                  fmt::format("empty token {} in {}: a leading, trailing or doubled '-'",
                              tokens.size(), quoted(username)));
    }
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  std::vector<std::string> seen;
  size_t first = 0;
  // Bright Data's account comes as brd-customer-ID, then its zone: zone-NAME (IPSX has no zones:
  // the name is checked and not used; type- chooses the kind of IP).
  if (tokens.size() >= 3 && lower(tokens[0]) == "brd" && lower(tokens[1]) == "customer") {
    if (!is_name(tokens[2], is_name_char))
      return bad_value("customer", tokens[2], "1..64 letters, digits and '_'");
    f.account = std::string(tokens[2]);
    first = 3;
    if (tokens.size() >= 5 && lower(tokens[3]) == "zone") {
      if (!is_name(tokens[4], is_name_char))
        return bad_value("zone", tokens[4], "1..64 letters, digits and '_'");
      first = 5;
    }
  }
  for (size_t i = first; i < tokens.size(); ++i) {
    std::string key = lower(tokens[i]);
    std::string_view alias;
    if (auto a = std::find_if(kAliases.begin(), kAliases.end(),
                              [&](const Alias& x) { return x.name == key; });
        a != kAliases.end()) {
      alias = a->name;
      key = std::string(a->key);
    }
    if (key == "user" || key == "customer") {
      if (i != 0 || first != 0) {
        return fail(NetErrc::bad_value,
                    fmt::format("key {} must be the first token", quoted(tokens[i])));
      }
      if (tokens.size() < 2)
        return fail(NetErrc::bad_value, fmt::format("key '{}' needs a value", key));
      if (!is_name(tokens[1], is_name_char)) {
        return bad_value(key, tokens[1], "1..64 letters, digits and '_'");
      }
      f.account = std::string(tokens[1]);
      ++i;
      continue;
    }
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return fail(NetErrc::unknown_key, fmt::format("unknown key {}", quoted(tokens[i])));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return fail(NetErrc::duplicate_key,
                  alias.empty() ? fmt::format("duplicate key {}", quoted(tokens[i]))
                                : fmt::format("duplicate key {} (another name for '{}')",
                                              quoted(tokens[i]), key));
    }
    seen.push_back(key);
    if (key == "exclusive") {
      f.exclusive = true;
      continue;
    }
    if (i + 1 == tokens.size()) {
      return fail(NetErrc::bad_value, fmt::format("key '{}' needs a value", key));
    }
    std::string converted;
    std::string_view value = tokens[++i];
    if (!alias.empty()) {
      auto v = alias_value(alias, value, converted);
      if (!v) return std::unexpected(v.error());
      value = *v;
    }
    if (auto ok = apply(f, key, value); !ok) return std::unexpected(ok.error());
  }
  if (whole && f.ttl_seconds && !f.session) {
    return fail(NetErrc::missing_session, "ttl requires a session (session-ID)");
  }
  return f;
}

}  // namespace

Result<ProxyFilters> parse_proxy_username(std::string_view username) {
  return parse_filters(username, true);
}

Result<ProxyFilters> parse_proxy_login(std::string_view username,
                                       std::string_view password_filters) {
  if (password_filters.empty()) {
    auto f = parse_proxy_username(username);
    if (!f) return std::unexpected(f.error().with_context("username"));
    return f;
  }
  if (password_filters.size() > kMaxProxyUsernameBytes) {
    return fail(NetErrc::too_large,
                fmt::format("filters in the password of {} bytes are longer than {}",
                            password_filters.size(), kMaxProxyUsernameBytes));
  }
  // country-de_session-abc reads as the username country-de-session-abc.
  std::string as_username(password_filters);
  std::replace(as_username.begin(), as_username.end(), '_', '-');
  auto from_pass = parse_filters(as_username, false);
  if (!from_pass) return std::unexpected(from_pass.error().with_context("the password's filters"));
  ProxyFilters f = *from_pass;
  if (f.account) {
    return fail(NetErrc::bad_value, "the password's filters: the account is the username's");
  }
  auto from_user = parse_filters(username, false);
  if (!from_user) {
    if (!is_name(username, is_name_char))
      return std::unexpected(from_user.error().with_context("username"));
    f.account = std::string(username);  // IPRoyal's username is the account alone
    if (f.ttl_seconds && !f.session)
      return fail(NetErrc::missing_session, "ttl requires a session (session-ID)");
    return f;
  }
  const ProxyFilters& u = *from_user;
  std::string twice;
  auto take = [&twice](auto& mine, const auto& theirs, const char* key) {
    if (!theirs) return;
    if (mine && twice.empty()) twice = key;
    mine = theirs;
  };
  take(f.account, u.account, "user");
  take(f.country, u.country, "country");
  take(f.region, u.region, "region");
  take(f.city, u.city, "city");
  take(f.asn, u.asn, "asn");
  take(f.type, u.type, "type");
  take(f.session, u.session, "session");
  take(f.ttl_seconds, u.ttl_seconds, "ttl");
  if (f.exclusive && u.exclusive && twice.empty()) twice = "exclusive";
  f.exclusive = f.exclusive || u.exclusive;
  if (!twice.empty()) {
    return fail(NetErrc::duplicate_key,
                fmt::format("key '{}' in both the username and the password", twice));
  }
  if (f.ttl_seconds && !f.session) {
    return fail(NetErrc::missing_session, "ttl requires a session (session-ID)");
  }
  return f;
}

Result<ProxyFilters> check_proxy_login(std::string_view username, std::string_view password,
                                       std::string_view secret) {
  const size_t n = secret.size();
  if (n == 0 || password.size() < n || (password.size() > n && password[n] != '_') ||
      CRYPTO_memcmp(password.data(), secret.data(), n) != 0)
    return fail(NetErrc::unauthorized, "wrong gateway password");
  return parse_proxy_login(username, password.substr(std::min(password.size(), n + 1)));
}

Result<std::string> to_string(const ProxyFilters& f) {
  auto bad = [](std::string_view field) {
    return fail(NetErrc::invalid_argument,
                fmt::format("filters.{} cannot be written as a username", field));
  };
  auto is_place_char = [](char c) { return is_alpha(c) || is_digit(c) || c == ' '; };
  std::vector<std::string> parts;
  if (f.account) {
    if (!is_name(*f.account, is_name_char)) return bad("account");
    parts.push_back("user-" + *f.account);
  }
  if (f.country) {
    if (!is_country_code(std::string_view(f.country->data(), 2))) return bad("country");
    parts.push_back(fmt::format("country-{}", lower(std::string_view(f.country->data(), 2))));
  }
  for (auto [key, value] : {std::pair{"region", &f.region}, std::pair{"city", &f.city}}) {
    if (!*value) continue;
    if (!is_name(**value, is_place_char)) return bad(key);
    std::string text = **value;
    std::replace(text.begin(), text.end(), ' ', '_');
    parts.push_back(fmt::format("{}-{}", key, text));
  }
  if (f.asn) {
    if (*f.asn == 0) return bad("asn");
    parts.push_back(fmt::format("asn-{}", *f.asn));
  }
  if (f.type) {
    const char* name = to_string(*f.type);
    if (!parse_ip_type(name)) return bad("type");
    parts.push_back(fmt::format("type-{}", name));
  }
  if (f.session) {
    if (!is_name(*f.session, is_name_char)) return bad("session");
    parts.push_back("session-" + *f.session);
  }
  if (f.ttl_seconds) {
    if (!f.session || *f.ttl_seconds < kMinSessionTtl || *f.ttl_seconds > kMaxSessionTtl) {
      return bad("ttl_seconds");
    }
    parts.push_back(fmt::format("ttl-{}", *f.ttl_seconds));
  }
  if (f.exclusive) parts.push_back("exclusive");
  std::string out = fmt::format("{}", fmt::join(parts, "-"));
  if (out.size() > kMaxProxyUsernameBytes) {
    return fail(NetErrc::invalid_argument, "filters make a username longer than 255 bytes");
  }
  return out;
}

}  // namespace ipsx::net
