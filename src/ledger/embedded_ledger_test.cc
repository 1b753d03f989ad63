// The embedded backend: registration for the conformance suite, and what only it has —
// persistence, reopening, verification, corruption detection, group commit, concurrency and
// crash safety.
#include "ledger/embedded_ledger.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "ledger/record_codec.h"
#include "ledger/store.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"

namespace ipsx::ledger {

std::vector<ConformanceBackend> conformance_backends() {
  return {{"embedded", &testing::EmbeddedHarness::create}};
}

namespace {

using testing::sign_tx;
using testing::TempDir;

crypto::PrivateKey key(const char* name) {
  return crypto::PrivateKey::from_bytes(keccak256(std::string_view(name)).view()).value();
}

// A genesis whose sale ends one second after genesis, so tests can finalize at once.
GenesisConfig quick_genesis() {
  GenesisConfig g = testing::named_genesis(from_unix_ms(1'767'225'600'000), 31337);
  g.native = {{key("buyer").address(), Amount::from_tokens(100).value()}};
  return g;
}

Receipt exec(Ledger& l, const crypto::PrivateKey& k, Op op) {
  auto tx = l.prepare(k.address(), std::move(op)).value();
  auto r = l.submit(sign_tx(k, tx));
  EXPECT_TRUE(r) << r.error().message();
  return r.value_or(Receipt{});
}

// Opens a fresh ledger, finalizes the sale, returns it ready for transfers.
std::unique_ptr<EmbeddedLedger> open_finalized(const std::filesystem::path& dir, ManualClock& clock,
                                               const GenesisConfig& g,
                                               uint64_t snapshot_every = 20'000) {
  EmbeddedOptions o;
  o.data_dir = dir;
  o.snapshot_every = snapshot_every;
  auto l = EmbeddedLedger::open(o, &g, clock).value();
  clock.advance(Millis(2000));
  exec(*l, key("team"), FinalizeSale{});
  return l;
}

TEST(EmbeddedLedger, StateSurvivesCloseAndReopen) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  Hash digest;
  uint64_t height = 0;
  {
    auto l = open_finalized(dir.path(), clock, g);
    exec(*l, key("early"), Transfer{key("alice").address(), Amount::from_tokens(5).value()});
    exec(*l, key("alice"), Deposit{Amount::from_tokens(2).value()});
    height = l->height().value();
    digest = l->block(height)->state_digest;
  }
  EmbeddedOptions o;
  o.data_dir = dir.path();
  auto l = EmbeddedLedger::open(o, nullptr, clock).value();
  EXPECT_EQ(l->height().value(), height);
  EXPECT_EQ(l->block(height)->state_digest, digest);
  EXPECT_EQ(l->balance_of(key("alice").address())->to_string(), "3");
  EXPECT_EQ(l->wallet(key("alice").address())->balance.to_string(), "2");
  EXPECT_EQ(l->nonce_of(key("early").address()).value(), 1u);
  auto report = EmbeddedLedger::verify(dir.path());
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->transactions, 3u);
  EXPECT_EQ(report->signatures_checked, 3u);
}

// #23: a long replay (a start, `ipsx ledger verify`) says how far it is; with `every` at 0 it
// reports after each block, growing to the whole store, and once more at the end.
TEST(EmbeddedLedger, AReplaySaysHowFarItIs) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  uint64_t height = 0;
  {
    auto l = open_finalized(dir.path(), clock, g);
    exec(*l, key("early"), Transfer{key("alice").address(), Amount::from_tokens(5).value()});
    height = l->height().value();
  }
  std::vector<std::pair<uint64_t, uint64_t>> seen;  // (blocks so far, total)
  ReplayProgress p{
      [&](const ReplayReport& r, uint64_t total) { seen.emplace_back(r.blocks, total); },
      std::chrono::milliseconds(0)};
  auto report = EmbeddedLedger::verify(dir.path(), p);
  ASSERT_TRUE(report) << report.error().message();
  ASSERT_EQ(seen.size(), height + 2) << "each block, then the end";
  for (size_t i = 0; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i].first, i + 1);
    EXPECT_EQ(seen[i].second, height + 1);
  }
  EXPECT_EQ(seen.back().first, height + 1);
  seen.clear();
  EmbeddedOptions o;
  o.data_dir = dir.path();
  o.progress = p;
  o.open_from_snapshot = false;
  ASSERT_TRUE(EmbeddedLedger::open(o, nullptr, clock));
  EXPECT_EQ(seen.size(), height + 2) << "opening replays too";
  seen.clear();
  p.every = std::chrono::hours(1);  // a replay quicker than `every` says nothing
  ASSERT_TRUE(EmbeddedLedger::verify(dir.path(), p));
  EXPECT_TRUE(seen.empty());
}

