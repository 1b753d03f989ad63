#include "core/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ipsx {

std::unexpected<Error> io_failure(const std::filesystem::path& p, const char* doing) {
  return fail(CoreErrc::io_error,
              fmt::format("{} {}: {}", doing, p.string(), std::strerror(errno)));
}

Result<void> replace_file_durably(const std::filesystem::path& p, std::string_view text) {
  std::filesystem::path tmp = p;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_failure(tmp, "creating");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto e = io_failure(tmp, "writing");
      ::close(fd);
      return e;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = io_failure(tmp, "syncing");
    ::close(fd);
    return e;
  }
  if (::close(fd) != 0) return io_failure(tmp, "closing");
  if (::rename(tmp.c_str(), p.c_str()) != 0) return io_failure(p, "renaming onto");
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  // The rename is durable only once the directory is: a caller may act on it (the market
  // prunes its journal), so a failure here is one.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io_failure(dir, "opening the directory");
  if (::fsync(dfd) != 0) {
    auto e = io_failure(dir, "syncing the directory");
    ::close(dfd);
    return e;
  }
  ::close(dfd);
  return {};
}

Result<void> sync_file(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Result<void>{} : io_failure(p, "opening");
  if (::fsync(fd) != 0) {
    auto e = io_failure(p, "syncing");
    ::close(fd);
    return e;
  }
  ::close(fd);
  return {};
}

}  // namespace ipsx
