#include "crypto/secure.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>

#include "crypto/crypto_error.h"

namespace ipsx::crypto {

void secure_zero(std::span<uint8_t> data) {
  if (!data.empty()) OPENSSL_cleanse(data.data(), data.size());
}

bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<void> random_bytes(std::span<uint8_t> out) {
  if (out.size() > INT_MAX || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    ERR_clear_error();
    return fail(CryptoErrc::random_failure, "the OS random source failed");
  }
  return {};
}

}  // namespace ipsx::crypto
