// Reading a whole data file into memory, bounded: the geo layer's one file-reading routine.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx::geo {

// The bytes of `path`. `what` names the file's role in messages ("ASN CSV"). Errors:
// GeoErrc::io_error when it cannot be opened or read, or is larger than `max_bytes`.
Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what);

}  // namespace ipsx::geo
