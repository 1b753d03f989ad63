#include "ledger/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "ledger/record_codec.h"

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
  int type(int i) { return sqlite3_column_type(s_, i); }
  int64_t col_int(int i) { return sqlite3_column_int64(s_, i); }
  std::string col_blob(int i) {
    auto p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, i))) : std::string();
  }
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

Result<Event> event_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail(LedgerErrc::storage, "stored event is not a JSON object");
  Event e;
  static const EventKind kinds[] = {
      EventKind::transfer,       EventKind::approval,        EventKind::purchase,
      EventKind::sale_finalized, EventKind::unsold_claimed,  EventKind::deposit,
      EventKind::withdrawal,     EventKind::order_cancelled, EventKind::deal_opened,
      EventKind::claimed,        EventKind::deal_closing,    EventKind::deal_closed,
      EventKind::rated,          EventKind::usage_recorded,  EventKind::refunded};
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

// A transaction's events as stores written before the binary form keep them: a JSON array.
Result<std::vector<Event>> events_from_json(const std::string& text) {
  auto evs = nlohmann::json::parse(text, nullptr, false);
  if (!evs.is_array()) return fail(LedgerErrc::storage, "stored events are not a JSON array");
  std::vector<Event> out;
  for (const auto& ej : evs) {
    auto ev = event_from_json(ej);
    if (!ev) return std::unexpected(ev.error());
    out.push_back(std::move(*ev));
  }
  return out;
}

