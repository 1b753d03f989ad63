#include "market/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/durable_file.h"
#include "market/market_error.h"

namespace ipsx::market {
namespace {

std::unexpected<Error> db_error(sqlite3* db, std::string_view what) {
  return fail(MarketErrc::storage,
              fmt::format("journal: {}: {}", what, db ? sqlite3_errmsg(db) : "no database"));
}

// `snapshot` holds at most one row: the snapshot's sequence number and, from stores written
// before snapshots had files of their own, its body (empty: the body is the file snapshot.SEQ).
// `snapshot_staging` was where those stores staged a new body.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL, body TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS snapshot(id INTEGER PRIMARY KEY CHECK(id = 1), seq INTEGER NOT"
    " NULL, body BLOB NOT NULL);"
    "DROP TABLE IF EXISTS snapshot_staging;";

constexpr std::string_view kSnapshotPrefix = "snapshot.";

// Runs `sql` (no results); the message names `what`.
Result<void> exec(sqlite3* db, const char* sql, std::string_view what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return fail(MarketErrc::storage, fmt::format("journal: {}: {}", what, msg));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(const std::filesystem::path& dir,
                                               JournalOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return fail(MarketErrc::storage,
                fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  std::string lock_path = (dir / "LOCK").string();
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    return fail(MarketErrc::storage,
                fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return fail(MarketErrc::storage, fmt::format("{} is in use by another process", dir.string()));
  }
  sqlite3* db = nullptr;
  std::string path = (dir / "market.db").string();
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    auto err = db_error(db, "cannot open " + path);
    sqlite3_close(db);
    ::close(lock_fd);
    return err;
  }
  std::unique_ptr<Journal> j(new Journal(db, lock_fd, dir));
  std::string setup = options.durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                      : "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;";
  if (auto r = exec(db, (setup + kSchema).c_str(), "open"); !r) return std::unexpected(r.error());
  // Files of snapshots never named (a crash before their transaction) or since replaced.
  auto named = j->load_snapshot_row();
  if (!named) return std::unexpected(named.error());
  j->remove_snapshot_files(*named && (*named)->body.empty() ? std::optional((*named)->seq)
                                                            : std::nullopt);
  return j;
}

Journal::~Journal() {
  // A snapshot still being written is left unnamed: the next open removes its file.
  if (background_) background_->thread.join();
  sqlite3_finalize(insert_);
  sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<uint64_t> Journal::append(std::string_view kind, std::string_view body, Timestamp at) {
  // A transaction left open (an append_all whose ROLLBACK failed) would hold every later entry
  // uncommitted: refuse rather than acknowledge what is not durable.
  if (!sqlite3_get_autocommit(db_))
    return fail(MarketErrc::storage, "journal: a transaction is still open; restart the node");
  return insert(kind, body, at);
}

Result<uint64_t> Journal::insert(std::string_view kind, std::string_view body, Timestamp at) {
  if (!insert_ && sqlite3_prepare_v2(db_, "INSERT INTO journal(at_ms, kind, body) VALUES(?,?,?)",
                                     -1, &insert_, nullptr) != SQLITE_OK) {
    insert_ = nullptr;
    return db_error(db_, "append");
  }
  sqlite3_stmt* s = insert_;
  sqlite3_bind_int64(s, 1, to_unix_ms(at));
  sqlite3_bind_text(s, 2, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
  if (kind.ends_with(".bin")) {  // a binary entry: a BLOB, so no byte of it is read as text
    sqlite3_bind_blob(s, 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
  } else {
    sqlite3_bind_text(s, 3, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
  }
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc != SQLITE_DONE) return db_error(db_, "append");
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
}

Result<uint64_t> Journal::append_all(std::span<const std::pair<std::string, std::string>> entries,
                                     Timestamp at) {
  if (entries.empty()) return last_seq();
  if (entries.size() == 1) return append(entries[0].first, entries[0].second, at);
  if (auto b = exec(db_, "BEGIN IMMEDIATE", "append"); !b) return std::unexpected(b.error());
  uint64_t last = 0;
  for (const auto& [kind, body] : entries) {
    auto seq = insert(kind, body, at);
    if (!seq) {
      (void)exec(db_, "ROLLBACK", "append");
      return seq;
    }
    last = *seq;
  }
  if (auto c = exec(db_, "COMMIT", "append"); !c) {
    (void)exec(db_, "ROLLBACK", "append");
    return std::unexpected(c.error());
  }
  return last;
}

Result<void> Journal::for_each(const std::function<Result<void>(const JournalEntry&)>& visit,
                               uint64_t after) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT seq, at_ms, kind, body FROM journal WHERE seq > ? ORDER BY seq",
                         -1, &s, nullptr) != SQLITE_OK) {
    return db_error(db_, "read");
  }
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(after));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    JournalEntry e;
    e.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    e.at = from_unix_ms(sqlite3_column_int64(s, 1));
    e.kind = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
    const void* body = sqlite3_column_blob(s, 3);  // text or blob, every byte
    if (int n = sqlite3_column_bytes(s, 3); n > 0) e.body.assign(static_cast<const char*>(body), n);
    if (auto r = visit(e); !r) {
      sqlite3_finalize(s);
      return r;
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return db_error(db_, "read");
  return {};
}

Result<uint64_t> Journal::size() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM journal", -1, &s, nullptr) != SQLITE_OK)
    return db_error(db_, "size");
  uint64_t n =
      sqlite3_step(s) == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(s, 0)) : 0;
  sqlite3_finalize(s);
  return n;
}

Result<uint64_t> Journal::last_seq() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM journal UNION ALL"
                         " SELECT MAX(seq) FROM snapshot)",
                         -1, &s, nullptr) != SQLITE_OK)
    return db_error(db_, "last_seq");
  uint64_t n =
      sqlite3_step(s) == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(s, 0)) : 0;
  sqlite3_finalize(s);
  return n;
}

