#include "net/address_policy.h"

#include <gtest/gtest.h>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

Ip ip(std::string_view text) {
  bool v6 = text.find(':') != std::string_view::npos;
  auto ep = parse_authority(v6 ? "[" + std::string(text) + "]" : std::string(text), 1);
  EXPECT_TRUE(ep) << text;
  if (auto* a = std::get_if<Ipv4>(&ep->host)) return to_mapped(*a);
  return std::get<Ip>(ep->host);
}

TEST(AddressPolicy, ClassifiesTheSpecialRanges) {
  struct Case {
    const char* ip;
    AddressClass cls;
  } cases[] = {
      {"8.8.8.8", AddressClass::global},
      {"1.1.1.1", AddressClass::global},
      {"127.0.0.1", AddressClass::loopback},
      {"127.255.0.9", AddressClass::loopback},
      {"10.1.2.3", AddressClass::private_use},
      {"172.16.0.1", AddressClass::private_use},
      {"172.31.255.255", AddressClass::private_use},
      {"172.32.0.1", AddressClass::global},
      {"192.168.1.1", AddressClass::private_use},
      {"169.254.169.254", AddressClass::link_local},  // cloud metadata
      {"100.64.0.1", AddressClass::shared},
      {"0.0.0.0", AddressClass::unspecified},
      {"224.0.0.1", AddressClass::multicast},
      {"255.255.255.255", AddressClass::reserved},
      {"192.0.2.7", AddressClass::reserved},
      {"::1", AddressClass::loopback},
      {"::", AddressClass::unspecified},
      {"fe80::1", AddressClass::link_local},
      {"fd00::1", AddressClass::private_use},
      {"ff02::1", AddressClass::multicast},
      {"2001:db8::1", AddressClass::reserved},
      {"2a00:1450::1", AddressClass::global},
      // IPv4 inside IPv6 spellings cannot hide a private address.
      {"::ffff:10.0.0.1", AddressClass::private_use},
      {"::127.0.0.1", AddressClass::loopback},
      {"64:ff9b::192.168.0.1", AddressClass::private_use},
      {"64:ff9b::8.8.8.8", AddressClass::global},
      {"2002:c0a8:0101::1", AddressClass::private_use},  // 6to4 of 192.168.1.1
  };
  for (const auto& c : cases) EXPECT_EQ(classify(ip(c.ip)), c.cls) << c.ip;
}

TEST(AddressPolicy, RefusesNonPublicUnlessAllowed) {
  DestinationPolicy p;
  auto r = p.check(ip("127.0.0.1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), NetErrc::forbidden_destination);
  EXPECT_NE(r.error().message().find("127.0.0.1 is loopback"), std::string::npos);
  EXPECT_TRUE(p.check(ip("8.8.8.8")));
  p.allow.push_back(*parse_prefix("127.0.0.0/8"));
  EXPECT_TRUE(p.check(ip("127.0.0.1")));
  EXPECT_FALSE(p.check(ip("10.0.0.1")));
  p.deny.push_back(*parse_prefix("8.8.0.0/16"));
  EXPECT_FALSE(p.check(ip("8.8.8.8")));
  EXPECT_TRUE(p.check(ip("8.9.8.8")));
}

TEST(AddressPolicy, KnowsTheMailPorts) {
  EXPECT_TRUE(is_mail_port(25));
  EXPECT_FALSE(is_mail_port(80));
}

}  // namespace
}  // namespace ipsx::net
