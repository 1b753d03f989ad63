// The market: what a market node does with signed orders and status events (R5-R8). It verifies
// each order (fields, the owner's EIP-712 signature, this market and fee, expiry, never placed
// before), places it in the OrderBook, opens a deal on the Ledger for every fill (signed by the
// market operator: the ledger re-checks both orders' signatures, so the market relays but cannot
// steal), and keeps the deal book: each deal's protocol state, driven by the parties' signed
// status events and by the clock. When a deal is closed on the ledger (the parties close it there
// once the protocol says it is over), its offer's place returns to the book.
//
// Not thread-safe: one caller at a time (the node serializes commands). Time comes from `clock`.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/clock.h"
#include "ledger/ledger.h"
#include "market/deal_protocol.h"
#include "market/journal.h"
#include "market/market_error.h"
#include "market/order_book.h"
#include "market/profiles.h"

namespace ipsx::market {

struct MarketConfig {
  uint16_t fee_bps = 0;  // the commission every order placed here must name
  ProtocolTimeouts timeouts;
  // With a journal: the state is snapshotted after every `snapshot_every` journal entries (at the
  // end of the command that reaches the count; for a state of more than 4 x snapshot_every
  // records, after a quarter of its records: Market::snapshot_interval) and on clean shutdown,
  // and the entries before the snapshot are pruned. The snapshot is encoded between commands and
  // written on a thread of its own. 0: never (a restart replays the whole journal).
  uint64_t snapshot_every = 10'000;
  // Whether a snapshot prunes the entries before it (false keeps the whole journal: an audit
  // trail, and what lets a test compare a full replay with snapshot + tail).
  bool prune_journal = true;
  // How long one tick() may spend reading the ledger for deals closed there (at least
  // kMinDealReadsPerTick reads a tick whatever it takes): a tick goes round the live deals from
  // where the last one stopped, so with more deals than a tick reads, a close made on the ledger
  // alone (not through the protocol's events) frees its place a few ticks later.
  std::chrono::milliseconds tick_read_budget{10};
};
inline constexpr size_t kMinDealReadsPerTick = 16;

// A deal the market opened, and where it stands.
struct DealRecord {
  Hash deal_id;
  OrderId offer = 0;
  OrderId request = 0;
  bool exclusive = false;
  DealProgress progress;
  bool released = false;     // closed on the ledger; its place returned to the book
  uint64_t released_at = 0;  // when (unix seconds, the journal's time); 0 if not released
};

// The outcome of placing an order: its book id and the deals opened because of it; fills the
// ledger refused are listed with the reason (the order that caused the refusal leaves the book).
struct PlaceResult {
  OrderId id = 0;
  std::vector<Hash> deals;
  std::vector<std::pair<Fill, Error>> refused;
};

// One signed order to place (Market::place).
struct Placement {
  bool is_offer = false;
  Offer offer;      // iff is_offer
  Request request;  // iff !is_offer
  crypto::Signature signature;
  // The order's struct hash and the address its signature recovers to under the market's domain
  // (crypto::eip712::digest(ledger.domain().separator(), hash)), if the caller computed them
  // already (on another thread): the market then uses them instead of doing it again.
  struct Verified {
    Hash hash;
    std::optional<Address> signer;  // none: the signature recovers to no one
  };
  std::optional<Verified> verified;
  // The journal entry's body (encode_order_entry(), market/order_entry.h), if the caller wrote
  // it (on another thread); else the market writes it.
  std::string journal_body;
};

// A deal as market data: what was paid for what kind of IP, and when.
struct DealPrint {
  Hash deal_id;
  U256 price_per_second;
  CountryCode country{};
  IpType ip_type = IpType::residential;
  Timestamp at{};
};

// An owner's signed request to withdraw an order from the book: OrderCancel(bytes32 orderHash)
// (OrderCancel), under the ledger domain. Not the ledger's CancelOrder transaction, whose
// digest it must never equal (a market could otherwise submit it as the owner's transaction);
// cancelling on the ledger too (Ledger::cancelOrder) is what protects an owner from a market
// that ignores this.
struct SignedCancel {
  Hash order_hash;
  crypto::Signature signature;
};
// The EIP-712 struct hash an owner signs to cancel: OrderCancel{order_hash}.
Hash cancel_struct_hash(const Hash& order_hash);

// A signed order the market keeps, as the node's API lists it (market_queries.cc). The pointers
// are into the market and valid until its next command.
struct OrderInfo {
  OrderId id = 0;
  bool is_offer = false;
  const Offer* offer = nullptr;      // iff is_offer
  const Request* request = nullptr;  // iff !is_offer
  Hash hash;
  Address owner;
  crypto::Signature signature;
  bool resting = false;  // in the book and able to match now
  bool live = false;     // can still fill (resting, or an offer with every place in use)
};

class Market {
 public:
  // `ledger`, `clock` and `journal` (if any) must outlive the market; `operator_key` is the
  // market's own wallet (the address orders name as `market`). With a journal, every accepted
  // command is made durable before it takes effect; call recover() once before anything else.
  Market(ledger::Ledger& ledger, crypto::PrivateKey operator_key, const Clock& clock,
         MarketConfig config = {}, Journal* journal = nullptr);
  // Clean shutdown: with a journal (recovered, snapshots enabled), writes a snapshot if entries
  // were journaled since the last one, so that the next start replays nothing. Errors are
  // ignored: the journal still holds every entry.
  ~Market();
  Market(const Market&) = delete;
  Market& operator=(const Market&) = delete;