TEST(EmbeddedLedger, OpeningWithoutGenesisOrWithAnotherGenesisIsRefused) {
  TempDir dir;
  ManualClock clock;
  EmbeddedOptions o;
  o.data_dir = dir.path();
  auto none = EmbeddedLedger::open(o, nullptr, clock);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("genesis"), std::string::npos);
  GenesisConfig g = quick_genesis();
  { ASSERT_TRUE(EmbeddedLedger::open(o, &g, clock)); }
  GenesisConfig other = g;
  other.chain_id = 7;
  auto r = EmbeddedLedger::open(o, &other, clock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("different genesis"), std::string::npos);
}

// Two embedded ledgers on one chain id, from two geneses that differ only in their time: each
// signs under its own domain (the verifying address derives from the genesis hash), so nothing
// signed for one is valid on the other, a transaction included.
TEST(EmbeddedLedger, ItsDomainIsBoundToItsGenesis) {
  GenesisConfig g1 = quick_genesis();
  GenesisConfig g2 = g1;
  g2.time = g1.time + Millis(1000);
  g2.sale.start = g2.time;
  g2.sale.end = g2.time + Millis(1000);
  ASSERT_EQ(g1.chain_id, g2.chain_id);
  ASSERT_NE(g1.hash(), g2.hash());
  EXPECT_EQ(g1.hash(), GenesisConfig::from_toml(g1.to_toml()).value().hash());

  TempDir d1, d2;
  ManualClock clock(g2.time);
  auto a = open_finalized(d1.path(), clock, g1);
  auto b = open_finalized(d2.path(), clock, g2);
  const auto da = a->domain(), db = b->domain();
  ASSERT_TRUE(da.verifying_contract && db.verifying_contract);
  EXPECT_EQ(*da.verifying_contract, embedded_verifying_contract(g1.hash()));
  EXPECT_FALSE(da.verifying_contract->is_zero());
  EXPECT_NE(*da.verifying_contract, *db.verifying_contract);
  EXPECT_NE(da.separator(), db.separator());

  // The early adopters' first transfer, signed for ledger A, replayed on ledger B at the same
  // nonce: B refuses it, and nothing moves there.
  const Op op = Transfer{key("alice").address(), Amount::from_tokens(5).value()};
  auto tx = a->prepare(key("early").address(), op).value();
  auto on_b = b->prepare(key("early").address(), op).value();
  ASSERT_EQ(tx.nonce, on_b.nonce);
  EXPECT_NE(tx.digest, on_b.digest);
  SignedTx signed_for_a = sign_tx(key("early"), tx);
  auto r = b->submit(SignedTx{on_b, signed_for_a.signature});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), LedgerErrc::bad_signature) << r.error().message();
  EXPECT_FALSE(b->submit(signed_for_a)) << "as sent for A, with A's digest";
  EXPECT_TRUE(b->balance_of(key("alice").address()).value().is_zero());
  EXPECT_TRUE(a->submit(signed_for_a)) << "the same transaction is good on its own ledger";
}

TEST(EmbeddedLedger, OneStoreHasOneWriterAtATime) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  EmbeddedOptions o;
  o.data_dir = dir.path();
  auto first = EmbeddedLedger::open(o, &g, clock);
  ASSERT_TRUE(first);
  auto second = EmbeddedLedger::open(o, &g, clock);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("in use"), std::string::npos);
  EXPECT_TRUE(EmbeddedLedger::verify(dir.path())) << "a reader needs no lock";
  first->reset();
  EXPECT_TRUE(EmbeddedLedger::open(o, &g, clock));
}

TEST(EmbeddedLedger, BlocksFormAHashChainWithTransactionRoots) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  auto l = open_finalized(dir.path(), clock, g);
  auto r = exec(*l, key("early"), Transfer{key("bob").address(), Amount::from_tokens(1).value()});
  BlockView b = l->block(r.block).value();
  EXPECT_EQ(b.parent, l->block(r.block - 1)->hash);
  EXPECT_EQ(b.hash, block_hash(b));
  EXPECT_EQ(b.tx_root, tx_root(b.txs));
  EXPECT_EQ(b.txs.at(r.index), r.tx_id);
  BlockView genesis = l->block(0).value();
  EXPECT_TRUE(genesis.parent.is_zero());
  EXPECT_TRUE(genesis.txs.empty());
}

