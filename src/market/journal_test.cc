// The journal's snapshots on disk: a body in a file of its own (snapshot.SEQ) named by the
// `snapshot` row, written in the background, and what a crash, a failure or an older store
// leaves.
#include "market/journal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ledger/test_util.h"

namespace ipsx::market {
namespace {

using ledger::testing::TempDir;

std::set<std::string> snapshot_files(const std::filesystem::path& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("snapshot.")) out.insert(name);
  }
  return out;
}

void append(Journal& j, int n) {
  for (int i = 0; i < n; ++i) ASSERT_TRUE(j.append("offer", "{}", from_unix_ms(1000 * i)));
}

TEST(JournalSnapshot, ABackgroundSnapshotTakesEffectWhenSettled) {
  TempDir dir;
  auto j = Journal::open(dir.path()).value();
  append(*j, 5);
  ASSERT_TRUE(j->write_snapshot({2, "first"}));
  j->write_snapshot_in_background({4, std::string(1 << 20, 's')});
  // Until it is settled the journal holds every entry from the first snapshot on, whether or
  // not the file is written yet.
  append(*j, 1);
  EXPECT_EQ(j->size().value(), 5u);
  std::optional<Result<void>> settled = j->settle_snapshot(true);
  ASSERT_TRUE(settled.has_value());
  ASSERT_TRUE(*settled) << settled->error().message();
  EXPECT_FALSE(j->settle_snapshot(true).has_value()) << "settled once";
  EXPECT_EQ(j->size().value(), 3u) << "entries 4, 5 and 6 kept";
  auto loaded = j->load_snapshot().value();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->seq, 4u);
  EXPECT_EQ(loaded->body, std::string(1 << 20, 's'));
  EXPECT_EQ(snapshot_files(dir.path()), (std::set<std::string>{"snapshot.4"}))
      << "the replaced snapshot's file is removed";
}

// A crash after a snapshot's file was written but before it was named (or while it was being
// written): the next open removes the file, and the old snapshot and every entry stand.
TEST(JournalSnapshot, AFileNeverNamedIsRemovedAtOpen) {
  TempDir dir;
  {
    auto j = Journal::open(dir.path()).value();
    append(*j, 5);
    ASSERT_TRUE(j->write_snapshot({2, "first"}));
    j->write_snapshot_in_background({4, "second"});
    // Destroyed before any settle: as if the process had stopped here.
  }
  std::ofstream(dir.path() / "snapshot.5.tmp") << "torn";
  auto j = Journal::open(dir.path()).value();
  EXPECT_EQ(snapshot_files(dir.path()), (std::set<std::string>{"snapshot.2"}));
  EXPECT_EQ(j->load_snapshot().value()->body, "first");
  EXPECT_EQ(j->size().value(), 4u);
}

// The file cannot be written (here its temporary name is taken by a directory): the settle says
// why, and the old snapshot and every entry stand; the next snapshot replaces it.
TEST(JournalSnapshot, AFailedBackgroundWriteLeavesTheOldSnapshot) {
  TempDir dir;
  auto j = Journal::open(dir.path()).value();
  append(*j, 5);
  ASSERT_TRUE(j->write_snapshot({2, "first"}));
  std::filesystem::create_directory(dir.path() / "snapshot.4.tmp");
  j->write_snapshot_in_background({4, "second"});
  auto settled = j->settle_snapshot(true);
  ASSERT_TRUE(settled.has_value());
  ASSERT_FALSE(*settled);
  EXPECT_NE(settled->error().message().find("snapshot.4.tmp"), std::string::npos)
      << settled->error().message();
  EXPECT_EQ(j->load_snapshot().value()->body, "first");
  EXPECT_EQ(j->size().value(), 4u);
  ASSERT_TRUE(j->write_snapshot({5, "third"}));
  EXPECT_EQ(j->load_snapshot().value()->body, "third");
  EXPECT_EQ(snapshot_files(dir.path()), (std::set<std::string>{"snapshot.5"}));
}

TEST(JournalSnapshot, AMissingFileIsAnErrorNamingIt) {
  TempDir dir;
  auto j = Journal::open(dir.path()).value();
  append(*j, 3);
  ASSERT_TRUE(j->write_snapshot({3, "body"}));
  std::filesystem::remove(dir.path() / "snapshot.3");
  auto loaded = j->load_snapshot();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message().find("snapshot.3"), std::string::npos)
      << loaded.error().message();
}

// A store written when the snapshot's body was kept in its row: read as it is, and replaced by a
// file at the next snapshot.
TEST(JournalSnapshot, ABodyKeptInTheRowStillLoads) {
  TempDir dir;
  {
    auto j = Journal::open(dir.path()).value();
    append(*j, 3);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "market.db").string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO snapshot(id, seq, body) VALUES(1, 2, X'6F6C64')", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto j = Journal::open(dir.path()).value();
  auto loaded = j->load_snapshot().value();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->seq, 2u);
  EXPECT_EQ(loaded->body, "old");
  ASSERT_TRUE(j->write_snapshot({3, "new"}));
  EXPECT_EQ(j->load_snapshot().value()->body, "new");
  EXPECT_EQ(snapshot_files(dir.path()), (std::set<std::string>{"snapshot.3"}));
}

}  // namespace
}  // namespace ipsx::market
