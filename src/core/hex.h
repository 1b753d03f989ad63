// Hexadecimal text <-> bytes. Input is untrusted: every parse bounds its size and names the
// problem (odd length, bad character and its position, too long).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ipsx {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Inputs longer than this many bytes are refused by from_hex unless a caller passes its own bound.
inline constexpr size_t kDefaultMaxHexBytes = 1 << 20;

// Lower-case hex of `bytes`, with a "0x" prefix when `prefix` is true.
std::string to_hex(ByteView bytes, bool prefix = true);

// Parses hex with or without a "0x"/"0X" prefix. Upper and lower case digits are both accepted.
// Fails on odd length, a non-hex character, or more than `max_bytes` bytes.
Result<Bytes> from_hex(std::string_view text, size_t max_bytes = kDefaultMaxHexBytes);

// Parses hex into exactly `out.size()` bytes; fails if the text encodes any other length.
Result<void> from_hex_exact(std::string_view text, std::span<uint8_t> out);

// Returns `text` without a leading "0x"/"0X".
std::string_view strip_hex_prefix(std::string_view text);

// Bytes of a string, for hashing text.
inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace ipsx
