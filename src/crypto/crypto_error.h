// The crypto layer's error codes.
#pragma once

#include <system_error>

#include "core/error.h"

namespace ipsx::crypto {

enum class CryptoErrc {
  invalid_key = 1,    // not a valid secp256k1 secret or public key
  invalid_signature,  // malformed signature bytes, bad recovery id, high s
  recovery_failed,    // no public key recovers from this signature and digest
  random_failure,     // the OS random source failed
  primitive_failure,  // OpenSSL reported an error in a KDF or cipher
  bad_typed_data,     // EIP-712 document malformed
  unknown_type,       // EIP-712 type name not declared
  bad_value,          // EIP-712 value does not fit its declared type
  limit_exceeded,     // input larger or deeper than allowed
  bad_keystore,       // not a (supported) keystore v3 file
  wrong_password,     // MAC mismatch: wrong password or tampered file
  address_mismatch,   // keystore's address field does not match its key
  not_found,          // no keystore for an address
  io_error,
};

const std::error_category& crypto_category();
inline std::error_code make_error_code(CryptoErrc e) {
  return {static_cast<int>(e), crypto_category()};
}

}  // namespace ipsx::crypto

template <>
struct std::is_error_code_enum<ipsx::crypto::CryptoErrc> : std::true_type {};