  // Loads the journal's snapshot, if any, then replays the entries after it: every command
  // again, at its recorded time, in order. Deals the ledger already has are adopted (deal ids are
  // deterministic), fills whose deals the ledger lacks (a crash in between) are opened now.
  // Returns the number of entries replayed (not counting those the snapshot covers).
  // A snapshot that fails its checks (header, version, checksum) or does not decode is rejected:
  // if the journal still holds every entry, the whole journal is replayed instead and
  // snapshot_rejected() says why; otherwise recover() fails with that reason.
  Result<size_t> recover();
  // Why the last recover() did not use the journal's snapshot, if it rejected one.
  const std::optional<std::string>& snapshot_rejected() const { return snapshot_rejected_; }
  // Why the last snapshot could not be written, until one is (the node's health check says it).
  const std::optional<std::string>& snapshot_failure() const { return snapshot_failure_; }
  // Writes a snapshot of the whole state as of the last journal entry (needs a journal and a
  // completed recover()). Called by itself every `snapshot_every` entries and on shutdown.
  Result<void> write_snapshot();

  const Address& address() const { return address_; }

  // Verifies and places an order; see PlaceResult. Errors: the ledger's bad_order (fields; the
  // message names the field), MarketErrc::bad_signature, bad_order (another market, or expired),
  // duplicate_order. A rejected order changes nothing.
  Result<PlaceResult> place_offer(const Offer& offer, const crypto::Signature& sig);
  Result<PlaceResult> place_request(const Request& request, const crypto::Signature& sig);
  // Places several orders as one group, each as place_offer/place_request would, with one
  // journal sync for all (group commit): every order is checked, the accepted ones journaled in
  // one transaction, and only then put in the book in order, at the time they were journaled (as
  // replay will), so that nothing an order causes (a deal opened on the ledger) happens before
  // the order is durable. Answers in the orders' order; a journal failure rejects all of them.
  std::vector<Result<PlaceResult>> place(std::span<const Placement> orders);
  // The same, answered by `done` once every fill the group caused has its outcome on the ledger:
  // at once unless deals open in the background (below), then later, on the market's thread.
  using Placed = std::function<void(std::vector<Result<PlaceResult>>)>;
  void place(std::span<const Placement> orders, Placed done);

  // Opens deals in the background from now on (the node's way): each fill's openDeal goes to
  // Ledger::submit_as and the market goes on with the next command instead of waiting for the
  // block (on a chain, seconds). Until its outcome is known the fill holds its place in the book;
  // a refused fill is undone then, as it is at once otherwise. `post` must run what it is given
  // later, one at a time with the market's commands, on the thread that calls the market (the
  // node's server thread); it may be called from ledger threads, also after the market is gone
  // (what it runs then does nothing). Deals opened by commands that answer nothing later (tick,
  // set_reachable, status_event) are given to `opened`, on that thread. Replay stays synchronous.
  using Post = std::function<void(std::function<void()>)>;
  void open_deals_in_background(Post post, std::function<void(std::vector<Hash>)> opened);
  // Fills whose deals are on their way to the ledger.
  size_t fills_in_flight() const { return in_flight_; }
  // Withdraws an order if `c` is signed by its owner (unknown_order, not_owner).
  Result<void> cancel(const SignedCancel& c);

