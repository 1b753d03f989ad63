#include "eth/ethereum_ledger.h"

#include <unistd.h>

#include <fmt/format.h>

#include <future>

#include "core/keccak.h"
#include "eth/ethereum_abi.h"

namespace ipsx::eth {

using json = nlohmann::json;
using ledger::LedgerErrc;
namespace L = ipsx::ledger;

namespace {

bool has(const std::string& text, std::string_view what) {
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find(what) != std::string::npos;
}

// A refusal of the node (eth_sendRawTransaction, eth_call) as the ledger's error, where one fits.
Error node_error(const Error& e, const RpcErrorObject& obj) {
  const std::string& m = obj.message;
  auto as = [&](LedgerErrc c) { return Error(L::make_error_code(c), e.message()); };
  if (has(m, "nonce too low") || has(m, "nonce too high") || has(m, "nonce")) {
    return as(LedgerErrc::bad_nonce);
  }
  if (has(m, "insufficient funds")) return as(LedgerErrc::insufficient_funds);
  if (has(m, "chain id") || has(m, "chainid")) return as(LedgerErrc::wrong_chain);
  if (has(m, "signature")) return as(LedgerErrc::bad_signature);
  return e;
}

const U256& as_uint(const abi::Value& v) {
  return v.get<U256>();
}
uint64_t as_u64(const abi::Value& v) {
  return v.get<U256>().low64();
}
Amount as_amount(const abi::Value& v) {
  return Amount::from_base(v.get<U256>());
}
Hash as_hash(const abi::Value& v) {
  const Bytes& b = v.get<Bytes>();
  return Hash(std::span<const uint8_t, 32>(b.data(), 32));
}

}  // namespace

EthereumLedger::EthereumLedger(std::shared_ptr<RpcClient> rpc, EthereumLedgerOptions options)
    : rpc_(std::move(rpc)), options_(std::move(options)) {
  scanned_to_ = options_.deployment.block;
  sequencer_ = std::thread([this] { sequencer_loop(); });
  for (size_t i = 0; i < std::max<size_t>(1, options_.receipt_threads); ++i) {
    waiters_.emplace_back([this] { waiter_loop(false); });
    waiters_.emplace_back([this] { waiter_loop(true); });
  }
  if (options_.keep_every.count() > 0) keeper_ = std::thread([this] { keeper_loop(); });
  if (options_.confirmations > 0) confirmer_ = std::thread([this] { confirmer_loop(); });
}

EthereumLedger::~EthereumLedger() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  sequencer_.join();
  for (auto& t : waiters_) t.join();
  if (keeper_.joinable()) keeper_.join();
  if (confirmer_.joinable()) confirmer_.join();
  if (keep_fd_ >= 0) ::close(keep_fd_);
}

namespace {

// The node's chain is the deployment's, else wrong_chain naming both.
Result<void> same_chain(RpcClient& rpc, uint64_t deployment_chain) {
  auto chain = rpc.chain_id();
  if (!chain) return std::unexpected(chain.error());
  if (*chain != deployment_chain) {
    return fail(LedgerErrc::wrong_chain,
                fmt::format("the node at {} runs chain {}, the deployment is on chain {}",
                            rpc.endpoint(), *chain, deployment_chain));
  }
  return {};
}

// keccak256 of the code at `a`; invalid_argument if there is none.
Result<Hash> code_hash(RpcClient& rpc, const Address& a) {
  auto code = rpc.request("eth_getCode", json::array({a.to_lower_hex(), "latest"}));
  if (!code) return std::unexpected(code.error());
  auto bytes = parse_data(*code, "eth_getCode");
  if (!bytes) return std::unexpected(bytes.error());
  if (bytes->empty())
    return fail(CoreErrc::invalid_argument,
                fmt::format("no contract at {} on {}", a.to_string(), rpc.endpoint()));
  return keccak256(*bytes);
}

}  // namespace

Result<std::unique_ptr<EthereumLedger>> EthereumLedger::open(std::shared_ptr<RpcClient> rpc,
                                                             EthereumLedgerOptions options) {
  if (auto same = same_chain(*rpc, options.deployment.chain_id); !same)
    return std::unexpected(same.error());
  auto token = code_hash(*rpc, options.deployment.token);
  if (!token) return std::unexpected(token.error());
  auto centralizer = code_hash(*rpc, options.deployment.centralizer);
  if (!centralizer) return std::unexpected(centralizer.error());
  std::unique_ptr<EthereumLedger> l(new EthereumLedger(std::move(rpc), std::move(options)));
  l->token_code_hash_ = *token;
  l->centralizer_code_hash_ = *centralizer;
  return l;
}

