#include "core/keccak.h"

#include <cryptopp/keccak.h>

namespace ipsx {

Hash keccak256(ByteView data) {
  CryptoPP::Keccak_256 k;
  k.Update(data.data(), data.size());
  Hash out;
  k.Final(out.data());
  return out;
}

struct Keccak256::State {
  CryptoPP::Keccak_256 k;
};

Keccak256::Keccak256() : state_(std::make_unique<State>()) {}
Keccak256::~Keccak256() = default;

Keccak256& Keccak256::update(ByteView data) {
  state_->k.Update(data.data(), data.size());
  return *this;
}

Hash Keccak256::finish() {
  Hash out;
  state_->k.Final(out.data());  // Final also restarts the hash.
  return out;
}

}  // namespace ipsx
