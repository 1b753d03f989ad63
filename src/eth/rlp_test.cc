#include "eth/rlp.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <random>

namespace ipsx::eth::rlp {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

std::string enc(const Item& item) {
  return to_hex(encode(item));
}

Item s(std::string_view text) {
  return Item::string(text);
}

// The examples of the Ethereum wiki's RLP page (and the yellow paper's appendix B).
TEST(Rlp, EncodesTheWikiExamples) {
  EXPECT_EQ(enc(s("dog")), "0x83646f67");
  EXPECT_EQ(enc(Item::list({s("cat"), s("dog")})), "0xc88363617483646f67");
  EXPECT_EQ(enc(s("")), "0x80");
  EXPECT_EQ(enc(Item::list({})), "0xc0");
  EXPECT_EQ(enc(Item::uint(0)), "0x80");
  EXPECT_EQ(enc(Item::string(hex("00"))), "0x00");
  EXPECT_EQ(enc(Item::uint(15)), "0x0f");
  EXPECT_EQ(enc(Item::uint(1024)), "0x820400");
  // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
  Item empty = Item::list({});
  Item one = Item::list({empty});
  EXPECT_EQ(enc(Item::list({empty, one, Item::list({empty, one})})), "0xc7c0c1c0c3c0c1c0");
  EXPECT_EQ(enc(s("Lorem ipsum dolor sit amet, consectetur adipisicing elit")),
            "0xb838" + to_hex(as_bytes("Lorem ipsum dolor sit amet, consectetur adipisicing elit"),
                              false));
}

TEST(Rlp, EncodesLengthBoundaries) {
  EXPECT_EQ(enc(Item::string(hex("7f"))), "0x7f");
  EXPECT_EQ(enc(Item::string(hex("80"))), "0x8180");
  EXPECT_EQ(encode(Item::string(Bytes(55, 'a'))).front(), 0xb7);
  Bytes b56 = encode(Item::string(Bytes(56, 'a')));
  EXPECT_EQ(to_hex(ByteView(b56).first(2)), "0xb838");
  Bytes b1024 = encode(Item::string(Bytes(1024, 'a')));
  EXPECT_EQ(to_hex(ByteView(b1024).first(3)), "0xb90400");
  // A list whose payload is 56 bytes takes the long form 0xf8 0x38.
  Bytes list = encode(Item::list({Item::string(Bytes(55, 'x'))}));
  EXPECT_EQ(to_hex(ByteView(list).first(2)), "0xf838");
  EXPECT_EQ(enc(Item::uint(U256::max())), "0xa0" + std::string(64, 'f'));
}

TEST(Rlp, DecodesWhatItEncodes) {
  Item empty = Item::list({});
  Item three = Item::list({empty, Item::list({empty}), Item::list({empty, Item::list({empty})})});
  for (const Item& item : {s("dog"), Item::list({s("cat"), s("dog")}), s(""), empty, three,
                           Item::string(Bytes(1024, 7)), Item::uint(1024)}) {
    EXPECT_EQ(decode(encode(item)).value(), item);
  }
}

TEST(Rlp, DecodeOfRandomTreesRoundTrips) {
  std::mt19937_64 rng(7);
  std::function<Item(int)> gen = [&](int depth) {
    if (depth > 4 || rng() % 3 == 0) {
      size_t n = rng() % 4 == 0 ? 56 + rng() % 300 : rng() % 3;
      Bytes b(n);
      for (auto& c : b) c = static_cast<uint8_t>(rng() % (rng() % 2 ? 0x80 : 0x100));
      return Item::string(b);
    }
    Item::List items;
    size_t n = rng() % 6;
    for (size_t i = 0; i < n; ++i) items.push_back(gen(depth + 1));
    return Item::list(std::move(items));
  };
  for (int i = 0; i < 300; ++i) {
    Item item = gen(0);
    Bytes e = encode(item);
    auto d = decode(e);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(*d, item);
  }
}

// Strictness means one encoding per item: whatever decodes re-encodes to exactly its input.
TEST(Rlp, AcceptedInputIsAlwaysTheCanonicalEncoding) {
  std::mt19937_64 rng(1024);
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 12);
    for (auto& c : b) c = static_cast<uint8_t>(rng() % 4 == 0 ? 0xb8 + rng() % 72 : rng());
    if (rng() % 2 && !b.empty()) b[0] = static_cast<uint8_t>(0xc0 + b.size() - 1);
    auto d = decode(b);
    if (!d) continue;
    ++accepted;
    EXPECT_EQ(encode(*d), b) << to_hex(b);
  }
  EXPECT_GT(accepted, 1000u);
}