Result<void> EthereumLedger::check_identity() const {
  if (auto same = same_chain(*rpc_, options_.deployment.chain_id); !same) return same;
  for (auto [a, expected] : {std::pair{options_.deployment.token, token_code_hash_},
                             std::pair{options_.deployment.centralizer, centralizer_code_hash_}}) {
    auto h = code_hash(*rpc_, a);
    if (!h) {
      if (h.error().code() == make_error_code(CoreErrc::invalid_argument))
        return fail(LedgerErrc::wrong_chain,
                    h.error().message() + " (a chain restarted without its state?)");
      return std::unexpected(h.error());
    }
    if (*h != expected) {
      return fail(LedgerErrc::wrong_chain,
                  fmt::format("the code at {} on {} is not the code the node opened", a.to_string(),
                              rpc_->endpoint()));
    }
  }
  return {};
}

crypto::eip712::Domain EthereumLedger::domain() const {
  return ledger_domain(chain_id(), options_.deployment.centralizer);
}

// ---- Operations as contract calls ---------------------------------------------------------------

Result<EthereumLedger::Call> EthereumLedger::encode(const L::Op& op) const {
  std::vector<ipsx_abi::DealTerms> terms;
  for (const Hash& id : ipsx_abi::deals_operated(op)) {
    auto t = current_terms(id);
    if (!t) return std::unexpected(t.error());
    terms.push_back(*t);
  }
  return ipsx_abi::ledger_call(options_.deployment.token, options_.deployment.centralizer, op,
                               std::span<const ipsx_abi::DealTerms>(terms));
}

bool EthereumLedger::only_terms_differ(ByteView prepared, const L::Op& op) const {
  auto terms = ipsx_abi::terms_in_call(prepared);
  if (!terms || terms->empty()) return false;
  auto again = ipsx_abi::ledger_call(options_.deployment.token, options_.deployment.centralizer, op,
                                     std::span<const ipsx_abi::DealTerms>(*terms));
  return again && again->data == Bytes(prepared.begin(), prepared.end());
}

Result<uint64_t> EthereumLedger::expected_nonce(const Address& a) const {
  auto pending = rpc_->transaction_count(a, "pending");
  if (!pending) return std::unexpected(pending.error());
  uint64_t next = *pending;
  {
    // Acknowledged transactions keep their nonces while the keeper watches them: one the chain
    // rolled back is sent again with its nonce, which must not go to another transaction.
    std::lock_guard lock(acked_mu_);
    if (auto it = acked_next_.find(a); it != acked_next_.end()) next = std::max(next, it->second);
  }
  std::lock_guard lock(nonce_mu_);
  auto it = in_flight_.find(a);
  return it == in_flight_.end() ? next : std::max(next, it->second.next);
}

void EthereumLedger::mark_sent(const Address& from, uint64_t nonce) {
  std::lock_guard lock(nonce_mu_);
  InFlight& f = in_flight_[from];
  f.next = std::max(f.next, nonce + 1);
  ++f.count;
}

void EthereumLedger::done_with(const Address& from, uint64_t nonce, bool unused) {
  std::lock_guard lock(nonce_mu_);
  auto it = in_flight_.find(from);
  if (it == in_flight_.end()) return;
  if (unused) it->second.next = std::min(it->second.next, nonce);
  if (--it->second.count == 0) in_flight_.erase(it);
}

std::optional<std::vector<SignedTransaction>> EthereumLedger::pending_at(const Address& from,
                                                                         uint64_t nonce) const {
  std::vector<SignedTransaction> versions;
  {
    std::lock_guard lock(pending_mu_);
    auto it = pending_sent_.find({from, nonce});
    if (it == pending_sent_.end()) return std::nullopt;
    versions = it->second;
  }
  auto mined = rpc_->transaction_count(from, "latest");
  if (mined && *mined > nonce) {  // the nonce is used: one of them (or another) was mined
    std::lock_guard lock(pending_mu_);
    pending_sent_.erase({from, nonce});
    return std::nullopt;
  }
  return versions;
}

