// SOCKS5 (RFC 1928) and username/password (RFC 1929): byte-exact messages, every address type,
// every split point of a message, each refusal with its code, the writers' bytes, round trips,
// and mutated and random input.
#include "net/socks5.h"

#include <gtest/gtest.h>

#include <random>

#include "net/fuzz_targets.h"
#include "net/net_error.h"
#include "net/net_test_util.h"

namespace ipsx::net {
namespace {

using namespace std::string_literals;
using test_util::bytes_of;
using test_util::ExactCopy;

// Every proper prefix of `message` asks for more, and never for more than the rest; the whole
// message (followed by extra bytes) parses with `consumed` equal to its length.
template <class Parse>
void expect_incremental(Parse parse, const std::string& message) {
  for (size_t k = 0; k < message.size(); ++k) {
    ExactCopy prefix(std::string_view(message).substr(0, k));
    auto r = parse(prefix.bytes());
    ASSERT_TRUE(r) << "prefix " << k << ": " << r.error().message();
    EXPECT_FALSE(r->complete()) << "prefix " << k;
    EXPECT_GE(r->need, 1u) << "prefix " << k;
    EXPECT_LE(r->need, message.size() - k) << "prefix " << k;
  }
  ExactCopy whole(message + "\xAA\xBB"s);
  auto r = parse(whole.bytes());
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->complete());
  EXPECT_EQ(r->consumed, message.size());
}

template <class T>
T parsed(const ParseResult<T>& r) {
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  EXPECT_TRUE(r && r->complete());
  return r && r->complete() ? *r->message : T{};
}

template <class Parse>
Error refused(Parse parse, const std::string& message) {
  ExactCopy in(message);
  auto r = parse(in.bytes());
  EXPECT_FALSE(r) << "accepted: " << to_hex(in.bytes());
  return r ? Error(NetErrc::invalid_argument, "accepted") : r.error();
}

Endpoint v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  return {Ipv4{a, b, c, d}, port};
}
Endpoint v6_loopback(uint16_t port) {
  Ip ip{};
  ip[15] = 1;
  return {ip, port};
}

TEST(Socks5Greeting, ParsesTheMethodsOffered) {
  auto g = parsed(parse_greeting(bytes_of("\x05\x02\x00\x02"s)));
  EXPECT_EQ(g.methods, (std::vector<uint8_t>{0x00, 0x02}));
  EXPECT_TRUE(g.offers(socks5_method::username_password));
  EXPECT_FALSE(g.offers(socks5_method::gssapi));
  expect_incremental(parse_greeting, "\x05\x02\x00\x02"s);
  expect_incremental(parse_greeting, "\x05\x01\x00"s);
  std::string all = "\x05\xff"s;
  for (int m = 0; m < 255; ++m) all += static_cast<char>(m);
  EXPECT_EQ(parsed(parse_greeting(bytes_of(all))).methods.size(), 255u);
}

TEST(Socks5Greeting, RefusesOtherVersionsAtTheFirstByteAndZeroMethods) {
  EXPECT_EQ(refused(parse_greeting, "\x04"s).code(), NetErrc::bad_version);  // SOCKS4
  EXPECT_EQ(refused(parse_greeting, "G"s).code(), NetErrc::bad_version);     // HTTP "GET"
  Error e = refused(parse_greeting, "\x05\x00"s);
  EXPECT_EQ(e.code(), NetErrc::malformed);
  EXPECT_NE(e.message().find("NMETHODS"), std::string::npos);
}

TEST(Socks5UserPass, ParsesRfc1929Credentials) {
  auto up =
      parsed(parse_userpass(bytes_of("\x01\x05"
                                     "alice\x06secret"s)));
  EXPECT_EQ(up.username, "alice");
  EXPECT_EQ(up.password, "secret");
  expect_incremental(parse_userpass,
                     "\x01\x05"
                     "alice\x06secret"s);
  // An empty password (curl sends one for "user:") is the authenticator's to refuse.
  EXPECT_EQ(parsed(parse_userpass(bytes_of("\x01\x01u\x00"s))).password, "");
  expect_incremental(parse_userpass, "\x01\x01u\x00"s);
  std::string longest = "\x01\xff"s + std::string(255, 'u') + "\xff"s + std::string(255, 'p');
  auto max = parsed(parse_userpass(bytes_of(longest)));
  EXPECT_EQ(max.username.size(), 255u);
  EXPECT_EQ(max.password.size(), 255u);
}

