// Endpoints: domain name checks, host text, and URI authorities as CONNECT and absolute URIs
// carry them.
#include "net/endpoint.h"

#include <gtest/gtest.h>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

using namespace std::string_literals;

TEST(Domain, AcceptsVisibleAsciiUpTo255Bytes) {
  EXPECT_TRUE(check_domain("example.com"));
  EXPECT_TRUE(check_domain("_dmarc.example.com."));
  EXPECT_TRUE(check_domain(std::string(255, 'a')));
  EXPECT_TRUE(check_domain("1.2.3.4"));      // a dotted quad reads the same to every resolver
  EXPECT_TRUE(check_domain("3com.com"));     // digits in a label that is not the last
  EXPECT_TRUE(check_domain("example.0xg"));  // not a number: 'g' is no hex digit
}

TEST(Domain, RefusesEmptyLongNonPrintableAndNumericNames) {
  EXPECT_EQ(check_domain("").error().code(), NetErrc::bad_address);
  EXPECT_EQ(check_domain(std::string(256, 'a')).error().code(), NetErrc::bad_address);
  auto nul = check_domain("a\0b"s);
  EXPECT_NE(nul.error().message().find("0x00 at offset 1"), std::string::npos);
  EXPECT_FALSE(check_domain("a b"));
  EXPECT_FALSE(check_domain("a\tb"));
  EXPECT_FALSE(check_domain("\xff"));
  for (const char* numeric : {"127.1", "0x7f.0.0.1", "2130706433", "017700000001", "1.2.3.4.5",
                              "example.123", "1.2.3.4.", "example.0x"}) {
    EXPECT_FALSE(check_domain(numeric)) << numeric;
  }
}

TEST(Authority, ParsesHostsOfEveryKind) {
  EXPECT_EQ(parse_authority("example.com:443", std::nullopt).value(),
            (Endpoint{std::string("example.com"), 443}));
  EXPECT_EQ(parse_authority("192.0.2.7:8080", std::nullopt).value(),
            (Endpoint{Ipv4{192, 0, 2, 7}, 8080}));
  Ip v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 1;
  EXPECT_EQ(parse_authority("[2001:db8::1]:443", std::nullopt).value(), (Endpoint{v6, 443}));
  EXPECT_EQ(parse_authority("[2001:db8::1]", 80).value(), (Endpoint{v6, 80}));
  EXPECT_EQ(parse_authority("example.com", 80).value().port, 80);
  EXPECT_EQ(parse_authority("a:65535", std::nullopt).value().port, 65535);
}

TEST(Authority, RefusesWhatIsNotAHostAndPort) {
  for (const char* bad : {"", ":80", "example.com", "example.com:", "example.com:0",
                          "example.com:65536", "example.com:+80", "example.com:8o", "user@host:80",
                          "::1:80", "[::1", "[::1]x", "[fe80::1%25eth0]:80", "[1.2.3.4]:80",
                          "exa mple.com:80", "exa%41mple.com:80", "127.1:80", "a:1:2"}) {
    auto r = parse_authority(bad, std::nullopt);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), NetErrc::bad_address) << bad;
    }
  }
}

TEST(Authority, FormatsHostsForPeople) {
  Ip v6{};
  v6[15] = 1;
  EXPECT_EQ(format_host(Ipv4{10, 0, 0, 1}), "10.0.0.1");
  EXPECT_EQ(format_host(v6), "[::1]");
  EXPECT_EQ(to_string(Endpoint{v6, 443}), "[::1]:443");
  EXPECT_EQ(to_string(Endpoint{std::string("example.com"), 80}), "example.com:80");
  // What format writes, parse_authority reads back.
  EXPECT_EQ(parse_authority(to_string(Endpoint{v6, 443}), std::nullopt).value(),
            (Endpoint{v6, 443}));
}

TEST(QuotedText, EscapesAndTruncatesUntrustedText) {
  EXPECT_EQ(quoted("colour"), "'colour'");
  EXPECT_EQ(quoted("a\r\nb'"), "'a\\x0d\\x0ab\\x27'");
  EXPECT_EQ(quoted(std::string(70, 'x'), 4), "'xxxx'...");
}

}  // namespace
}  // namespace ipsx::net