Result<L::UnsignedTx> EthereumLedger::prepare(const Address& from, L::Op op,
                                              std::optional<uint64_t> nonce) const {
  auto call = encode(op);
  if (!call) return std::unexpected(call.error());
  // At the nonce of a transaction of this sender still pending: its replacement.
  std::optional<std::vector<SignedTransaction>> replaces;
  if (nonce) replaces = pending_at(from, *nonce);
  if (!nonce) {
    auto n = expected_nonce(from);
    if (!n) return std::unexpected(n.error());
    nonce = *n;
  }
  auto fees = choose_fees(*rpc_, options_.fees);
  if (!fees) return std::unexpected(fees.error());
  if (replaces) {
    // Nodes take a replacement only if it offers more: each fee 1/8 over the pending one's.
    if (const auto* stuck = std::get_if<DynamicFeeTx>(&replaces->back().tx()))
      *fees = bumped_fees(*stuck, *fees);
  }
  uint64_t gas = options_.fallback_gas;
  if (auto est = rpc_->estimate_gas({from, call->to, call->value, call->data, std::nullopt})) {
    gas = std::min<uint64_t>(*est + *est / 4 + 25'000, 15'000'000);
  }
  DynamicFeeTx tx;
  tx.chain_id = chain_id();
  tx.nonce = *nonce;
  tx.max_fee_per_gas = fees->max_fee_per_gas;
  tx.max_priority_fee_per_gas = fees->max_priority_fee_per_gas;
  tx.gas_limit = gas;
  tx.to = call->to;
  tx.value = call->value;
  tx.data = std::move(call->data);
  L::UnsignedTx out;
  out.chain_id = chain_id();
  out.from = from;
  out.nonce = *nonce;
  out.op = std::move(op);
  out.signing_payload = signing_payload(tx);
  out.digest = keccak256(out.signing_payload);
  std::lock_guard lock(prepared_mu_);
  if (prepared_.emplace(out.digest, std::move(tx)).second) prepared_order_.push_back(out.digest);
  while (prepared_order_.size() > options_.max_prepared) {
    prepared_.erase(prepared_order_.front());
    prepared_order_.pop_front();
  }
  return out;
}

void EthereumLedger::pin_time() const {
  if (!options_.dev_clock) return;
  auto s = to_unix_seconds(options_.dev_clock->now());
  (void)rpc_->request("evm_setNextBlockTimestamp", json::array({quantity(uint64_t(s))}));
}

// The time the block that includes a transaction sent now will have: the chain's clock never
// runs back, and a chain that makes a block when a transaction arrives (anvil, a development
// chain) stamps it with the wall clock. A check simulated at the latest block's own time would
// see an idle chain's past: a sale window not open yet, an offer already expired.
Result<uint64_t> EthereumLedger::next_block_time() const {
  if (options_.dev_clock) return static_cast<uint64_t>(to_unix_seconds(options_.dev_clock->now()));
  auto head = rpc_->request("eth_getBlockByNumber", json::array({"latest", false}));
  if (!head) return std::unexpected(head.error());
  if (!head->is_object())
    return fail(EthErrc::bad_response, "eth_getBlockByNumber: no latest block");
  auto latest = parse_u64((*head)["timestamp"], "the latest block's timestamp");
  if (!latest) return std::unexpected(latest.error());
  auto now = static_cast<uint64_t>(to_unix_seconds(SystemClock().now()));
  return std::max(now, *latest + 1);
}

Result<void> EthereumLedger::simulate(const Address& from, const Call& call) const {
  auto time = next_block_time();
  if (!time) return std::unexpected(time.error());
  json block_override = {{"time", quantity(*time)}};
  CallRequest req{from, call.to, call.value, call.data, std::nullopt};
  json state_override = nullptr;
  bool short_of_native = false;
  if (!call.value.is_zero()) {
    // Ethereum checks the native balance before the contract runs; the spec checks it after
    // the sale window and the value. Simulate as if the sender had the value, and report the
    // balance in the spec's place.
    auto bal = rpc_->balance(from);
    if (!bal) return std::unexpected(bal.error());
    if (*bal < call.value) {
      short_of_native = true;
      state_override = {{from.to_lower_hex(), {{"balance", quantity(call.value)}}}};
    }
  }
  auto r = rpc_->call(req, "latest", state_override, block_override);
  if (!r) return std::unexpected(r.error());
  if (r->reverted) {
    Error e = options_.errors.to_error(r->data, "rejected");
    if (!short_of_native || e.code() == L::make_error_code(LedgerErrc::sale_not_open) ||
        e.code() == L::make_error_code(LedgerErrc::invalid_argument)) {
      return std::unexpected(e);
    }
  }
  if (short_of_native) {
    return fail(LedgerErrc::insufficient_funds, "native balance is below the value");
  }
  return {};
}

// ---- Submission
// ----------------------------------------------------------------------------------

Result<L::Receipt> EthereumLedger::submit(const L::SignedTx& tx) {
  std::promise<Result<L::Receipt>> p;
  auto f = p.get_future();
  submit_async(tx, [&p](Result<L::Receipt> r) { p.set_value(std::move(r)); });
  return f.get();
}

void EthereumLedger::submit_async(L::SignedTx tx, std::function<void(Result<L::Receipt>)> done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      incoming_.push_back(Pending{std::move(tx), std::move(done)});
      queue_cv_.notify_all();
      return;
    }
  }
  done(fail(LedgerErrc::shutting_down, "the ledger is closing"));
}

