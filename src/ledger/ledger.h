// The Ledger: the IPSX token and crowd sale (R2), the Centralizer's wallets (R3), deals as
// payment channels (R9, R12), ratings (R4), every change recorded (R10). One interface, two
// backends: the embedded ledger (embedded_ledger.h) and Ethereum (a later layer). The full
// specification, operation by operation, is docs/ledger.md; the conformance suite
// (conformance_test.cc) holds every backend to it.
//
// Every state change is a transaction signed by its sender: prepare() gives the digest to sign
// (the ledger never holds users' keys), submit() applies it. Queries read the state as of the
// last durable block. All methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/amount.h"
#include "core/clock.h"
#include "crypto/keys.h"
#include "ledger/ledger_error.h"
#include "ledger/orders.h"

namespace ipsx::ledger {

// R2's fixed supply and allocations, in whole IPSX.
inline constexpr uint64_t kTotalSupplyTokens = 1'800'000'000;
inline constexpr uint64_t kSaleTokens = 900'000'000;          // 50 %
inline constexpr uint64_t kEarlyAdopterTokens = 495'000'000;  // 27.5 %
inline constexpr uint64_t kBountyTokens = 45'000'000;         // 2.5 %
inline constexpr uint64_t kTeamTokens = 360'000'000;          // 20 %

// Why a deal ended, as the deal protocol (the market) decided it; recorded with the close.
enum class CloseReason : uint8_t {
  unspecified = 0,
  completed = 1,
  requester_closed = 2,
  provider_closed = 3,
  provider_failed = 4,
  unpaid = 5,
  expired = 6,
};
// The largest valid close reason; a close naming a larger one is refused with
// LedgerErrc::invalid_argument before any other check of the operation (docs/ledger.md).
inline constexpr CloseReason kMaxCloseReason = CloseReason::expired;
const char* to_string(CloseReason r);

// ---- Operations -------------------------------------------------------------------------------
// ERC20.
struct Transfer {
  Address to;
  Amount amount;
};
struct Approve {
  Address spender;
  Amount amount;
};
struct TransferFrom {
  Address owner;
  Address to;
  Amount amount;
};
// Crowd sale: `value` is in the native coin's base units.
struct Buy {
  Amount value;
};
struct FinalizeSale {};
struct ClaimUnsold {};
// After a sale that ended below its soft cap: the buyer's native coin back, its tokens back to
// the pool (docs/ledger.md).
struct Refund {};
// Centralizer wallets: token balance <-> wallet balance.
struct Deposit {
  Amount amount;
};
struct Withdraw {
  Amount amount;
};
// By an order's owner (the sender): that order can no longer open deals.
struct CancelOrder {
  Hash order_hash;
};
// By the market both orders name: opens a deal at `price_per_second` for one IP.
struct OpenDeal {
  Offer offer;
  crypto::Signature offer_signature;
  Request request;
  crypto::Signature request_signature;
  U256 price_per_second;
};
// By the provider: collect up to a requester-signed cumulative balance proof.
struct Claim {
  Hash deal_id;
  Amount amount;
  crypto::Signature requester_signature;
};
// By the provider: close now, optionally claiming a final proof first (amount + signature).
struct CloseDeal {
  Hash deal_id;
  Amount amount;
  std::optional<crypto::Signature> requester_signature;
  CloseReason reason = CloseReason::unspecified;
};
// By either party, with both signatures over the final amount: close and settle now.
struct CooperativeClose {
  Hash deal_id;
  Amount amount;
  crypto::Signature requester_signature;  // a BalanceProof
  crypto::Signature provider_signature;   // a ClosingConsent
  CloseReason reason = CloseReason::unspecified;
};
// By the requester alone: start the challenge period, admitting `amount` as owed.
struct UncooperativeClose {
  Hash deal_id;
  Amount amount;
  CloseReason reason = CloseReason::unspecified;
};
// By anyone, once the challenge period is over; or, for an open deal nobody closed, once its
// end (start + duration) plus the challenge period has come (docs/ledger.md).
struct Settle {
  Hash deal_id;
};
// By a party of a closed deal, once: score 1..5 for the other party.
struct Rate {
  Hash deal_id;
  uint8_t score = 0;
};
// By anyone, with the requester's signed UsageReceipt (ledger/usage.h): puts the root of the
// deal's usage log, its first `count` records, on the ledger, if it covers more records than the
// root recorded before (docs/usage-receipts.md). The provider's agent sends it at the close.
struct RecordUsage {
  Hash deal_id;
  uint64_t count = 0;
  Hash root;
  crypto::Signature requester_signature;  // a UsageReceipt
};

// Several of the Centralizer's operations (deposit, withdraw, cancelOrder and the deal
// operations) from one sender as one transaction, applied in order and all or none: one that
// fails fails the batch, whose error names it, and nothing of the batch stays. What batching
// saves is per-transaction cost: on Ethereum a market opening many deals, or a provider claiming
// and closing many, pays the transaction's base cost once (docs/ledger.md). An operation on a deal
// the same batch opened is refused (unknown_deal): a deal's terms are known once it is open.
struct Batch;

using Op = std::variant<Transfer, Approve, TransferFrom, Buy, FinalizeSale, ClaimUnsold, Refund,
                        Deposit, Withdraw, CancelOrder, OpenDeal, Claim, CloseDeal,
                        CooperativeClose, UncooperativeClose, Settle, Rate, RecordUsage, Batch>;

// At most this many operations in a batch (about 3 M gas of deals on Ethereum).
inline constexpr size_t kMaxBatchOps = 32;
struct Batch {
  std::vector<Op> ops;
};
// Whether `op` may be one of a batch's operations (never a batch itself).
bool batchable(const Op& op);
// The operation's name as in docs/ledger.md ("transfer", "openDeal", ...).
const char* op_name(const Op& op);
// The existing deal an operation acts on (claim, the closes, settle, rate, recordUsage), if any.
std::optional<Hash> deal_of(const Op& op);

// A transaction to sign: `digest` is what the sender signs (EIP-712 in the embedded ledger).
struct UnsignedTx {
  uint64_t chain_id = 0;
  Address from;
  uint64_t nonce = 0;
  Op op;
  Hash digest;
  // The bytes whose keccak-256 is `digest`, when the wallet cannot rebuild them from the fields
  // alone: on Ethereum, the EIP-1559 transaction (0x02 || RLP) with the gas and fees the backend
  // chose. Empty on the embedded ledger, whose digest is the fields' EIP-712 hash.
  Bytes signing_payload = {};
};

struct SignedTx {
  UnsignedTx tx;
  crypto::Signature signature;
  // keccak256(digest || signature): the transaction's identity.
  Hash id() const;
};

// ---- Records ----------------------------------------------------------------------------------
enum class EventKind : uint8_t {
  transfer,
  approval,
  purchase,
  sale_finalized,
  unsold_claimed,
  deposit,
  withdrawal,
  order_cancelled,
  deal_opened,
  claimed,
  deal_closing,
  deal_closed,
  rated,
  usage_recorded,
  refunded,
};
const char* to_string(EventKind k);

// One recorded change (R10). `accounts` are the addresses it concerns (for queries); `fields`
// are its values as text, in a fixed order per kind (docs/ledger.md).
struct Event {
  EventKind kind{};
  uint64_t block = 0;
  uint32_t tx_index = 0;
  Hash tx_id;
  std::optional<Hash> chain_tx;  // the chain's own hash of that transaction (Ethereum), if any
  std::optional<Hash> deal;
  std::vector<Address> accounts;
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of field `name`, or "" if absent.
  std::string field(std::string_view name) const;
  std::string to_string() const;
};

struct Receipt {
  Hash tx_id;  // the ledger's id: SignedTx::id(), the same on every backend
  // The chain's own hash of the transaction, where the backend is a chain with its own hashes
  // (Ethereum: what `cast tx` and block explorers take); none on the embedded ledger.
  std::optional<Hash> chain_tx;
  uint64_t block = 0;
  uint32_t index = 0;
  std::vector<Event> events;
  std::optional<Hash> deal_id;  // for openDeal
};

struct TxRecord {
  Hash id;
  uint64_t block = 0;
  uint32_t index = 0;
  Address from;
  uint64_t nonce = 0;
  std::string op;
  std::optional<Hash> chain_tx;  // as in Receipt
};

struct BlockView {
  uint64_t number = 0;
  Hash hash;
  Hash parent;
  int64_t timestamp_ms = 0;
  Hash tx_root;
  Hash state_digest;
  std::vector<Hash> txs;
};

// ---- State views ------------------------------------------------------------------------------
struct WalletView {
  Amount balance;   // free: backs requests, can be withdrawn
  Amount reserved;  // locked in open deals
};

struct SaleView {
  U256 rate;         // IPSX base units per native base unit
  Amount hard_cap;   // native coin
  Amount soft_cap;   // native coin; zero: none. Below it at the end the sale failed (refunds)
  Amount raised;     // native coin received (less what was refunded)
  Amount refunded;   // native coin given back to buyers of a failed sale
  Amount sold;       // IPSX sold
  Amount pool;       // IPSX still in the sale pool (unsold, before finalize)
  Amount unclaimed;  // IPSX unsold at finalize and not yet claimed by buyers
  int64_t start_ms = 0, end_ms = 0;
  bool finalized = false;
  Address treasury;  // receives the native coin (at finalize when there is a soft cap)
  // Ended below its soft cap: never finalized, transfers never unlock, buyers take a refund.
  bool failed_at(int64_t now_ms) const {
    return !finalized && now_ms >= end_ms && raised < soft_cap;
  }
};

enum class DealState : uint8_t { open, closing, closed };
const char* to_string(DealState s);

struct DealView {
  Hash id;
  Hash offer_hash;
  Hash request_hash;
  Address provider;
  Address requester;
  Address market;
  uint16_t fee_bps = 0;
  U256 price_per_second;
  uint64_t start = 0;     // unix seconds
  uint64_t duration = 0;  // seconds
  Amount deposit;         // reserved for the deal at open
  Amount claimed;         // paid out so far (provider + commission)
  Amount admitted;        // what the requester admitted in an uncooperative close
  DealState state = DealState::open;
  int64_t challenge_ends_ms = 0;
  CloseReason reason = CloseReason::unspecified;
  bool rated_by_provider = false;
  bool rated_by_requester = false;
  // The usage log the requester signed for, as recorded (RecordUsage): 0 and zero if none.
  uint64_t usage_count = 0;
  Hash usage_root;
};

struct RatingView {
  uint64_t count = 0;
  uint64_t sum = 0;  // of scores 1..5
};

// Where every token is (the conservation invariant: the parts sum to the supply).
struct SupplyView {
  Amount accounts;         // token balances
  Amount wallet_balances;  // Centralizer balances
  Amount wallet_reserved;  // Centralizer reserves (open deals)
  Amount sale_pool;
  Amount unclaimed;
  Amount total;  // totalSupply
  // Whether the backend's holdings agree with its books. On Ethereum (the contract's `conserved`)
  // the Centralizer holds exactly its wallets' balances and reserves and the token contract
  // exactly the sale pool and the unclaimed tokens; there the accounts' part is derived from
  // what the contracts hold, so the parts sum to the total whatever they hold and this is the
  // check that counts. The embedded ledger keeps one book: always true.
  bool holdings_match = true;
  // The parts sum to the total and the holdings match the books.
  bool conserved() const;
};

// ---- The interface ----------------------------------------------------------------------------
class Ledger {
 public:
  virtual ~Ledger() = default;

