#include "core/hex.h"

#include <gtest/gtest.h>

#include "core/hash.h"

namespace ipsx {
namespace {

TEST(Hex, RoundTrip) {
  Bytes b{0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(to_hex(b), "0x0001abff");
  EXPECT_EQ(to_hex(b, false), "0001abff");
  EXPECT_EQ(from_hex("0x0001ABff").value(), b);
  EXPECT_EQ(from_hex("0001abff").value(), b);
  EXPECT_TRUE(from_hex("0x").value().empty());
}

TEST(Hex, RejectsOddLengthBadCharactersAndOversizedInput) {
  auto odd = from_hex("0xabc");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message().find("odd"), std::string::npos);
  auto bad = from_hex("0xzz");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("position 2"), std::string::npos);
  EXPECT_FALSE(from_hex("0x\x01\x02"));
  auto big = from_hex(std::string(2 * 65, 'a'), 64);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message().find("limit"), std::string::npos);
}

TEST(Hex, FixedSizeParseNeedsExactLength) {
  EXPECT_TRUE(Hash::from_hex("0x" + std::string(64, '1')));
  EXPECT_FALSE(Hash::from_hex("0x" + std::string(62, '1')));
  EXPECT_FALSE(Hash::from_hex("0x" + std::string(66, '1')));
}

}  // namespace
}  // namespace ipsx
