#include "core/address.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "core/hash.h"
#include "core/text_hash.h"

namespace ipsx {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The examples of EIP-55.
TEST(Address, Eip55Examples) {
  for (const char* checksummed :
       {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26"}) {
    auto a = Address::parse(checksummed);
    ASSERT_TRUE(a) << checksummed << ": " << a.error().message();
    EXPECT_EQ(lower(a->to_string()), lower(checksummed));
    auto from_lower = Address::parse(lower(checksummed));
    ASSERT_TRUE(from_lower);
    EXPECT_EQ(*from_lower, *a);
  }
  EXPECT_EQ(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")->to_string(),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
}

TEST(Address, MixedCaseWithWrongChecksumIsRejected) {
  auto r = Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), CoreErrc::bad_checksum);
  EXPECT_NE(r.error().message().find("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            std::string::npos);
}

TEST(Address, MalformedTextIsRejected) {
  EXPECT_FALSE(Address::parse(""));
  EXPECT_FALSE(Address::parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));  // no 0x
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedaa"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"));
}

// The table hash is SipHash: the paper's SipHash-2-4 vector (key 00..0f, message 00..0e) checks
// the rounds and the message's padding; the tables use 1-3 rounds of the same code.
TEST(TableHash, IsSipHashByThePapersVector) {
  uint8_t msg[15];
  for (uint8_t i = 0; i < 15; ++i) msg[i] = i;
  EXPECT_EQ((siphash<2, 4>(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg, 15)),
            0xa129ca6149be45e5ULL);
  EXPECT_NE(hash_key().k0 | hash_key().k1, 0u);
}

// An attack on the ledger's tables: anyone may send a token to any address, so addresses that
// share all but their last bytes (or their first eight, which the table hash once was) can be
// made at will. They must still spread over the buckets: with 100,000 of them, no bucket holds
// more than a dozen (a uniform hash gives ~1 each; the old hash put them all in one).
TEST(TableHash, AddressesSharingAPrefixDoNotShareABucket) {
  std::unordered_set<Address> addresses;
  for (uint64_t i = 0; i < 100'000; ++i) {
    Address a;
    a.bytes()[0] = 0xac;
    for (int b = 0; b < 8; ++b) a.bytes()[19 - b] = static_cast<uint8_t>(i >> (8 * b));
    addresses.insert(a);
  }
  size_t worst_address = 0;
  for (size_t b = 0; b < addresses.bucket_count(); ++b)
    worst_address = std::max(worst_address, addresses.bucket_size(b));
  EXPECT_LE(worst_address, 12u);
  std::unordered_set<Hash> hashes;
  for (uint64_t i = 0; i < 100'000; ++i) {
    Hash h;
    for (int b = 0; b < 8; ++b) h.bytes()[31 - b] = static_cast<uint8_t>(i >> (8 * b));
    hashes.insert(h);
  }
  size_t worst = 0;
  for (size_t b = 0; b < hashes.bucket_count(); ++b) worst = std::max(worst, hashes.bucket_size(b));
  EXPECT_LE(worst, 12u);
}

// Text from outside (an order's region, a client's address, a proxy user) is hashed the same
// way, under the same process key, and looked up without making a string.
TEST(TableHash, TextIsSipHashUnderTheProcessKey) {
  const HashKey& k = hash_key();
  const std::string region = "Île-de-France";
  EXPECT_EQ(TextHash{}(region),
            static_cast<size_t>(siphash(k.k0, k.k1, reinterpret_cast<const uint8_t*>(region.data()),
                                        region.size())));
  EXPECT_EQ(TextHash{}(region), TextHash{}(std::string_view(region)));
  EXPECT_NE(TextHash{}("a"), TextHash{}("b"));
  TextMap<int> m;
  m["198.51.100.7"] = 7;
  auto it = m.find(std::string_view("198.51.100.7"));
  ASSERT_NE(it, m.end());
  EXPECT_EQ(it->second, 7);
}

}  // namespace
}  // namespace ipsx
