// The market's journal: every accepted command (orders, cancels, status events, releases),
// appended and made durable before the command takes effect, so that a restarted market replays
// it and is where it was (an acknowledged order or status event is never lost). SQLite in WAL
// mode, synchronous=FULL, one writer per directory (flock on DIR/LOCK). Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/clock.h"
#include "core/error.h"

struct sqlite3;

namespace ipsx::market {

struct JournalEntry {
  uint64_t seq = 0;
  Timestamp at{};  // when the command was accepted: replay runs it at this time
  std::string kind;
  std::string body;  // JSON
};

class Journal {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::filesystem::path& dir);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends one entry durably (fsync) and returns its sequence number.
  Result<uint64_t> append(std::string_view kind, std::string_view body, Timestamp at);
  // Calls `visit` for every entry in order; stops at the first error it returns.
  Result<void> for_each(const std::function<Result<void>(const JournalEntry&)>& visit);
  // Number of entries.
  Result<uint64_t> size();

 private:
  Journal(sqlite3* db, int lock_fd) : db_(db), lock_fd_(lock_fd) {}
  sqlite3* db_;
  int lock_fd_;
};

}  // namespace ipsx::market
