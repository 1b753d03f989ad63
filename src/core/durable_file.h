// Files kept across crashes (the market's snapshots, the agents' proof store, the usage logs):
// whole files replaced atomically and durably, and a file's appended lines synced. Errors are
// CoreErrc::io_error naming the path and what was being done.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx {

// Writes `text` to `p` through `p`.tmp, synced, then renamed over `p`; the directory is synced
// too, so after a crash `p` holds either its old text or all of the new.
Result<void> replace_file_durably(const std::filesystem::path& p, std::string_view text);
// fsync(2) of an existing file; nothing for a file that does not exist.
Result<void> sync_file(const std::filesystem::path& p);
// The io_error for `doing` `p` with errno's text.
std::unexpected<Error> io_failure(const std::filesystem::path& p, const char* doing);

}  // namespace ipsx
