// Strict parsing of untrusted JSON text (request bodies, peers' messages, files a user gives).
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "core/error.h"

namespace ipsx {

// The most objects and arrays nested in each other a document may have.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as one JSON document (RFC 8259) and refuses, with CoreErrc::parse_error and a
// message that quotes no invalid byte:
// - what breaks the grammar, or a string that is not valid UTF-8 (nlohmann checks both);
// - an object with the same member name twice (RFC 8259 only says names SHOULD be unique, and
//   parsers differ on which one wins: a document two programs read differently is refused);
// - nesting deeper than kMaxJsonDepth.
Result<nlohmann::json> parse_json_strict(std::string_view text);

}  // namespace ipsx
