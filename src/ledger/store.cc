#include "ledger/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ledger/tx_codec.h"

namespace ipsx::ledger {
namespace {

std::unexpected<Error> db_error(sqlite3* db, std::string_view what) {
  return fail(LedgerErrc::storage,
              fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "no database"));
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  sqlite3_stmt* get() { return s_; }
  void bind_blob(int i, ByteView b) {
    sqlite3_bind_blob(s_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
  }
  void bind_text(int i, std::string_view t) {
    sqlite3_bind_text(s_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  }
  void bind_int(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int step() { return sqlite3_step(s_); }
  int64_t col_int(int i) { return sqlite3_column_int64(s_, i); }
  std::string col_text(int i) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, i))) : std::string();
  }
  Hash col_hash(int i) {
    Hash h;
    if (sqlite3_column_bytes(s_, i) == 32) std::memcpy(h.data(), sqlite3_column_blob(s_, i), 32);
    return h;
  }
  Address col_address(int i) {
    Address a;
    if (sqlite3_column_bytes(s_, i) == 20) std::memcpy(a.data(), sqlite3_column_blob(s_, i), 20);
    return a;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

Result<Event> event_from_json(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return fail(LedgerErrc::storage, "stored event is not JSON");
  Event e;
  static const EventKind kinds[] = {
      EventKind::transfer,       EventKind::approval,        EventKind::purchase,
      EventKind::sale_finalized, EventKind::unsold_claimed,  EventKind::deposit,
      EventKind::withdrawal,     EventKind::order_cancelled, EventKind::deal_opened,
      EventKind::claimed,        EventKind::deal_closing,    EventKind::deal_closed,
      EventKind::rated};
  std::string kind = j.value("kind", "");
  bool found = false;
  for (EventKind k : kinds) {
    if (kind == to_string(k)) {
      e.kind = k;
      found = true;
    }
  }
  if (!found) return fail(LedgerErrc::storage, "stored event has unknown kind " + kind);
  e.block = j.value("block", uint64_t{0});
  e.tx_index = j.value("txIndex", uint32_t{0});
  if (auto h = Hash::from_hex(j.value("txId", ""))) e.tx_id = *h;
  if (j.contains("deal")) {
    if (auto h = Hash::from_hex(j["deal"].get<std::string>())) e.deal = *h;
  }
  if (auto it = j.find("accounts"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) {
      if (auto addr = Address::parse(a.get<std::string>())) e.accounts.push_back(*addr);
    }
  }
  if (auto it = j.find("fields"); it != j.end() && it->is_array()) {
    for (const auto& kv : *it) {
      if (kv.is_array() && kv.size() == 2 && kv[0].is_string() && kv[1].is_string()) {
        e.fields.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
      }
    }
  }
  return e;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& dir, bool writer) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return fail(LedgerErrc::storage,
                fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  int lock_fd = -1;
  if (writer) {
    std::string lock_path = (dir / "LOCK").string();
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) {
      return fail(LedgerErrc::storage,
                  fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd);
      return fail(LedgerErrc::storage,
                  fmt::format("{} is in use by another process (a running node?)", dir.string()));
    }
  }
  sqlite3* db = nullptr;
  std::string path = (dir / "ledger.db").string();
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    auto err = db_error(db, "cannot open " + path);
    sqlite3_close(db);
    if (lock_fd >= 0) ::close(lock_fd);
    return err;
  }
  std::unique_ptr<Store> s(new Store(db, lock_fd));
  const char* schema = R"(
    PRAGMA journal_mode=WAL;
    PRAGMA synchronous=FULL;
    PRAGMA foreign_keys=OFF;
    CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS blocks(number INTEGER PRIMARY KEY, hash BLOB NOT NULL,
      parent BLOB NOT NULL, timestamp_ms INTEGER NOT NULL, tx_root BLOB NOT NULL,
      state_digest BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS txs(block INTEGER NOT NULL, idx INTEGER NOT NULL, id BLOB NOT NULL,
      sender BLOB NOT NULL, nonce INTEGER NOT NULL, op TEXT NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY(block, idx));
    CREATE INDEX IF NOT EXISTS txs_sender ON txs(sender, block, idx);
    CREATE TABLE IF NOT EXISTS events(block INTEGER NOT NULL, tx_idx INTEGER NOT NULL,
      seq INTEGER NOT NULL, deal BLOB, body TEXT NOT NULL, PRIMARY KEY(block, tx_idx, seq));
    CREATE INDEX IF NOT EXISTS events_deal ON events(deal) WHERE deal IS NOT NULL;
    CREATE TABLE IF NOT EXISTS event_accounts(account BLOB NOT NULL, block INTEGER NOT NULL,
      tx_idx INTEGER NOT NULL, seq INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS event_accounts_account ON event_accounts(account, block, tx_idx, seq);
  )";
  if (auto r = s->exec(schema); !r) return std::unexpected(r.error());
  return s;
}

Store::~Store() {
  sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

Result<void> Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return fail(LedgerErrc::storage, "sqlite: " + msg);
  }
  return {};
}

