#include "core/keccak.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

// Ethereum's keccak-256 differs from NIST SHA3-256 only in padding; these are the published
// keccak values (SHA3-256("") would be a7ffc6f8...).
TEST(Keccak256, PublishedVectors) {
  EXPECT_EQ(keccak256(std::string_view("")).hex(),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(keccak256(std::string_view("abc")).hex(),
            "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256, IncrementalMatchesOneShotAndResets) {
  std::string data(1000, 'x');
  Keccak256 k;
  k.update(std::string_view(data).substr(0, 137)).update(std::string_view(data).substr(137));
  EXPECT_EQ(k.finish(), keccak256(std::string_view(data)));
  EXPECT_EQ(k.finish(), keccak256(std::string_view("")));
}

}  // namespace
}  // namespace ipsx
