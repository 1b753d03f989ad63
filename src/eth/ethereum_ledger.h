// The Ledger of docs/ledger.md on an EVM chain: the IPSXToken and Centralizer contracts
// (contracts/, docs/contracts.md) driven over JSON-RPC.
//
// Transactions. Each user account sends its own Ethereum transaction, signed with its own key:
// prepare() builds the EIP-1559 transaction that calls the operation's contract function (nonce,
// gas from eth_estimateGas, fees from the FeePolicy) and returns its Ethereum signing hash as
// the digest; the user signs that digest (the ledger never holds a key); submit() attaches the
// signature, checks chain, signature and nonce in the spec's order, simulates the call
// (eth_call: a rejection is answered with the contract's error and nothing is sent, so a
// rejected transaction changes nothing, nonce included), then sends the raw transaction and
// waits for its receipt. The transaction's ledger id is keccak256(digest || signature) as on
// the embedded ledger. docs/ledger.md ("Backend differences") lists what Ethereum changes.
//
// Thread-safe. Submissions pass one sequencer thread in submission order (chain, signature and
// nonce checks, simulation, send), so one account's transactions with consecutive nonces may be
// submitted concurrently; receipts are awaited on a small pool of threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "eth/contracts.h"
#include "eth/ethereum_abi.h"
#include "eth/rpc.h"
#include "ledger/ledger.h"

namespace ipsx::eth {

struct EthereumLedgerOptions {
  Deployment deployment;  // chain id, contract addresses, first block
  ContractErrors errors;  // from ledger-errors.json
  FeePolicy fees;
  SendOptions send;
  uint64_t fallback_gas = 1'500'000;  // when eth_estimateGas fails (the call would revert now)
  // Development chains only (anvil): the ledger's time. Before each transaction the next block's
  // timestamp is pinned to it (evm_setNextBlockTimestamp) and simulations run at it. Without it,
  // simulations run at the time the next block will have: the later of the wall clock and one
  // second after the latest block (next_block_time).
  const Clock* dev_clock = nullptr;
  size_t receipt_threads = 4;     // and as many for the node's own transactions (submit_as)
  size_t max_prepared = 100'000;  // prepared-but-unsubmitted transactions remembered
  // eth_getLogs over at most this many blocks per request (0: the whole range at once, and
  // windows of 2,000 blocks, halved while refused, if the provider refuses it: hosted providers
  // cap the range at 2,000-10,000 blocks or the results at 10,000).
  uint64_t log_window = 0;
  // submit_as(): at most this many openDeals of one sender queued together go as one batch
  // (ledger::Batch; 1: each alone). docs/eth.md, "The Ethereum ledger".
  size_t max_batch = ledger::kMaxBatchOps;
  // Blocks on top of a transaction's own before submit() answers for it (0: as soon as it is
  // included). On a chain that can take blocks back, a deal then counts as open, and a payment
  // as made, only this deep; a transaction that moved to another block meanwhile waits there
  // again. The wait holds no receipt thread: a confirmer checks every `confirm_poll`.
  uint64_t confirmations = 0;
  Millis confirm_poll{250};
  // The keeper: every transaction the ledger acknowledged (its receipt answered) stays watched
  // until it is `keep_depth` blocks deep. One the chain lost (a rollback, a reorganisation, a node
  // restarted from older state) is sent again, the same signed bytes, so it is mined at most
  // once; its nonce stays reserved meanwhile. One whose nonce another transaction took, or that
  // reverts when mined again, is reported lost. Every `keep_every` (0: only keep_acknowledged()).
  uint64_t keep_depth = 64;
  size_t keep_max = 100'000;
  Millis keep_every{2'000};
  // The keeper's lines for the operator's log (a transaction sent again, back, lost; a
  // reorganisation seen). Called from the keeper's thread.
  std::function<void(const std::string&)> on_note;
};

class EthereumLedger final : public ledger::Ledger {
 public:
  // Checks that the node's chain id is the deployment's and that the contracts are there.
  static Result<std::unique_ptr<EthereumLedger>> open(std::shared_ptr<RpcClient> rpc,
                                                      EthereumLedgerOptions options);
  ~EthereumLedger() override;

  std::string_view kind() const override { return "ethereum"; }
  uint64_t chain_id() const override { return options_.deployment.chain_id; }
  crypto::eip712::Domain domain() const override;
  Result<ledger::UnsignedTx> prepare(const Address& from, ledger::Op op,
                                     std::optional<uint64_t> nonce) const override;
  Result<ledger::Receipt> submit(const ledger::SignedTx& tx) override;
  void submit_async(ledger::SignedTx tx,
                    std::function<void(Result<ledger::Receipt>)> done) override;
  // Prepared and signed on the sequencer thread in its turn, with the nonce after the sender's
  // transactions sent before: many wait for their blocks together.
  void submit_as(std::shared_ptr<const crypto::PrivateKey> key, ledger::Op op,
                 std::function<void(Result<ledger::Receipt>)> done) override;

