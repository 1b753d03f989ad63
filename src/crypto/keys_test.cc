#include "crypto/keys.h"

#include <gtest/gtest.h>

#include "core/keccak.h"
#include "core/uint256.h"

namespace ipsx::crypto {
namespace {

// secp256k1's group order n, big-endian.
const U256 kOrder =
    U256::from_hex("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();

PrivateKey cow() {
  return PrivateKey::from_bytes(keccak256(std::string_view("cow")).view()).value();
}

TEST(Keys, AddressOfTheEip712ExampleKey) {
  EXPECT_EQ(cow().address().to_string(), "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
}

TEST(Keys, SignRecoverRoundTripsForRandomKeys) {
  for (int i = 0; i < 50; ++i) {
    auto key = PrivateKey::generate().value();
    Hash digest = keccak256(std::to_string(i));
    Signature sig = sign(key, digest).value();
    EXPECT_TRUE(sig.is_low_s());
    EXPECT_EQ(recover(digest, sig).value(), key.address());
    EXPECT_TRUE(verify(digest, sig, key.address()));
    EXPECT_FALSE(verify(keccak256(std::string_view("other")), sig, key.address()));
    auto bytes = sig.to_bytes();
    EXPECT_TRUE(bytes[64] == 27 || bytes[64] == 28);
    EXPECT_EQ(Signature::from_bytes(bytes).value(), sig);
  }
}

TEST(Keys, SigningIsDeterministic) {
  Hash digest = keccak256(std::string_view("x"));
  EXPECT_EQ(sign(cow(), digest).value(), sign(cow(), digest).value());
}

TEST(Keys, HighSSignatureIsRejected) {
  Hash digest = keccak256(std::string_view("malleable"));
  Signature sig = sign(cow(), digest).value();
  // (r, n - s, 1 - recid) is the same signature mirrored: valid for ECDSA, forbidden by EIP-2.
  U256 high_s = kOrder.wrapping_sub(U256::from_be_bytes(sig.s().bytes()));
  Signature mirrored(sig.r(), Hash(high_s.to_be_bytes()),
                     static_cast<uint8_t>(1 - sig.recovery_id()));
  EXPECT_FALSE(mirrored.is_low_s());
  auto r = recover(digest, mirrored);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), CryptoErrc::invalid_signature);
  EXPECT_NE(r.error().message().find("high s"), std::string::npos);
  EXPECT_FALSE(verify(digest, mirrored, cow().address()));
}

TEST(Keys, MalformedSignaturesAreRejected) {
  EXPECT_FALSE(Signature::from_hex("0x1234"));
  std::array<uint8_t, 65> bytes{};
  bytes[64] = 29;
  EXPECT_FALSE(Signature::from_bytes(bytes));
  bytes[64] = 0;
  Signature zero = Signature::from_bytes(bytes).value();
  EXPECT_FALSE(recover(Hash(), zero));  // r = s = 0
  // r >= n is out of range.
  std::array<uint8_t, 65> over{};
  auto n = kOrder.to_be_bytes();
  std::copy(n.begin(), n.end(), over.begin());
  over[63] = 1;
  over[64] = 27;
  EXPECT_FALSE(recover(Hash(), Signature::from_bytes(over).value()));
}

TEST(Keys, InvalidPrivateKeysAreRejected) {
  std::array<uint8_t, 32> zero{};
  EXPECT_EQ(PrivateKey::from_bytes(zero).error().code(), CryptoErrc::invalid_key);
  EXPECT_FALSE(PrivateKey::from_bytes(kOrder.to_be_bytes()));
  EXPECT_FALSE(PrivateKey::from_hex("0x01"));
  EXPECT_TRUE(PrivateKey::from_bytes(kOrder.wrapping_sub(1).to_be_bytes()));
}

TEST(Keys, MovedFromKeyIsZeroed) {
  PrivateKey a = cow();
  PrivateKey b = std::move(a);
  EXPECT_EQ(a.secret(), (std::array<uint8_t, 32>{}));  // NOLINT: use after move is the point
  EXPECT_EQ(b.address(), cow().address());
}

TEST(Keys, PublicKeyEncodingsAgree) {
  PrivateKey key = cow();
  PublicKey pk = key.public_key();
  auto again = PublicKey::parse(pk.xy()).value();
  EXPECT_EQ(again, pk);
  std::array<uint8_t, 65> uncompressed;
  uncompressed[0] = 4;
  std::copy(pk.xy().begin(), pk.xy().end(), uncompressed.begin() + 1);
  EXPECT_EQ(PublicKey::parse(uncompressed).value(), pk);
  uncompressed[10] ^= 1;
  EXPECT_FALSE(PublicKey::parse(uncompressed));
}

}  // namespace
}  // namespace ipsx::crypto