  // Whether `provider`'s exit can be reached (the node holds a live announcement of it). While
  // not, its offers stay in the book but fill nothing, so that no deal is opened that it cannot
  // serve (OrderBook::set_suspended); once it can again, they are matched at once and the deals
  // opened are returned. Journaled like every command that can fill; nothing if unchanged.
  Result<std::vector<Hash>> set_reachable(const Address& provider, bool reachable);
  bool reachable(const Address& provider) const { return !book_.suspended(provider); }

  // A party's signed status event for a deal this market opened (unknown_deal, and the
  // protocol's errors). Returns the deal's status after it.
  Result<DealStatus> status_event(const SignedStatusEvent& e);
  // Drives the clock's side: expires orders; re-matches the offers whose availability window has
  // opened (OrderBook::advance) and, when resting orders have minimum ratings, the orders of
  // parties whose rating on the ledger changed since the last tick (OrderBook::rating_changed);
  // and frees the places of deals closed on the ledger (read for at most tick_read_budget a tick,
  // round the deals). Each re-match is journaled (it may open
  // deals, which replay must repeat). Returns the deals opened. Call it at the time
  // next_deadline() gives, and periodically (a ledger close or a rating is not an event the
  // market hears of otherwise).
  std::vector<Hash> tick();
  void set_tick_read_budget(std::chrono::milliseconds b) { config_.tick_read_budget = b; }
  // The earliest moment tick() has work to do for a deal or a window opening, if any.
  std::optional<Timestamp> next_deadline() const;

  Result<DealStatus> deal_status(const Hash& deal_id) const;
  // Whether an order with this EIP-712 hash was ever accepted here.
  bool knows(const Hash& order_hash) const { return seen_.contains(order_hash); }
  const DealRecord* deal(const Hash& deal_id) const;
  const OrderBook& book() const { return book_; }
  // Signed originals kept (orders that can still fill, plus not yet forgotten dead ones).
  size_t orders_kept() const { return orders_.size(); }
  // The most recent deals, newest last (at most the last 1,000 are kept).
  std::vector<DealPrint> recent_deals(size_t n) const;
  size_t open_deals() const;
  const Profiles& profiles() const { return profiles_; }
  Profiles& profiles() { return profiles_; }

  // ---- Queries for the node's API (market_queries.cc) ----
  // Every signed order kept (see orders_kept()), in no particular order.
  void for_each_order(const std::function<void(const OrderInfo&)>& f) const;
  // The order with this book id or EIP-712 hash, if kept.
  std::optional<OrderInfo> order(OrderId id) const;
  std::optional<OrderInfo> order(const Hash& order_hash) const;
  // Every deal this market opened, by deal id.
  void for_each_deal(const std::function<void(const DealRecord&)>& f) const;
  // The deals with an id above `after` (every deal, without), ascending, while `f` returns true:
  // a page of a listing costs what it skips from there, not the whole deal book.
  void for_each_deal_from(const std::optional<Hash>& after,
                          const std::function<bool(const DealRecord&)>& f) const;
  // The deals the order with this book id took part in (offer or request side), ascending id.
  std::vector<Hash> deals_of(OrderId order) const;
  // The deal's status at the market's current time (for a record from for_each_deal()).
  DealStatus status_of(const DealRecord& d) const;
  const MarketConfig& config() const { return config_; }

  // `snapshot_every`, or for a larger state a quarter of its records (orders, deals, order hashes
  // seen): a snapshot's cost grows with the state, so the entries between two grow with it and
  // the cost per entry stays bounded, as does the replay after the last one.
  uint64_t snapshot_interval() const;
  static constexpr uint64_t kSnapshotEntriesPerCommand = 4;
  static constexpr uint64_t kSnapshotRetryEntries = 1'000;
  static constexpr uint64_t kForgetReleasedAfterSeconds = 7 * 86'400;

 private:
  friend struct SnapshotCodec;  // snapshot.cc: writes and restores the state

  struct Signed {
    bool is_offer = false;
    Offer offer;
    Request request;
    crypto::Signature signature;
    Hash hash;
    Address owner;
  };