  Result<Amount> total_supply() const override;
  Result<Amount> balance_of(const Address& a) const override;
  Result<Amount> allowance(const Address& owner, const Address& spender) const override;
  Result<Amount> native_balance(const Address& a) const override;
  Result<uint64_t> nonce_of(const Address& a) const override;
  Result<ledger::WalletView> wallet(const Address& a) const override;
  Result<Amount> bought(const Address& a) const override;
  Result<ledger::SaleView> sale() const override;
  Result<ledger::DealView> deal(const Hash& id) const override;
  Result<ledger::RatingView> rating(const Address& a) const override;
  Result<ledger::SupplyView> supply() const override;
  Result<bool> order_cancelled(const Address& owner, const Hash& order_hash) const override;

  Result<uint64_t> height() const override;
  Result<ledger::BlockView> block(uint64_t number) const override;
  Result<std::vector<ledger::TxRecord>> transactions_of(const Address& a,
                                                        size_t limit) const override;
  Result<std::optional<ledger::TxRecord>> transaction(const Hash& id) const override;
  Result<void> check_identity() const override;
  Result<std::vector<ledger::Event>> events_of_deal(const Hash& deal_id) const override;
  Result<std::vector<ledger::Event>> events_of_account(const Address& a,
                                                       size_t limit) const override;

  // What the keeper did since the ledger opened.
  struct KeeperStats {
    uint64_t watched = 0;   // acknowledged transactions not yet keep_depth blocks deep
    uint64_t resent = 0;    // lost by the chain after their receipt and sent again
    uint64_t back = 0;      // of those, mined again
    uint64_t lost = 0;      // gone for good: their nonce taken, or reverted when mined again
    uint64_t reorgs = 0;    // reorganisations under the history index (re-read from the fork)
    uint64_t replaced = 0;  // stuck transactions mined as a replacement with higher fees
    uint64_t batches = 0;   // submit_as() openDeals sent together as one batch
    uint64_t batched = 0;   // openDeals in those batches
    uint64_t batches_refused = 0;  // batches the ledger refused, their openDeals sent alone
  };
  // One pass of the keeper (the keeper's thread runs one every keep_every); fails when the
  // chain does not answer, leaving everything for the next pass.
  Result<KeeperStats> keep_acknowledged();
  KeeperStats keeper_stats() const;
  // While held, transactions submitted queue and none is sent (what was sent goes on); released,
  // the queue is sent in order, the market's queued openDeals as batches. For an operator
  // draining the node, and for tests that need a queue.
  void hold_sends(bool held);
  // Keeps the watched transactions in the file `path` too (one JSON line each), so that a node
  // restarted still sends again what a rollback takes back: loads what the file holds (a torn
  // last line from a crash is skipped), then appends each transaction as it is acknowledged
  // (synced before submit answers), and rewrites the file without those the keeper forgot.
  // Returns how many it loaded. Call once, before submitting.
  Result<size_t> keep_in(const std::string& path);

  // Fee bumping for the one account whose key this process holds (the market operator's, which
  // sends every openDeal): a transaction of that account still without a receipt
  // `options.send.bump_after` after it was sent (a chain whose base fee rose past its max fee
  // never mines it) is replaced: the same nonce and call, each fee raised by at least 1/8 (what
  // nodes require of a replacement) and to at least the chain's current ones, signed with `key`.
  // Whichever version is mined is the transaction's (the receipt's ids are the mined one's).
  // Nothing is replaced while the fee policy pins the fees. Every other account's transactions
  // are signed by their owners, so they are not replaced here. Call before submitting.
  void replace_stuck_with(crypto::PrivateKey key);

  // The ledger id of a transaction on chain: keccak256(signing hash || r || s || 27 + y).
  static Hash ledger_tx_id(const Transaction& tx, const crypto::Signature& sig);

  const Deployment& deployment() const { return options_.deployment; }
  RpcClient& rpc() const { return *rpc_; }

  // What a transaction on chain is to the ledger (cached by transaction hash).
  struct TxInfo {
    Hash ledger_id;
    Address from;
    std::optional<Address> to;
    Bytes selector;
  };

 private:
  EthereumLedger(std::shared_ptr<RpcClient> rpc, EthereumLedgerOptions options);
  // keccak256 of the code at the token and the Centralizer when the ledger was opened.
  Hash token_code_hash_, centralizer_code_hash_;

