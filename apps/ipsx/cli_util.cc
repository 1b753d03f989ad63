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

crypto::PrivateKey unlock_key(const std::string& keystore, const std::string& address,
                              const std::string& password_file) {
  namespace fs = std::filesystem;
  std::string password = read_password_file(password_file);
  std::error_code ec;
  if (fs::is_regular_file(keystore, ec)) {
    std::string text = unwrap(crypto::read_small_file(keystore, 64 << 10), keystore);
    crypto::PrivateKey key = unwrap(crypto::decrypt_keystore(text, password), keystore);
    if (!address.empty() && key.address() != unwrap(Address::parse(address), "--address")) {
      throw CommandError(keystore + " holds the key of " + key.address().to_string() + ", not " +
                         address);
    }
    return key;
  }
  if (address.empty()) throw CommandError("--address is required when --keystore is a directory");
  return unwrap(
      crypto::KeystoreDir(keystore).unlock(unwrap(Address::parse(address), "--address"), password));
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
