// Base64 (RFC 4648 §4, the standard alphabet with '=' padding) for HTTP Basic credentials
// (RFC 7617). Small and strict: the decoder takes only canonical encodings, so decode and encode
// are inverses on everything it accepts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx::net {

// The base64 text of `bytes`, padded to a multiple of 4 characters.
std::string base64_encode(std::string_view bytes);

// Decodes padded base64. Refuses (NetErrc::bad_credentials, naming the offset) a length that is
// not a multiple of 4, a character outside the alphabet, '=' anywhere but the last one or two
// places, non-zero bits under the padding, and text that decodes to more than `max_bytes` bytes.
Result<std::string> base64_decode(std::string_view text, size_t max_bytes);

}  // namespace ipsx::net
