// The ledger's deterministic state machine: genesis, then transactions applied one at a time.
// Pure: no I/O, no clock (each apply gets the block's time), no threads. Signatures are checked
// before apply() by the caller; apply() does the chain, nonce and operation checks of
// docs/ledger.md and either changes nothing (an error) or applies the whole transaction.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "ledger/genesis.h"
#include "ledger/ledger.h"

namespace ipsx::ledger {

class State {
 public:
  static Result<State> genesis(const GenesisConfig& g);

  // Applies `tx` (whose signature recovers to tx.from) at block time `now_ms`. On success returns
  // the events (block, tx_index and tx_id left for the caller to fill) and sets `*deal_id` for an
  // openDeal. On error nothing changed.
  Result<std::vector<Event>> apply(const UnsignedTx& tx, int64_t now_ms,
                                   std::optional<Hash>* deal_id = nullptr);

  // The incremental state digest (docs/ledger.md), and the same recomputed from every entry.
  const Hash& digest() const { return digest_; }
  Hash recompute_digest() const;

  uint64_t chain_id() const { return chain_id_; }
  const crypto::eip712::Domain& domain() const { return domain_; }
  const Hash& domain_separator() const { return domain_separator_; }

  Amount balance_of(const Address& a) const;
  Amount allowance(const Address& owner, const Address& spender) const;
  Amount native_balance(const Address& a) const;
  uint64_t nonce_of(const Address& a) const;
  WalletView wallet(const Address& a) const;
  Amount bought(const Address& a) const;
  SaleView sale() const;
  std::optional<DealView> deal(const Hash& id) const;
  RatingView rating(const Address& a) const;
  SupplyView supply() const;
  Amount native_total() const;
  bool order_cancelled(const Address& owner, const Hash& order) const;
  // Every account with any state, and every deal, for `ipsx ledger show`.
  std::vector<Address> accounts() const;
  std::vector<DealView> deals() const;
  // The entries as bytes (state_snapshot.cc: what a restart loads instead of replaying), and the
  // reverse on a State made from the same genesis: restore() replaces the entries, recomputes the
  // digest, which must be `expected_digest` (the block's), and checks the invariants; on an
  // error (storage) nothing changed.
  std::string snapshot() const;
  // How many entries the state holds (accounts, allowances, deals, orders' uses, cancels,
  // ratings, fills, subnets): what a snapshot's size grows with.
  size_t entries() const;
  Result<void> restore(std::string_view body, const Hash& expected_digest);
  // Checks the conservation invariants (tokens and native coin, and reserves equal the open
  // deals' remaining deposits); the error says which part is off.
  Result<void> check_invariants() const;

 private:
  struct Account {
    Amount tokens, native, wallet_balance, wallet_reserved, bought;
    uint64_t nonce = 0;
    bool claimed_unsold = false;
    bool empty() const;
  };
  struct Sale {
    U256 rate;
    Amount hard_cap, raised, sold, pool, unclaimed, unsold_at_finalize;
    Amount soft_cap, refunded;  // refunded: native coin given back after a failed sale
    int64_t start_ms = 0, end_ms = 0;
    bool finalized = false;
    Address treasury;
  };
  static Hash sale_hash(const Sale& s);
  struct OrderUse {
    uint64_t fills = 0;  // deals opened (requests)
    Amount spent;        // budget used (requests)
    uint32_t open = 0;   // deals not closed (offers)
    bool exclusive_open = false;
    bool empty() const { return fills == 0 && spent.is_zero() && open == 0 && !exclusive_open; }
  };
  struct AddressPairHash {
    size_t operator()(const std::pair<Address, Address>& p) const {
      return std::hash<Address>{}(p.first) * 31 + std::hash<Address>{}(p.second);
    }
  };

  State() = default;
  // Each put_* replaces an entry and updates the digest by its old and new contributions.
  void put_account(const Address& a, const Account& v);
  void put_allowance(const Address& owner, const Address& spender, const Amount& v);
  void put_sale(const Sale& v);
  void put_deal(const DealView& d);
  void put_order_use(const Hash& order, const OrderUse& v);
  void put_cancelled(const Address& owner, const Hash& order);
  void put_rating(const Address& a, const RatingView& r);
  // Records that `offer` filled one IP of `request`, and the IP's subnet (subnet_key) for a
  // request that asks for distinct subnets. Never removed: a request's fills are never given back.
  void put_fill(const Hash& request, const Hash& offer);
  void put_subnet(const Hash& request, const SubnetKey& subnet);
  void digest_add(const Hash& h);
  void digest_sub(const Hash& h);
  Account account(const Address& a) const;
  OrderUse order_use(const Hash& h) const;

