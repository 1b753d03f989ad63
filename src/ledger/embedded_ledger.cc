#include "ledger/embedded_ledger.h"

#include <fmt/format.h>
#include <pthread.h>

#include <atomic>
#include <future>
#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "ledger/record_codec.h"
#include "ledger/tx_codec.h"

namespace ipsx::ledger {
namespace {

constexpr const char* kFormat = "ipsx-ledger-1";

std::unexpected<Error> corrupt(uint64_t block, const std::string& what) {
  return fail(LedgerErrc::storage, fmt::format("store is corrupted at block {}: {}", block, what));
}

// Checks the signatures of a batch of replayed transactions on `threads` threads; the error names
// the first transaction whose signature is not its sender's.
struct PendingSignature {
  uint64_t block = 0;
  size_t index = 0;
  Hash digest;
  crypto::Signature signature;
  Address from;
};

Result<void> check_signatures(const std::vector<PendingSignature>& batch, size_t threads) {
  std::vector<size_t> bad(threads, SIZE_MAX);
  auto work = [&](size_t t) {
    for (size_t i = t; i < batch.size(); i += threads) {
      auto signer = crypto::recover(batch[i].digest, batch[i].signature);
      if (!signer || *signer != batch[i].from) {
        bad[t] = i;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  size_t first = *std::min_element(bad.begin(), bad.end());
  if (first == SIZE_MAX) return {};
  return corrupt(batch[first].block,
                 fmt::format("transaction {} is not signed by its sender", batch[first].index));
}

// A stored transaction: binary, or JSON in a store written before the binary form.
Result<SignedTx> stored_tx(const StoredTx& t, const Hash& domain_separator) {
  if (!t.json) return decode_tx(t.body, domain_separator);
  auto j = nlohmann::json::parse(t.body, nullptr, false);
  if (j.is_discarded()) return fail(LedgerErrc::storage, "not JSON");
  return signed_tx_from_json(j, domain_separator);
}

// Re-executes every stored block on `state` (fresh from genesis), checking the chain, and the
// signatures on `signature_threads` threads unless it is 0. With `thorough`, also the
// from-scratch state digest and the invariants (and the signatures, on one thread at least).
Result<ReplayReport> replay(Store& store, State& state, BlockView* head, bool thorough,
                            size_t signature_threads, const ReplayProgress& progress,
                            ReplayReport report = {}, const BlockView* after = nullptr) {
  uint64_t expected = after ? after->number + 1 : 0;
  uint64_t total = 0;
  if (progress.report) {
    auto h = store.height();
    if (h && *h != UINT64_MAX && *h + 1 >= expected) total = *h + 1 - expected;
  }
  auto last_report = std::chrono::steady_clock::now();
  bool reported = false;
  Hash prev = after ? after->hash : Hash{};
  if (thorough) signature_threads = std::max<size_t>(signature_threads, 1);
  constexpr size_t kSignatureBatch = 8'192;
  std::vector<PendingSignature> pending;
  auto flush = [&]() -> Result<void> {
    if (pending.empty()) return {};
    auto ok = check_signatures(pending, signature_threads);
    report.signatures_checked += pending.size();
    pending.clear();
    return ok;
  };
  auto r = store.for_each_block(
      [&](const StoredBlock& sb) -> Result<void> {
        const BlockView& h = sb.header;
        if (h.number != expected) return corrupt(expected, "block missing");
        if (h.parent != prev)
          return corrupt(h.number, "parent hash does not match the previous block");
        if (h.number == 0 && !sb.txs.empty())
          return corrupt(0, "the genesis block has transactions");
        for (size_t i = 0; i < sb.txs.size(); ++i) {
          auto tx = stored_tx(sb.txs[i], state.domain_separator());
          if (!tx)
            return corrupt(h.number, fmt::format("transaction {}: {}", i, tx.error().message()));
          if (tx->id() != h.txs[i])
            return corrupt(h.number, fmt::format("transaction {} has the wrong id", i));
          if (signature_threads > 0) {
            pending.push_back({h.number, i, tx->tx.digest, tx->signature, tx->tx.from});
            if (pending.size() >= kSignatureBatch) {
              if (auto ok = flush(); !ok) return ok;
            }
          }
          auto applied = state.apply(tx->tx, h.timestamp_ms);
          if (!applied) {
            return corrupt(h.number, fmt::format("transaction {} does not apply: {}", i,
                                                 applied.error().message()));
          }
          ++report.transactions;
        }
        if (tx_root(h.txs) != h.tx_root)
          return corrupt(h.number, "transaction root does not match");
        if (state.digest() != h.state_digest)
          return corrupt(h.number, "state digest does not match");
        if (thorough && state.recompute_digest() != state.digest()) {
          return corrupt(h.number, "incremental and recomputed state digests differ");
        }
        if (block_hash(h) != h.hash)
          return corrupt(h.number, "block hash does not match its header");
        if (thorough) {
          if (auto inv = state.check_invariants(); !inv)
            return corrupt(h.number, inv.error().message());
        }
        prev = h.hash;
        if (head) *head = h;
        ++expected;
        ++report.blocks;
        if (progress.report && std::chrono::steady_clock::now() - last_report >= progress.every) {
          progress.report(report, total);
          last_report = std::chrono::steady_clock::now();
          reported = true;
        }
        return {};
      },
      expected);
  if (!r) return std::unexpected(r.error());
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  if (expected == 0) return fail(LedgerErrc::storage, "store has no genesis block");
  if (reported) progress.report(report, total);
  return report;
}

// Loads the store's state snapshot into `state` (fresh from genesis) if it is sound: its block
// is stored and whole, and the state it holds has that block's digest. Returns the block, or
// nothing (with why in `report`, if there was a snapshot) and `state` untouched.
std::optional<BlockView> load_snapshot(Store& store, State& state, ReplayReport& report) {
  auto snap = store.snapshot();
  if (!snap) {
    report.snapshot_refused = snap.error().message();
    return std::nullopt;
  }
  if (!*snap) return std::nullopt;
  auto refuse = [&](std::string why) -> std::optional<BlockView> {
    report.snapshot_refused = fmt::format("the snapshot at block {}: {}", (*snap)->height, why);
    return std::nullopt;
  };
  auto block = store.block((*snap)->height);
  if (!block) return refuse(block.error().message());
  if (block_hash(*block) != block->hash) return refuse("its block's hash does not match");
  State trial = state;
  if (auto r = trial.restore((*snap)->body, block->state_digest); !r)
    return refuse(r.error().message());
  state = std::move(trial);
  report.snapshot = block->number;
  return *block;
}

}  // namespace

Hash tx_root(const std::vector<Hash>& ids) {
  if (ids.empty()) return keccak256(std::string_view(""));
  std::vector<Hash> level = ids;
  while (level.size() > 1) {
    std::vector<Hash> next;
    for (size_t i = 0; i < level.size(); i += 2) {
      if (i + 1 == level.size()) {
        next.push_back(level[i]);
        continue;
      }
      std::array<uint8_t, 64> pair;
      std::copy(level[i].bytes().begin(), level[i].bytes().end(), pair.begin());
      std::copy(level[i + 1].bytes().begin(), level[i + 1].bytes().end(), pair.begin() + 32);
      next.push_back(keccak256(ByteView(pair)));
    }
    level = std::move(next);
  }
  return level[0];
}

Hash block_hash(const BlockView& b) {
  std::array<uint8_t, 8 + 32 + 8 + 32 + 32> buf{};
  auto put64 = [&](size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) buf[at + i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  };
  put64(0, b.number);
  std::copy(b.parent.bytes().begin(), b.parent.bytes().end(), buf.begin() + 8);
  put64(40, static_cast<uint64_t>(b.timestamp_ms));
  std::copy(b.tx_root.bytes().begin(), b.tx_root.bytes().end(), buf.begin() + 48);
  std::copy(b.state_digest.bytes().begin(), b.state_digest.bytes().end(), buf.begin() + 80);
  return keccak256(ByteView(buf));
}

Result<std::unique_ptr<EmbeddedLedger>> EmbeddedLedger::open(const EmbeddedOptions& options,
                                                             const GenesisConfig* genesis,
                                                             const Clock& clock) {
  auto store = Store::open(options.data_dir);
  if (!store) return std::unexpected(store.error());
  auto stored = (*store)->meta("genesis");
  if (!stored) return std::unexpected(stored.error());
  BlockView head;
  if (!stored->has_value()) {
    if (!genesis) {
      return fail(LedgerErrc::invalid_argument,
                  fmt::format("no ledger in {}: create one from a genesis file",
                              options.data_dir.string()));
    }
    auto state = State::genesis(*genesis);
    if (!state) return std::unexpected(state.error());
    head.number = 0;
    head.timestamp_ms = to_unix_ms(genesis->time);
    head.tx_root = tx_root({});
    head.state_digest = state->digest();
    head.hash = block_hash(head);
    if (auto r = (*store)->set_meta("format", kFormat); !r) return std::unexpected(r.error());
    if (auto r = (*store)->set_meta("genesis", genesis->to_toml()); !r)
      return std::unexpected(r.error());
    if (auto r = (*store)->append(head, {}, {}); !r) return std::unexpected(r.error());
    return std::unique_ptr<EmbeddedLedger>(
        new EmbeddedLedger(options, clock, std::move(*state), std::move(*store), head));
  }
  auto format = (*store)->meta("format");
  if (!format || *format != std::optional<std::string>(kFormat)) {
    return fail(LedgerErrc::storage, "the store's format is not " + std::string(kFormat));
  }
  auto g = GenesisConfig::from_toml(**stored);
  if (!g) return fail(LedgerErrc::storage, "stored genesis: " + g.error().message());
  if (genesis && genesis->to_toml() != g->to_toml()) {
    return fail(
        LedgerErrc::invalid_argument,
        fmt::format("{} holds a ledger with a different genesis", options.data_dir.string()));
  }
  auto state = State::genesis(*g);
  if (!state) return std::unexpected(state.error());
  size_t threads = options.verify_threads ? options.verify_threads
                                          : std::max(1u, std::thread::hardware_concurrency());
  ReplayReport from;
  std::optional<BlockView> after;
  if (options.open_from_snapshot) {
    after = load_snapshot(**store, *state, from);
    if (after) head = *after;
  }
  auto report =
      replay(**store, *state, &head, false, options.verify_signatures_on_open ? threads : 0,
             options.progress, from, after ? &*after : nullptr);
  if (!report) return std::unexpected(report.error());
  std::unique_ptr<EmbeddedLedger> l(
      new EmbeddedLedger(options, clock, std::move(*state), std::move(*store), head));
  l->opened_ = *report;
  if (options.verify_signatures_on_open) {
    // A close then leaves a snapshot of what was replayed; never of blocks whose signatures
    // were not checked (a snapshot is trusted from then on).
    std::unique_lock lock(l->state_mu_);
    l->since_snapshot_ = report->transactions;
  }
  return l;
}

Result<ReplayReport> EmbeddedLedger::verify(const std::filesystem::path& data_dir,
                                            const ReplayProgress& progress) {
  if (!std::filesystem::exists(data_dir / "ledger.db")) {
    return fail(LedgerErrc::invalid_argument, "no ledger in " + data_dir.string());
  }
  auto store = Store::open(data_dir, /*writer=*/false);
  if (!store) return std::unexpected(store.error());
  auto stored = (*store)->meta("genesis");
  if (!stored) return std::unexpected(stored.error());
  if (!stored->has_value()) return fail(LedgerErrc::storage, "the store has no genesis");
  auto g = GenesisConfig::from_toml(**stored);
  if (!g) return fail(LedgerErrc::storage, "stored genesis: " + g.error().message());
  auto state = State::genesis(*g);
  if (!state) return std::unexpected(state.error());
  if (auto inv = state->check_invariants(); !inv) return std::unexpected(inv.error());
  return replay(**store, *state, nullptr, true, std::max(1u, std::thread::hardware_concurrency()),
                progress);
}

EmbeddedLedger::EmbeddedLedger(const EmbeddedOptions& o, const Clock& clock, State state,
                               std::unique_ptr<Store> store, BlockView head)
    : clock_(clock),
      options_(o),
      chain_id_(state.chain_id()),
      domain_(state.domain()),
      domain_separator_(state.domain_separator()),
      state_(std::move(state)),
      store_(std::move(store)),
      head_(std::move(head)) {
  size_t n = options_.verify_threads ? options_.verify_threads
                                     : std::max<size_t>(1, std::thread::hardware_concurrency());
  applied_head_ = head_;
  for (size_t i = 0; i < n; ++i) verifiers_.emplace_back([this] { verify_loop(); });
  sequencer_ = std::thread([this] { sequence_loop(); });
  writer_ = std::thread([this] { write_loop(); });
}

EmbeddedLedger::~EmbeddedLedger() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  verify_cv_.notify_all();
  sequence_cv_.notify_all();
  for (auto& t : verifiers_) t.join();
  sequence_cv_.notify_all();
  sequencer_.join();
  {
    std::lock_guard lock(write_mu_);
    sequencer_done_ = true;
  }
  write_cv_.notify_all();
  writer_.join();
  // A clean close leaves a snapshot of the state, so that the next open replays nothing; not
  // after a failed write (the state is then ahead of the store).
  if (options_.snapshot_every > 0 && since_snapshot_ > 0 && !failed_ &&
      applied_head_.hash == head_.hash) {
    std::lock_guard lock(store_mu_);
    (void)store_->write_snapshot(head_.number, state_.snapshot());
  }
}

Result<UnsignedTx> EmbeddedLedger::prepare(const Address& from, Op op,
                                           std::optional<uint64_t> nonce) const {
  UnsignedTx tx;
  tx.chain_id = chain_id_;
  tx.from = from;
  if (nonce) {
    tx.nonce = *nonce;
  } else {
    std::shared_lock lock(state_mu_);
    tx.nonce = state_.nonce_of(from);
  }
  tx.digest = tx_digest(domain_separator_, tx.nonce, op);
  tx.op = std::move(op);
  return tx;
}

Result<Receipt> EmbeddedLedger::submit(const SignedTx& tx) {
  std::promise<Result<Receipt>> p;
  auto f = p.get_future();
  submit_async(tx, [&p](Result<Receipt> r) { p.set_value(std::move(r)); });
  return f.get();
}

void EmbeddedLedger::submit_async(SignedTx tx, std::function<void(Result<Receipt>)> done) {
  if (tx.tx.chain_id != chain_id_) {
    done(fail(LedgerErrc::wrong_chain,
              fmt::format("transaction is for chain {}, this ledger is chain {}", tx.tx.chain_id,
                          chain_id_)));
    return;
  }
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      to_verify_.push_back(Job{next_seq_++, std::move(tx), std::move(done), std::nullopt});
      verify_cv_.notify_one();
      return;
    }
  }
  done(fail(LedgerErrc::shutting_down, "the ledger is shutting down"));  // outside the lock
}

void EmbeddedLedger::submit_as(std::shared_ptr<const crypto::PrivateKey> key, Op op,
                               std::function<void(Result<Receipt>)> done) {
  {
    std::lock_guard lock(keyed_mu_);
    keyed_.push_back(Keyed{std::move(key), std::move(op), std::move(done)});
    if (keyed_busy_) return;  // the one on its way sends it
    keyed_busy_ = true;
  }
  send_next_keyed();
}

void EmbeddedLedger::send_next_keyed() {
  for (;;) {
    Keyed k;
    {
      std::lock_guard lock(keyed_mu_);
      if (keyed_.empty()) {
        keyed_busy_ = false;
        return;
      }
      k = std::move(keyed_.front());
      keyed_.pop_front();
    }
    auto tx = prepare(k.key->address(), std::move(k.op));
    auto sig = tx ? crypto::sign(*k.key, tx->digest)
                  : Result<crypto::Signature>(std::unexpected(tx.error()));
    if (!sig) {
      k.done(std::unexpected(sig.error()));
      continue;
    }
    // Who sends the next: the outcome, when it comes later; this loop, when it came before
    // submit_async returned (a closing ledger answers at once), so that a long queue unwinds
    // here instead of one call deeper each.
    auto turn = std::make_shared<std::atomic<int>>(0);  // 1: returned first, 2: answered first
    submit_async(SignedTx{std::move(*tx), *sig},
                 [this, done = std::move(k.done), turn](Result<Receipt> r) {
                   done(std::move(r));
                   int first = 0;
                   if (!turn->compare_exchange_strong(first, 2)) send_next_keyed();
                 });
    int first = 0;
    if (turn->compare_exchange_strong(first, 1)) return;
  }
}

void EmbeddedLedger::verify_loop() {
  pthread_setname_np(pthread_self(), "ledger-verify");  // as top -H and perf show it
  for (;;) {
    Job job;
    {
      std::unique_lock lock(queue_mu_);
      verify_cv_.wait(lock, [&] { return stopping_ || !to_verify_.empty(); });
      if (to_verify_.empty()) return;  // stopping, and nothing left
      job = std::move(to_verify_.front());
      to_verify_.pop_front();
    }
    // Never trust a digest from outside: recompute it from the fields.
    job.tx.tx.digest = tx_digest(domain_separator_, job.tx.tx.nonce, job.tx.tx.op);
    auto signer = crypto::recover(job.tx.tx.digest, job.tx.signature);
    if (!signer) {
      job.error = Error(make_error_code(LedgerErrc::bad_signature), signer.error().message());
    } else if (*signer != job.tx.tx.from) {
      job.error = Error(make_error_code(LedgerErrc::bad_signature),
                        fmt::format("signed by {}, not by the sender {}", signer->to_string(),
                                    job.tx.tx.from.to_string()));
    }
    {
      std::lock_guard lock(queue_mu_);
      uint64_t seq = job.seq;
      verified_.emplace(seq, std::move(job));
    }
    sequence_cv_.notify_one();
  }
}

void EmbeddedLedger::sequence_loop() {
  pthread_setname_np(pthread_self(), "ledger-sequence");
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(queue_mu_);
      sequence_cv_.wait(lock, [&] {
        bool ready = !verified_.empty() && verified_.begin()->first == next_to_apply_;
        bool drained = stopping_ && next_to_apply_ == next_seq_;
        return ready || drained;
      });
      while (!verified_.empty() && verified_.begin()->first == next_to_apply_ &&
             batch.size() < options_.max_block_txs) {
        batch.push_back(std::move(verified_.begin()->second));
        verified_.erase(verified_.begin());
        ++next_to_apply_;
      }
      if (batch.empty()) return;  // stopping and drained
    }
    apply_batch(batch);
  }
}

