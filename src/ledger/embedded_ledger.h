// The embedded ledger: the Ledger interface inside the node, persisted in SQLite, nothing else
// to install. Transactions flow through three stages:
//   submit -> signature recovery on worker threads -> the sequencer applies them to the State in
//   submission order, groups them into a block, writes the block in one durable SQLite
//   transaction (group commit), and only then answers the submitters.
// Opening an existing store re-executes every block from genesis and checks the hash chain,
// transaction roots and state digests; a mismatch refuses to open (never a silent repair).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "ledger/genesis.h"
#include "ledger/ledger.h"
#include "ledger/state.h"
#include "ledger/store.h"

namespace ipsx::ledger {

// What opening or verifying a store found.
struct ReplayReport {
  // The block whose state snapshot the replay started from (the blocks after it were replayed),
  // if it did; why a snapshot there was not used, if one was refused (the replay then started
  // from genesis).
  std::optional<uint64_t> snapshot;
  std::string snapshot_refused;
  uint64_t blocks = 0;
  uint64_t transactions = 0;
  uint64_t signatures_checked = 0;
};

// Progress of a long replay (a start, `verify`): what is done so far, and the blocks in all.
// Called at most once per `every` while blocks are replayed, then once when all are (if it was
// called before), on the replaying thread; quick, and never calling into the ledger.
struct ReplayProgress {
  std::function<void(const ReplayReport& so_far, uint64_t total_blocks)> report;
  std::chrono::milliseconds every{1'000};
};

// A state of E entries is snapshotted at most every E / kSnapshotEntriesPerTx transactions.
inline constexpr uint64_t kSnapshotEntriesPerTx = 4;

struct EmbeddedOptions {
  std::filesystem::path data_dir;
  size_t verify_threads = 0;  // 0 = one per core
  size_t max_block_txs = 10'000;
  // Whether open() re-checks every stored transaction's signature (on verify_threads threads) as
  // it replays the blocks, so that a store edited behind the ledger's back is refused even when
  // its hashes were recomputed. Costs one signature recovery per transaction at every start
  // (docs/performance.md, ledger.reopen_*); the hash chain and state digests are checked always.
  bool verify_signatures_on_open = true;
  // Called on the sequencer thread after each block is durable, with the time its write took
  // (for metrics and benchmarks). Must be quick and must not call back into the ledger.
  std::function<void(const BlockView&, std::chrono::microseconds)> on_commit;
  // Progress of the replay open() does (the blocks after the snapshot, or every block).
  ReplayProgress progress;
  // A snapshot of the state is stored with the block that brings the transactions since the
  // last one to `snapshot_every` (or, for a state of more than 4 x snapshot_every entries, to a
  // quarter of its entries: kSnapshotEntriesPerTx), and at a clean close; open() loads it (its
  // digest must be the block's) and replays only the blocks after it, so a restart costs what the
  // state and the blocks since the snapshot cost, not the whole history. A snapshot is trusted as
  // the ledger's own earlier work: the blocks before it are not re-checked at open (`verify` checks
  // every block from genesis). 0: no snapshots (every open replays from genesis).
  uint64_t snapshot_every = 20'000;
  bool open_from_snapshot = true;  // false: replay from genesis even if there is a snapshot
};

class EmbeddedLedger final : public Ledger {
 public:
  // Creates a new ledger in `options.data_dir` from `genesis`, or reopens the one there (then
  // `genesis`, if given, must be the one it was created with). `clock` must outlive the ledger.
  static Result<std::unique_ptr<EmbeddedLedger>> open(const EmbeddedOptions& options,
                                                      const GenesisConfig* genesis,
                                                      const Clock& clock);
  // Re-executes a store from genesis without opening it for writing: checks every signature,
  // the hash chain, transaction roots, state digests and the invariants after every block.
  static Result<ReplayReport> verify(const std::filesystem::path& data_dir,
                                     const ReplayProgress& progress = {});

  ~EmbeddedLedger() override;  // stops accepting, finishes what is queued, joins threads
  // What open() replayed: from which snapshot, if any, and how many blocks.
  const ReplayReport& opened() const { return opened_; }