TEST(EmbeddedLedger, MerkleRootCarriesAnOddNodeUp) {
  Hash a = keccak256(std::string_view("a")), b = keccak256(std::string_view("b")),
       c = keccak256(std::string_view("c"));
  auto pair = [](const Hash& x, const Hash& y) {
    std::array<uint8_t, 64> buf;
    std::copy(x.bytes().begin(), x.bytes().end(), buf.begin());
    std::copy(y.bytes().begin(), y.bytes().end(), buf.begin() + 32);
    return keccak256(ByteView(buf));
  };
  EXPECT_EQ(tx_root({a}), a);
  EXPECT_EQ(tx_root({a, b}), pair(a, b));
  EXPECT_EQ(tx_root({a, b, c}), pair(pair(a, b), c));
  EXPECT_EQ(tx_root({}), keccak256(std::string_view("")));
}

// Changes one byte of the store behind the ledger's back; the next open must refuse, naming
// the block, and verify() must fail too.
void tamper(const std::filesystem::path& dir, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "ledger.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_close(db);
}

// Block 2's transfer stored with twice its amount, everything else (its signature) kept: the
// edit an owner of the disk would make to pay himself.
void double_the_amount(const std::filesystem::path& dir) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "ledger.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT body FROM txs WHERE pos >> 20 = 2", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string body(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                   static_cast<size_t>(sqlite3_column_bytes(st, 0)));
  sqlite3_finalize(st);
  SignedTx tx = decode_tx(body, Hash()).value();
  auto& t = std::get<Transfer>(tx.tx.op);
  t.amount = t.amount.add(t.amount).value();
  body = encode_tx(tx);
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE txs SET body = ? WHERE pos >> 20 = 2", -1, &st, nullptr),
            SQLITE_OK);
  sqlite3_bind_blob(st, 1, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(EmbeddedLedger, CorruptedStoreStopsTheStartWithAClearError) {
  const char* tamperings[] = {
      "amount",  // double_the_amount
      "UPDATE blocks SET state_digest = zeroblob(32) WHERE number = 2",
      "UPDATE blocks SET parent = zeroblob(32) WHERE number = 2",
      "DELETE FROM blocks WHERE number = 1",
      "UPDATE txs SET body = 'garbage' WHERE pos >> 20 = 2",      // read as an old store's JSON
      "UPDATE txs SET body = x'01ff' WHERE pos >> 20 = 2",        // binary, cut short
      "UPDATE txs SET body = zeroblob(150) WHERE pos >> 20 = 2",  // binary, of no version
  };
  for (const char* sql : tamperings) {
    TempDir dir;
    GenesisConfig g = quick_genesis();
    ManualClock clock(g.time);
    {
      // No snapshot: open() replays (and so checks) every block, as it does for a store
      // written before snapshots (a snapshot is trusted: see the next test but one).
      auto l = open_finalized(dir.path(), clock, g, 0);  // block 1
      exec(*l, key("early"),
           Transfer{key("bob").address(), Amount::from_tokens(1).value()});  // block 2
      exec(*l, key("early"),
           Transfer{key("bob").address(), Amount::from_tokens(1).value()});  // block 3
    }
    if (std::string_view(sql) == "amount") {
      double_the_amount(dir.path());
    } else {
      tamper(dir.path(), sql);
    }
    EmbeddedOptions o;
    o.data_dir = dir.path();
    auto r = EmbeddedLedger::open(o, nullptr, clock);
    ASSERT_FALSE(r) << sql;
    EXPECT_EQ(r.error().code(), LedgerErrc::storage) << sql;
    EXPECT_NE(r.error().message().find("corrupted at block"), std::string::npos)
        << r.error().message();
    EXPECT_FALSE(EmbeddedLedger::verify(dir.path())) << sql;
  }
}

// The forgery the hash chain cannot see: the last block's transaction re-signed by another key
// (same sender field, same operation, so the same state), its id, the block's transaction root
// and the block's hash all recomputed around the new signature. Only the signature check at
// open (or `verify`) finds it; with the check off, the forged store opens.
TEST(EmbeddedLedger, AForgedSignatureUnderARecomputedChainIsRefusedAtOpen) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  uint64_t last = 0;
  {
    auto l = open_finalized(dir.path(), clock, g, 0);  // no snapshot: every block is replayed
    last = exec(*l, key("early"), Transfer{key("bob").address(), Amount::from_tokens(1).value()})
               .block;
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "ledger.db").c_str(), &db), SQLITE_OK);
    auto blob = [](sqlite3_stmt* st, int col) {
      Hash h;
      std::memcpy(h.data(), sqlite3_column_blob(st, col), 32);
      return h;
    };
    const int64_t pos = static_cast<int64_t>(last) << 20;
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT body FROM txs WHERE pos = ?", -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, pos);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string body(static_cast<const char*>(sqlite3_column_blob(st, 0)),
                     static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    sqlite3_finalize(st);
    State fresh = State::genesis(g).value();
    SignedTx tx = decode_tx(body, fresh.domain_separator()).value();
    tx.signature = crypto::sign(key("mallory"), tx.tx.digest).value();
    const Hash id = tx.id();
    body = encode_tx(tx);
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "UPDATE txs SET id = ?, body = ? WHERE pos = ?", -1, &st, nullptr),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, id.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, pos);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    BlockView b;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT hash, parent, timestamp_ms, tx_root, state_digest FROM "
                                 "blocks WHERE number = ?",
                                 -1, &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, static_cast<int64_t>(last));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    b.number = last;
    b.parent = blob(st, 1);
    b.timestamp_ms = sqlite3_column_int64(st, 2);
    b.state_digest = blob(st, 4);
    sqlite3_finalize(st);
    b.txs = {id};
    b.tx_root = tx_root(b.txs);
    b.hash = block_hash(b);
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE blocks SET hash = ?, tx_root = ? WHERE number = ?", -1,
                                 &st, nullptr),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, b.hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, b.tx_root.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, static_cast<int64_t>(last));
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  EmbeddedOptions unchecked;
  unchecked.data_dir = dir.path();
  unchecked.verify_signatures_on_open = false;
  unchecked.snapshot_every = 0;  // its close must not store the forged history as a snapshot
  ASSERT_TRUE(EmbeddedLedger::open(unchecked, nullptr, clock))
      << "the chain itself must be consistent, or this test proves nothing";
  EmbeddedOptions o;
  o.data_dir = dir.path();
  auto r = EmbeddedLedger::open(o, nullptr, clock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is not signed by its sender"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(EmbeddedLedger::verify(dir.path()));
}