TEST(Socks5UserPass, RefusesWrongVersionAndEmptyUsername) {
  EXPECT_EQ(refused(parse_userpass, "\x05\x01\x00"s).code(), NetErrc::bad_version);
  EXPECT_EQ(refused(parse_userpass, "\x01\x00\x01p"s).code(), NetErrc::malformed);
}

TEST(Socks5Request, ParsesConnectToIpv4) {
  std::string msg = "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50"s;  // 192.0.2.1:80
  auto r = parsed(parse_request(bytes_of(msg)));
  EXPECT_EQ(r.command, Socks5Command::connect);
  EXPECT_EQ(r.destination, v4(192, 0, 2, 1, 80));
  expect_incremental(parse_request, msg);
}

TEST(Socks5Request, ParsesConnectToIpv6) {
  std::string msg = "\x05\x01\x00\x04"s + std::string(15, '\0') + "\x01\x01\xbb"s;  // [::1]:443
  auto r = parsed(parse_request(bytes_of(msg)));
  EXPECT_EQ(r.destination, v6_loopback(443));
  expect_incremental(parse_request, msg);
}

TEST(Socks5Request, ParsesConnectToADomainName) {
  std::string msg =
      "\x05\x01\x00\x03\x0b"
      "example.com\x01\xbb"s;
  auto r = parsed(parse_request(bytes_of(msg)));
  EXPECT_EQ(r.destination, (Endpoint{std::string("example.com"), 443}));
  expect_incremental(parse_request, msg);
  std::string longest = "\x05\x01\x00\x03\xff"s + std::string(255, 'a') + "\x00\x50"s;
  EXPECT_EQ(std::get<std::string>(parsed(parse_request(bytes_of(longest))).destination.host).size(),
            255u);
  expect_incremental(parse_request, longest);
}

TEST(Socks5Request, ParsesBindAndUdpAssociate) {
  EXPECT_EQ(parsed(parse_request(bytes_of("\x05\x02\x00\x01\x0a\x00\x00\x01\x1f\x90"s))).command,
            Socks5Command::bind);
  auto udp = parsed(parse_request(bytes_of("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"s)));
  EXPECT_EQ(udp.command, Socks5Command::udp_associate);
  EXPECT_EQ(udp.destination, v4(0, 0, 0, 0, 0));
}

TEST(Socks5Request, RefusesUnknownCommandsWithTheMatchingReply) {
  Error e = refused(parse_request, "\x05\x04"s);  // checked before the rest arrives
  EXPECT_EQ(e.code(), NetErrc::unsupported_command);
  EXPECT_EQ(reply_for(e), Socks5Reply::command_not_supported);
  EXPECT_EQ(refused(parse_request, "\x05\x00\x00\x01\x01\x02\x03\x04\x00\x50"s).code(),
            NetErrc::unsupported_command);
}

TEST(Socks5Request, RefusesUnknownAddressTypesWithTheMatchingReply) {
  Error e = refused(parse_request, "\x05\x01\x00\x02"s);
  EXPECT_EQ(e.code(), NetErrc::unsupported_address_type);
  EXPECT_EQ(reply_for(e), Socks5Reply::address_type_not_supported);
  EXPECT_NE(e.message().find("0x02"), std::string::npos);
}

TEST(Socks5Request, RefusesBadVersionAndReservedByte) {
  EXPECT_EQ(refused(parse_request, "\x04\x01"s).code(), NetErrc::bad_version);
  EXPECT_EQ(refused(parse_request, "\x05\x01\x01"s).code(), NetErrc::malformed);
  EXPECT_EQ(reply_for(refused(parse_request, "\x05\x01\x01"s)), Socks5Reply::general_failure);
}

TEST(Socks5Request, RefusesBadDomainNamesNamingTheByte) {
  auto domain = [](const std::string& name) {
    return "\x05\x01\x00\x03"s + static_cast<char>(name.size()) + name + "\x00\x50"s;
  };
  EXPECT_EQ(refused(parse_request, "\x05\x01\x00\x03\x00"s).code(), NetErrc::bad_address);
  Error nul = refused(parse_request, domain("evil\0.com"s));
  EXPECT_EQ(nul.code(), NetErrc::bad_address);
  EXPECT_NE(nul.message().find("0x00 at offset 4"), std::string::npos) << nul.message();
  EXPECT_EQ(refused(parse_request, domain("a b")).code(), NetErrc::bad_address);
  EXPECT_EQ(refused(parse_request, domain("a\nb")).code(), NetErrc::bad_address);
  EXPECT_EQ(refused(parse_request, domain("caf\xc3\xa9.fr")).code(), NetErrc::bad_address);
  EXPECT_EQ(refused(parse_request, domain("\x7f")).code(), NetErrc::bad_address);
  // Names a resolver would read as numbers must be plain dotted quads.
  EXPECT_EQ(refused(parse_request, domain("0x7f.1")).code(), NetErrc::bad_address);
  EXPECT_EQ(refused(parse_request, domain("2130706433")).code(), NetErrc::bad_address);
  EXPECT_EQ(refused(parse_request, domain("127.1")).code(), NetErrc::bad_address);
  EXPECT_EQ(parsed(parse_request(bytes_of(domain("127.0.0.1")))).destination.host,
            Host(std::string("127.0.0.1")));
  EXPECT_TRUE(parse_request(bytes_of(domain("1password.com"))));
}