constexpr size_t kMaxPendingBlocks = 2;

void EmbeddedLedger::apply_batch(std::vector<Job>& batch) {
  std::vector<std::pair<size_t, Error>> rejected;
  PendingBlock p;
  {
    std::unique_lock lock(state_mu_);
    int64_t now = std::max(to_unix_ms(clock_.now()), applied_head_.timestamp_ms);
    p.block.number = applied_head_.number + 1;
    p.block.parent = applied_head_.hash;
    p.block.timestamp_ms = now;
    p.block.txs.reserve(batch.size());
    p.txs.reserve(batch.size());
    p.events.reserve(batch.size());
    p.deal_ids.reserve(batch.size());
    p.done.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      Job& job = batch[i];
      if (job.error) {
        rejected.emplace_back(i, *job.error);
        continue;
      }
      if (failed_) {
        rejected.emplace_back(i, *failed_);
        continue;
      }
      std::optional<Hash> deal;
      auto ev = state_.apply(job.tx.tx, now, &deal);
      if (!ev) {
        rejected.emplace_back(i, ev.error());
        continue;
      }
      uint32_t index = static_cast<uint32_t>(p.txs.size());
      Hash id = job.tx.id();
      for (Event& e : *ev) {
        e.block = p.block.number;
        e.tx_index = index;
        e.tx_id = id;
        p.events.push_back(std::move(e));
      }
      p.block.txs.push_back(id);
      p.txs.push_back(std::move(job.tx));
      p.deal_ids.push_back(deal);
      p.done.push_back(std::move(job.done));
    }
    if (!p.txs.empty()) {
      p.block.tx_root = tx_root(p.block.txs);
      p.block.state_digest = state_.digest();
      p.block.hash = block_hash(p.block);
      applied_head_ = p.block;
      since_snapshot_ += p.txs.size();
      // The interval grows with the state (a quarter of its entries), so that a snapshot's cost,
      // which grows with the state, stays a small share of the transactions between two: at
      // 10 M accounts, one every 20,000 transactions held the ledger to 1,471 transfers a second.
      if (options_.snapshot_every > 0 &&
          since_snapshot_ >= std::max<uint64_t>(options_.snapshot_every,
                                                state_.entries() / kSnapshotEntriesPerTx)) {
        p.snapshot = state_.snapshot();
        since_snapshot_ = 0;
      }
    }
  }
  // A rejection changed nothing, so it can be answered before earlier blocks are durable.
  for (auto& [i, err] : rejected) batch[i].done(std::unexpected(std::move(err)));
  if (p.txs.empty()) return;
  std::unique_lock lock(write_mu_);
  write_cv_.wait(lock, [&] { return to_write_.size() < kMaxPendingBlocks; });
  to_write_.push_back(std::move(p));
  write_cv_.notify_all();
}