// Stores written before the binary form keep each transaction and its events as JSON text: such
// a store opens, replays and answers queries as before, and new blocks go after its old ones.
TEST(EmbeddedLedger, AStoreWrittenAsJsonStillOpensAndAnswers) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  Hash first_id;
  {
    auto l = open_finalized(dir.path(), clock, g, 0);  // no snapshot: every block is replayed
    first_id =
        exec(*l, key("early"), Transfer{key("bob").address(), Amount::from_tokens(2).value()})
            .tx_id;
  }
  {  // every row back to the JSON the older versions wrote
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "ledger.db").c_str(), &db), SQLITE_OK);
    State fresh = State::genesis(g).value();
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT pos, id, body, events FROM txs", -1, &st, nullptr),
              SQLITE_OK);
    std::vector<std::tuple<int64_t, std::string, std::string>> rows;
    while (sqlite3_step(st) == SQLITE_ROW) {
      int64_t pos = sqlite3_column_int64(st, 0);
      Hash id;
      std::memcpy(id.data(), sqlite3_column_blob(st, 1), 32);
      auto bytes = [&](int col) {
        return std::string(static_cast<const char*>(sqlite3_column_blob(st, col)),
                           static_cast<size_t>(sqlite3_column_bytes(st, col)));
      };
      SignedTx tx = decode_tx(bytes(2), fresh.domain_separator()).value();
      auto evs = decode_events(bytes(3), static_cast<uint64_t>(pos >> 20),
                               static_cast<uint32_t>(pos & 0xfffff), id)
                     .value();
      nlohmann::json arr = nlohmann::json::array();
      for (const Event& e : evs) arr.push_back(to_json(e));
      rows.emplace_back(pos, to_json(tx).dump(), arr.dump());
    }
    sqlite3_finalize(st);
    ASSERT_FALSE(rows.empty());
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE txs SET body = ?, events = ? WHERE pos = ?", -1, &st,
                                 nullptr),
              SQLITE_OK);
    for (auto& [pos, body, events] : rows) {
      sqlite3_reset(st);
      sqlite3_bind_text(st, 1, body.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, events.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 3, pos);
      ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  ASSERT_TRUE(EmbeddedLedger::verify(dir.path()));
  EmbeddedOptions o;
  o.data_dir = dir.path();
  o.snapshot_every = 0;
  auto l = EmbeddedLedger::open(o, nullptr, clock);
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ((*l)->balance_of(key("bob").address()).value(), Amount::from_tokens(2).value());
  exec(**l, key("early"), Transfer{key("bob").address(), Amount::from_tokens(3).value()});
  auto evs = (*l)->events_of_account(key("bob").address(), 10).value();
  ASSERT_EQ(evs.size(), 2u);  // one from a JSON row, one from a binary row
  EXPECT_EQ(evs[0].tx_id, first_id);
  EXPECT_EQ(evs[0].kind, EventKind::transfer);
  EXPECT_EQ(evs[0].field("amount"), "2000000000000000000");
  EXPECT_EQ(evs[1].field("amount"), "3000000000000000000");
  EXPECT_EQ(evs[0].field("to"), key("bob").address().to_string());
  ASSERT_TRUE((*l)->transaction(first_id).value());
}