Result<std::optional<std::string>> Store::meta(const std::string& key) {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?");
  if (!s.ok()) return db_error(db_, "meta");
  s.bind_text(1, key);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.col_text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return db_error(db_, "meta");
}

Result<void> Store::set_meta(const std::string& key, const std::string& value) {
  Stmt s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!s.ok()) return db_error(db_, "set meta");
  s.bind_text(1, key);
  s.bind_text(2, value);
  if (s.step() != SQLITE_DONE) return db_error(db_, "set meta");
  return {};
}

Result<void> Store::append(const BlockView& block, const std::vector<SignedTx>& txs,
                           const std::vector<std::string>& tx_bodies,
                           const std::vector<Event>& events) {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  auto rollback = [&](std::unexpected<Error> e) {
    (void)exec("ROLLBACK");
    return e;
  };
  {
    Stmt b(db_,
           "INSERT INTO blocks(number, hash, parent, timestamp_ms, tx_root, state_digest) "
           "VALUES(?,?,?,?,?,?)");
    if (!b.ok()) return rollback(db_error(db_, "insert block"));
    b.bind_int(1, static_cast<int64_t>(block.number));
    b.bind_blob(2, block.hash.view());
    b.bind_blob(3, block.parent.view());
    b.bind_int(4, block.timestamp_ms);
    b.bind_blob(5, block.tx_root.view());
    b.bind_blob(6, block.state_digest.view());
    if (b.step() != SQLITE_DONE) return rollback(db_error(db_, "insert block"));

    Stmt t(db_, "INSERT INTO txs(block, idx, id, sender, nonce, op, body) VALUES(?,?,?,?,?,?,?)");
    if (!t.ok()) return rollback(db_error(db_, "insert tx"));
    for (size_t i = 0; i < txs.size(); ++i) {
      t.reset();
      t.bind_int(1, static_cast<int64_t>(block.number));
      t.bind_int(2, static_cast<int64_t>(i));
      t.bind_blob(3, block.txs[i].view());
      t.bind_blob(4, txs[i].tx.from.view());
      t.bind_int(5, static_cast<int64_t>(txs[i].tx.nonce));
      t.bind_text(6, op_name(txs[i].tx.op));
      t.bind_text(7, tx_bodies[i]);
      if (t.step() != SQLITE_DONE) return rollback(db_error(db_, "insert tx"));
    }

    Stmt e(db_, "INSERT INTO events(block, tx_idx, seq, deal, body) VALUES(?,?,?,?,?)");
    Stmt ea(db_, "INSERT INTO event_accounts(account, block, tx_idx, seq) VALUES(?,?,?,?)");
    if (!e.ok() || !ea.ok()) return rollback(db_error(db_, "insert event"));
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& ev = events[i];
      e.reset();
      e.bind_int(1, static_cast<int64_t>(ev.block));
      e.bind_int(2, ev.tx_index);
      e.bind_int(3, static_cast<int64_t>(i));
      if (ev.deal) e.bind_blob(4, ev.deal->view());
      e.bind_text(5, to_json(ev).dump());
      if (e.step() != SQLITE_DONE) return rollback(db_error(db_, "insert event"));
      for (size_t k = 0; k < ev.accounts.size(); ++k) {
        const Address& a = ev.accounts[k];
        if (std::find(ev.accounts.begin(), ev.accounts.begin() + static_cast<long>(k), a) !=
            ev.accounts.begin() + static_cast<long>(k)) {
          continue;  // an account named twice (a transfer to oneself) is indexed once
        }
        ea.reset();
        ea.bind_blob(1, a.view());
        ea.bind_int(2, static_cast<int64_t>(ev.block));
        ea.bind_int(3, ev.tx_index);
        ea.bind_int(4, static_cast<int64_t>(i));
        if (ea.step() != SQLITE_DONE) return rollback(db_error(db_, "insert event account"));
      }
    }
  }
  if (auto r = exec("COMMIT"); !r) return rollback(std::unexpected(r.error()));
  return {};
}

