// Hash of text for unordered containers whose keys come from outside: a region named in an
// order, a client's address, a proxy user name. libstdc++'s std::hash<std::string> is
// MurmurHash with a seed fixed in the library, so keys that share a bucket can be computed once
// and sent to every process; a table of them turns each lookup into a scan. This is SipHash-1-3
// under the process's random key (core/fixed_bytes.h), as FixedBytesHasher is for addresses and
// hashes. Transparent: a lookup by std::string_view or const char* makes no string.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/fixed_bytes.h"

namespace ipsx {

struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    const HashKey& k = hash_key();
    return static_cast<size_t>(
        siphash(k.k0, k.k1, reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
};

// An unordered map keyed by outside text (std::equal_to<> for the transparent lookups).
template <class V>
using TextMap = std::unordered_map<std::string, V, TextHash, std::equal_to<>>;

}  // namespace ipsx
