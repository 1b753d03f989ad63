// The embedded ledger's persistence: SQLite in WAL mode. One SQLite transaction per block (the
// block, its transactions, its events), committed with synchronous=FULL, so a block is either
// wholly durable or absent after a crash. Not thread-safe: the owner serializes access (one
// writer; reads through the owner's lock).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/ledger.h"

struct sqlite3;

namespace ipsx::ledger {

// A transaction as stored: its binary form (record_codec.h), or JSON in a store written before
// that form.
struct StoredTx {
  std::string body;
  bool json = false;
};

struct StoredBlock {
  BlockView header;
  std::vector<StoredTx> txs;  // in order
};

class Store {
 public:
  // Opens (creating if absent) the database `dir`/ledger.db. A writer (`writer` = true) holds
  // an exclusive lock on `dir`/LOCK for its lifetime, so two processes never append to one
  // store; readers (verification) take no lock.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir, bool writer = true);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<std::optional<std::string>> meta(const std::string& key);
  Result<void> set_meta(const std::string& key, const std::string& value);

  // Writes a block with its transactions and events atomically and durably; with `snapshot`, the
  // state after the block (State::snapshot) replaces the stored one in the same transaction.
  // `events` are the block's, in order of their transactions.
  Result<void> append(const BlockView& block, const std::vector<SignedTx>& txs,
                      const std::vector<Event>& events, const std::string* snapshot = nullptr);

  // The state after block `height`, kept beside the blocks (at most one).
  struct Snapshot {
    uint64_t height = 0;
    std::string body;
  };
  Result<void> write_snapshot(uint64_t height, const std::string& body);
  Result<std::optional<Snapshot>> snapshot();

  // Calls `visit` for every block from number `from` on, in order; stops at the first error it
  // returns.
  Result<void> for_each_block(const std::function<Result<void>(const StoredBlock&)>& visit,
                              uint64_t from = 0);

  Result<uint64_t> height();  // -1 as UINT64_MAX when empty
  Result<BlockView> block(uint64_t number);
  Result<std::vector<TxRecord>> transactions_of(const Address& a, size_t limit);
  Result<std::optional<TxRecord>> transaction(const Hash& id);
  Result<std::vector<Event>> events_of_deal(const Hash& deal);
  Result<std::vector<Event>> events_of_account(const Address& a, size_t limit);

 private:
  Store(sqlite3* db, int lock_fd) : db_(db), lock_fd_(lock_fd) {}
  Result<void> exec(const char* sql);
  Result<std::vector<Event>> indexed_events(ByteView key, size_t limit,
                                            const std::function<bool(const Event&)>& keep);
  sqlite3* db_;
  int lock_fd_ = -1;
};

}  // namespace ipsx::ledger
