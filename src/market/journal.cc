#include "market/journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>

#include "market/market_error.h"

namespace ipsx::market {
namespace {

std::unexpected<Error> db_error(sqlite3* db, std::string_view what) {
  return fail(MarketErrc::storage,
              fmt::format("journal: {}: {}", what, db ? sqlite3_errmsg(db) : "no database"));
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(const std::filesystem::path& dir) {
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
  std::unique_ptr<Journal> j(new Journal(db, lock_fd));
  char* err = nullptr;
  if (sqlite3_exec(
          db,
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
          "CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
          " kind TEXT NOT NULL, body TEXT NOT NULL);",
          nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return fail(MarketErrc::storage, "journal: " + msg);
  }
  return j;
}

Journal::~Journal() {
  sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<uint64_t> Journal::append(std::string_view kind, std::string_view body, Timestamp at) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "INSERT INTO journal(at_ms, kind, body) VALUES(?,?,?)", -1, &s,
                         nullptr) != SQLITE_OK) {
    return db_error(db_, "append");
  }
  sqlite3_bind_int64(s, 1, to_unix_ms(at));
  sqlite3_bind_text(s, 2, kind.data(), static_cast<int>(kind.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return db_error(db_, "append");
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db_));
}

Result<void> Journal::for_each(const std::function<Result<void>(const JournalEntry&)>& visit) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT seq, at_ms, kind, body FROM journal ORDER BY seq", -1, &s,
                         nullptr) != SQLITE_OK) {
    return db_error(db_, "read");
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    JournalEntry e;
    e.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    e.at = from_unix_ms(sqlite3_column_int64(s, 1));
    e.kind = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
    e.body = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
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

}  // namespace ipsx::market
