#include "core/fixed_bytes.h"

#include <sys/random.h>

#include <random>

namespace ipsx {

const HashKey& hash_key() {
  static const HashKey key = [] {
    HashKey k;
    uint64_t words[2] = {0, 0};
    if (getrandom(words, sizeof words, 0) != static_cast<ssize_t>(sizeof words)) {
      std::random_device rd;  // getrandom cannot fail on Linux >= 3.17 but for EINTR
      words[0] = (uint64_t{rd()} << 32) | rd();
      words[1] = (uint64_t{rd()} << 32) | rd();
    }
    k.k0 = words[0];
    k.k1 = words[1];
    return k;
  }();
  return key;
}

}  // namespace ipsx