  using Call = ipsx_abi::ContractCall;
  struct Pending {
    ledger::SignedTx tx;
    std::function<void(Result<ledger::Receipt>)> done;
    // submit_as(): `tx` is prepared from `op` and signed with `key` when its turn comes.
    std::shared_ptr<const crypto::PrivateKey> key = {};
    std::optional<ledger::Op> op = {};
    // submit_as(): sent alone, never in a batch (a batch it was in was refused).
    bool alone = false;
  };
  struct Waiting {
    ledger::SignedTx tx;
    SignedTransaction eth_tx;
    bool sent = false;  // the node took it (else the waiter sends it)
    std::function<void(Result<ledger::Receipt>)> done;
    // submit_as(): the node's own transaction, waited for past the deadline while it may still
    // be mined (finish()).
    bool patient = false;
    // The pending transactions of the same sender and nonce this one replaces (any may be mined).
    std::vector<SignedTransaction> earlier = {};
  };

  Result<Call> encode(const ledger::Op& op) const;
  // Whether call data `prepared` is `op`'s call with the deal terms it carries (terms that are
  // not the deal's now): the operation is the one prepared, its deal's terms changed since.
  bool only_terms_differ(ByteView prepared, const ledger::Op& op) const;
  Result<Bytes> view(const Address& to, const abi::Function& f,
                     const std::vector<abi::Value>& args) const;
  Result<std::vector<abi::Value>> view_decoded(const Address& to, const abi::Function& f,
                                               const std::vector<abi::Value>& args) const;
  Result<uint64_t> expected_nonce(const Address& a) const;
  Result<void> simulate(const Address& from, const Call& call) const;
  void pin_time() const;
  Result<uint64_t> next_block_time() const;

  // Stage 1 (sequencer thread): checks, simulation, send. Stage 2 (pool): receipt.
  void sequencer_loop();
  // submit_as(): the openDeals of `first`'s key queued behind it, taken out of the queue (the
  // caller holds queue_mu_), up to a batch's worth in all; none if `first` is not one.
  std::vector<Pending> take_batchable(const Pending& first);
  // Sends `group` (two or more openDeals of one key) as one batch, each answered with its own
  // deal; if the ledger refuses the batch, each is queued again to go alone.
  void send_batch(std::vector<Pending> group);
  // submit_as(): prepares and signs `p.op` with `p.key` at the sender's next nonce.
  Result<void> sign_in_turn(Pending& p);
  void enqueue_waiting(Waiting w);
  void waiter_loop(bool patient);
  std::optional<Waiting> check_and_send(Pending& p);
  Result<ledger::Receipt> finish(const Waiting& w);

  // Events and history (ethereum_ledger_events.cc).
  Result<TxInfo> tx_info(const Hash& tx_hash) const;
  Result<std::optional<ledger::Event>> to_event(const Log& log, const TxInfo& info) const;
  Result<std::vector<ledger::Event>> to_events(const std::vector<Log>& logs) const;
  Result<std::array<Address, 3>> deal_parties(const Hash& deal_id) const;
  // Deal `id` as the chain has it now: its terms (from its DealOpened event, cached while the
  // contract's commitment is theirs) and the contract's `deal` view of it; nullopt if the chain
  // has no such deal.
  struct OnChain {
    ipsx_abi::DealTerms terms;
    std::vector<abi::Value> state;  // commitment, claimed, admitted, challengeEnds, status, ...
  };
  Result<std::optional<OnChain>> deal_on_chain(const Hash& id) const;
  // The terms of deal `id` as the chain has it now; all zero if it has no such deal.
  Result<ipsx_abi::DealTerms> current_terms(const Hash& id) const;
  Result<void> scan_history() const;
  // The logs `f` matches from f.from_block to the head, in chain order: in one request when the
  // provider takes it (options_.log_window 0), else in windows of log_window blocks (kLogWindow
  // once the provider refused the whole range), halved while a window is refused (an error
  // object, an answer too large, a timeout), the window learned kept for later reads. With
  // `newest_only`, windows from the head down, and only the newest window that has any.
  Result<std::vector<Log>> read_logs(LogFilter f, bool newest_only = false) const;
  static constexpr uint64_t kLogWindow = 2'000;
  // The window the provider took after refusing larger ones (0: it took the whole range).
  mutable std::atomic<uint64_t> learned_log_window_{0};

  std::shared_ptr<RpcClient> rpc_;
  EthereumLedgerOptions options_;

  // Transactions sent and not known to be mined or refused, by sender and nonce (the newest
  // version): one prepared at such a nonce replaces it (prepare() raises its fees, check_and_send
  // takes its nonce). At most kMaxPendingKept; a mined one goes when its waiter ends.
  mutable std::mutex pending_mu_;
  mutable std::map<std::pair<Address, uint64_t>, std::vector<SignedTransaction>> pending_sent_;
  static constexpr size_t kMaxPendingKept = 10'000;
  // The versions pending at (from, nonce), if its nonce is still free on chain.
  std::optional<std::vector<SignedTransaction>> pending_at(const Address& from,
                                                           uint64_t nonce) const;

