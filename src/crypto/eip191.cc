#include "crypto/eip191.h"

#include <string>

#include "core/keccak.h"

namespace ipsx::crypto {

Hash personal_message_hash(ByteView message) {
  std::string prefix =
      "\x19"
      "Ethereum Signed Message:\n" +
      std::to_string(message.size());
  Keccak256 k;
  k.update(prefix).update(message);
  return k.finish();
}

}  // namespace ipsx::crypto