  std::string_view kind() const override { return "embedded"; }
  uint64_t chain_id() const override { return chain_id_; }
  crypto::eip712::Domain domain() const override { return domain_; }
  Result<UnsignedTx> prepare(const Address& from, Op op,
                             std::optional<uint64_t> nonce = std::nullopt) const override;
  Result<Receipt> submit(const SignedTx& tx) override;
  void submit_async(SignedTx tx, std::function<void(Result<Receipt>)> done) override;
  // One at a time: each is prepared once its predecessor's outcome is known (a block here takes
  // a sync of the store, milliseconds).
  void submit_as(std::shared_ptr<const crypto::PrivateKey> key, Op op,
                 std::function<void(Result<Receipt>)> done) override;

  Result<Amount> total_supply() const override;
  Result<Amount> balance_of(const Address& a) const override;
  Result<Amount> allowance(const Address& owner, const Address& spender) const override;
  Result<Amount> native_balance(const Address& a) const override;
  Result<uint64_t> nonce_of(const Address& a) const override;
  Result<WalletView> wallet(const Address& a) const override;
  Result<Amount> bought(const Address& a) const override;
  Result<SaleView> sale() const override;
  Result<DealView> deal(const Hash& id) const override;
  Result<RatingView> rating(const Address& a) const override;
  Result<SupplyView> supply() const override;
  Result<bool> order_cancelled(const Address& owner, const Hash& order_hash) const override;
  Result<uint64_t> height() const override;
  Result<BlockView> block(uint64_t number) const override;
  Result<std::vector<TxRecord>> transactions_of(const Address& a, size_t limit) const override;
  Result<std::optional<TxRecord>> transaction(const Hash& id) const override;
  Result<std::vector<Event>> events_of_deal(const Hash& deal_id) const override;
  Result<std::vector<Event>> events_of_account(const Address& a, size_t limit) const override;

  // A consistent read of the whole state (for `ipsx ledger show`). `f` runs under the lock.
  void with_state(const std::function<void(const State&)>& f) const;

 private:
  struct Job {
    uint64_t seq = 0;
    SignedTx tx;
    std::function<void(Result<Receipt>)> done;
    std::optional<Error> error;  // set by verification
  };

  EmbeddedLedger(const EmbeddedOptions& o, const Clock& clock, State state,
                 std::unique_ptr<Store> store, BlockView head);
  void verify_loop();
  void sequence_loop();
  // A block applied to the state and waiting for the writer to make it durable.
  struct PendingBlock {
    BlockView block;
    std::vector<SignedTx> txs;
    std::vector<Event> events;
    std::vector<std::optional<Hash>> deal_ids;
    std::vector<std::function<void(Result<Receipt>)>> done;
    std::optional<std::string> snapshot;  // the state after the block, stored with it
  };
  void apply_batch(std::vector<Job>& batch);
  void write_loop();
  void write_block(PendingBlock& p);

  const Clock& clock_;
  EmbeddedOptions options_;
  uint64_t chain_id_;
  crypto::eip712::Domain domain_;
  Hash domain_separator_;

  mutable std::shared_mutex state_mu_;  // guards state_
  State state_;
  mutable std::mutex store_mu_;  // guards store_ and head_ (the last durable block)
  std::unique_ptr<Store> store_;
  BlockView head_;
  BlockView applied_head_;       // the last block applied to state_; sequencer thread only
  std::optional<Error> failed_;  // a storage failure stops the ledger
  uint64_t since_snapshot_ = 0;  // transactions applied since the last snapshot (state_mu_)
  ReplayReport opened_;          // what open() replayed

  // submit_as()'s operations not yet sent, and whether one is on its way (send_next_keyed()).
  struct Keyed {
    std::shared_ptr<const crypto::PrivateKey> key;
    Op op;
    std::function<void(Result<Receipt>)> done;
  };
  void send_next_keyed();
  std::mutex keyed_mu_;
  std::deque<Keyed> keyed_;
  bool keyed_busy_ = false;

  std::mutex queue_mu_;
  std::condition_variable verify_cv_;
  std::condition_variable sequence_cv_;
  std::deque<Job> to_verify_;
  std::map<uint64_t, Job> verified_;  // by submission sequence
  uint64_t next_seq_ = 0;
  uint64_t next_to_apply_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> verifiers_;
  std::thread sequencer_;

  // Sequencer -> writer: blocks applied in memory, written in order by one thread, so the next
  // block is applied while the previous one is being made durable. Bounded.
  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<PendingBlock> to_write_;
  bool sequencer_done_ = false;
  std::thread writer_;
};

// The Merkle root of transaction ids (docs/ledger.md) and a block's hash.
Hash tx_root(const std::vector<Hash>& ids);
Hash block_hash(const BlockView& b);

}  // namespace ipsx::ledger
