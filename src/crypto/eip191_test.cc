#include "crypto/eip191.h"

#include <gtest/gtest.h>

#include "core/keccak.h"

namespace ipsx::crypto {
namespace {

TEST(Eip191, PersonalMessageHashMatchesWallets) {
  // ethers' hashMessage("Hello World"), also `cast hash-message "Hello World"`.
  EXPECT_EQ(personal_message_hash(std::string_view("Hello World")).hex(),
            "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");
}

TEST(Eip191, SignatureMatchesFoundryCast) {
  // `cast wallet sign --private-key $(cast keccak cow) "Hello World"` and "" (empty message).
  auto key = PrivateKey::from_bytes(keccak256(std::string_view("cow")).view()).value();
  EXPECT_EQ(sign_personal_message(key, as_bytes("Hello World"))->to_hex(),
            "0xb48cbb7331343e0d831876892f1eac6b4fbec2e3f5177a4790f4bed0a9e586af246b639027d0ade24c0"
            "219595b5fa30857b3b75dc64b6d52017b6e39365892071b");
  EXPECT_EQ(sign_personal_message(key, as_bytes(""))->to_hex(),
            "0x68c36703cfae77b264e66cf9587aa39dd76b66ff1317e563b4566d9ea5d8d60e5b9be8c58a324e1dbb4"
            "24365aa778a2faec2d3f922bf0339cda43d76c492a5ab1c");
}

}  // namespace
}  // namespace ipsx::crypto
