// The market's journal: every accepted command (orders, cancels, status events, releases),
// appended and made durable before the command takes effect, so that a restarted market replays
// it and is where it was (an acknowledged order or status event is never lost). SQLite in WAL
// mode, synchronous=FULL, one writer per directory (flock on DIR/LOCK). Beside the entries it keeps
// one snapshot of the market's state, so a restart replays only the entries after it; older
// entries are pruned when a snapshot is taken. The snapshot's body is a file of its own,
// DIR/snapshot.SEQ (written beside, synced, renamed), named by the one-row table `snapshot`, which
// is what makes it the snapshot: the row and the pruning change in one transaction, after the file
// is durable. (Stores written before kept the body in the row itself; they are read as they are.)
// Not thread-safe, but for the writer thread a background snapshot starts (see
// write_snapshot_in_background), which touches only its file.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ipsx::market {

struct JournalEntry {
  uint64_t seq = 0;
  Timestamp at{};  // when the command was accepted: replay runs it at this time
  std::string kind;
  std::string body;  // JSON text, or bytes for a kind ending in ".bin" (market/order_entry.h)
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

  // Replaces the snapshot: its file is written and synced, then one transaction names it and,
  // with `prune`, deletes the entries before `s.seq` (the entry at `s.seq` is kept so that
  // sequence numbers never restart). A crash at any point leaves either the old snapshot and
  // every entry, or the new one. Waits for a background snapshot still being written (and
  // settles it) first.
  Result<void> write_snapshot(const Snapshot& s, bool prune = true);
  // The same, but the file is written and synced on a thread of its own while the caller goes
  // on; the snapshot takes effect (the row, the pruning) at the next settle_snapshot() after the
  // file is durable. One at a time: a second call first waits for the first and settles it.
  void write_snapshot_in_background(Snapshot s, bool prune = true);
  // If a background snapshot's file is written (or, with `wait`, once it is): names it and prunes,
  // and returns the outcome (an error leaves the old snapshot and every entry). Nothing when none
  // was started or it is still being written.
  std::optional<Result<void>> settle_snapshot(bool wait = false);
  // The latest snapshot, if any (waits for a background one still being written, and settles
  // it). A snapshot whose file cannot be read is an error naming the file.
  Result<std::optional<Snapshot>> load_snapshot();
  // Forgets the snapshot: the next recovery replays every entry kept (all of them, if snapshots
  // never pruned).
  Result<void> drop_snapshot();

 private:
  Journal(sqlite3* db, int lock_fd, std::filesystem::path dir)
      : db_(db), lock_fd_(lock_fd), dir_(std::move(dir)) {}
  sqlite3* db_;
  int lock_fd_;
  std::filesystem::path dir_;
  std::filesystem::path snapshot_file(uint64_t seq) const;
  // The `snapshot` row as stored (an empty body: the body is in the row's file).
  Result<std::optional<Snapshot>> load_snapshot_row();
  // Names the snapshot whose file is durable and prunes (one transaction); removes older files.
  Result<void> adopt_snapshot(uint64_t seq, bool prune);
  // Removes the snapshot files other than `keep`'s (and torn .tmp files).
  void remove_snapshot_files(std::optional<uint64_t> keep);
  // The background snapshot: its thread, what it writes, and the file's outcome (set by the
  // thread before `written` turns true).
  struct Background {
    std::thread thread;
    uint64_t seq = 0;
    bool prune = true;
    std::atomic<bool> written{false};
    Result<void> file_result;
  };
  std::unique_ptr<Background> background_;
  Result<uint64_t> insert(std::string_view kind, std::string_view body, Timestamp at);
  sqlite3_stmt* insert_ = nullptr;  // insert()'s statement, prepared once
};

}  // namespace ipsx::market
