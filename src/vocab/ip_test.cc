// The one IP address and prefix type every layer uses (vocab/ip.h).
#include "vocab/ip.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

Ip ip(const char* text) {
  return parse_ip(text).value();
}

TEST(Ip, ParsesAndPrintsBothFamilies) {
  Ip a = ip("8.8.8.8");
  EXPECT_TRUE(is_v4_mapped(a));
  EXPECT_EQ(v4_value(a), 0x08080808u);
  EXPECT_EQ(v4_mapped(0x08080808u), a);
  EXPECT_EQ(format_ip(a), "8.8.8.8");
  EXPECT_EQ(format_ip(ip("2001:4860:4860:0::8888")), "2001:4860:4860::8888");
  EXPECT_EQ(ip("::ffff:1.2.3.4"), ip("1.2.3.4"));
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4x", "::g", "1.2.3.4 ", "localhost",
                          "[::1]", "0123456789012345678901234567890123456789012345678"}) {
    auto r = parse_ip(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), CoreErrc::invalid_argument) << bad;
    EXPECT_NE(r.error().message().find("is not an IPv4 or IPv6 address"), std::string::npos);
  }
}

TEST(IpPrefix, ParsesPrintsAndContains) {
  auto p = parse_prefix("10.0.0.0/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bits, 104);
  EXPECT_EQ(to_string(*p), "10.0.0.0/8");
  EXPECT_TRUE(p->contains(ip("10.255.0.1")));
  EXPECT_FALSE(p->contains(ip("11.0.0.1")));
  EXPECT_FALSE(p->contains(ip("::a00:1")));  // the IPv4-compatible form is another address
  p = parse_prefix("2001:db8::/32");
  ASSERT_TRUE(p);
  EXPECT_EQ(to_string(*p), "2001:db8::/32");
  EXPECT_TRUE(p->contains(ip("2001:db8:1::1")));
  p = parse_prefix("fd00::/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(to_string(*p), "fd00::/8");
  EXPECT_EQ(parse_prefix("0.0.0.0/0")->bits, 96);
  EXPECT_EQ(parse_prefix("127.0.0.2")->bits, 128);  // a bare address is a /32
  EXPECT_EQ(parse_prefix("::1")->bits, 128);
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "::/129", "10.0.0.1/8", "10.0.0.0/33",
                          "example.com/8", "10.0.0.0/8/8", "/8"}) {
    auto r = parse_prefix(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), CoreErrc::invalid_argument) << bad;
  }
}

TEST(IpPrefix, PrintsWhatParsesBackEqual) {
  for (const char* text : {"10.0.0.0/8", "127.0.0.2/32", "::ffff:1.2.3.0/120", "::ffff:0:0/96",
                           "2001:db8::/32", "::/0", "0.0.0.0/0"}) {
    auto p = parse_prefix(text);
    ASSERT_TRUE(p) << text;
    auto back = parse_prefix(to_string(*p));
    ASSERT_TRUE(back) << to_string(*p);
    EXPECT_EQ(*back, *p) << text;
  }
}

}  // namespace
}  // namespace ipsx