  // Moves `delta` of a deal's deposit to the provider (less commission) and the market.
  Result<std::vector<Event>> pay(DealView& d, const Amount& delta, std::vector<Event>& events);
  Result<void> finish_deal(DealView& d, const std::string& how, CloseReason reason,
                           std::vector<Event>& events);
  Result<void> verify_proof(const DealView& d, const Amount& amount,
                            const crypto::Signature& requester_sig) const;

  Result<std::vector<Event>> apply_op(const Address& from, const Op& op, int64_t now_ms,
                                      std::optional<Hash>* deal_id);

  // One operation's application: its sender, the block's time, its events so far; `deal_id`
  // receives the id of a deal it opens.
  struct Call {
    const Address& from;
    int64_t now_ms;
    uint64_t now_s;
    std::optional<Hash>* deal_id;
    std::vector<Event> events;
  };
  Result<std::vector<Event>> apply(Call& call, const Transfer& t);
  Result<std::vector<Event>> apply(Call& call, const Approve& a);
  Result<std::vector<Event>> apply(Call& call, const TransferFrom& t);
  Result<std::vector<Event>> apply(Call& call, const Buy& b);
  Result<std::vector<Event>> apply(Call& call, const FinalizeSale&);
  Result<std::vector<Event>> apply(Call& call, const ClaimUnsold&);
  Result<std::vector<Event>> apply(Call& call, const Refund&);
  Result<std::vector<Event>> apply(Call& call, const Deposit& d);
  Result<std::vector<Event>> apply(Call& call, const Withdraw& w);
  Result<std::vector<Event>> apply(Call& call, const CancelOrder& c);
  Result<std::vector<Event>> apply(Call& call, const OpenDeal& o);
  Result<std::vector<Event>> apply(Call& call, const Claim& c);
  Result<std::vector<Event>> apply(Call& call, const CloseDeal& c);
  Result<std::vector<Event>> apply(Call& call, const CooperativeClose& c);
  Result<std::vector<Event>> apply(Call& call, const UncooperativeClose& c);
  Result<std::vector<Event>> apply(Call& call, const Settle& s);
  Result<std::vector<Event>> apply(Call& call, const Rate& r);
  Result<std::vector<Event>> apply(Call& call, const RecordUsage& u);
  Result<std::vector<Event>> apply(Call& call, const Batch& b);
  // The native coin the sale holds: with a soft cap, what was raised until finalize pays it to
  // the treasury (or refunds give it back); without one, nothing (each purchase pays at once).
  Amount sale_held() const;
  Result<void> locked() const;  // transfers_locked until the sale is finalized
  Result<DealView> find_deal(const Hash& id) const;
  Result<void> move_tokens(const Address& src, const Address& dst, const Amount& amount);

  uint64_t chain_id_ = 0;
  crypto::eip712::Domain domain_;
  Hash domain_separator_;
  int64_t challenge_ms_ = 0;
  Amount total_supply_;
  Amount native_total_;
  Address early_, bounty_, team_;
  std::unordered_map<Address, Account> accounts_;
  std::unordered_map<std::pair<Address, Address>, Amount, AddressPairHash> allowances_;
  Sale sale_;
  std::unordered_map<Hash, DealView> deals_;
  std::unordered_map<Hash, OrderUse> orders_;
  std::set<std::pair<Address, Hash>> cancelled_;
  std::unordered_map<Address, RatingView> ratings_;
  std::set<std::pair<Hash, Hash>> fills_;         // (request, offer) of every deal opened
  std::set<std::pair<Hash, SubnetKey>> subnets_;  // (request, subnet) of distinct-subnet requests
  U256 digest_sum_;
  Hash digest_;  // digest_sum_'s bytes, set when a transaction (or the genesis) is done
  // While a transaction applies, the accounts it changed: each one's old term left the sum at its
  // first change, and its new term joins once at the end (a transfer changes its sender twice,
  // for the tokens and the nonce).
  std::vector<Address> touched_;
  bool deferring_ = false;
  void settle_digest();
  // While a batch applies: how to put back each entry its operations changed, newest last
  // (every change goes through a put_*, which records the entry's old value here).
  std::vector<std::function<void()>>* undo_ = nullptr;

  friend struct StateOps;
};

}  // namespace ipsx::ledger