TEST(Socks5Writers, WriteExactBytes) {
  EXPECT_EQ(write_method_selection(socks5_method::no_auth), bytes_of("\x05\x00"s));
  EXPECT_EQ(write_method_selection(socks5_method::username_password), bytes_of("\x05\x02"s));
  EXPECT_EQ(write_method_selection(socks5_method::no_acceptable), bytes_of("\x05\xff"s));
  EXPECT_EQ(write_userpass_status(true), bytes_of("\x01\x00"s));
  EXPECT_EQ(write_userpass_status(false), bytes_of("\x01\x01"s));
  EXPECT_EQ(write_reply(Socks5Reply::connection_refused),
            bytes_of("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"s));
  EXPECT_EQ(write_reply(Socks5Reply::succeeded, v4(10, 1, 2, 3, 1080)).value(),
            bytes_of("\x05\x00\x00\x01\x0a\x01\x02\x03\x04\x38"s));
  EXPECT_EQ(write_reply(Socks5Reply::succeeded, v6_loopback(80)).value(),
            bytes_of("\x05\x00\x00\x04"s + std::string(15, '\0') + "\x01\x00\x50"s));
  EXPECT_EQ(write_reply(Socks5Reply::succeeded, {std::string("gw.example"), 1080}).value(),
            bytes_of("\x05\x00\x00\x03\x0agw.example\x04\x38"s));
  EXPECT_EQ(write_greeting({{0x00, 0x02}}).value(), bytes_of("\x05\x02\x00\x02"s));
  EXPECT_EQ(write_userpass({"alice", "secret"}).value(), bytes_of("\x01\x05"
                                                                  "alice\x06secret"s));
}

TEST(Socks5Writers, RefuseWhatTheCannotEncode) {
  EXPECT_EQ(write_reply(Socks5Reply::succeeded, {std::string(256, 'a'), 1}).error().code(),
            NetErrc::invalid_argument);
  EXPECT_EQ(write_request({Socks5Command::connect, {std::string("a\0b"s), 1}}).error().code(),
            NetErrc::invalid_argument);
  EXPECT_FALSE(write_greeting({}));
  EXPECT_FALSE(write_greeting({std::vector<uint8_t>(256, 0)}));
  EXPECT_FALSE(write_userpass({"", "p"}));
  EXPECT_FALSE(write_userpass({"u", std::string(256, 'p')}));
}

TEST(Socks5Writers, ReplyCodesHaveTheirRfcValuesAndNames) {
  EXPECT_EQ(static_cast<int>(Socks5Reply::ttl_expired), 6);
  EXPECT_EQ(static_cast<int>(Socks5Reply::address_type_not_supported), 8);
  EXPECT_STREQ(to_string(Socks5Reply::not_allowed), "connection not allowed by ruleset");
  EXPECT_STREQ(to_string(Socks5Reply::general_failure), "general SOCKS server failure");
  EXPECT_STREQ(to_string(static_cast<Socks5Reply>(9)), "unassigned");
}

TEST(Socks5RoundTrip, RequestsAndRepliesOfEveryAddressTypeParseBack) {
  for (const Endpoint& ep : {v4(203, 0, 113, 9, 65535), v6_loopback(1),
                             Endpoint{std::string("xn--bcher-kva.example"), 8080}}) {
    for (auto cmd : {Socks5Command::connect, Socks5Command::bind, Socks5Command::udp_associate}) {
      Socks5Request req{cmd, ep};
      Bytes bytes = write_request(req).value();
      EXPECT_EQ(parsed(parse_request(bytes)), req);
      expect_incremental(parse_request, std::string(bytes.begin(), bytes.end()));
    }
    for (int rep = 0; rep <= 8; ++rep) {
      Socks5Response resp{static_cast<Socks5Reply>(rep), ep};
      EXPECT_EQ(parsed(parse_reply(write_reply(resp.reply, resp.bound).value())), resp);
    }
  }
  EXPECT_EQ(refused(parse_reply, "\x05\x09"s).code(), NetErrc::malformed);
}

