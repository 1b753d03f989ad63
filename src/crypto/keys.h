// secp256k1 keys and recoverable ECDSA signatures, as Ethereum uses them, over libsecp256k1.
// All functions are thread-safe: they share one read-only, randomized library context.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/hash.h"
#include "crypto/crypto_error.h"

namespace ipsx::crypto {

// An uncompressed public key without its 0x04 prefix: x || y, 64 bytes.
class PublicKey {
 public:
  // Accepts 33-byte compressed, 65-byte uncompressed (0x04...) or 64-byte raw x||y encodings.
  static Result<PublicKey> parse(ByteView bytes);
  const std::array<uint8_t, 64>& xy() const { return xy_; }
  // The account address: the last 20 bytes of keccak256(x || y).
  Address address() const;
  friend bool operator==(const PublicKey&, const PublicKey&) = default;

 private:
  friend class PrivateKey;
  friend Result<PublicKey> recover_public_key(const Hash&, const class Signature&);
  std::array<uint8_t, 64> xy_{};
};

// A secp256k1 secret scalar. Zeroed on destruction and when moved from; not copyable (use
// clone() where a second copy is really needed).
class PrivateKey {
 public:
  // Fails unless `secret` is 32 bytes encoding a scalar in [1, n-1].
  static Result<PrivateKey> from_bytes(ByteView secret);
  static Result<PrivateKey> from_hex(std::string_view hex);
  // A new key from the OS random source.
  static Result<PrivateKey> generate();

  PrivateKey(PrivateKey&& o) noexcept;
  PrivateKey& operator=(PrivateKey&& o) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  PrivateKey clone() const;
  const std::array<uint8_t, 32>& secret() const { return secret_; }
  PublicKey public_key() const;
  Address address() const { return public_key().address(); }

 private:
  PrivateKey() = default;
  std::array<uint8_t, 32> secret_{};
};

// A recoverable signature: r, s (always low-s when we sign) and the recovery id 0 or 1.
class Signature {
 public:
  Signature() = default;
  Signature(const Hash& r, const Hash& s, uint8_t recovery_id)
      : r_(r), s_(s), recid_(recovery_id) {}

  // Parses 65 bytes r || s || v. v may be 27/28 (as wallets print it) or 0/1.
  static Result<Signature> from_bytes(ByteView bytes);
  static Result<Signature> from_hex(std::string_view hex);

  // r || s || v with v = 27 + recovery id, the form eth_sign and eth_signTypedData_v4 return.
  std::array<uint8_t, 65> to_bytes() const;
  std::string to_hex() const;

  const Hash& r() const { return r_; }
  const Hash& s() const { return s_; }
  uint8_t recovery_id() const { return recid_; }
  uint8_t v() const { return static_cast<uint8_t>(27 + recid_); }
  // True iff s <= n/2 (EIP-2): the only form we produce and accept.
  bool is_low_s() const;

  friend bool operator==(const Signature&, const Signature&) = default;

 private:
  Hash r_;
  Hash s_;
  uint8_t recid_ = 0;
};

// Signs a 32-byte digest (RFC 6979 deterministic nonce; low-s).
Result<Signature> sign(const PrivateKey& key, const Hash& digest);
// Recovers the signer's public key. Rejects high-s signatures and out-of-range r or s.
Result<PublicKey> recover_public_key(const Hash& digest, const Signature& sig);
// Recovers the signer's address. Rejects high-s signatures and out-of-range r or s.
Result<Address> recover(const Hash& digest, const Signature& sig);
// True iff `sig` over `digest` recovers to `signer`.
bool verify(const Hash& digest, const Signature& sig, const Address& signer);

}  // namespace ipsx::crypto
