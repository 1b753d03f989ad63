// The market's journal: every accepted command (orders, cancels, status events, releases),
// appended and made durable before the command takes effect, so that a restarted market replays
// it and is where it was (an acknowledged order or status event is never lost). SQLite in WAL
// mode, synchronous=FULL, one writer per directory (flock on DIR/LOCK). Beside the entries it keeps
// one snapshot of the market's state (table `snapshot`), so a restart replays only the entries
// after it; older entries are pruned when a snapshot is written. Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>

#include "core/clock.h"
#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ipsx::market {

struct JournalEntry {
  uint64_t seq = 0;
  Timestamp at{};  // when the command was accepted: replay runs it at this time
  std::string kind;
  std::string body;  // JSON
};

// The market's state as of one journal entry (Market writes and reads the body).
struct Snapshot {
  uint64_t seq = 0;  // the last journal entry the state includes
  std::string body;
};

struct JournalOptions {
  // synchronous=FULL (an fsync per append). Off only to build large journals fast (benchmarks):
  // a crash may then lose acknowledged commands.
  bool durable = true;
};

class Journal {
 public:
  static Result<std::unique_ptr<Journal>> open(const std::filesystem::path& dir,
                                               JournalOptions options = {});
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends one entry durably (fsync) and returns its sequence number.
  Result<uint64_t> append(std::string_view kind, std::string_view body, Timestamp at);
  // Appends several entries (kind, body), all at `at`, in one transaction made durable by one
  // fsync (group commit): all of them or none. Returns the last one's sequence number (they are
  // consecutive).
  Result<uint64_t> append_all(std::span<const std::pair<std::string, std::string>> entries,
                              Timestamp at);
  // Calls `visit` for every entry after sequence number `after`, in order; stops at the first
  // error it returns.
  Result<void> for_each(const std::function<Result<void>(const JournalEntry&)>& visit,
                        uint64_t after = 0);
  // Number of entries kept (those before the snapshot may have been pruned).
  Result<uint64_t> size();
  // The sequence number of the last entry appended (0 if none ever was).
  Result<uint64_t> last_seq();
  // The sequence number of the first entry kept (0 if none is): 1 iff no entry was ever pruned.
  Result<uint64_t> first_seq();

  // Replaces the snapshot, in one transaction: the new one is written to a staging table, then
  // swapped in; with `prune`, the entries before `s.seq` are deleted in the same transaction (the
  // entry at `s.seq` is kept so that sequence numbers never restart). A crash at any point leaves
  // either the old snapshot and every entry, or the new one.
  Result<void> write_snapshot(const Snapshot& s, bool prune = true);
  // The latest snapshot, if any.
  Result<std::optional<Snapshot>> load_snapshot();
  // Forgets the snapshot: the next recovery replays every entry kept (all of them, if snapshots
  // never pruned).
  Result<void> drop_snapshot();

 private:
  Journal(sqlite3* db, int lock_fd) : db_(db), lock_fd_(lock_fd) {}
  sqlite3* db_;
  int lock_fd_;
  Result<uint64_t> insert(std::string_view kind, std::string_view body, Timestamp at);
  sqlite3_stmt* insert_ = nullptr;  // insert()'s statement, prepared once
};

}  // namespace ipsx::market