void EmbeddedLedger::write_loop() {
  pthread_setname_np(pthread_self(), "ledger-write");
  for (;;) {
    PendingBlock p;
    {
      std::unique_lock lock(write_mu_);
      write_cv_.wait(lock, [&] { return !to_write_.empty() || sequencer_done_; });
      if (to_write_.empty()) return;  // the sequencer is done and everything is written
      p = std::move(to_write_.front());
      to_write_.pop_front();
    }
    write_cv_.notify_all();  // room for the sequencer
    write_block(p);
  }
}

void EmbeddedLedger::write_block(PendingBlock& p) {
  Result<void> written;
  {
    std::shared_lock lock(state_mu_);
    if (failed_) written = std::unexpected(*failed_);  // never write past a failed block
  }
  if (written) {
    std::lock_guard lock(store_mu_);
    auto t0 = std::chrono::steady_clock::now();
    written = store_->append(p.block, p.txs, p.events, p.snapshot ? &*p.snapshot : nullptr);
    if (written) head_ = p.block;
    if (written && options_.on_commit) {
      options_.on_commit(p.block, std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::steady_clock::now() - t0));
    }
  }
  if (!written) {
    // The state in memory is now ahead of the disk: accept nothing more; a restart replays
    // what is durable.
    std::unique_lock lock(state_mu_);
    if (!failed_) failed_ = written.error();
  }
  size_t e = 0;
  for (size_t k = 0; k < p.txs.size(); ++k) {
    if (!written) {
      p.done[k](std::unexpected(written.error()));
      continue;
    }
    Receipt r;
    r.tx_id = p.block.txs[k];
    r.block = p.block.number;
    r.index = static_cast<uint32_t>(k);
    r.deal_id = p.deal_ids[k];
    while (e < p.events.size() && p.events[e].tx_index == k) r.events.push_back(p.events[e++]);
    p.done[k](std::move(r));
  }
}

