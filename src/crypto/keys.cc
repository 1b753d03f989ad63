#include "crypto/keys.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/keccak.h"
#include "crypto/secure.h"

namespace ipsx::crypto {
namespace {

// secp256k1's group order n divided by two, big-endian: the largest low s.
constexpr std::array<uint8_t, 32> kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

// One context for the process, randomized against side channels; read-only after creation, so
// safe to share between threads (libsecp256k1's documented contract).
const secp256k1_context* context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    std::array<uint8_t, 32> seed{};
    if (random_bytes(seed) && !secp256k1_context_randomize(c, seed.data())) {
      // Randomization only hardens against side channels; signing stays correct without it.
    }
    secure_zero(seed);
    return c;
  }();
  return ctx;
}

}  // namespace

Result<PublicKey> PublicKey::parse(ByteView bytes) {
  std::array<uint8_t, 65> buf;
  ByteView input = bytes;
  if (bytes.size() == 64) {
    buf[0] = 0x04;
    std::copy(bytes.begin(), bytes.end(), buf.begin() + 1);
    input = buf;
  }
  secp256k1_pubkey pk;
  if (!secp256k1_ec_pubkey_parse(context(), &pk, input.data(), input.size())) {
    return fail(CryptoErrc::invalid_key, "not a valid secp256k1 public key");
  }
  size_t len = buf.size();
  secp256k1_ec_pubkey_serialize(context(), buf.data(), &len, &pk, SECP256K1_EC_UNCOMPRESSED);
  PublicKey out;
  std::copy(buf.begin() + 1, buf.end(), out.xy_.begin());
  return out;
}

Address PublicKey::address() const {
  Hash h = keccak256(ByteView(xy_));
  Address a;
  std::copy(h.bytes().begin() + 12, h.bytes().end(), a.bytes().begin());
  return a;
}

Result<PrivateKey> PrivateKey::from_bytes(ByteView secret) {
  if (secret.size() != 32) {
    return fail(CryptoErrc::invalid_key, "a private key is 32 bytes");
  }
  PrivateKey k;
  std::copy(secret.begin(), secret.end(), k.secret_.begin());
  if (!secp256k1_ec_seckey_verify(context(), k.secret_.data())) {
    return fail(CryptoErrc::invalid_key, "private key is zero or not below the curve order");
  }
  return k;
}

Result<PrivateKey> PrivateKey::from_hex(std::string_view hex) {
  std::array<uint8_t, 32> buf;
  if (auto r = from_hex_exact(hex, buf); !r) {
    return fail(CryptoErrc::invalid_key, "private key: " + r.error().message());
  }
  auto k = from_bytes(buf);
  secure_zero(buf);
  return k;
}

Result<PrivateKey> PrivateKey::generate() {
  // A random 32-byte string is a valid key except with probability ~2^-128; retry if not.
  for (int attempt = 0; attempt < 16; ++attempt) {
    PrivateKey k;
    if (auto r = random_bytes(k.secret_); !r) return std::unexpected(r.error());
    if (secp256k1_ec_seckey_verify(context(), k.secret_.data())) return k;
  }
  return fail(CryptoErrc::random_failure, "random source produced no valid key");
}

PrivateKey::PrivateKey(PrivateKey&& o) noexcept : secret_(o.secret_) {
  secure_zero(o.secret_);
}

PrivateKey& PrivateKey::operator=(PrivateKey&& o) noexcept {
  if (this != &o) {
    secret_ = o.secret_;
    secure_zero(o.secret_);
  }
  return *this;
}

PrivateKey::~PrivateKey() {
  secure_zero(secret_);
}

PrivateKey PrivateKey::clone() const {
  PrivateKey k;
  k.secret_ = secret_;
  return k;
}

PublicKey PrivateKey::public_key() const {
  secp256k1_pubkey pk;
  // Cannot fail: the secret was verified on construction.
  if (!secp256k1_ec_pubkey_create(context(), &pk, secret_.data())) std::abort();
  std::array<uint8_t, 65> buf;
  size_t len = buf.size();
  secp256k1_ec_pubkey_serialize(context(), buf.data(), &len, &pk, SECP256K1_EC_UNCOMPRESSED);
  PublicKey out;
  std::copy(buf.begin() + 1, buf.end(), out.xy_.begin());
  return out;
}

