#include "geo/read_file.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "geo/geo_error.h"

namespace ipsx::geo {

Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> f(std::fopen(path.c_str(), "rb"));
  if (!f)
    return fail(GeoErrc::io_error,
                fmt::format("{} {}: {}", what, path.string(), std::strerror(errno)));
  std::string out;
  std::error_code ec;
  if (auto size = std::filesystem::file_size(path, ec); !ec && size <= max_bytes) out.reserve(size);
  char buf[1 << 16];
  while (size_t n = std::fread(buf, 1, sizeof buf, f.get())) {
    if (out.size() + n > max_bytes)
      return fail(GeoErrc::io_error, fmt::format("{} {}: larger than the limit of {} bytes", what,
                                                 path.string(), max_bytes));
    out.append(buf, n);
  }
  if (std::ferror(f.get()))
    return fail(GeoErrc::io_error, fmt::format("{} {}: read failed", what, path.string()));
  return out;
}

}  // namespace ipsx::geo