// ---- queries ----------------------------------------------------------------------------------

#define IPSX_READ_STATE(expr)       \
  std::shared_lock lock(state_mu_); \
  return expr

Result<Amount> EmbeddedLedger::total_supply() const {
  IPSX_READ_STATE(state_.supply().total);
}
Result<Amount> EmbeddedLedger::balance_of(const Address& a) const {
  IPSX_READ_STATE(state_.balance_of(a));
}
Result<Amount> EmbeddedLedger::allowance(const Address& o, const Address& s) const {
  IPSX_READ_STATE(state_.allowance(o, s));
}
Result<Amount> EmbeddedLedger::native_balance(const Address& a) const {
  IPSX_READ_STATE(state_.native_balance(a));
}
Result<uint64_t> EmbeddedLedger::nonce_of(const Address& a) const {
  IPSX_READ_STATE(state_.nonce_of(a));
}
Result<WalletView> EmbeddedLedger::wallet(const Address& a) const {
  IPSX_READ_STATE(state_.wallet(a));
}
Result<Amount> EmbeddedLedger::bought(const Address& a) const {
  IPSX_READ_STATE(state_.bought(a));
}
Result<SaleView> EmbeddedLedger::sale() const {
  IPSX_READ_STATE(state_.sale());
}
Result<RatingView> EmbeddedLedger::rating(const Address& a) const {
  IPSX_READ_STATE(state_.rating(a));
}
Result<SupplyView> EmbeddedLedger::supply() const {
  IPSX_READ_STATE(state_.supply());
}
Result<bool> EmbeddedLedger::order_cancelled(const Address& o, const Hash& h) const {
  IPSX_READ_STATE(state_.order_cancelled(o, h));
}

