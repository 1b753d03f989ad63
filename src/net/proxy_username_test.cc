// The gateway's username grammar: every key, the account prefix, each refusal naming its token,
// the canonical writer, round trips, and mutated and random usernames.
#include "net/proxy_username.h"

#include <gtest/gtest.h>

#include <random>

#include "net/fuzz_targets.h"
#include "net/net_error.h"
#include "net/net_test_util.h"

namespace ipsx::net {
namespace {

ProxyFilters parsed(std::string_view username) {
  auto f = parse_proxy_username(test_util::ExactCopy(username).text());
  EXPECT_TRUE(f) << username << ": " << (f ? "" : f.error().message());
  return f.value_or(ProxyFilters{});
}

Error refused(std::string_view username) {
  auto f = parse_proxy_username(test_util::ExactCopy(username).text());
  EXPECT_FALSE(f) << "accepted: " << username;
  return f ? Error(NetErrc::invalid_argument, "accepted") : f.error();
}

TEST(ProxyUsername, ParsesTheDocumentedExample) {
  auto f = parsed("country-de-type-residential-session-abc-ttl-600");
  EXPECT_EQ(f.country, (CountryCode{'D', 'E'}));
  EXPECT_EQ(f.type, IpType::residential);
  EXPECT_EQ(f.session, "abc");
  EXPECT_EQ(f.ttl_seconds, 600u);
  EXPECT_FALSE(f.account);
  EXPECT_FALSE(f.city);
  EXPECT_FALSE(f.exclusive);
}

TEST(ProxyUsername, ParsesEveryKey) {
  auto f = parsed(
      "user-acme_1-country-us-region-new_york-city-new_york_city-asn-7922-type-mobile-"
      "session-S_1-ttl-5-exclusive");
  EXPECT_EQ(f.account, "acme_1");
  EXPECT_EQ(f.country, (CountryCode{'U', 'S'}));
  EXPECT_EQ(f.region, "new york");
  EXPECT_EQ(f.city, "new york city");
  EXPECT_EQ(f.asn, 7922u);
  EXPECT_EQ(f.type, IpType::mobile);
  EXPECT_EQ(f.session, "S_1");
  EXPECT_EQ(f.ttl_seconds, 5u);
  EXPECT_TRUE(f.exclusive);
  EXPECT_EQ(parsed("type-datacenter").type, IpType::datacenter);
  EXPECT_EQ(parsed("asn-4294967295").asn, 4294967295u);
  EXPECT_EQ(parsed("session-x-ttl-2592000").ttl_seconds, 2592000u);
}

TEST(ProxyUsername, KeysCountryAndTypeAreCaseInsensitiveSessionIsNot) {
  auto f = parsed("Country-gB-TYPE-Residential-Session-AbC");
  EXPECT_EQ(f.country, (CountryCode{'G', 'B'}));
  EXPECT_EQ(f.type, IpType::residential);
  EXPECT_EQ(f.session, "AbC");
}

TEST(ProxyUsername, TheAccountIsAUserOrCustomerPrefix) {
  EXPECT_EQ(parsed("user-alice").account, "alice");
  EXPECT_EQ(parsed("customer-alice-country-fr").account, "alice");
  EXPECT_EQ(parsed("USER-Bob").account, "Bob");
  // Keys are read by position, so an account may be called like a key.
  EXPECT_EQ(parsed("user-country-country-fr").account, "country");
  // A bare name is no account: it is an unknown key, named.
  EXPECT_EQ(refused("alice").message(), "unknown key 'alice'");
  Error late = refused("country-us-user-alice");
  EXPECT_EQ(late.code(), NetErrc::bad_value);
  EXPECT_NE(late.message().find("first"), std::string::npos);
  EXPECT_EQ(refused("user").code(), NetErrc::bad_value);
  EXPECT_EQ(refused("user-a.b").code(), NetErrc::bad_value);
}

TEST(ProxyUsername, TheEmptyUsernameAsksForAnything) {
  EXPECT_EQ(parsed(""), ProxyFilters{});
}

TEST(ProxyUsername, UnknownKeysAreNamed) {
  Error e = refused("colour-red");
  EXPECT_EQ(e.code(), NetErrc::unknown_key);
  EXPECT_EQ(e.message(), "unknown key 'colour'");
  EXPECT_EQ(refused("country-us-colour-blue").message(), "unknown key 'colour'");
  EXPECT_EQ(refused("exclusive-true").message(), "unknown key 'true'");
  EXPECT_EQ(refused("country-us-\x01").message(), "unknown key '\\x01'");
}

TEST(ProxyUsername, DuplicateKeysAreNamed) {
  Error e = refused("country-us-type-mobile-country-de");
  EXPECT_EQ(e.code(), NetErrc::duplicate_key);
  EXPECT_EQ(e.message(), "duplicate key 'country'");
  EXPECT_EQ(refused("exclusive-exclusive").code(), NetErrc::duplicate_key);
  EXPECT_EQ(refused("city-a-CITY-b").message(), "duplicate key 'CITY'");
}

TEST(ProxyUsername, BadValuesNameTheKeyAndValue) {
  auto bad = [](std::string_view username, std::string_view fragment) {
    Error e = refused(username);
    EXPECT_EQ(e.code(), NetErrc::bad_value) << username;
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.message();
  };
  bad("country-xx", "bad value 'xx' for 'country'");
  bad("country-usa", "'usa'");
  bad("country-u1", "'u1'");
  bad("country", "key 'country' needs a value");
  bad("city-new.york", "'city'");
  bad("region-" + std::string(65, 'r'), "'region'");
  bad("asn-0", "'asn'");
  bad("asn-4294967296", "'asn'");
  bad("asn-AS3320", "'asn'");
  bad("type-cable", "not residential, datacenter or mobile");
  bad("session-" + std::string(65, 's'), "'session'");
  bad("session-a.b", "'session'");
  bad("session-a-ttl-4", "'ttl'");
  bad("session-a-ttl-2592001", "'ttl'");
  bad("session-a-ttl-99999999999", "'ttl'");
  bad("session-a-ttl-1h", "'ttl'");
  EXPECT_TRUE(parse_proxy_username("session-" + std::string(64, 's')));
  EXPECT_TRUE(parse_proxy_username("city-" + std::string(64, 'c')));
}

TEST(ProxyUsername, TtlNeedsASessionInAnyOrder) {
  Error e = refused("country-de-ttl-600");
  EXPECT_EQ(e.code(), NetErrc::missing_session);
  EXPECT_EQ(e.message(), "ttl requires a session (session-ID)");
  EXPECT_EQ(parsed("ttl-600-session-abc").ttl_seconds, 600u);
}

TEST(ProxyUsername, EmptyTokensAreRefused) {
  for (const char* u : {"-country-us", "country-us-", "country--us", "-", "--"}) {
    EXPECT_EQ(refused(u).code(), NetErrc::empty_token) << u;
  }
  EXPECT_NE(refused("country--us").message().find("empty token 2"), std::string::npos);
}

TEST(ProxyUsername, LongUsernamesAreRefused) {
  EXPECT_EQ(refused(std::string(256, 'a')).code(), NetErrc::too_large);
  EXPECT_EQ(refused("user-" + std::string(300, 'a')).code(), NetErrc::too_large);
}

TEST(ProxyUsername, WriterIsCanonicalAndRoundTrips) {
  auto f = parsed(
      "customer-x-exclusive-ttl-60-session-Ab-TYPE-DataCenter-asn-1-city-san_jose-country-US");
  std::string text = to_string(f).value();
  EXPECT_EQ(text,
            "user-x-country-us-city-san_jose-asn-1-type-datacenter-session-Ab-ttl-60-exclusive");
  EXPECT_EQ(parsed(text), f);
  EXPECT_EQ(to_string(ProxyFilters{}).value(), "");
  for (const std::string& seed : username_fuzz_seeds()) {
    EXPECT_EQ(parsed(to_string(parsed(seed)).value()), parsed(seed)) << seed;
  }
}

TEST(ProxyUsername, WriterRefusesFiltersItCannotWrite) {
  auto refuses = [](auto set, std::string_view field) {
    ProxyFilters f;
    set(f);
    auto t = to_string(f);
    ASSERT_FALSE(t) << *t;
    EXPECT_EQ(t.error().code(), NetErrc::invalid_argument);
    EXPECT_NE(t.error().message().find(field), std::string::npos) << t.error().message();
  };
  refuses([](ProxyFilters& f) { f.account = "a-b"; }, "account");
  refuses([](ProxyFilters& f) { f.country = CountryCode{'X', 'X'}; }, "country");
  refuses([](ProxyFilters& f) { f.country = CountryCode{'d', 'e'}; }, "country");
  refuses([](ProxyFilters& f) { f.region = "a_b"; }, "region");  // '_' reads back as a space
  refuses([](ProxyFilters& f) { f.city = ""; }, "city");
  refuses([](ProxyFilters& f) { f.asn = 0; }, "asn");
  refuses([](ProxyFilters& f) { f.type = static_cast<IpType>(9); }, "type");
  refuses([](ProxyFilters& f) { f.session = "s-1"; }, "session");
  refuses([](ProxyFilters& f) { f.ttl_seconds = 60; }, "ttl");
  refuses(
      [](ProxyFilters& f) {
        f.session = "s";
        f.ttl_seconds = 1;
      },
      "ttl");
  ProxyFilters rio;
  rio.city = "Rio de Janeiro";
  EXPECT_EQ(to_string(rio).value(), "city-Rio_de_Janeiro");
}

// The refusal table of docs/proxy-protocols.md, word for word.
TEST(ProxyUsername, DocumentedMessagesAreExact) {
  const std::pair<std::string, std::string> table[] = {
      {"country-us-colour-blue", "unknown key 'colour'"},
      {"alice", "unknown key 'alice'"},
      {"country-us-country-de", "duplicate key 'country'"},
      {"country-xx", "bad value 'xx' for 'country': not an ISO 3166-1 alpha-2 country code"},
      {"session-a-ttl-4", "bad value '4' for 'ttl': not a number of seconds in 5..2592000"},
      {"city", "key 'city' needs a value"},
      {"country-us-user-bob", "key 'user' must be the first token"},
      {"country-de-ttl-600", "ttl requires a session (session-ID)"},
      {"country--us", "empty token 2 in 'country--us': a leading, trailing or doubled '-'"},
      {std::string(256, 'a'), "username of 256 bytes is longer than 255"},
  };
  for (const auto& [username, message] : table) EXPECT_EQ(refused(username).message(), message);
}

// #23: usernames pasted from the big sellers' docs mean the same here.
TEST(ProxyUsername, OtherSellersConventionsAreRead) {
  // Oxylabs: cc, st (after its country), sessid, sesstime in minutes.
  auto ox = parse_proxy_username("customer-bob-cc-DE-st-de_bavaria-sessid-x1-sesstime-10");
  ASSERT_TRUE(ox) << ox.error().message();
  EXPECT_EQ(ox->account, "bob");
  EXPECT_EQ(ox->country, (CountryCode{'D', 'E'}));
  EXPECT_EQ(ox->region, "bavaria");
  EXPECT_EQ(ox->session, "x1");
  EXPECT_EQ(ox->ttl_seconds, 600u);
  // Bright Data: brd-customer-ID-zone-NAME first, then its keys (state for the region).
  auto brd =
      parse_proxy_username("brd-customer-hl_12ab-zone-residential1-country-us-state-ny-session-s9");
  ASSERT_TRUE(brd) << brd.error().message();
  EXPECT_EQ(brd->account, "hl_12ab");
  EXPECT_EQ(brd->country, (CountryCode{'U', 'S'}));
  EXPECT_EQ(brd->region, "ny");
  EXPECT_EQ(brd->session, "s9");
  // Smartproxy: user-NAME and sessionduration in minutes.
  auto sp = parse_proxy_username("user-ann-country-fr-session-q-sessionduration-30");
  ASSERT_TRUE(sp) << sp.error().message();
  EXPECT_EQ(sp->ttl_seconds, 1800u);
  // IPRoyal's lifetime with its unit.
  EXPECT_EQ(parse_proxy_username("session-a-lifetime-2h")->ttl_seconds, 7200u);
  EXPECT_EQ(parse_proxy_username("session-a-lifetime-45s")->ttl_seconds, 45u);
  // An alias and its key are the same key; values are checked as the key's.
  auto twice = parse_proxy_username("country-de-cc-de");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message(), "duplicate key 'cc' (another name for 'country')");
  EXPECT_EQ(parse_proxy_username("cc-zz").error().code(), make_error_code(NetErrc::bad_value));
  EXPECT_EQ(parse_proxy_username("session-a-lifetime-30").error().message(),
            "bad value '30' for 'lifetime': not a number with a unit s, m, h or d (30m)");
  EXPECT_EQ(parse_proxy_username("session-a-sesstime-0").error().code(),
            make_error_code(NetErrc::bad_value));
  EXPECT_EQ(parse_proxy_username("country-us-brd-customer-x").error().code(),
            make_error_code(NetErrc::unknown_key));
}

TEST(ProxyUsername, FiltersMayComeInThePassword) {
  // IPRoyal: the username is the account, the filters follow the password.
  auto ip = parse_proxy_login("alice", "country-de_session-abc_lifetime-30m");
  ASSERT_TRUE(ip) << ip.error().message();
  EXPECT_EQ(ip->account, "alice");
  EXPECT_EQ(ip->country, (CountryCode{'D', 'E'}));
  EXPECT_EQ(ip->session, "abc");
  EXPECT_EQ(ip->ttl_seconds, 1800u);
  // Both may ask; each key once.
  auto both = parse_proxy_login("type-mobile", "country-de");
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(both->type, IpType::mobile);
  EXPECT_EQ(both->country, (CountryCode{'D', 'E'}));
  EXPECT_EQ(parse_proxy_login("country-us", "country-de").error().message(),
            "key 'country' in both the username and the password");
  EXPECT_EQ(parse_proxy_login("alice", "colour-red").error().message(),
            "the password's filters: unknown key 'colour'");
  EXPECT_EQ(parse_proxy_login("a-b-c", "").error().message(), "username: unknown key 'a'");
  EXPECT_EQ(parse_proxy_login("x", "user-bob").error().code(), make_error_code(NetErrc::bad_value));
  EXPECT_EQ(parse_proxy_login("session-s", "ttl-60")->ttl_seconds, 60u);
  EXPECT_EQ(parse_proxy_login("alice", "ttl-60").error().code(),
            make_error_code(NetErrc::missing_session));
}

TEST(ProxyUsernameFuzz, MutatedUsernamesNeverCrashOrBreakTheRoundTrip) {
  std::mt19937_64 rng(3166);
  std::vector<std::string> seeds = username_fuzz_seeds();
  std::vector<std::string> tokens = {"-",      "--",    "_",           "country-", "session-",
                                     "ttl-",   "user-", "exclusive",   "-de",      "0",
                                     "999999", "asn-",  "type-mobile", "city-",    "\xff"};
  size_t accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string in = test_util::mutate_many(seeds[i % seeds.size()], rng, 3, tokens);
    EXPECT_TRUE(fuzz_username(in, [&](std::string_view w) { ADD_FAILURE() << w << " on " << in; }));
    if (parse_proxy_username(in)) ++accepted;
  }
  EXPECT_GT(accepted, 500u);
}

TEST(ProxyUsernameFuzz, RandomTokensNeverCrash) {
  std::mt19937_64 rng(3167);
  const char* words[] = {"country", "us",        "de",     "city",    "a_b",   "asn",
                         "12",      "type",      "mobile", "session", "x",     "ttl",
                         "600",     "exclusive", "user",   "",        "colour"};
  for (int i = 0; i < 3000; ++i) {
    std::string in;
    for (size_t n = rng() % 12; n > 0; --n) {
      in += words[rng() % std::size(words)];
      if (n > 1) in += '-';
    }
    EXPECT_TRUE(fuzz_username(in, [&](std::string_view w) { ADD_FAILURE() << w << " on " << in; }));
  }
}

}  // namespace
}  // namespace ipsx::net
