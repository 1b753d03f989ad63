// Which key a command signs with: the keystore (given, else $IPSX_KEYSTORE, else the default
// directory under XDG_DATA_HOME), the account (an address or a name) and its password (a file,
// given or $IPSX_PASSWORD_FILE, else asked on the terminal). docs/cli.md, "Accounts".
#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli_util.h"
#include "crypto/keystore.h"

namespace ipsx::cli {
namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The terminal's settings while a password is typed without echo, put back on a signal that
// ends or stops the program.
struct termios saved_termios;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP};
void restore_and_reraise(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::string ask(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios quiet{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &saved_termios) == 0;
  struct sigaction before[std::size(kSignals)] = {};
  if (tty) {
    quiet = saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    struct sigaction restore = {};
    restore.sa_handler = restore_and_reraise;
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &restore, &before[i]);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &before[i], nullptr);
  }
  std::cerr << "\n";
  if (!got) throw CommandError("no password: the terminal closed");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

crypto::PrivateKey decrypt_file(const fs::path& file, const std::string& password_file,
                                const std::string& what) {
  std::string text = unwrap(crypto::read_small_file(file, 64 << 10), file.string());
  std::string password = obtain_password(password_file, what, false);
  return unwrap(crypto::decrypt_keystore(text, password), file.string());
}

}  // namespace

void add_key_options(CLI::App* cmd, std::string& keystore, std::string& address,
                     std::string& password_file, const std::string& whose) {
  cmd->add_option("--keystore", keystore,
                  fmt::format("Keystore directory or file of {} wallet (default: $IPSX_KEYSTORE, "
                              "else ~/.local/share/ipsx/keystore)",
                              whose));
  cmd->add_option("--address,--account", address,
                  fmt::format("With a keystore directory, {} account: its address, or its name "
                              "(`ipsx wallet new --name`)",
                              whose));
  cmd->add_option("--password-file", password_file,
                  "File whose first line is the wallet's password (default: $IPSX_PASSWORD_FILE, "
                  "else asked on a terminal)")
      ->check(CLI::ExistingFile);
}

fs::path default_keystore_dir() {
  if (std::string x = env("XDG_DATA_HOME"); !x.empty()) return fs::path(x) / "ipsx" / "keystore";
  if (std::string h = env("HOME"); !h.empty())
    return fs::path(h) / ".local" / "share" / "ipsx" / "keystore";
  throw CommandError("--keystore: no HOME or XDG_DATA_HOME for the default keystore directory");
}

std::string keystore_or_default(const std::string& given) {
  if (!given.empty()) return given;
  if (std::string e = env("IPSX_KEYSTORE"); !e.empty()) return e;
  return default_keystore_dir().string();
}

bool is_account_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.starts_with("0x") || s.starts_with("0X") ||
      s.starts_with("."))
    return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
         std::string_view::npos;
}

std::string obtain_password(const std::string& password_file, const std::string& what,
                            bool confirm) {
  std::string file = password_file.empty() ? env("IPSX_PASSWORD_FILE") : password_file;
  if (!file.empty()) return read_password_file(file);  // (a pipe too: <(pass show ipsx))
  if (!::isatty(STDIN_FILENO)) {
    throw CommandError(
        "no password: give --password-file FILE (its first line) or IPSX_PASSWORD_FILE, or run "
        "on a terminal to be asked");
  }
  std::string password = ask(fmt::format("Password for {}: ", what));
  if (confirm && ask("Again, to confirm: ") != password)
    throw CommandError("the two passwords differ; nothing was written");
  return password;
}

crypto::PrivateKey unlock_key(const std::string& keystore_given, const std::string& address,
                              const std::string& password_file) {
  const std::string keystore = keystore_or_default(keystore_given);
  std::error_code ec;
  if (fs::is_regular_file(keystore, ec)) {
    crypto::PrivateKey key = decrypt_file(keystore, password_file, keystore);
    if (!address.empty() && key.address() != unwrap(Address::parse(address), "--address")) {
      throw CommandError(keystore + " holds the key of " + key.address().to_string() + ", not " +
                         address);
    }
    return key;
  }
  if (!fs::is_directory(keystore, ec)) {
    throw CommandError(fmt::format(
        "--keystore: {} is neither a keystore file nor a directory (`ipsx wallet new` makes one)",
        keystore));
  }
  if (address.empty()) {
    throw CommandError(fmt::format(
        "--address 0x... or --account NAME is required: {} is a directory of keystores (`ipsx "
        "wallet list --keystore {}`)",
        keystore, keystore));
  }
  if (!address.starts_with("0x") && !address.starts_with("0X")) {  // a name: the file of that name
    if (!is_account_name(address))
      throw CommandError(fmt::format("--account: '{}' is neither an address nor a name", address));
    const fs::path file = fs::path(keystore) / address;
    if (!fs::is_regular_file(file, ec)) {
      throw CommandError(
          fmt::format("no account named '{}' in {} (`ipsx wallet list`)", address, keystore));
    }
    return decrypt_file(file, password_file, address);
  }
  const Address a = unwrap(Address::parse(address), "--address");
  auto entry = unwrap(crypto::KeystoreDir(keystore).find(a), keystore);
  return decrypt_file(entry.path, password_file, a.to_string());
}

}  // namespace ipsx::cli
