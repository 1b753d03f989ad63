// keccak-256 as Ethereum uses it (the original Keccak padding, not NIST SHA3-256), over
// Crypto++'s implementation. It lives in core because the text form of an Address (EIP-55) is
// defined by it. Thread-safe: no shared state.
#pragma once

#include <memory>
#include <string_view>

#include "core/hash.h"
#include "core/hex.h"

namespace ipsx {

Hash keccak256(ByteView data);
inline Hash keccak256(std::string_view text) {
  return keccak256(as_bytes(text));
}

// Incremental keccak-256 for data that arrives in pieces. Not copyable.
class Keccak256 {
 public:
  Keccak256();
  ~Keccak256();
  Keccak256(const Keccak256&) = delete;
  Keccak256& operator=(const Keccak256&) = delete;

  Keccak256& update(ByteView data);
  Keccak256& update(std::string_view text) { return update(as_bytes(text)); }
  // Returns the digest and resets the hasher for reuse.
  Hash finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ipsx