ByteView as_bytes(const std::string& s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
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
    -- pos = block << 20 | index in block: one integer key, rows appended in order.
    CREATE TABLE IF NOT EXISTS txs(pos INTEGER PRIMARY KEY, id BLOB NOT NULL,
      sender BLOB NOT NULL, nonce INTEGER NOT NULL, op TEXT NOT NULL, body TEXT NOT NULL,
      events TEXT NOT NULL);
    -- Which transactions concern an account (20-byte key) or a deal (32-byte key).
    CREATE TABLE IF NOT EXISTS tx_index(key BLOB NOT NULL, pos INTEGER NOT NULL,
      PRIMARY KEY(key, pos)) WITHOUT ROWID;
    -- Transactions by id (added after format 1's first release: built on first open).
    CREATE INDEX IF NOT EXISTS txs_by_id ON txs(id);
    -- The state after block `height` (State::snapshot), at most one; a restart loads it and
    -- replays only the blocks after it (added after format 1's first release).
    CREATE TABLE IF NOT EXISTS snapshot(id INTEGER PRIMARY KEY CHECK(id = 1),
      height INTEGER NOT NULL, body BLOB NOT NULL);
  )";
  // A reader (verification) changes nothing, the schema neither: a store written before a table
  // existed is read as it is.
  if (!writer) return s;
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

namespace {

Result<void> put_snapshot(sqlite3* db, uint64_t height, const std::string& body) {
  Stmt s(db, "INSERT OR REPLACE INTO snapshot(id, height, body) VALUES(1, ?, ?)");
  if (!s.ok()) return db_error(db, "write snapshot");
  s.bind_int(1, static_cast<int64_t>(height));
  s.bind_blob(2, ByteView(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
  if (s.step() != SQLITE_DONE) return db_error(db, "write snapshot");
  return {};
}

}  // namespace

Result<void> Store::write_snapshot(uint64_t height, const std::string& body) {
  return put_snapshot(db_, height, body);
}

Result<std::optional<Store::Snapshot>> Store::snapshot() {
  Stmt s(db_, "SELECT height, body FROM snapshot WHERE id = 1");
  if (!s.ok()) {
    // A store no writer of this version has opened yet has no snapshot table.
    if (std::string_view(sqlite3_errmsg(db_)).find("no such table") != std::string_view::npos)
      return std::nullopt;
    return db_error(db_, "read snapshot");
  }
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return db_error(db_, "read snapshot");
  return Snapshot{static_cast<uint64_t>(s.col_int(0)), s.col_blob(1)};
}

Result<void> Store::append(const BlockView& block, const std::vector<SignedTx>& txs,
                           const std::vector<Event>& events, const std::string* snapshot) {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  auto rollback = [&](std::unexpected<Error> e) {
    (void)exec("ROLLBACK");
    return e;
  };
  if (snapshot) {
    if (auto r = put_snapshot(db_, block.number, *snapshot); !r)
      return rollback(std::unexpected(r.error()));
  }
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

    Stmt t(db_, "INSERT INTO txs(pos, id, sender, nonce, op, body, events) VALUES(?,?,?,?,?,?,?)");
    Stmt x(db_, "INSERT OR IGNORE INTO tx_index(key, pos) VALUES(?,?)");
    if (!t.ok() || !x.ok()) return rollback(db_error(db_, "insert tx"));
    size_t e = 0;
    std::vector<ByteView> keys;
    for (size_t i = 0; i < txs.size(); ++i) {
      int64_t pos = static_cast<int64_t>(block.number << 20 | i);
      size_t first = e;
      keys.clear();
      keys.push_back(txs[i].tx.from.view());
      for (; e < events.size() && events[e].tx_index == i; ++e) {
        for (const Address& a : events[e].accounts) keys.push_back(a.view());
        if (events[e].deal) keys.push_back(events[e].deal->view());
      }
      // Each key once: a transfer names its sender twice (the sender, its event's `from`).
      std::sort(keys.begin(), keys.end(), [](ByteView a, ByteView b) {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
      });
      keys.erase(std::unique(keys.begin(), keys.end(),
                             [](ByteView a, ByteView b) { return std::ranges::equal(a, b); }),
                 keys.end());
      std::string body = encode_tx(txs[i]);
      std::string evs = encode_events(std::span(events).subspan(first, e - first));
      t.reset();
      t.bind_int(1, pos);
      t.bind_blob(2, block.txs[i].view());
      t.bind_blob(3, txs[i].tx.from.view());
      t.bind_int(4, static_cast<int64_t>(txs[i].tx.nonce));
      t.bind_text(5, op_name(txs[i].tx.op));
      t.bind_blob(6, as_bytes(body));
      t.bind_blob(7, as_bytes(evs));
      if (t.step() != SQLITE_DONE) return rollback(db_error(db_, "insert tx"));
      for (ByteView k : keys) {
        x.reset();
        x.bind_blob(1, k);
        x.bind_int(2, pos);
        if (x.step() != SQLITE_DONE) return rollback(db_error(db_, "insert tx index"));
      }
    }
  }
  if (auto r = exec("COMMIT"); !r) return rollback(std::unexpected(r.error()));
  return {};
}

Result<void> Store::for_each_block(const std::function<Result<void>(const StoredBlock&)>& visit,
                                   uint64_t from) {
  Stmt b(db_,
         "SELECT number, hash, parent, timestamp_ms, tx_root, state_digest FROM blocks WHERE "
         "number >= ? ORDER BY number");
  Stmt t(db_, "SELECT id, body FROM txs WHERE pos >= ? AND pos < ? ORDER BY pos");
  if (!b.ok() || !t.ok()) return db_error(db_, "read blocks");
  b.bind_int(1, static_cast<int64_t>(from));
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
    t.bind_int(1, static_cast<int64_t>(sb.header.number << 20));
    t.bind_int(2, static_cast<int64_t>((sb.header.number + 1) << 20));
    while ((rc = t.step()) == SQLITE_ROW) {
      sb.header.txs.push_back(t.col_hash(0));
      sb.txs.push_back({t.col_blob(1), t.type(1) == SQLITE_TEXT});
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
  Stmt t(db_, "SELECT id FROM txs WHERE pos >= ? AND pos < ? ORDER BY pos");
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
  t.bind_int(1, static_cast<int64_t>(number << 20));
  t.bind_int(2, static_cast<int64_t>((number + 1) << 20));
  while (t.step() == SQLITE_ROW) v.txs.push_back(t.col_hash(0));
  return v;
}

Result<std::vector<TxRecord>> Store::transactions_of(const Address& a, size_t limit) {
  // The newest `limit` sent by `a`, returned oldest first.
  Stmt s(db_,
         "SELECT t.id, t.pos, t.sender, t.nonce, t.op FROM tx_index x JOIN txs t ON t.pos = x.pos "
         "WHERE x.key = ?1 AND t.sender = ?1 ORDER BY x.pos DESC LIMIT ?2");
  if (!s.ok()) return db_error(db_, "transactions");
  s.bind_blob(1, a.view());
  s.bind_int(2, static_cast<int64_t>(limit));
  std::vector<TxRecord> out;
  while (s.step() == SQLITE_ROW) {
    uint64_t pos = static_cast<uint64_t>(s.col_int(1));
    out.push_back({s.col_hash(0), pos >> 20, static_cast<uint32_t>(pos & 0xfffff), s.col_address(2),
                   static_cast<uint64_t>(s.col_int(3)), s.col_text(4), std::nullopt});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::optional<TxRecord>> Store::transaction(const Hash& id) {
  Stmt s(db_, "SELECT t.id, t.pos, t.sender, t.nonce, t.op FROM txs t WHERE t.id = ?1");
  if (!s.ok()) return db_error(db_, "transaction");
  s.bind_blob(1, id.view());
  if (s.step() != SQLITE_ROW) return std::optional<TxRecord>();
  uint64_t pos = static_cast<uint64_t>(s.col_int(1));
  return std::optional<TxRecord>(
      TxRecord{s.col_hash(0), pos >> 20, static_cast<uint32_t>(pos & 0xfffff), s.col_address(2),
               static_cast<uint64_t>(s.col_int(3)), s.col_text(4), std::nullopt});
}

// The events of the transactions indexed under `key` that `keep` accepts, oldest first; at most
// `limit` (the newest).
Result<std::vector<Event>> Store::indexed_events(ByteView key, size_t limit,
                                                 const std::function<bool(const Event&)>& keep) {
  Stmt s(db_,
         "SELECT t.events, t.pos, t.id FROM tx_index x JOIN txs t ON t.pos = x.pos "
         "WHERE x.key = ? ORDER BY x.pos DESC");
  if (!s.ok()) return db_error(db_, "events");
  s.bind_blob(1, key);
  std::vector<Event> out;
  while (out.size() < limit && s.step() == SQLITE_ROW) {
    auto pos = static_cast<uint64_t>(s.col_int(1));
    auto evs = s.type(0) == SQLITE_TEXT
                   ? events_from_json(s.col_text(0))
                   : decode_events(s.col_blob(0), pos >> 20, static_cast<uint32_t>(pos & 0xfffff),
                                   s.col_hash(2));
    if (!evs) return std::unexpected(evs.error());
    std::vector<Event> of_tx;
    for (Event& ev : *evs) {
      if (keep(ev)) of_tx.push_back(std::move(ev));
    }
    for (auto it = of_tx.rbegin(); it != of_tx.rend() && out.size() < limit; ++it)
      out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<Event>> Store::events_of_deal(const Hash& deal) {
  return indexed_events(deal.view(), SIZE_MAX, [&](const Event& e) { return e.deal == deal; });
}

Result<std::vector<Event>> Store::events_of_account(const Address& a, size_t limit) {
  return indexed_events(a.view(), limit, [&](const Event& e) {
    return std::find(e.accounts.begin(), e.accounts.end(), a) != e.accounts.end();
  });
}

}  // namespace ipsx::ledger
