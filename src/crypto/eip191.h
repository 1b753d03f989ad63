// EIP-191 version 0x45 ("personal_sign") message hashing: what wallets sign for a plain message.
#pragma once

#include "core/hash.h"
#include "core/hex.h"
#include "crypto/keys.h"

namespace ipsx::crypto {

// keccak256("\x19Ethereum Signed Message:\n" + decimal length + message).
Hash personal_message_hash(ByteView message);
inline Hash personal_message_hash(std::string_view text) {
  return personal_message_hash(as_bytes(text));
}

// Signs `message` as personal_sign / eth_sign in wallets do.
inline Result<Signature> sign_personal_message(const PrivateKey& key, ByteView message) {
  return sign(key, personal_message_hash(message));
}

}  // namespace ipsx::crypto