TEST(Socks5Udp, ParsesTheHeaderAndLocatesThePayload) {
  std::string dgram = "\x00\x00\x00\x01\x08\x08\x08\x08\x00\x35query"s;
  ExactCopy in(dgram);
  auto h = parse_udp_header(in.bytes()).value();
  EXPECT_EQ(h.destination, v4(8, 8, 8, 8, 53));
  EXPECT_EQ(h.header_size, 10u);
  auto payload = in.bytes().subspan(h.header_size);
  EXPECT_EQ(std::string(payload.begin(), payload.end()), "query");
  auto d = parse_udp_header(bytes_of("\x00\x00\x00\x03\x03"
                                     "dns\x00\x35"s))
               .value();
  EXPECT_EQ(d.destination, (Endpoint{std::string("dns"), 53}));
  EXPECT_EQ(d.header_size, 10u);
}

TEST(Socks5Udp, RefusesFragmentsReservedBytesTruncationAndOversize) {
  auto udp = [](const std::string& s) { return parse_udp_header(ExactCopy(s).bytes()); };
  EXPECT_EQ(udp("\x00\x00\x01\x01\x08\x08\x08\x08\x00\x35x"s).error().code(), NetErrc::fragmented);
  EXPECT_EQ(udp("\x00\x00\x80\x01\x08\x08\x08\x08\x00\x35x"s).error().code(), NetErrc::fragmented);
  EXPECT_EQ(udp("\x00\x01\x00\x01\x08\x08\x08\x08\x00\x35"s).error().code(), NetErrc::malformed);
  std::string full = "\x00\x00\x00\x04"s + std::string(16, '\x01') + "\x00\x35"s;
  for (size_t k = 0; k < full.size(); ++k) {
    EXPECT_FALSE(udp(full.substr(0, k))) << "truncated at " << k;
  }
  EXPECT_TRUE(udp(full));
  EXPECT_EQ(udp("\x00\x00\x00\x07"s + std::string(10, 'x')).error().code(),
            NetErrc::unsupported_address_type);
  EXPECT_EQ(
      udp("\x00\x00\x00\x01\x01\x01\x01\x01\x00\x35"s + std::string(65535, 'x')).error().code(),
      NetErrc::too_large);
}

TEST(Socks5Udp, HeaderWriterRoundTripsEveryAddressType) {
  for (const Endpoint& ep : {v4(1, 2, 3, 4, 5), v6_loopback(53), Endpoint{std::string("a.b"), 9}}) {
    Bytes h = write_udp_header(ep).value();
    Bytes dgram = h;
    dgram.push_back('x');
    auto back = parse_udp_header(dgram).value();
    EXPECT_EQ(back.destination, ep);
    EXPECT_EQ(back.header_size, h.size());
  }
  EXPECT_EQ(write_udp_header(v4(1, 2, 3, 4, 5)).value(),
            bytes_of("\x00\x00\x00\x01\x01\x02\x03\x04\x00\x05"s));
}

TEST(Socks5Fuzz, MutatedMessagesNeverCrashOrBreakTheRoundTrip) {
  std::mt19937_64 rng(1928);
  std::vector<std::string> seeds = socks5_fuzz_seeds();
  std::vector<std::string> tokens = {"\x05"s, "\x01"s, "\x03"s,    "\x04"s,
                                     "\x00"s, "\xff"s, "\x00\x50"s};
  for (const auto& s : seeds)
    EXPECT_TRUE(fuzz_socks5(s, [](std::string_view w) { ADD_FAILURE() << w; }));
  size_t complete = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string in = test_util::mutate_many(seeds[i % seeds.size()], rng, 4, tokens);
    EXPECT_TRUE(fuzz_socks5(
        in, [&](std::string_view w) { ADD_FAILURE() << w << " on " << to_hex(as_bytes(in)); }));
    auto r = parse_request(as_bytes(in));
    if (r && r->complete()) ++complete;
  }
  // Enough mutants must stay valid to exercise the writers and the prefix checks.
  EXPECT_GT(complete, 200u);
}

TEST(Socks5Fuzz, RandomBytesNeverCrash) {
  std::mt19937_64 rng(1929);
  for (int i = 0; i < 3000; ++i) {
    std::string in(rng() % 300, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    if (!in.empty() && i % 2 == 0) in[0] = 0x05;  // get past the version byte half the time
    EXPECT_TRUE(fuzz_socks5(in, [&](std::string_view w) { ADD_FAILURE() << w; }));
  }
}

}  // namespace
}  // namespace ipsx::net