  // A command whose fills are on their way to the ledger (background mode): the results it
  // answers with, completed as the fills' outcomes come, and who is told once none is left.
  struct Waiter {
    std::vector<Result<PlaceResult>> results;
    size_t pending = 0;
    Placed done;  // none: the deals go to opened_ (tick, set_reachable, status_event)
  };
  // Where a fill's outcome goes in background mode: results[index] of the waiter.
  struct Sink {
    std::shared_ptr<Waiter> waiter;
    size_t index;
  };
  // What a fill's outcome needs of its orders, taken when it is sent (the originals may change).
  struct FillTerms {
    Fill fill;
    Hash request_hash;
    bool exclusive = false;
    CountryCode country{};
    IpType ip_type = IpType::residential;
    // What the deal's record needs, known before the ledger answers.
    Address provider = {};
    Address requester = {};
    uint64_t duration = 0;       // seconds
    uint64_t request_start = 0;  // unix seconds; 0: at once
  };

  // Opens a deal on the ledger for each fill; refused fills undo their book effects. In
  // background mode the fills are sent and their outcomes go to `sink` later.
  void execute(std::vector<Fill>& fills, PlaceResult* result, const Sink& sink = Sink{nullptr, 0});
  // A fill's outcome: the deal registered, or the fill undone (its new fills appended to `more`).
  void settle_fill(const FillTerms& t, const Result<ledger::Receipt>& receipt, PlaceResult* result,
                   std::vector<Fill>* more);
  void send_fill(FillTerms t, ledger::OpenDeal op, Sink sink);
  void fill_done(const FillTerms& t, const Result<ledger::Receipt>& receipt, const Sink& sink);
  std::vector<Result<PlaceResult>> place_now(std::span<const Placement> orders, const Sink& sink);
  void release_if_closed(DealRecord& d, Timestamp now, std::vector<Fill>* fills);
  void release(DealRecord& d, const ledger::DealView& view, Timestamp now,
               std::vector<Fill>* fills);
  // Forgets the signed originals of orders that can no longer fill (filled, cancelled, expired),
  // once they are at least half of those kept: amortized constant work per order.
  void forget_dead_orders();
  Timestamp now() const {
    return replay_now_ ? *replay_now_ : pinned_now_ ? *pinned_now_ : clock_.now();
  }
  // place()'s checks of one order (not of what the book holds), with the hashes of the group's
  // earlier orders; returns its struct hash.
  Result<Hash> check_placement(const Placement& p, uint64_t now_s,
                               const std::unordered_set<Hash>& group) const;
  // Puts a checked (and journaled) order in the book and opens its fills' deals.
  PlaceResult apply_placement(const Placement& p, const Hash& hash, uint64_t now_s,
                              const Sink& sink);
  // Journals a command (not while replaying); a failure rejects the command.
  Result<void> journal(std::string_view kind, const std::string& body);
  Result<void> replay(const JournalEntry& e);
  // Replay's orders, in batches of kReplayBatch entries: each order entry parsed and its
  // signature recovered on every core (prepare_order, thread-safe), then placed in order
  // (replay_order) as replay() would. Another entry, or one that does not parse, is nullopt and
  // goes through replay().
  static constexpr size_t kReplayBatch = 2048;
  std::optional<Placement> prepare_order(const JournalEntry& e) const;
  std::vector<std::optional<Placement>> prepare_replay(const std::vector<JournalEntry>& b) const;
  Result<void> replay_order(const Placement& p);
  // Starts a snapshot if snapshot_interval() entries were journaled since the last one (encoded
  // here, written on the journal's own thread), and settles the one written before. Called at
  // the end of each command, when the state is consistent.
  void maybe_snapshot();
  // Re-matching (journaled, and replayed): window openings up to now; a party's rating changed.
  void advance_book(Timestamp t, std::vector<Fill>* fills);
  void rating_changed(const Address& who, Timestamp t, std::vector<Fill>* fills);