void EthereumLedger::submit_as(std::shared_ptr<const crypto::PrivateKey> key, L::Op op,
                               std::function<void(Result<L::Receipt>)> done) {
  {
    std::lock_guard lock(queue_mu_);
    if (!stopping_) {
      incoming_.push_back(Pending{{}, std::move(done), std::move(key), std::move(op)});
      queue_cv_.notify_all();
      return;
    }
  }
  done(fail(LedgerErrc::shutting_down, "the ledger is closing"));
}

void EthereumLedger::sequencer_loop() {
  for (;;) {
    Pending p;
    bool closing = false;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || (!incoming_.empty() && !held_); });
      if (incoming_.empty()) return;
      p = std::move(incoming_.front());
      incoming_.pop_front();
      closing = stopping_;
    }
    if (closing) {  // nothing new is sent once the ledger closes
      p.done(fail(LedgerErrc::shutting_down, "the ledger is closing"));
      continue;
    }
    if (p.key) {
      std::vector<Pending> group;
      {
        std::lock_guard lock(queue_mu_);
        group = take_batchable(p);
      }
      if (!group.empty()) {
        group.insert(group.begin(), std::move(p));
        send_batch(std::move(group));
        continue;
      }
      if (auto signed_now = sign_in_turn(p); !signed_now) {
        p.done(std::unexpected(signed_now.error()));
        continue;
      }
    }
    auto w = check_and_send(p);
    if (!w) continue;  // answered already
    enqueue_waiting(std::move(*w));
  }
}

void EthereumLedger::enqueue_waiting(Waiting w) {
  std::lock_guard lock(queue_mu_);
  (w.patient ? patient_waiting_ : waiting_).push_back(std::move(w));
  queue_cv_.notify_all();
}

Result<void> EthereumLedger::sign_in_turn(Pending& p) {
  // In turn: the nonce is the one after every transaction of the sender sent so far.
  auto u = prepare(p.key->address(), std::move(*p.op), std::nullopt);
  if (!u) return std::unexpected(u.error());
  auto sig = crypto::sign(*p.key, u->digest);
  if (!sig) return std::unexpected(sig.error());
  p.tx = L::SignedTx{std::move(*u), *sig};
  return {};
}