// #24: snapshots. One is stored with the block that brings the transactions since the last to
// `snapshot_every`, and at a clean close; open() loads it and replays only the blocks after it,
// to the same state. A snapshot that is not sound (damaged, or not the state of its block) is
// refused, and the ledger replays from genesis instead. A snapshot is trusted: a block before it
// edited behind the ledger's back is not seen by open(), only by verify().
TEST(EmbeddedLedger, ARestartLoadsTheSnapshotAndReplaysOnlyTheBlocksAfterIt) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  uint64_t height = 0;
  Hash digest;
  {
    // The sale's finalize and 3 transfers: the 4th transaction's block is stored with a
    // snapshot, and the close has nothing newer to snapshot.
    auto l = open_finalized(dir.path(), clock, g, 2);
    for (int i = 0; i < 3; ++i)
      exec(*l, key("early"), Transfer{key("alice").address(), Amount::from_tokens(1).value()});
    height = l->height().value();
  }
  auto snap = [&] {
    auto store = Store::open(dir.path(), false).value();
    return store->snapshot().value();
  };
  ASSERT_TRUE(snap());
  EXPECT_EQ(snap()->height, height) << "stored with the block of the 4th transaction";
  {
    EmbeddedOptions o;
    o.data_dir = dir.path();
    o.snapshot_every = 0;  // this open stores no snapshot, at its close neither
    auto l = EmbeddedLedger::open(o, nullptr, clock).value();
    EXPECT_EQ(l->opened().snapshot, std::optional<uint64_t>(height));
    EXPECT_EQ(l->opened().blocks, 0u);
    EXPECT_EQ(l->balance_of(key("alice").address())->to_string(), "3");
    exec(*l, key("early"), Transfer{key("alice").address(), Amount::from_tokens(1).value()});
    height = l->height().value();
  }
  {
    EmbeddedOptions o;
    o.data_dir = dir.path();
    o.snapshot_every = 0;
    auto l = EmbeddedLedger::open(o, nullptr, clock).value();
    EXPECT_EQ(l->opened().snapshot, std::optional<uint64_t>(height - 1));
    EXPECT_EQ(l->opened().blocks, 1u) << "the block after the snapshot, only";
    EXPECT_EQ(l->balance_of(key("alice").address())->to_string(), "4");
    exec(*l, key("alice"), Transfer{key("bob").address(), Amount::from_tokens(1).value()});
    height = l->height().value();
    digest = l->block(height)->state_digest;
  }
  // A damaged snapshot, then one that is not its block's state: refused, replayed from genesis.
  for (const char* sql : {"UPDATE snapshot SET body = substr(body, 1, length(body) - 3)",
                          "UPDATE snapshot SET height = height - 1"}) {
    {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open((dir.path() / "ledger.db").c_str(), &db), SQLITE_OK);
      ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
      sqlite3_close(db);
    }
    EmbeddedOptions o;
    o.data_dir = dir.path();
    auto l = EmbeddedLedger::open(o, nullptr, clock).value();
    EXPECT_FALSE(l->opened().snapshot) << sql;
    EXPECT_NE(l->opened().snapshot_refused, "") << sql;
    EXPECT_EQ(l->opened().blocks, height + 1) << sql;
    EXPECT_EQ(l->block(height)->state_digest, digest);
    EXPECT_EQ(l->balance_of(key("bob").address())->to_string(), "1");
  }
  // The last open closed cleanly: its snapshot is of the head, and the next open replays nothing.
  EmbeddedOptions o;
  o.data_dir = dir.path();
  {
    auto l = EmbeddedLedger::open(o, nullptr, clock).value();
    EXPECT_EQ(l->opened().snapshot, std::optional<uint64_t>(height));
    EXPECT_EQ(l->opened().blocks, 0u);
    EXPECT_EQ(l->block(height)->state_digest, digest);
    EXPECT_EQ(l->balance_of(key("alice").address())->to_string(), "3");
  }
  // An edited block before the snapshot: open() trusts the snapshot, verify() finds the edit.
  tamper(dir.path(), "UPDATE blocks SET state_digest = zeroblob(32) WHERE number = 2");
  EXPECT_TRUE(EmbeddedLedger::open(o, nullptr, clock));
  EXPECT_FALSE(EmbeddedLedger::verify(dir.path()));
  o.open_from_snapshot = false;
  EXPECT_FALSE(EmbeddedLedger::open(o, nullptr, clock));
}

