// Small helpers shared by the `ipsx` subcommands: reporting errors, reading secrets.
#pragma once

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/error.h"
#include "crypto/keys.h"
#include "ledger/embedded_ledger.h"

namespace ipsx::cli {

// Thrown inside a subcommand to end it with a message and exit code 1. Only the CLI throws.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Returns the value of `r` or throws CommandError with `context: message`.
template <class T>
T unwrap(Result<T> r, const std::string& context = "") {
  if (!r)
    throw CommandError(context.empty() ? r.error().message()
                                       : context + ": " + r.error().message());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

// The program's read-only data, <prefix>/share/ipsx beside <prefix>/bin/ipsx (the build tree has
// the same layout): `contracts/` (the contracts' JSON) and `ip-location-db/` (the geo data).
// Found from the running executable, never from the working directory.
std::filesystem::path share_dir();

// Reads a password file: its first line, without the line ending (as geth does).
std::string read_password_file(const std::filesystem::path& path);

// Accounts (accounts.cc). The keystore directory used when none is given nor in IPSX_KEYSTORE:
// $XDG_DATA_HOME/ipsx/keystore, else ~/.local/share/ipsx/keystore.
std::filesystem::path default_keystore_dir();
// `given`, else $IPSX_KEYSTORE, else default_keystore_dir().
std::string keystore_or_default(const std::string& given);
// An account's name: letters, digits, '.', '_', '-' (not "0x...", not starting with '.').
bool is_account_name(std::string_view s);
// The password: the first line of `password_file`, else of $IPSX_PASSWORD_FILE's file, else asked
// on the terminal without echo (`confirm`: twice) naming `what`; an error without a terminal.
std::string obtain_password(const std::string& password_file, const std::string& what,
                            bool confirm);
// --keystore, --address (also spelled --account) and --password-file, as every command that
// signs takes them, described for `whose` wallet ("the requester's").
void add_key_options(CLI::App* cmd, std::string& keystore, std::string& address,
                     std::string& password_file, const std::string& whose);
// Unlocks the key named by `keystore` (a directory or one keystore file; keystore_or_default) and
// `address`: an address, or an account's name (the file of that name in the directory), needed
// with a directory and checked against the file's key otherwise; the password as
// obtain_password gets it.
crypto::PrivateKey unlock_key(const std::string& keystore, const std::string& address,
                              const std::string& password_file);

// Logs a long ledger replay's progress (logs::info, on standard error), as `replaying the
// ledger: block N of M (P %), T transactions` (nothing for a replay under a second).
std::function<void(const ledger::ReplayReport&, uint64_t)> replay_progress_printer();

// Waits for SIGINT or SIGTERM, calling `every_second` meanwhile (the agents' main loop).
void run_until_signal(const std::function<void()>& every_second);
// The same, until `every_second` returns false.
void run_until_signal_or(const std::function<bool()>& every_second);
// From now on SIGINT and SIGTERM only set stop_requested() (run_until_signal does it too): a
// command that sets up something to undo catches them before it does.
void catch_stop_signals();
// Whether SIGINT or SIGTERM came (once run_until_signal has set them up).
bool stop_requested();

// A setting the node also states: the node's unless given, and then it must agree.
template <class T>
T agree(const std::optional<T>& given, T node_value, const char* what) {
  if (given && *given != node_value)
    throw CommandError(fmt::format("{}: {} given, but the node's is {}", what, *given, node_value));
  return node_value;
}

}  // namespace ipsx::cli
