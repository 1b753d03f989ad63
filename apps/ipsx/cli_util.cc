#include "cli_util.h"

#include "crypto/keystore.h"

namespace ipsx::cli {

std::string read_password_file(const std::filesystem::path& path) {
  std::string text = unwrap(crypto::read_small_file(path, 64 << 10), "password file");
  size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

}  // namespace ipsx::cli
