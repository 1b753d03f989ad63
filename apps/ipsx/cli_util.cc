#include "cli_util.h"
#include "log.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

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

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) {
  g_stop = true;
}
}  // namespace

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

void run_until_signal_or(const std::function<bool()>& every_second) {
  catch_stop_signals();
  auto next = std::chrono::steady_clock::now();
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() >= next) {
      if (!every_second()) return;
      next += std::chrono::seconds(1);
    }
  }
}

void run_until_signal(const std::function<void()>& every_second) {
  run_until_signal_or([&] {
    every_second();
    return true;
  });
}

bool stop_requested() {
  return g_stop;
}

}  // namespace ipsx::cli