std::optional<EthereumLedger::Waiting> EthereumLedger::check_and_send(Pending& p) {
  const L::UnsignedTx& u = p.tx.tx;
  auto reject = [&](Error e) {
    p.done(std::unexpected(std::move(e)));
    return std::nullopt;
  };
  // 1. Chain.
  if (u.chain_id != chain_id()) {
    return reject(
        Error(L::make_error_code(LedgerErrc::wrong_chain),
              fmt::format("transaction for chain {}, this is chain {}", u.chain_id, chain_id())));
  }
  // 2. Signature: the digest must be the signing hash of the transaction prepared for exactly
  // this sender's operation and nonce, and the signature must recover to the sender.
  std::optional<DynamicFeeTx> etx;
  {
    std::lock_guard lock(prepared_mu_);
    auto it = prepared_.find(u.digest);
    if (it != prepared_.end()) etx = it->second;
  }
  auto bad_sig = [&](std::string why) {
    return reject(Error(L::make_error_code(LedgerErrc::bad_signature), std::move(why)));
  };
  if (!etx) return bad_sig("the digest is not that of a transaction this ledger prepared");
  auto call = encode(u.op);
  if (!call) return reject(call.error());
  if (etx->nonce != u.nonce || etx->chain_id != u.chain_id || etx->to != call->to ||
      etx->value != call->value || etx->data != call->data) {
    if (etx->nonce == u.nonce && etx->chain_id == u.chain_id && etx->to == call->to &&
        etx->value == call->value && only_terms_differ(etx->data, u.op)) {
      // The operation is the one prepared, with the terms its deal had then: a deal not yet open
      // when it was prepared (zero terms), or one a reorganisation opened again since.
      return reject(Error(L::make_error_code(LedgerErrc::unknown_deal),
                          "the deal's terms on the chain are not those the transaction was "
                          "prepared with (the deal opened, or was opened again by a "
                          "reorganisation, since): prepare it again"));
    }
    return bad_sig("the digest does not commit to this operation and nonce");
  }
  if (!p.tx.signature.is_low_s()) return bad_sig("signature s is not low (EIP-2)");
  auto who = crypto::recover(u.digest, p.tx.signature);
  if (!who || *who != u.from) return bad_sig("the signature is not the sender's");
  auto stx = attach_signature(*etx, p.tx.signature);
  if (!stx || stx->sender() != u.from) return bad_sig("the signed transaction does not recover");
  // 3. Nonce: exactly the next one (the node would park a gapped one in its pool).
  auto expected = expected_nonce(u.from);
  if (!expected) return reject(expected.error());
  // Below it: the replacement of a transaction of the sender that is still pending.
  std::optional<std::vector<SignedTransaction>> earlier;
  if (u.nonce < *expected) earlier = pending_at(u.from, u.nonce);
  if (u.nonce != *expected && !earlier) {
    return reject(
        Error(L::make_error_code(LedgerErrc::bad_nonce),
              fmt::format("nonce {} for {}, expected {}", u.nonce, u.from.to_string(), *expected)));
  }
  // 4. The operation: simulated; a rejection is answered without sending anything.
  if (auto s = simulate(u.from, *call); !s) return reject(s.error());
  // Send (the same bytes may be resent: see send_transaction). The nonce is taken as soon as
  // the node may have the transaction.
  mark_sent(u.from, u.nonce);
  {
    std::lock_guard lock(cache_mu_);
    tx_info_[stx->hash()] =
        TxInfo{p.tx.id(), u.from, call->to, Bytes(call->data.begin(), call->data.begin() + 4)};
  }
  pin_time();
  RpcErrorObject err;
  auto sent = rpc_->send_raw_transaction(stx->raw(), &err);
  bool taken = sent.has_value();
  if (!sent) {
    taken = has(err.message, "already known") || has(err.message, "known transaction");
    if (!taken) {
      if (sent.error().code() == make_error_code(EthErrc::rpc_error)) {
        // Refused: the node's pending count decides the next nonce.
        done_with(u.from, u.nonce, true);
        return reject(node_error(sent.error(), err));
      }
      // Unreachable: retried with the same bytes by the waiter (idempotent).
    }
  }
  {
    std::lock_guard lock(pending_mu_);
    auto& versions = pending_sent_[{u.from, u.nonce}];
    if (earlier) versions = *earlier;
    versions.push_back(*stx);
    if (pending_sent_.size() > kMaxPendingKept) {  // any but this one
      auto drop = pending_sent_.begin();
      if (drop->first == std::pair{u.from, u.nonce}) ++drop;
      pending_sent_.erase(drop);
    }
  }
  return Waiting{p.tx,
                 std::move(*stx),
                 taken,
                 std::move(p.done),
                 p.key != nullptr,
                 earlier ? std::move(*earlier) : std::vector<SignedTransaction>{}};
}

void EthereumLedger::replace_stuck_with(crypto::PrivateKey key) {
  std::lock_guard lock(bump_mu_);
  bump_key_ = std::make_shared<const crypto::PrivateKey>(std::move(key));
}