  // Which backend keeps the ledger: "embedded" (a node's own chain) or "ethereum" (contracts).
  virtual std::string_view kind() const = 0;
  virtual uint64_t chain_id() const = 0;
  // The EIP-712 domain of orders, balance proofs and (embedded) transactions. Its verifying
  // contract is the Centralizer on Ethereum and a genesis-derived address when embedded.
  virtual crypto::eip712::Domain domain() const = 0;

  // Builds the transaction `from` must sign for `op`, with the account's next nonce unless
  // `nonce` is given. Does not check the operation; submit() does.
  virtual Result<UnsignedTx> prepare(const Address& from, Op op,
                                     std::optional<uint64_t> nonce = std::nullopt) const = 0;
  // Applies a signed transaction; returns once its block is durable, or the rejection. A
  // rejected transaction changes nothing (not even the nonce).
  virtual Result<Receipt> submit(const SignedTx& tx) = 0;
  // The same without waiting: `done` runs on a ledger thread when the outcome is known. It must
  // be quick and must not wait on the ledger (calling submit() from it would deadlock).
  virtual void submit_async(SignedTx tx, std::function<void(Result<Receipt>)> done) = 0;
  // Submits `op` from key->address(), signed with `key`, without waiting, the transaction
  // prepared and signed when the ledger takes it in turn: operations one sender submits this
  // way go in the order submitted, and one the ledger refuses takes no nonce from the next
  // (prepared ahead, the next would carry a nonce the ledger no longer expects). `done` as for
  // submit_async. For a sender whose key the node holds (the market operator's openDeal). A
  // backend may send several of them queued together as one Batch (Ethereum: the openDeals),
  // each still answered alone: with the batch's receipt holding its own deal_id and events, or,
  // when the batch is refused, its own outcome sent alone.
  virtual void submit_as(std::shared_ptr<const crypto::PrivateKey> key, Op op,
                         std::function<void(Result<Receipt>)> done) = 0;

