// Key derivation and the keystore's cipher, as thin wrappers over OpenSSL 3 (PBKDF2, AES) and
// libsodium (scrypt).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/hex.h"
#include "crypto/secure.h"

namespace ipsx::crypto {

// scrypt(password, salt, N, r, p) -> `dklen` bytes. N must be a power of two > 1. Memory use is
// about 128 * N * r bytes; the call fails (with a message) past `max_memory_bytes`.
Result<SecretBytes> scrypt(std::string_view password, ByteView salt, uint64_t n, uint32_t r,
                           uint32_t p, size_t dklen, uint64_t max_memory_bytes = 1ull << 30);

// PBKDF2-HMAC-SHA256(password, salt, iterations) -> `dklen` bytes.
Result<SecretBytes> pbkdf2_sha256(std::string_view password, ByteView salt, uint32_t iterations,
                                  size_t dklen);

// AES-128-CTR with a 16-byte key and a 16-byte initial counter block. Encrypts or decrypts
// (the same operation) `in` into `out`, which must be the same size.
Result<void> aes128_ctr(ByteView key, ByteView iv, ByteView in, std::span<uint8_t> out);

}  // namespace ipsx::crypto