Result<Signature> Signature::from_bytes(ByteView bytes) {
  if (bytes.size() != 65) {
    return fail(CryptoErrc::invalid_signature,
                "a signature is 65 bytes (r, s, v), got " + std::to_string(bytes.size()));
  }
  uint8_t v = bytes[64];
  if (v >= 27) v = static_cast<uint8_t>(v - 27);
  if (v > 1) {
    return fail(CryptoErrc::invalid_signature,
                "signature v must be 27 or 28 (or 0 or 1), got " + std::to_string(bytes[64]));
  }
  Hash r(bytes.subspan<0, 32>());
  Hash s(bytes.subspan<32, 32>());
  return Signature(r, s, v);
}

Result<Signature> Signature::from_hex(std::string_view hex) {
  std::array<uint8_t, 65> buf;
  if (auto r = from_hex_exact(hex, buf); !r) {
    return fail(CryptoErrc::invalid_signature, "signature: " + r.error().message());
  }
  return from_bytes(buf);
}

std::array<uint8_t, 65> Signature::to_bytes() const {
  std::array<uint8_t, 65> out;
  std::copy(r_.bytes().begin(), r_.bytes().end(), out.begin());
  std::copy(s_.bytes().begin(), s_.bytes().end(), out.begin() + 32);
  out[64] = v();
  return out;
}

std::string Signature::to_hex() const {
  return ipsx::to_hex(to_bytes());
}

bool Signature::is_low_s() const {
  return std::lexicographical_compare_three_way(s_.bytes().begin(), s_.bytes().end(),
                                                kHalfOrder.begin(), kHalfOrder.end()) <= 0;
}

Result<Signature> sign(const PrivateKey& key, const Hash& digest) {
  secp256k1_ecdsa_recoverable_signature sig;
  if (!secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), key.secret().data(),
                                        nullptr, nullptr)) {
    return fail(CryptoErrc::invalid_key, "signing failed");
  }
  std::array<uint8_t, 64> compact;
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact.data(), &recid, &sig);
  Hash r(std::span<const uint8_t, 32>(compact.data(), 32));
  Hash s(std::span<const uint8_t, 32>(compact.data() + 32, 32));
  return Signature(r, s, static_cast<uint8_t>(recid));
}

Result<PublicKey> recover_public_key(const Hash& digest, const Signature& sig) {
  if (!sig.is_low_s()) {
    return fail(CryptoErrc::invalid_signature, "signature has a high s value (EIP-2 forbids it)");
  }
  std::array<uint8_t, 64> compact;
  std::copy(sig.r().bytes().begin(), sig.r().bytes().end(), compact.begin());
  std::copy(sig.s().bytes().begin(), sig.s().bytes().end(), compact.begin() + 32);
  secp256k1_ecdsa_recoverable_signature rs;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &rs, compact.data(),
                                                           sig.recovery_id())) {
    return fail(CryptoErrc::invalid_signature, "signature r or s is out of range");
  }
  secp256k1_pubkey pk;
  if (!secp256k1_ecdsa_recover(context(), &pk, &rs, digest.data())) {
    return fail(CryptoErrc::recovery_failed, "no public key recovers from this signature");
  }
  std::array<uint8_t, 65> buf;
  size_t len = buf.size();
  secp256k1_ec_pubkey_serialize(context(), buf.data(), &len, &pk, SECP256K1_EC_UNCOMPRESSED);
  PublicKey out;
  std::copy(buf.begin() + 1, buf.end(), out.xy_.begin());
  return out;
}

Result<Address> recover(const Hash& digest, const Signature& sig) {
  auto pk = recover_public_key(digest, sig);
  if (!pk) return std::unexpected(pk.error());
  return pk->address();
}

bool verify(const Hash& digest, const Signature& sig, const Address& signer) {
  auto a = recover(digest, sig);
  return a && *a == signer;
}

}  // namespace ipsx::crypto