std::optional<SendOptions> EthereumLedger::bump_options(const Address& from) {
  std::shared_ptr<const crypto::PrivateKey> key;
  {
    std::lock_guard lock(bump_mu_);
    key = bump_key_;
  }
  if (!key || key->address() != from) return std::nullopt;
  if (options_.fees.max_fee_per_gas || options_.fees.max_priority_fee_per_gas) return std::nullopt;
  SendOptions o = options_.send;
  o.bump = [this, key](const SignedTransaction& stuck) -> std::optional<SignedTransaction> {
    const auto* old = std::get_if<DynamicFeeTx>(&stuck.tx());
    auto now = choose_fees(*rpc_, options_.fees);
    if (!old || !now) return std::nullopt;  // the chain does not answer: the next round tries
    DynamicFeeTx next = *old;
    Fees f = bumped_fees(*old, *now);
    next.max_fee_per_gas = f.max_fee_per_gas;
    next.max_priority_fee_per_gas = f.max_priority_fee_per_gas;
    auto signed_tx = sign_transaction(next, *key);
    if (!signed_tx) return std::nullopt;
    note(fmt::format(
        "transaction {} (nonce {}) has no receipt after {} ms: replaced by {}, max fee {} wei "
        "per gas (was {}), tip {} (was {})",
        stuck.hash().hex(), old->nonce, options_.send.bump_after.count(), signed_tx->hash().hex(),
        f.max_fee_per_gas.to_dec(), old->max_fee_per_gas.to_dec(),
        f.max_priority_fee_per_gas.to_dec(), old->max_priority_fee_per_gas.to_dec()));
    return std::move(*signed_tx);
  };
  return o;
}

Result<L::Receipt> EthereumLedger::finish(const Waiting& w) {
  RpcErrorObject err;
  SignedTransaction mined = w.eth_tx;
  auto bumping = bump_options(w.tx.tx.from);
  SendOptions send = bumping ? *bumping : options_.send;
  send.stop = [this] {
    std::lock_guard lock(queue_mu_);
    return stopping_;
  };
  if (w.patient) {
    // The market's openDeal: answering "timeout" while it may still be mined would have the
    // market undo a fill whose deal then opens on chain without it. So the wait goes on while
    // its nonce is free (a chain that stalls, a congested pool: the fees are raised meanwhile);
    // once another transaction took the nonce, or the ledger closes, it ends.
    const Address from = w.tx.tx.from;
    const uint64_t nonce = w.tx.tx.nonce;
    send.keep_waiting = [this, from, nonce] {
      {
        std::lock_guard lock(queue_mu_);
        if (stopping_) return false;
      }
      auto mined = rpc_->transaction_count(from, "latest");
      return !mined || *mined <= nonce;
    };
  }
  auto r = send_transaction(*rpc_, w.eth_tx, send, &err, w.sent, &mined, w.earlier);
  if (r || r.error().code() != make_error_code(EthErrc::timeout)) {
    // Mined (this version or an earlier one) or refused: nothing left to replace.
    std::lock_guard lock(pending_mu_);
    pending_sent_.erase({w.tx.tx.from, w.tx.tx.nonce});
  }
  if (!r) {
    if (r.error().code() == make_error_code(EthErrc::rpc_error))
      return std::unexpected(node_error(r.error(), err));
    return std::unexpected(r.error());
  }
  if (!r->success) {
    // Mined but reverted (the state changed between simulation and inclusion): the nonce and
    // the gas are spent, the state change is undone. Say why if the call still reverts.
    auto call = encode(w.tx.tx.op);
    if (call) {
      if (auto s = simulate(w.tx.tx.from, *call); !s) {
        return std::unexpected(s.error().with_context(
            fmt::format("transaction {} reverted in block {}", r->tx_hash.hex(), r->block)));
      }
    }
    return fail(EthErrc::reverted,
                fmt::format("transaction {} reverted in block {}", r->tx_hash.hex(), r->block));
  }
  acknowledge(mined, *r);
  L::Receipt out;
  out.tx_id = w.tx.id();
  if (mined.hash() != w.eth_tx.hash()) {  // a replacement: the chain knows it by its own ids
    out.tx_id = ledger_tx_id(mined.tx(), mined.signature());
    replaced_.fetch_add(1);
  }
  out.chain_tx = r->tx_hash;
  out.block = r->block;
  out.index = r->index;
  auto events = to_events(r->logs);
  if (!events) return std::unexpected(events.error());
  out.events = std::move(*events);
  if (std::holds_alternative<L::OpenDeal>(w.tx.tx.op)) {
    for (const L::Event& e : out.events)
      if (e.kind == L::EventKind::deal_opened && e.deal) out.deal_id = e.deal;
  }
  return out;
}