  virtual Result<Amount> total_supply() const = 0;
  virtual Result<Amount> balance_of(const Address& a) const = 0;
  virtual Result<Amount> allowance(const Address& owner, const Address& spender) const = 0;
  virtual Result<Amount> native_balance(const Address& a) const = 0;
  virtual Result<uint64_t> nonce_of(const Address& a) const = 0;
  virtual Result<WalletView> wallet(const Address& a) const = 0;
  virtual Result<Amount> bought(const Address& a) const = 0;  // IPSX bought in the sale
  virtual Result<SaleView> sale() const = 0;
  virtual Result<DealView> deal(const Hash& id) const = 0;
  virtual Result<RatingView> rating(const Address& a) const = 0;
  virtual Result<SupplyView> supply() const = 0;
  // Whether `owner` cancelled the order with this EIP-712 struct hash.
  virtual Result<bool> order_cancelled(const Address& owner, const Hash& order_hash) const = 0;

  virtual Result<uint64_t> height() const = 0;  // number of the last block
  virtual Result<BlockView> block(uint64_t number) const = 0;
  virtual Result<std::vector<TxRecord>> transactions_of(const Address& a, size_t limit) const = 0;
  // The transaction with this id (Receipt::tx_id, BlockView::txs), if it is in a durable block.
  virtual Result<std::optional<TxRecord>> transaction(const Hash& id) const = 0;
  virtual Result<std::vector<Event>> events_of_deal(const Hash& deal_id) const = 0;
  virtual Result<std::vector<Event>> events_of_account(const Address& a, size_t limit) const = 0;

  // Whether the ledger is still the one this node opened: on Ethereum the same chain id, and the
  // contracts still at their addresses with the code they had (a chain restarted without its
  // state, or another chain behind the same URL, fails with wrong_chain or unavailable and the
  // reason). An embedded ledger is its own: always. Nodes call it periodically (docs/node.md).
  virtual Result<void> check_identity() const { return {}; }
};

// The deal id of the `fill`-th deal (from 0) opened for a request: keccak256(offerHash ||
// requestHash || uint256(fill)).
Hash deal_id_for(const Hash& offer_hash, const Hash& request_hash, uint64_t fill);

}  // namespace ipsx::ledger
