#include "crypto/crypto_error.h"

#include <string>

namespace ipsx::crypto {
namespace {

class CryptoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.crypto"; }
  std::string message(int c) const override {
    switch (static_cast<CryptoErrc>(c)) {
      case CryptoErrc::invalid_key:
        return "invalid key";
      case CryptoErrc::invalid_signature:
        return "invalid signature";
      case CryptoErrc::recovery_failed:
        return "signature recovery failed";
      case CryptoErrc::random_failure:
        return "random source failed";
      case CryptoErrc::primitive_failure:
        return "cryptographic primitive failed";
      case CryptoErrc::bad_typed_data:
        return "malformed typed data";
      case CryptoErrc::unknown_type:
        return "unknown type";
      case CryptoErrc::bad_value:
        return "value does not fit its type";
      case CryptoErrc::limit_exceeded:
        return "input exceeds a limit";
      case CryptoErrc::bad_keystore:
        return "not a valid keystore";
      case CryptoErrc::wrong_password:
        return "wrong password";
      case CryptoErrc::address_mismatch:
        return "keystore address mismatch";
      case CryptoErrc::not_found:
        return "not found";
      case CryptoErrc::io_error:
        return "I/O error";
    }
    return "unknown crypto error";
  }
};

}  // namespace

const std::error_category& crypto_category() {
  static const CryptoCategory category;
  return category;
}

}  // namespace ipsx::crypto