// The attack on snapshots no damage test tries: a well-formed snapshot of another history (the
// same genesis, the same height, a transfer to the attacker instead of to alice) put in place
// of the store's own. It decodes and keeps every invariant; only its digest, which is not the
// block's, gives it away: refused, and the start replays the store's own blocks.
TEST(EmbeddedLedger, AWellFormedSnapshotOfAnotherHistoryIsRefused) {
  TempDir honest_dir, forged_dir;
  GenesisConfig g = quick_genesis();
  ManualClock honest_clock(g.time), forged_clock(g.time);
  {
    auto l = open_finalized(honest_dir.path(), honest_clock, g);
    exec(*l, key("early"), Transfer{key("alice").address(), Amount::from_tokens(1).value()});
  }
  {
    auto l = open_finalized(forged_dir.path(), forged_clock, g);
    exec(*l, key("early"), Transfer{key("mallory").address(), Amount::from_tokens(1000).value()});
  }
  Store::Snapshot forged =
      Store::open(forged_dir.path(), false).value()->snapshot().value().value();
  uint64_t height = 0;
  {
    auto store = Store::open(honest_dir.path()).value();
    height = store->snapshot().value().value().height;
    ASSERT_EQ(forged.height, height) << "the same height, or this test proves nothing";
    ASSERT_TRUE(store->write_snapshot(height, forged.body));
  }
  EmbeddedOptions o;
  o.data_dir = honest_dir.path();
  auto l = EmbeddedLedger::open(o, nullptr, honest_clock).value();
  EXPECT_FALSE(l->opened().snapshot);
  EXPECT_NE(l->opened().snapshot_refused.find("digest"), std::string::npos)
      << l->opened().snapshot_refused;
  EXPECT_EQ(l->balance_of(key("mallory").address())->to_string(), "0");
  EXPECT_EQ(l->balance_of(key("alice").address())->to_string(), "1");
}

