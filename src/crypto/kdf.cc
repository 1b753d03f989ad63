#include "crypto/kdf.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <climits>
#include <memory>

#include "crypto/crypto_error.h"

namespace ipsx::crypto {
namespace {

std::unexpected<Error> openssl_failure(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "no detail";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return fail(CryptoErrc::primitive_failure, std::string(what) + " failed: " + buf);
}

}  // namespace

Result<SecretBytes> scrypt(std::string_view password, ByteView salt, uint64_t n, uint32_t r,
                           uint32_t p, size_t dklen, uint64_t max_memory_bytes) {
  if (n < 2 || (n & (n - 1)) != 0) {
    return fail(CryptoErrc::bad_keystore, "scrypt n must be a power of two greater than 1");
  }
  if (r == 0 || p == 0) return fail(CryptoErrc::bad_keystore, "scrypt r and p must be positive");
  // 128 * N * r bytes for V, plus 128 * r * p for B; checked without overflowing.
  if (n > max_memory_bytes / 128 / r || 128ull * r * p > max_memory_bytes - 128ull * r * n) {
    return fail(CryptoErrc::limit_exceeded, "scrypt parameters need more than " +
                                                std::to_string(max_memory_bytes >> 20) +
                                                " MiB of memory");
  }
  // libsodium's scrypt, not OpenSSL's: OpenSSL (like Crypto++) enforces RFC 7914's N < 2^(16r),
  // which the keystore format does not, and which the Web3 Secret Storage test vector itself
  // (N = 2^18, r = 1) breaks. geth and MetaMask accept such files, so we must too.
  if (sodium_init() < 0) return fail(CryptoErrc::primitive_failure, "libsodium failed to start");
  SecretBytes out(dklen);
  if (crypto_pwhash_scryptsalsa208sha256_ll(reinterpret_cast<const uint8_t*>(password.data()),
                                            password.size(), salt.data(), salt.size(), n, r, p,
                                            out.data(), out.size()) != 0) {
    return fail(CryptoErrc::primitive_failure, "scrypt failed (out of memory?)");
  }
  return out;
}

Result<SecretBytes> pbkdf2_sha256(std::string_view password, ByteView salt, uint32_t iterations,
                                  size_t dklen) {
  if (iterations == 0 || iterations > INT_MAX || password.size() > INT_MAX ||
      salt.size() > INT_MAX || dklen > INT_MAX) {
    return fail(CryptoErrc::bad_keystore, "pbkdf2 parameters out of range");
  }
  SecretBytes out(dklen);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(dklen), out.data()) != 1) {
    return openssl_failure("pbkdf2");
  }
  return out;
}

Result<void> aes128_ctr(ByteView key, ByteView iv, ByteView in, std::span<uint8_t> out) {
  if (key.size() != 16 || iv.size() != 16 || out.size() != in.size() || in.size() > INT_MAX) {
    return fail(CryptoErrc::primitive_failure, "aes-128-ctr needs a 16-byte key and iv");
  }
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  int len = 0, tail = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &tail) != 1) {
    return openssl_failure("aes-128-ctr");
  }
  return {};
}

}  // namespace ipsx::crypto