// ---- Queries
// -------------------------------------------------------------------------------------

Result<Bytes> EthereumLedger::view(const Address& to, const abi::Function& f,
                                   const std::vector<abi::Value>& args) const {
  auto data = f.encode_call(args);
  if (!data) return std::unexpected(data.error());
  auto r = rpc_->call({std::nullopt, to, U256(), std::move(*data), std::nullopt});
  if (!r) return std::unexpected(r.error());
  if (r->reverted) return std::unexpected(options_.errors.to_error(r->data, f.name()));
  return std::move(r->data);
}

Result<std::vector<abi::Value>> EthereumLedger::view_decoded(
    const Address& to, const abi::Function& f, const std::vector<abi::Value>& args) const {
  auto raw = view(to, f, args);
  if (!raw) return std::unexpected(raw.error());
  auto v = f.decode_output(*raw);
  if (!v) return std::unexpected(v.error().with_context(f.name()));
  return v;
}

Result<Amount> EthereumLedger::total_supply() const {
  auto v = view_decoded(options_.deployment.token, ipsx_abi::functions().total_supply, {});
  if (!v) return std::unexpected(v.error());
  return as_amount((*v)[0]);
}

Result<Amount> EthereumLedger::balance_of(const Address& a) const {
  auto v = view_decoded(options_.deployment.token, ipsx_abi::functions().balance_of,
                        {abi::Value::address(a)});
  if (!v) return std::unexpected(v.error());
  return as_amount((*v)[0]);
}

Result<Amount> EthereumLedger::allowance(const Address& owner, const Address& spender) const {
  auto v = view_decoded(options_.deployment.token, ipsx_abi::functions().allowance,
                        {abi::Value::address(owner), abi::Value::address(spender)});
  if (!v) return std::unexpected(v.error());
  return as_amount((*v)[0]);
}

Result<Amount> EthereumLedger::native_balance(const Address& a) const {
  auto b = rpc_->balance(a);
  if (!b) return std::unexpected(b.error());
  return Amount::from_base(*b);
}

Result<uint64_t> EthereumLedger::nonce_of(const Address& a) const {
  return rpc_->transaction_count(a, "latest");
}

Result<L::WalletView> EthereumLedger::wallet(const Address& a) const {
  auto v = view_decoded(options_.deployment.centralizer, ipsx_abi::functions().wallet,
                        {abi::Value::address(a)});
  if (!v) return std::unexpected(v.error());
  return L::WalletView{as_amount((*v)[0]), as_amount((*v)[1])};
}

Result<Amount> EthereumLedger::bought(const Address& a) const {
  auto v = view_decoded(options_.deployment.token, ipsx_abi::functions().bought,
                        {abi::Value::address(a)});
  if (!v) return std::unexpected(v.error());
  return as_amount((*v)[0]);
}

Result<L::SaleView> EthereumLedger::sale() const {
  auto v = view_decoded(options_.deployment.token, ipsx_abi::functions().sale, {});
  if (!v) return std::unexpected(v.error());
  const auto& x = *v;
  L::SaleView s;
  s.rate = as_uint(x[0]);
  s.hard_cap = as_amount(x[1]);
  s.raised = as_amount(x[2]);
  s.sold = as_amount(x[3]);
  s.pool = as_amount(x[4]);
  s.unclaimed = as_amount(x[5]);
  s.start_ms = static_cast<int64_t>(as_u64(x[6])) * 1000;
  s.end_ms = static_cast<int64_t>(as_u64(x[7])) * 1000;
  s.finalized = x[8].get<bool>();
  s.treasury = x[9].get<Address>();
  s.soft_cap = as_amount(x[10]);
  s.refunded = as_amount(x[11]);
  return s;
}