  ledger::Ledger& ledger_;
  crypto::PrivateKey key_;
  Address address_;
  const Clock& clock_;
  MarketConfig config_;
  Hash domain_separator_;
  Profiles profiles_;  // before book_: the book's rating filters read it
  OrderBook book_;
  std::unordered_map<OrderId, Signed> orders_;  // signed originals of orders in the book
  std::unordered_map<Hash, OrderId> by_hash_;
  // The hash of every order placed, with the order's expiry, until kForgetSeenAfterSeconds after
  // it: a signed order is placed once (a copy sent again is a duplicate, then an expired order;
  // the grace covers a clock set back). Forgotten at journaled commands only (expire_journaled),
  // so that a replay forgets at the same entries; without it the set grew with the whole history.
  std::unordered_map<Hash, uint64_t> seen_;
  std::priority_queue<std::pair<uint64_t, Hash>, std::vector<std::pair<uint64_t, Hash>>,
                      std::greater<>>
      seen_expiries_;
  static constexpr uint64_t kForgetSeenAfterSeconds = 86'400;
  // Released deals, by release time: a released deal is forgotten kForgetReleasedAfterSeconds
  // after its release (at a journaled command, as the hashes above); the ledger keeps it for ever.
  // Without it the deal book, each snapshot and every walk of the deals grew with the whole
  // history.
  std::priority_queue<std::pair<uint64_t, Hash>, std::vector<std::pair<uint64_t, Hash>>,
                      std::greater<>>
      released_by_time_;
  void remember_seen(const Hash& hash, uint64_t expiry);
  // The book's expiry at `now_s`, then the hashes of orders long expired: at every journaled
  // command and its replay (tick() expires the book alone).
  void expire_journaled(uint64_t now_s);
  // Released deals past kForgetReleasedAfterSeconds: when orders are placed (place_now, in the
  // run and in replay alike), never inside a command that holds a deal.
  void forget_released(uint64_t now_s);
  Timestamp journaled_at_{};  // the time of the last entry journal() appended
  // Pins now() to one reading for the whole of a command (its checks, its entry and its
  // effects see the time replay gives the entry); restored when the command returns.
  struct PinNow {
    Market& m;
    std::optional<Timestamp> before;
    explicit PinNow(Market& market) : m(market), before(market.pinned_now_) {
      if (!m.replay_now_ && !m.pinned_now_) m.pinned_now_ = m.clock_.now();
    }
    ~PinNow() { m.pinned_now_ = before; }
    PinNow(const PinNow&) = delete;
    PinNow& operator=(const PinNow&) = delete;
  };
  std::map<Hash, DealRecord> deals_;
  // The deals not released, the ones tick() reads the ledger for: released deals stay in deals_
  // (for their status and listings), and a tick that walked them too cost what the market's
  // whole history costs.
  std::set<Hash> open_ids_;
  std::unordered_multimap<OrderId, Hash> deals_by_order_;  // both sides of each deal in deals_
  void forget_deal(std::map<Hash, DealRecord>::iterator it);
  void put_deal(DealRecord rec);
  Hash release_cursor_;  // the last deal tick() read the ledger for (it goes on after it)
  std::deque<DealPrint> prints_;
  std::unordered_map<Hash, uint64_t> ledger_fills_;  // deals opened per request hash
  // The ratings tick() last saw for owners of live orders (to notice changes).
  std::unordered_map<Address, uint16_t> ratings_seen_;
  Journal* journal_ = nullptr;
  std::optional<Timestamp> replay_now_;
  std::optional<Timestamp> pinned_now_;  // place(): the group's journal time while it applies
  bool recovered_ = false;               // recover() completed: the state is the journal's
  uint64_t last_seq_ = 0;                // the last journal entry appended or replayed
  uint64_t since_snapshot_ = 0;          // entries journaled since the last snapshot
  std::optional<std::string> snapshot_rejected_;
  std::optional<std::string> snapshot_failure_;
  // Background mode (open_deals_in_background): none while deals open synchronously.
  Post post_;
  std::function<void(std::vector<Hash>)> opened_;
  std::shared_ptr<const crypto::PrivateKey> shared_key_;  // key_, for Ledger::submit_as
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  size_t in_flight_ = 0;
  // Orders with fills in flight, and how many: their signed originals are kept meanwhile (a
  // refusal matches them again).
  std::unordered_map<OrderId, size_t> busy_orders_;
  // Replay of fills whose outcome came after later commands. A refusal in background mode is
  // journaled when it comes ("fill_refused"), and replay holds such a fill in flight from its
  // command until that entry, so that the commands between see the book the run saw (and a
  // refusal whose reason has gone since, a requester who deposited meanwhile, does not open at
  // replay a deal the run never had). By (offer hash, request hash): a pair is refused once.
  std::set<std::pair<Hash, Hash>> replay_refused_;
  // Replay could not read from the ledger whether a fill's deal exists (the chain did not
  // answer): recovery fails at that entry rather than send a fill the run may have had opened.
  std::optional<Error> replay_fault_;
  std::map<std::pair<Hash, Hash>, FillTerms> replay_held_;
  void hold_for_replay(FillTerms t);
  Result<void> replay_refusal(const nlohmann::json& j);
  // Undoes a fill the ledger refused (settle_fill's refusal).
  void undo_fill(const FillTerms& t, const Error& err, std::vector<Fill>* more);
};

}  // namespace ipsx::market