  mutable std::mutex prepared_mu_;
  mutable std::unordered_map<Hash, DynamicFeeTx> prepared_;  // by signing hash
  mutable std::deque<Hash> prepared_order_;

  mutable std::mutex nonce_mu_;
  // The next nonce after an account's transactions this ledger sent and still awaits (a node may
  // count a just-sent transaction in its pending state a moment late). Once none is in flight the
  // chain's pending count alone decides, so a transaction the chain dropped or rolled back never
  // leaves the ledger insisting on a nonce the chain will not take.
  struct InFlight {
    uint64_t next = 0;
    uint32_t count = 0;
  };
  mutable std::unordered_map<Address, InFlight> in_flight_;
  void mark_sent(const Address& from, uint64_t nonce);
  // A sent transaction is done (its receipt came, or it failed); `unused`: it never reached the
  // chain, so its nonce is free again.
  void done_with(const Address& from, uint64_t nonce, bool unused);

  // The keeper (ethereum_ledger_keeper.cc).
  struct Acked {
    Hash hash;  // the chain's transaction hash
    Bytes raw;  // the signed bytes, sent again as they are
    Address from;
    uint64_t nonce = 0;
    uint64_t block = 0;
    Hash block_hash;
    bool resent = false;  // sent again, not yet seen mined again
  };
  void acknowledge(const SignedTransaction& tx, const TxReceipt& r);
  void keeper_loop();
  // The history index, re-read from the fork if the chain under it changed.
  Result<void> rewind_history() const;
  void note(const std::string& line) const;
  mutable std::mutex acked_mu_;
  std::deque<Acked> acked_;
  std::unordered_map<Address, uint64_t> acked_next_;  // the nonce after an account's watched ones
  KeeperStats keeper_stats_;
  std::string keep_path_;  // keep_in(); under acked_mu_
  int keep_fd_ = -1;
  void keep_line(const Acked& a);  // appends and syncs (acked_mu_ held)
  void keep_rewrite();             // the file anew from acked_ (acked_mu_ held)
  std::mutex keeper_pass_mu_;      // one pass at a time
  std::thread keeper_;

  std::optional<SendOptions> bump_options(const Address& from);
  mutable std::mutex bump_mu_;
  std::shared_ptr<const crypto::PrivateKey> bump_key_;
  std::atomic<uint64_t> replaced_{0};
  std::atomic<uint64_t> batches_sent_{0}, batched_{0}, batches_refused_{0};
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<Hash, TxInfo> tx_info_;
  mutable std::unordered_map<Hash, std::array<Address, 3>> deal_parties_;
  mutable std::unordered_map<Hash, ipsx_abi::DealTerms> opened_;  // by deal id
  static constexpr size_t kMaxTermsKept = 100'000;
  mutable std::optional<Address> treasury_;

  mutable std::mutex history_mu_;
  mutable uint64_t scanned_to_ = 0;  // blocks below this are indexed
  mutable std::unordered_map<Address, std::vector<ledger::TxRecord>> history_;
  mutable std::unordered_map<Hash, ledger::TxRecord> history_by_id_;
  mutable std::map<uint64_t, Hash> scanned_hashes_;  // the last keep_depth blocks indexed
  mutable uint64_t reorgs_seen_ = 0;

  // Receipts waiting for their confirmations (under queue_mu_).
  struct Confirming {
    ledger::Receipt receipt;
    std::function<void(Result<ledger::Receipt>)> done;
    std::chrono::steady_clock::time_point deadline;
    // submit_as(): the node's own transaction (the market's openDeal) is waited for past the
    // deadline while it is mined and not yet deep enough, or may still be mined again: answering
    // "timeout" would have the market undo a fill whose deal is on chain.
    bool patient = false;
    Address from = {};
    uint64_t nonce = 0;
  };
  void confirmer_loop();
  // One pass: those deep enough answered, the rest kept.
  void confirm(std::deque<Confirming>& pending);

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> incoming_;
  std::deque<Waiting> waiting_;
  // The node's own patient waits (submit_as) have threads of their own: while a chain stalls
  // they wait on, and the users' transactions are still answered at their deadlines.
  std::deque<Waiting> patient_waiting_;
  std::deque<Confirming> confirming_;
  std::thread confirmer_;
  bool stopping_ = false;
  bool held_ = false;  // hold_sends()
  std::thread sequencer_;
  std::vector<std::thread> waiters_;
};

}  // namespace ipsx::eth
