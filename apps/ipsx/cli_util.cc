#include "cli_util.h"
#include "log.h"

#include <fmt/format.h>

#include <iostream>

#include "crypto/keystore.h"

namespace ipsx::cli {

std::string read_password_file(const std::filesystem::path& path) {
  std::string text = unwrap(crypto::read_small_file(path, 64 << 10), "password file");
  size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

std::filesystem::path share_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / IPSX_SHARE_FROM_BIN).lexically_normal();
}

std::function<void(const ledger::ReplayReport&, uint64_t)> replay_progress_printer() {
  return [](const ledger::ReplayReport& r, uint64_t total) {
    logs::info(fmt::format(
        "replaying the ledger: block {} of {} ({:.0f} %), {} transactions", r.blocks, total,
        total ? 100.0 * static_cast<double>(r.blocks) / static_cast<double>(total) : 100.0,
        r.transactions));
  };
}

}  // namespace ipsx::cli