void expect_refused(std::string_view h, EthErrc code, std::string_view fragment) {
  auto r = decode(hex(h));
  ASSERT_FALSE(r) << h;
  EXPECT_EQ(r.error().code(), code) << h << ": " << r.error().message();
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

TEST(Rlp, RefusesNonCanonicalEncodings) {
  expect_refused("8100", EthErrc::non_canonical, "at offset 0: single byte 0x00");
  expect_refused("817f", EthErrc::non_canonical, "below 0x80");
  expect_refused("c3c28105", EthErrc::non_canonical, "at offset 2");
  // The long form for a length under 56.
  expect_refused("b80161", EthErrc::non_canonical, "under 56");
  expect_refused("f80180", EthErrc::non_canonical, "long form for a list");
  // A length with a leading zero byte.
  expect_refused("b90038" + std::string(112, '6'), EthErrc::non_canonical, "leading zero");
}

TEST(Rlp, RefusesTruncatedAndTrailingInput) {
  expect_refused("", EthErrc::truncated, "offset 0");
  expect_refused("83646f", EthErrc::truncated, "runs past the end");
  expect_refused("b9", EthErrc::truncated, "length needs 2 bytes");
  expect_refused("bfffffffffffffffff", EthErrc::truncated, "runs past the end");
  // An item inside a list that runs past the list's end (but not the input's).
  expect_refused("c283646f67", EthErrc::truncated, "at offset 1");
  expect_refused("83646f6700", EthErrc::trailing_bytes, "at offset 4: 1 bytes after");
  expect_refused("c0c0", EthErrc::trailing_bytes, "offset 1");
}

// `levels` lists, each holding the next; the innermost is empty.
std::string nested_lists(size_t levels) {
  std::string h = "c0";
  for (size_t i = 1; i < levels; ++i) {
    size_t n = h.size() / 2;
    Bytes header;
    append_list_header(header, n);
    h = to_hex(header, false) + h;
  }
  return h;
}

TEST(Rlp, RefusesNestingDeeperThanTheLimit) {
  EXPECT_TRUE(decode(hex(nested_lists(kMaxDepth))));
  auto r = decode(hex(nested_lists(kMaxDepth + 1)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EthErrc::too_deep);
  EXPECT_NE(r.error().message().find("nested more than 64"), std::string::npos);
  EXPECT_TRUE(decode(hex(nested_lists(kMaxDepth + 1)), kMaxDepth + 1));
  EXPECT_FALSE(decode(hex("c1c0"), 1));
  // Far deeper input fails on the limit, not the stack.
  EXPECT_EQ(decode(hex(nested_lists(3000))).error().code(), EthErrc::too_deep);
}

TEST(Rlp, ReadsIntegersStrictly) {
  EXPECT_EQ(to_uint(decode(hex("820400")).value(), "n").value(), U256(1024));
  EXPECT_EQ(to_uint(decode(hex("80")).value(), "n").value(), U256(0));
  EXPECT_EQ(to_u64(decode(hex("0f")).value(), "n").value(), 15u);
  auto lead = to_uint(decode(hex("820004")).value(), "nonce");
  ASSERT_FALSE(lead);
  EXPECT_EQ(lead.error().code(), EthErrc::non_canonical);
  EXPECT_NE(lead.error().message().find("nonce"), std::string::npos);
  EXPECT_EQ(to_u64(decode(hex("89010000000000000000")).value(), "gas").error().code(),
            EthErrc::too_large);
  EXPECT_FALSE(to_uint(decode(hex("c0")).value(), "n"));
  EXPECT_FALSE(to_uint(Item::string(Bytes(33, 1)), "n"));
}

}  // namespace
}  // namespace ipsx::eth::rlp