Result<uint64_t> Journal::first_seq() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT MIN(seq) FROM journal", -1, &s, nullptr) != SQLITE_OK)
    return db_error(db_, "first_seq");
  uint64_t n =
      sqlite3_step(s) == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(s, 0)) : 0;
  sqlite3_finalize(s);
  return n;
}

std::filesystem::path Journal::snapshot_file(uint64_t seq) const {
  return dir_ / fmt::format("{}{}", kSnapshotPrefix, seq);
}

Result<void> Journal::write_snapshot(const Snapshot& snap, bool prune) {
  (void)settle_snapshot(true);  // an older one's failure is mended by this one
  if (auto w = replace_file_durably(snapshot_file(snap.seq), snap.body); !w)
    return fail(MarketErrc::storage, "snapshot: " + w.error().message());
  return adopt_snapshot(snap.seq, prune);
}

void Journal::write_snapshot_in_background(Snapshot snap, bool prune) {
  (void)settle_snapshot(true);
  auto b = std::make_unique<Background>();
  b->seq = snap.seq;
  b->prune = prune;
  b->thread =
      std::thread([b = b.get(), file = snapshot_file(snap.seq), body = std::move(snap.body)] {
        pthread_setname_np(pthread_self(), "market-snapshot");
        b->file_result = replace_file_durably(file, body);
        b->written.store(true, std::memory_order_release);
      });
  background_ = std::move(b);
}

std::optional<Result<void>> Journal::settle_snapshot(bool wait) {
  if (!background_) return std::nullopt;
  if (!wait && !background_->written.load(std::memory_order_acquire)) return std::nullopt;
  background_->thread.join();
  std::unique_ptr<Background> b = std::move(background_);
  if (!b->file_result) {
    return std::optional<Result<void>>(
        fail(MarketErrc::storage, "snapshot: " + b->file_result.error().message()));
  }
  return std::optional<Result<void>>(adopt_snapshot(b->seq, b->prune));
}

Result<void> Journal::adopt_snapshot(uint64_t seq, bool prune) {
  if (auto b = exec(db_, "BEGIN IMMEDIATE", "snapshot"); !b) return b;
  auto rollback = [&](Result<void> r) {
    (void)exec(db_, "ROLLBACK", "snapshot");
    return r;
  };
  auto run = [&](const char* sql) -> Result<void> {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
      return db_error(db_, "snapshot");
    sqlite3_bind_int64(s, 1, static_cast<int64_t>(seq));
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_error(db_, "snapshot");
    return {};
  };
  if (auto r = run("INSERT OR REPLACE INTO snapshot(id, seq, body) VALUES(1, ?, X'')"); !r)
    return rollback(r);
  if (prune) {
    if (auto p = run("DELETE FROM journal WHERE seq < ?"); !p) return rollback(p);
  }
  if (auto c = exec(db_, "COMMIT", "snapshot"); !c) return rollback(c);
  remove_snapshot_files(seq);
  return {};
}

void Journal::remove_snapshot_files(std::optional<uint64_t> keep) {
  std::error_code ec;
  std::string kept = keep ? snapshot_file(*keep).filename().string() : std::string();
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with(kSnapshotPrefix) && name != kept) std::filesystem::remove(e.path(), ec);
  }
}

Result<void> Journal::drop_snapshot() {
  (void)settle_snapshot(true);
  if (auto d = exec(db_, "DELETE FROM snapshot", "drop snapshot"); !d) return d;
  remove_snapshot_files(std::nullopt);
  return {};
}

Result<std::optional<Snapshot>> Journal::load_snapshot_row() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT seq, body FROM snapshot WHERE id = 1", -1, &s, nullptr) !=
      SQLITE_OK)
    return db_error(db_, "load snapshot");
  std::optional<Snapshot> out;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    Snapshot snap;
    snap.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    const void* data = sqlite3_column_blob(s, 1);
    int n = sqlite3_column_bytes(s, 1);
    if (data && n > 0) snap.body.assign(static_cast<const char*>(data), static_cast<size_t>(n));
    out = std::move(snap);
  } else if (rc != SQLITE_DONE) {
    sqlite3_finalize(s);
    return db_error(db_, "load snapshot");
  }
  sqlite3_finalize(s);
  return out;
}

Result<std::optional<Snapshot>> Journal::load_snapshot() {
  (void)settle_snapshot(true);
  auto row = load_snapshot_row();
  if (!row || !*row || !(*row)->body.empty()) return row;
  std::filesystem::path file = snapshot_file((*row)->seq);
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(MarketErrc::storage,
                fmt::format("the snapshot at entry {} names {}, which cannot be read: {}",
                            (*row)->seq, file.string(), std::strerror(errno)));
  }
  (*row)->body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return fail(MarketErrc::storage,
                fmt::format("reading the snapshot {}: {}", file.string(), std::strerror(errno)));
  }
  return row;
}

}  // namespace ipsx::market