TEST(EmbeddedLedger, ConcurrentSubmittersAreGroupCommittedInFewerBlocks) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  auto l = open_finalized(dir.path(), clock, g);
  const char* senders[] = {"early", "bounty", "team"};
  uint64_t before = l->height().value();
  constexpr int kPerSender = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (const char* s : senders) {
    threads.emplace_back([&, s] {
      crypto::PrivateKey k = key(s);
      // Pipelined: every transaction in flight at once, nonces in submission order.
      std::vector<std::future<Result<Receipt>>> pending;
      uint64_t n0 = l->nonce_of(k.address()).value();
      std::vector<std::shared_ptr<std::promise<Result<Receipt>>>> promises;
      for (int i = 0; i < kPerSender; ++i) {
        auto p = std::make_shared<std::promise<Result<Receipt>>>();
        pending.push_back(p->get_future());
        auto tx =
            l->prepare(k.address(), Transfer{key("sink").address(), Amount::from_base(1)}, n0 + i)
                .value();
        l->submit_async(sign_tx(k, tx), [p](Result<Receipt> r) { p->set_value(std::move(r)); });
      }
      for (auto& f : pending) ok += f.get().has_value() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 3 * kPerSender);
  EXPECT_EQ(l->balance_of(key("sink").address())->base(), U256(3 * kPerSender));
  uint64_t blocks = l->height().value() - before;
  EXPECT_LT(blocks, static_cast<uint64_t>(3 * kPerSender)) << "no group commit happened";
  EXPECT_TRUE(l->supply()->conserved());
}

TEST(EmbeddedLedger, RejectedTransactionsAreAnsweredAndNotStored) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock clock(g.time);
  auto l = open_finalized(dir.path(), clock, g);
  uint64_t h = l->height().value();
  auto tx =
      l->prepare(key("nobody").address(), Transfer{key("bob").address(), Amount::from_base(1)})
          .value();
  auto r = l->submit(sign_tx(key("nobody"), tx));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), LedgerErrc::insufficient_funds);
  EXPECT_EQ(l->height().value(), h);
  EXPECT_TRUE(l->transactions_of(key("nobody").address(), 10)->empty());
}

// The crash test: a child process applies transactions and reports each acknowledged one; it is
// killed with SIGKILL at a random moment, 20 times. After every kill the store reopens, every
// acknowledged transaction is there, nothing is half applied, and verification passes.
TEST(EmbeddedLedger, AcknowledgedTransactionsSurviveSigkill) {
  TempDir dir;
  GenesisConfig g = quick_genesis();
  ManualClock setup_clock(g.time);
  { auto l = open_finalized(dir.path(), setup_clock, g); }
  std::mt19937_64 rng(2026);
  std::set<std::string> acknowledged;
  const char* senders[] = {"early", "bounty", "team"};
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ManualClock clock(setup_clock.now() + Millis(round * 1000));
      EmbeddedOptions o;
      o.data_dir = dir.path();
      auto l = EmbeddedLedger::open(o, nullptr, clock);
      if (!l) {
        fprintf(stderr, "child: %s\n", l.error().message().c_str());
        _exit(3);
      }
      for (uint64_t i = 0;; ++i) {
        std::vector<std::future<Result<Receipt>>> wave;
        for (const char* s : senders) {
          crypto::PrivateKey k = key(s);
          auto p = std::make_shared<std::promise<Result<Receipt>>>();
          wave.push_back(p->get_future());
          auto tx =
              (*l)->prepare(k.address(), Transfer{key("sink").address(), Amount::from_base(1)})
                  .value();
          (*l)->submit_async(sign_tx(k, tx),
                             [p](Result<Receipt> r) { p->set_value(std::move(r)); });
        }
        for (auto& f : wave) {
          auto r = f.get();
          if (!r) _exit(4);
          std::string line = r->tx_id.hex() + "\n";
          if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size()))
            _exit(5);
        }
      }
    }
    close(fds[1]);
    int status = 0;
    ASSERT_TRUE(testing::kill_and_collect(pid, fds[0], std::chrono::milliseconds(30 + rng() % 250),
                                          acknowledged, &status))
        << "the child ended by itself with status " << status;
    ManualClock clock(setup_clock.now() + Millis(round * 1000 + 500));
    EmbeddedOptions o;
    o.data_dir = dir.path();
    auto l = EmbeddedLedger::open(o, nullptr, clock);
    ASSERT_TRUE(l) << "round " << round << ": " << l.error().message();
    std::set<std::string> stored;
    uint64_t total = 0;
    for (const char* s : senders) {
      auto txs = (*l)->transactions_of(key(s).address(), 1'000'000).value();
      // Nothing half applied: an account's nonce is exactly its number of stored transactions.
      EXPECT_EQ((*l)->nonce_of(key(s).address()).value(), txs.size());
      for (const auto& t : txs) {
        stored.insert(t.id.hex());
        if (t.op == "transfer") ++total;
      }
    }
    EXPECT_EQ((*l)->balance_of(key("sink").address())->base(), U256(total));
    for (const auto& id : acknowledged) EXPECT_TRUE(stored.contains(id)) << "lost " << id;
  }
  EXPECT_GT(acknowledged.size(), 20u);
  auto report = EmbeddedLedger::verify(dir.path());
  ASSERT_TRUE(report) << report.error().message();
}

}  // namespace
}  // namespace ipsx::ledger