Result<L::DealView> EthereumLedger::deal(const Hash& id) const {
  auto on_chain = deal_on_chain(id);
  if (!on_chain) return std::unexpected(on_chain.error());
  if (!*on_chain) return fail(LedgerErrc::unknown_deal, "no deal " + id.hex());
  const ipsx_abi::DealTerms* t = &(*on_chain)->terms;
  const auto& x = (*on_chain)->state;
  uint64_t status = as_u64(x[4]);
  if (status > 2) return fail(LedgerErrc::unknown_deal, "deal " + id.hex() + ": unknown status");
  L::DealView d;
  d.id = id;
  d.offer_hash = t->offer_hash;
  d.request_hash = t->request_hash;
  d.provider = t->provider;
  d.requester = t->requester;
  d.market = t->market;
  d.fee_bps = t->fee_bps;
  d.price_per_second = t->price_per_second;
  d.start = t->start;
  d.duration = t->duration;
  auto deposit = t->price_per_second.checked_mul(U256(t->duration));
  if (!deposit) return fail(LedgerErrc::overflow, "deal " + id.hex() + ": the deposit overflows");
  d.deposit = Amount::from_base(*deposit);
  d.claimed = as_amount(x[1]);
  d.admitted = as_amount(x[2]);
  d.challenge_ends_ms = static_cast<int64_t>(as_u64(x[3])) * 1000;
  d.state = static_cast<L::DealState>(status);
  d.reason = static_cast<L::CloseReason>(as_u64(x[5]));
  d.rated_by_provider = x[6].get<bool>();
  d.rated_by_requester = x[7].get<bool>();
  // The usage root recorded (RecordUsage), kept beside the deal by the Centralizer.
  auto u = view_decoded(options_.deployment.centralizer, ipsx_abi::functions().usage,
                        {ipsx_abi::word(id)});
  if (!u) return std::unexpected(u.error());
  d.usage_count = as_u64((*u)[0]);
  d.usage_root = as_hash((*u)[1]);
  return d;
}

Result<L::RatingView> EthereumLedger::rating(const Address& a) const {
  auto v = view_decoded(options_.deployment.centralizer, ipsx_abi::functions().rating,
                        {abi::Value::address(a)});
  if (!v) return std::unexpected(v.error());
  return L::RatingView{as_u64((*v)[0]), as_u64((*v)[1])};
}

Result<L::SupplyView> EthereumLedger::supply() const {
  auto v = view_decoded(options_.deployment.centralizer, ipsx_abi::functions().supply, {});
  if (!v) return std::unexpected(v.error());
  const auto& x = *v;
  L::SupplyView s;
  s.accounts = as_amount(x[0]);
  s.wallet_balances = as_amount(x[1]);
  s.wallet_reserved = as_amount(x[2]);
  s.sale_pool = as_amount(x[3]);
  s.unclaimed = as_amount(x[4]);
  s.total = as_amount(x[5]);
  s.holdings_match = x[6].get<bool>();
  return s;
}

Result<bool> EthereumLedger::order_cancelled(const Address& owner, const Hash& order_hash) const {
  auto v = view_decoded(options_.deployment.centralizer, ipsx_abi::functions().order_cancelled,
                        {abi::Value::address(owner), ipsx_abi::word(order_hash)});
  if (!v) return std::unexpected(v.error());
  return (*v)[0].get<bool>();
}

Result<uint64_t> EthereumLedger::height() const {
  return rpc_->block_number();
}

Result<L::BlockView> EthereumLedger::block(uint64_t number) const {
  auto b = rpc_->block(number, true);
  if (!b) return std::unexpected(b.error());
  if (!*b) return fail(CoreErrc::invalid_argument, fmt::format("no block {}", number));
  L::BlockView v;
  v.number = (*b)->number;
  v.hash = (*b)->hash;
  v.parent = (*b)->parent;
  v.timestamp_ms = static_cast<int64_t>((*b)->timestamp) * 1000;
  v.tx_root = (*b)->tx_root;
  v.state_digest = (*b)->state_root;
  for (const ChainTx& t : (*b)->txs) v.txs.push_back(ledger_tx_id(t.tx, t.signature));
  return v;
}

Hash EthereumLedger::ledger_tx_id(const Transaction& tx, const crypto::Signature& sig) {
  std::array<uint8_t, 97> buf;
  Hash h = signing_hash(tx);
  std::copy(h.bytes().begin(), h.bytes().end(), buf.begin());
  auto b = sig.to_bytes();
  std::copy(b.begin(), b.end(), buf.begin() + 32);
  return keccak256(ByteView(buf));
}

}  // namespace ipsx::eth
