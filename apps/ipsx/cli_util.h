// Small helpers shared by the `ipsx` subcommands: reporting errors, reading secrets.
#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

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

// Reads a password file: its first line, without the line ending (as geth does).
std::string read_password_file(const std::filesystem::path& path);

// Unlocks the key named by `keystore` (a directory, or one keystore file) and `address` (needed
// for a directory; checked against the file's key otherwise) with the password file's password.
crypto::PrivateKey unlock_key(const std::string& keystore, const std::string& address,
                              const std::string& password_file);

// Logs a long ledger replay's progress (logs::info, on standard error), as `replaying the
// ledger: block N of M (P %), T transactions` (nothing for a replay under a second).
std::function<void(const ledger::ReplayReport&, uint64_t)> replay_progress_printer();

}  // namespace ipsx::cli