Result<void> Store::for_each_block(const std::function<Result<void>(const StoredBlock&)>& visit) {
  Stmt b(db_,
         "SELECT number, hash, parent, timestamp_ms, tx_root, state_digest FROM blocks ORDER BY "
         "number");
  Stmt t(db_, "SELECT id, body FROM txs WHERE block = ? ORDER BY idx");
  if (!b.ok() || !t.ok()) return db_error(db_, "read blocks");
  int rc;
  while ((rc = b.step()) == SQLITE_ROW) {
    StoredBlock sb;
    sb.header.number = static_cast<uint64_t>(b.col_int(0));
    sb.header.hash = b.col_hash(1);
    sb.header.parent = b.col_hash(2);
    sb.header.timestamp_ms = b.col_int(3);
    sb.header.tx_root = b.col_hash(4);
    sb.header.state_digest = b.col_hash(5);
    t.reset();
    t.bind_int(1, static_cast<int64_t>(sb.header.number));
    while ((rc = t.step()) == SQLITE_ROW) {
      sb.header.txs.push_back(t.col_hash(0));
      sb.tx_bodies.push_back(t.col_text(1));
    }
    if (rc != SQLITE_DONE) return db_error(db_, "read transactions");
    if (auto r = visit(sb); !r) return r;
  }
  if (rc != SQLITE_DONE) return db_error(db_, "read blocks");
  return {};
}

Result<uint64_t> Store::height() {
  Stmt s(db_, "SELECT MAX(number) FROM blocks");
  if (!s.ok() || s.step() != SQLITE_ROW) return db_error(db_, "height");
  if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL) return UINT64_MAX;
  return static_cast<uint64_t>(s.col_int(0));
}

Result<BlockView> Store::block(uint64_t number) {
  Stmt b(db_,
         "SELECT number, hash, parent, timestamp_ms, tx_root, state_digest FROM blocks WHERE "
         "number = ?");
  Stmt t(db_, "SELECT id FROM txs WHERE block = ? ORDER BY idx");
  if (!b.ok() || !t.ok()) return db_error(db_, "read block");
  b.bind_int(1, static_cast<int64_t>(number));
  int rc = b.step();
  if (rc == SQLITE_DONE)
    return fail(LedgerErrc::invalid_argument, fmt::format("no block {}", number));
  if (rc != SQLITE_ROW) return db_error(db_, "read block");
  BlockView v;
  v.number = static_cast<uint64_t>(b.col_int(0));
  v.hash = b.col_hash(1);
  v.parent = b.col_hash(2);
  v.timestamp_ms = b.col_int(3);
  v.tx_root = b.col_hash(4);
  v.state_digest = b.col_hash(5);
  t.bind_int(1, static_cast<int64_t>(number));
  while (t.step() == SQLITE_ROW) v.txs.push_back(t.col_hash(0));
  return v;
}

Result<std::vector<TxRecord>> Store::transactions_of(const Address& a, size_t limit) {
  // The newest `limit`, returned oldest first.
  Stmt s(db_,
         "SELECT id, block, idx, sender, nonce, op FROM txs WHERE sender = ? "
         "ORDER BY block DESC, idx DESC LIMIT ?");
  if (!s.ok()) return db_error(db_, "transactions");
  s.bind_blob(1, a.view());
  s.bind_int(2, static_cast<int64_t>(limit));
  std::vector<TxRecord> out;
  while (s.step() == SQLITE_ROW) {
    out.push_back({s.col_hash(0), static_cast<uint64_t>(s.col_int(1)),
                   static_cast<uint32_t>(s.col_int(2)), s.col_address(3),
                   static_cast<uint64_t>(s.col_int(4)), s.col_text(5)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<Event>> Store::events_of_deal(const Hash& deal) {
  Stmt s(db_, "SELECT body FROM events WHERE deal = ? ORDER BY block, tx_idx, seq");
  if (!s.ok()) return db_error(db_, "events");
  s.bind_blob(1, deal.view());
  std::vector<Event> out;
  while (s.step() == SQLITE_ROW) {
    auto e = event_from_json(s.col_text(0));
    if (!e) return std::unexpected(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

Result<std::vector<Event>> Store::events_of_account(const Address& a, size_t limit) {
  Stmt s(db_,
         "SELECT e.body FROM event_accounts ea JOIN events e ON e.block = ea.block AND "
         "e.tx_idx = ea.tx_idx AND e.seq = ea.seq WHERE ea.account = ? "
         "ORDER BY ea.block DESC, ea.tx_idx DESC, ea.seq DESC LIMIT ?");
  if (!s.ok()) return db_error(db_, "events");
  s.bind_blob(1, a.view());
  s.bind_int(2, static_cast<int64_t>(limit));
  std::vector<Event> out;
  while (s.step() == SQLITE_ROW) {
    auto e = event_from_json(s.col_text(0));
    if (!e) return std::unexpected(e.error());
    out.push_back(std::move(*e));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace ipsx::ledger
