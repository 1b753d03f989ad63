#include "net/pair_frame.h"

#include <gtest/gtest.h>

#include <random>

#include "net/fuzz_targets.h"
#include "net/net_error.h"
#include "net/pair_auth.h"
#include "net/pair_messages.h"

namespace ipsx::net {
namespace {

TEST(PairFrame, RoundTripsAndAsksForMore) {
  Frame f{FrameType::data, 0x01020304, Bytes{1, 2, 3}};
  auto bytes = write_frame(f);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, (Bytes{13, 0, 0, 3, 1, 2, 3, 4, 1, 2, 3}));
  for (size_t n = 0; n < bytes->size(); ++n) {
    auto r = parse_frame(ByteView(*bytes).first(n));
    ASSERT_TRUE(r) << n;
    EXPECT_FALSE(r->complete());
    EXPECT_GE(r->need, 1u);
    EXPECT_LE(r->need, bytes->size() - n);
  }
  Bytes two = *bytes;
  two.push_back(30);
  auto r = parse_frame(two);
  ASSERT_TRUE(r && r->complete());
  EXPECT_EQ(*r->message, f);
  EXPECT_EQ(r->consumed, bytes->size());
}

TEST(PairFrame, RefusesWhatBreaksTheGrammar) {
  auto code = [](Bytes b) {
    auto r = parse_frame(b);
    return r ? std::error_code{} : r.error().code();
  };
  EXPECT_EQ(code({99}), NetErrc::malformed);                                // unknown type
  EXPECT_EQ(code({13, 1}), NetErrc::malformed);                             // flags
  EXPECT_EQ(code({13, 0, 0, 0, 0, 0, 0, 0}), NetErrc::malformed);           // data on stream 0
  EXPECT_EQ(code({20, 0, 0, 0, 0, 0, 0, 1}), NetErrc::malformed);           // invoice on stream 1
  EXPECT_EQ(code({16, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0}), NetErrc::malformed);  // credit of 3 bytes
  EXPECT_EQ(code({13, 0, 0x40, 1, 0, 0, 0, 1}), NetErrc::malformed);        // data over 16 KiB
  Frame big{FrameType::data, 1, Bytes(kMaxDataPayload + 1)};
  EXPECT_FALSE(write_frame(big));
  Frame ok{FrameType::data, 1, Bytes(kMaxDataPayload)};
  EXPECT_TRUE(write_frame(ok));
}

TEST(PairMessages, RoundTripAndNameTheBadField) {
  OpenMessage open{Endpoint{Ipv4{127, 0, 0, 1}, 8080}, 4};
  auto back = parse_open(to_payload(open));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->destination, open.destination);
  EXPECT_EQ(back->protocol, 4u);
  OpenMessage named{Endpoint{std::string("example.com"), 443}, 2};
  back = parse_open(to_payload(named));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->destination, named.destination);

  auto bad = parse_open(as_bytes(R"({"host":"a.b","port":0,"protocol":4})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("open.port"), std::string::npos);
  bad = parse_open(as_bytes(R"({"host":"a.b","protocol":4})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("open.port: missing"), std::string::npos);
  EXPECT_FALSE(parse_open(as_bytes("[1,2]")));
  EXPECT_FALSE(parse_open(as_bytes("{")));

  InvoiceMessage inv{Hash{}, Amount::from_base(U256(12345)), 7, 100, 200};
  auto ib = parse_invoice(to_payload(inv));
  ASSERT_TRUE(ib);
  EXPECT_EQ(ib->amount_due, Amount::from_base(U256(12345)));
  EXPECT_EQ(ib->bytes_down, 200u);
  auto neg = parse_invoice(as_bytes(
      R"({"deal":"0x0000000000000000000000000000000000000000000000000000000000000000","amountDue":"-1","seconds":1,"bytesUp":0,"bytesDown":0})"));
  ASSERT_FALSE(neg);
  EXPECT_NE(neg.error().message().find("invoice.amountDue"), std::string::npos);
}

TEST(PairMessages, ErrorPayloadKeepsTheCodeAndCleansTheText) {
  Error e(NetErrc::unpaid, "unpaid\x01 use");
  Error back = parse_error_payload(error_payload(e));
  EXPECT_EQ(back.code(), NetErrc::unpaid);
  EXPECT_EQ(back.message(), "unpaid? use");
  EXPECT_EQ(parse_error_payload(Bytes{}).code(), NetErrc::exit_failed);
  EXPECT_EQ(parse_error_payload(Bytes{200, 'x'}).code(), NetErrc::exit_failed);
}

TEST(PairAuth, MessagesAreReadableAndBindEverything) {
  Hash deal;
  deal.bytes()[31] = 1;
  Bytes challenge(kChallengeBytes, 0xab), binding(kPairBindingBytes, 0xcd);
  std::string m = pair_auth_message(deal, challenge, binding);
  EXPECT_EQ(m.rfind("IPSX pair\ndeal: 0x", 0), 0u);
  binding[0] ^= 1;
  EXPECT_NE(m, pair_auth_message(deal, challenge, binding));
  std::string k = exit_key_message(Address{}, deal, 99);
  EXPECT_NE(k.find("valid until: 99"), std::string::npos);
}

TEST(PairFuzz, SeedsAndMutationsKeepTheRoundTrips) {
  std::mt19937_64 rng(4242);
  size_t parsed_frames = 0;
  for (const std::string& seed : pair_fuzz_seeds()) {
    EXPECT_TRUE(fuzz_pair(seed, [&](std::string_view w) { ADD_FAILURE() << w; }));
    if (auto r = parse_frame(as_bytes(seed)); r && r->complete()) ++parsed_frames;
  }
  EXPECT_GE(parsed_frames, 7u);
  auto seeds = pair_fuzz_seeds();
  for (int i = 0; i < 5000; ++i) {
    std::string in = seeds[i % seeds.size()];
    for (int k = 0; k < 3; ++k) {
      if (in.empty()) break;
      size_t at = rng() % in.size();
      switch (rng() % 3) {
        case 0:
          in[at] = static_cast<char>(rng());
          break;
        case 1:
          in.erase(at, 1);
          break;
        default:
          in.insert(at, 1, static_cast<char>(rng()));
          break;
      }
    }
    EXPECT_TRUE(fuzz_pair(in, [&](std::string_view w) { ADD_FAILURE() << w; }));
  }
}

TEST(PairMessages, UdpOpenAndDatagramRecords) {
  OpenMessage open{Endpoint{Ipv4{0, 0, 0, 0}, 0}, 4, true};
  auto back = parse_open(to_payload(open));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(back->udp);
  EXPECT_EQ(back->destination, open.destination);
  // Port 0 only for UDP.
  EXPECT_FALSE(parse_open(to_payload(OpenMessage{Endpoint{Ipv4{1, 2, 3, 4}, 0}, 4, false})));
  std::string text = R"({"host":"a.example","port":1,"protocol":4,"udp":"yes"})";
  EXPECT_FALSE(parse_open(Bytes(text.begin(), text.end())));

  Bytes payload = {'p', 'i', 'n', 'g'};
  auto record = write_datagram_record(Endpoint{Ipv4{127, 0, 0, 1}, 53}, payload);
  ASSERT_TRUE(record);
  EXPECT_EQ(to_hex(*record, false), "000e000000017f0000010035" + to_hex(payload, false));
  for (size_t k = 0; k < record->size(); ++k) {
    auto r = parse_datagram_record(ByteView(*record).first(k));
    ASSERT_TRUE(r && !r->complete());
    EXPECT_LE(k + r->need, record->size());
  }
  Bytes two = *record;
  two.insert(two.end(), record->begin(), record->end());
  auto r = parse_datagram_record(two);
  ASSERT_TRUE(r && r->complete());
  EXPECT_EQ(r->consumed, record->size());
  EXPECT_EQ(r->message->payload, payload);
  // A fragment in a record is an error: the stream is out of step.
  Bytes frag = *record;
  frag[4] = 1;
  EXPECT_EQ(parse_datagram_record(frag).error().code(), NetErrc::fragmented);
  EXPECT_EQ(write_datagram_record(Endpoint{Ipv4{1, 1, 1, 1}, 1}, Bytes(65530, 0)).error().code(),
            NetErrc::too_large);
}

}  // namespace
}  // namespace ipsx::net