Result<DealView> EmbeddedLedger::deal(const Hash& id) const {
  std::shared_lock lock(state_mu_);
  auto d = state_.deal(id);
  if (!d) return fail(LedgerErrc::unknown_deal, "no deal " + id.hex());
  return *d;
}

void EmbeddedLedger::with_state(const std::function<void(const State&)>& f) const {
  std::shared_lock lock(state_mu_);
  f(state_);
}

Result<uint64_t> EmbeddedLedger::height() const {
  std::lock_guard lock(store_mu_);
  return head_.number;
}

Result<BlockView> EmbeddedLedger::block(uint64_t number) const {
  std::lock_guard lock(store_mu_);
  return store_->block(number);
}

Result<std::vector<TxRecord>> EmbeddedLedger::transactions_of(const Address& a,
                                                              size_t limit) const {
  std::lock_guard lock(store_mu_);
  return store_->transactions_of(a, limit);
}

Result<std::optional<TxRecord>> EmbeddedLedger::transaction(const Hash& id) const {
  std::lock_guard lock(store_mu_);
  return store_->transaction(id);
}

Result<std::vector<Event>> EmbeddedLedger::events_of_deal(const Hash& id) const {
  std::lock_guard lock(store_mu_);
  return store_->events_of_deal(id);
}

Result<std::vector<Event>> EmbeddedLedger::events_of_account(const Address& a, size_t limit) const {
  std::lock_guard lock(store_mu_);
  return store_->events_of_account(a, limit);
}

}  // namespace ipsx::ledger
