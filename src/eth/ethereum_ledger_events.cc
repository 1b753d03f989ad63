// The Ethereum ledger's records: contract logs as the ledger's events (docs/ledger.md's kinds
// and fields), and the history queries (by deal, by account, transactions by sender).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "eth/ethereum_abi.h"
#include "eth/ethereum_ledger.h"

namespace ipsx::eth {

namespace L = ipsx::ledger;
using L::EventKind;
using L::LedgerErrc;

namespace {

std::string dec(const abi::Value& v) {
  return v.get<U256>().to_dec();
}
std::string addr(const abi::Value& v) {
  return v.get<Address>().to_string();
}
Hash topic_of(const Address& a) {
  std::array<uint8_t, 32> w{};
  std::copy(a.bytes().begin(), a.bytes().end(), w.begin() + 12);
  return Hash(w);
}
const char* how_name(uint64_t how) {
  switch (how) {
    case 0:
      return "provider";
    case 1:
      return "cooperative";
    default:
      return "settled";
  }
}
std::string reason_name(const abi::Value& v) {
  return L::to_string(static_cast<L::CloseReason>(v.get<U256>().low64()));
}

const char* op_of_selector(ByteView sel) {
  const auto& f = ipsx_abi::functions();
  struct Entry {
    const abi::Function* fn;
    const char* name;
  };
  const Entry table[] = {
      {&f.transfer, "transfer"},
      {&f.approve, "approve"},
      {&f.transfer_from, "transferFrom"},
      {&f.buy, "buy"},
      {&f.finalize_sale, "finalizeSale"},
      {&f.claim_unsold, "claimUnsold"},
      {&f.refund, "refund"},
      {&f.deposit, "deposit"},
      {&f.withdraw, "withdraw"},
      {&f.cancel_order, "cancelOrder"},
      {&f.open_deal, "openDeal"},
      {&f.claim, "claim"},
      {&f.close_deal, "closeDeal"},
      {&f.cooperative_close, "cooperativeClose"},
      {&f.uncooperative_close, "uncooperativeClose"},
      {&f.settle, "settle"},
      {&f.rate, "rate"},
      {&f.record_usage, "recordUsage"},
      {&f.batch, "batch"},
  };
  if (sel.size() < 4) return nullptr;
  for (const Entry& e : table) {
    const abi::Selector s = e.fn->selector();
    if (std::equal(s.begin(), s.end(), sel.begin())) return e.name;
  }
  return nullptr;
}

}  // namespace

Result<EthereumLedger::TxInfo> EthereumLedger::tx_info(const Hash& tx_hash) const {
  {
    std::lock_guard lock(cache_mu_);
    auto it = tx_info_.find(tx_hash);
    if (it != tx_info_.end()) return it->second;
  }
  auto t = rpc_->transaction(tx_hash);
  if (!t) return std::unexpected(t.error());
  if (!*t) return fail(EthErrc::bad_response, "the node lost transaction " + tx_hash.hex());
  const ChainTx& c = **t;
  TxInfo info;
  info.ledger_id = ledger_tx_id(c.tx, c.signature);
  info.from = c.from;
  const Bytes& data = std::visit([](const auto& x) -> const Bytes& { return x.data; }, c.tx);
  info.to = std::visit([](const auto& x) { return x.to; }, c.tx);
  info.selector = Bytes(data.begin(), data.begin() + std::min<size_t>(4, data.size()));
  std::lock_guard lock(cache_mu_);
  tx_info_[tx_hash] = info;
  return info;
}

Result<std::array<Address, 3>> EthereumLedger::deal_parties(const Hash& id) const {
  {
    std::lock_guard lock(cache_mu_);
    auto it = deal_parties_.find(id);
    if (it != deal_parties_.end()) return it->second;
  }
  auto d = deal(id);
  if (!d) return std::unexpected(d.error());
  std::array<Address, 3> p{d->provider, d->requester, d->market};
  std::lock_guard lock(cache_mu_);
  deal_parties_[id] = p;
  return p;
}

Result<std::optional<EthereumLedger::OnChain>> EthereumLedger::deal_on_chain(const Hash& id) const {
  auto state_of = [&](const ipsx_abi::DealTerms& t) {
    return view_decoded(options_.deployment.centralizer, ipsx_abi::functions().deal,
                        {ipsx_abi::word(t.request_hash), abi::Value::uint(U256(t.fill))});
  };
  auto matches = [](const ipsx_abi::DealTerms& t, const std::vector<abi::Value>& v) {
    const Bytes& b = v[0].get<Bytes>();
    return Hash(std::span<const uint8_t, 32>(b.data(), 32)) == ipsx_abi::commitment(t);
  };
  std::optional<ipsx_abi::DealTerms> cached;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = opened_.find(id); it != opened_.end()) cached = it->second;
  }
  if (cached) {
    auto v = state_of(*cached);
    if (!v) return std::unexpected(v.error());
    if (matches(*cached, *v)) return OnChain{*cached, std::move(*v)};
  }
  const abi::Event& event = ipsx_abi::events().deal_opened;
  LogFilter f;
  f.addresses = {options_.deployment.centralizer};
  f.topics = {{event.topic0()}, {id}};
  f.from_block = options_.deployment.block;
  auto logs = read_logs(f, /*newest_only=*/true);
  if (!logs) return std::unexpected(logs.error());
  // The newest opening whose terms the contract keeps (a reorganisation may have opened the deal
  // again in another block, at another start).
  for (auto it = logs->rbegin(); it != logs->rend(); ++it) {
    auto x = event.decode_log(it->topics, it->data);
    if (!x) return std::unexpected(x.error().with_context("DealOpened"));
    ipsx_abi::DealTerms t = ipsx_abi::terms_of_opened(*x);
    if (ipsx_abi::deal_id(t) != id) continue;
    auto v = state_of(t);
    if (!v) return std::unexpected(v.error());
    if (!matches(t, *v)) continue;
    std::lock_guard lock(cache_mu_);
    if (opened_.size() >= kMaxTermsKept) opened_.clear();  // read again from the logs
    opened_[id] = t;
    return OnChain{t, std::move(*v)};
  }
  return std::optional<OnChain>();
}

Result<ipsx_abi::DealTerms> EthereumLedger::current_terms(const Hash& id) const {
  auto d = deal_on_chain(id);
  if (!d) return std::unexpected(d.error());
  if (!*d) return ipsx_abi::DealTerms{};  // the call fails as the contract's UnknownDeal
  return (*d)->terms;
}

Result<std::optional<L::Event>> EthereumLedger::to_event(const Log& log, const TxInfo& info) const {
  const auto& E = ipsx_abi::events();
  const Address& token = options_.deployment.token;
  const Address& cz = options_.deployment.centralizer;
  if (log.topics.empty() || (log.address != token && log.address != cz)) {
    return std::optional<L::Event>();
  }
  const abi::Event* kinds[] = {
      &E.transfer,     &E.approval,    &E.purchase,        &E.sale_finalized, &E.unsold_claimed,
      &E.deposit,      &E.withdrawal,  &E.order_cancelled, &E.deal_opened,    &E.claimed,
      &E.deal_closing, &E.deal_closed, &E.rated,           &E.usage_recorded, &E.refunded};
  const abi::Event* which = nullptr;
  for (const abi::Event* k : kinds) {
    if (k->topic0() == log.topics[0]) which = k;
  }
  if (!which) return std::optional<L::Event>();
  auto v = which->decode_log(log.topics, log.data);
  if (!v) return std::unexpected(v.error().with_context(which->name()));
  const auto& x = *v;
  L::Event e;
  e.block = log.block;
  e.tx_index = log.tx_index;
  e.tx_id = info.ledger_id;
  e.chain_tx = log.tx_hash;
  auto parties = [&](const Hash& id) -> Result<void> {
    e.deal = id;
    auto p = deal_parties(id);
    if (!p) return std::unexpected(p.error());
    e.accounts.assign(p->begin(), p->end());
    return {};
  };
  if (which == &E.transfer) {
    Address from = x[0].get<Address>(), to = x[1].get<Address>();
    // The sale pool and the wallets are the contracts' own balances: moves into or out of them
    // are purchases, unsold claims, deposits and withdrawals, recorded as those.
    if (from == token || from == cz || to == token || to == cz) return std::optional<L::Event>();
    e.kind = EventKind::transfer;
    e.accounts = {from, to};
    e.fields = {{"from", addr(x[0])}, {"to", addr(x[1])}, {"amount", dec(x[2])}};
    const char* op = op_of_selector(info.selector);
    if (op && std::string_view(op) == "transferFrom") {
      e.accounts.push_back(info.from);
      e.fields.emplace_back("spender", info.from.to_string());
    }
  } else if (which == &E.approval) {
    e.kind = EventKind::approval;
    e.accounts = {x[0].get<Address>(), x[1].get<Address>()};
    e.fields = {{"owner", addr(x[0])}, {"spender", addr(x[1])}, {"amount", dec(x[2])}};
  } else if (which == &E.purchase) {
    e.kind = EventKind::purchase;
    Address treasury;
    {
      std::lock_guard lock(cache_mu_);
      if (treasury_) treasury = *treasury_;
    }
    if (treasury.is_zero()) {
      auto s = sale();
      if (!s) return std::unexpected(s.error());
      treasury = s->treasury;
      std::lock_guard lock(cache_mu_);
      treasury_ = treasury;
    }
    e.accounts = {x[0].get<Address>(), treasury};
    e.fields = {{"buyer", addr(x[0])}, {"value", dec(x[1])}, {"tokens", dec(x[2])}};
  } else if (which == &E.sale_finalized) {
    e.kind = EventKind::sale_finalized;
    e.accounts = {info.from};
    e.fields = {{"sold", dec(x[0])}, {"unsold", dec(x[1])}};
  } else if (which == &E.unsold_claimed) {
    e.kind = EventKind::unsold_claimed;
    e.accounts = {x[0].get<Address>()};
    e.fields = {{"buyer", addr(x[0])}, {"amount", dec(x[1])}};
  } else if (which == &E.refunded) {
    e.kind = EventKind::refunded;
    e.accounts = {x[0].get<Address>()};
    e.fields = {{"buyer", addr(x[0])}, {"value", dec(x[1])}, {"tokens", dec(x[2])}};
  } else if (which == &E.deposit || which == &E.withdrawal) {
    e.kind = which == &E.deposit ? EventKind::deposit : EventKind::withdrawal;
    e.accounts = {x[0].get<Address>()};
    e.fields = {{"account", addr(x[0])}, {"amount", dec(x[1])}};
  } else if (which == &E.order_cancelled) {
    e.kind = EventKind::order_cancelled;
    e.accounts = {x[0].get<Address>()};
    e.fields = {{"owner", addr(x[0])},
                {"order", Hash(std::span<const uint8_t, 32>(x[1].get<Bytes>().data(), 32)).hex()}};
  } else {
    const Bytes& idb = x[0].get<Bytes>();
    Hash id(std::span<const uint8_t, 32>(idb.data(), 32));
    if (which == &E.deal_opened) {
      e.kind = EventKind::deal_opened;
      e.deal = id;
      e.accounts = {x[1].get<Address>(), x[2].get<Address>(), x[3].get<Address>()};
      e.fields = {{"provider", addr(x[1])}, {"requester", addr(x[2])}, {"market", addr(x[3])},
                  {"price", dec(x[4])},     {"duration", dec(x[5])},   {"deposit", dec(x[6])},
                  {"start", dec(x[7])}};
      // Its terms too, which the deal's later calls carry (checked against the contract's
      // commitment when used).
      ipsx_abi::DealTerms t = ipsx_abi::terms_of_opened(x);
      std::lock_guard lock(cache_mu_);
      deal_parties_[id] = {x[1].get<Address>(), x[2].get<Address>(), x[3].get<Address>()};
      if (opened_.size() >= kMaxTermsKept) opened_.clear();
      if (ipsx_abi::deal_id(t) == id) opened_[id] = t;
    } else {
      if (auto p = parties(id); !p) return std::unexpected(p.error());
      if (which == &E.claimed) {
        e.kind = EventKind::claimed;
        e.fields = {{"amount", dec(x[1])}, {"paid", dec(x[2])}, {"fee", dec(x[3])}};
      } else if (which == &E.deal_closing) {
        e.kind = EventKind::deal_closing;
        e.fields = {{"admitted", dec(x[1])},
                    {"challenge_ends", std::to_string(x[2].get<U256>().low64() * 1000)},
                    {"reason", reason_name(x[3])}};
      } else if (which == &E.deal_closed) {
        e.kind = EventKind::deal_closed;
        e.fields = {{"how", how_name(x[1].get<U256>().low64())},
                    {"reason", reason_name(x[2])},
                    {"paid", dec(x[3])},
                    {"refunded", dec(x[4])}};
      } else if (which == &E.usage_recorded) {
        e.kind = EventKind::usage_recorded;
        e.fields = {
            {"count", dec(x[1])},
            {"root", Hash(std::span<const uint8_t, 32>(x[2].get<Bytes>().data(), 32)).hex()}};
      } else {
        e.kind = EventKind::rated;
        e.accounts = {x[1].get<Address>(), x[2].get<Address>()};
        e.fields = {{"by", addr(x[1])}, {"of", addr(x[2])}, {"score", dec(x[3])}};
      }
    }
  }
  return std::optional<L::Event>(std::move(e));
}

Result<std::vector<L::Event>> EthereumLedger::to_events(const std::vector<Log>& logs) const {
  std::vector<L::Event> out;
  for (const Log& log : logs) {
    auto info = tx_info(log.tx_hash);
    if (!info) return std::unexpected(info.error());
    auto e = to_event(log, *info);
    if (!e) return std::unexpected(e.error());
    if (*e) out.push_back(std::move(**e));
  }
  return out;
}

namespace {
// An eth_getLogs failure a smaller range may avoid: the provider's refusal (an error object), an
// answer over the size limit, or none in time.
bool range_may_be_the_cause(const Error& e) {
  for (EthErrc c : {EthErrc::rpc_error, EthErrc::too_large, EthErrc::timeout})
    if (e.code() == make_error_code(c)) return true;
  return false;
}
}  // namespace

Result<std::vector<Log>> EthereumLedger::read_logs(LogFilter f, bool newest_only) const {
  uint64_t window = options_.log_window ? options_.log_window : learned_log_window_.load();
  if (window == 0) {
    auto all = rpc_->logs(f);
    if (all || !range_may_be_the_cause(all.error())) return all;
    window = kLogWindow;
  }
  auto head = rpc_->block_number();
  if (!head) return std::unexpected(head.error());
  const uint64_t lo = f.from_block, hi = *head;
  std::vector<Log> out;
  if (lo > hi) return out;
  uint64_t cursor = newest_only ? hi : lo;  // the window's newest block, or its oldest
  for (;;) {
    LogFilter w = f;
    if (newest_only) {
      w.from_block = cursor - lo + 1 > window ? cursor - window + 1 : lo;
      w.to_block = cursor;
    } else {
      w.from_block = cursor;
      w.to_block = hi - cursor + 1 > window ? cursor + window - 1 : hi;
    }
    const uint64_t span = *w.to_block - w.from_block + 1;
    auto logs = rpc_->logs(w);
    if (!logs) {
      if (span > 1 && range_may_be_the_cause(logs.error())) {
        window = span / 2;  // a smaller range, remembered for the next reads
        if (!options_.log_window) learned_log_window_.store(window);
        continue;
      }
      return std::unexpected(logs.error().with_context(
          fmt::format("eth_getLogs over blocks {}..{}", w.from_block, *w.to_block)));
    }
    if (newest_only) {
      if (!logs->empty() || w.from_block == lo) return std::move(*logs);
      cursor = w.from_block - 1;
    } else {
      out.insert(out.end(), std::make_move_iterator(logs->begin()),
                 std::make_move_iterator(logs->end()));
      if (*w.to_block == hi) return out;
      cursor = *w.to_block + 1;
    }
  }
}

Result<std::vector<L::Event>> EthereumLedger::events_of_deal(const Hash& deal_id) const {
  LogFilter f;
  f.addresses = {options_.deployment.centralizer};
  f.topics = {{}, {deal_id}};
  f.from_block = options_.deployment.block;
  auto logs = read_logs(f);
  if (!logs) return std::unexpected(logs.error());
  return to_events(*logs);
}

Result<std::vector<L::Event>> EthereumLedger::events_of_account(const Address& a,
                                                                size_t limit) const {
  const auto& E = ipsx_abi::events();
  std::vector<Log> all;
  auto query = [&](std::vector<std::vector<Hash>> topics) -> Result<void> {
    LogFilter f;
    f.addresses = {options_.deployment.token, options_.deployment.centralizer};
    f.topics = std::move(topics);
    f.from_block = options_.deployment.block;
    auto logs = read_logs(f);
    if (!logs) return std::unexpected(logs.error());
    all.insert(all.end(), logs->begin(), logs->end());
    return {};
  };
  Hash me = topic_of(a);
  // The account as an indexed parameter; the events that name it only in their data or
  // through the sender (purchases to the treasury, the finalization, deal openings as market);
  // and every event of its deals.
  for (auto topics : std::vector<std::vector<std::vector<Hash>>>{
           {{}, {me}},
           {{}, {}, {me}},
           {{}, {}, {}, {me}},
           {{E.purchase.topic0(), E.sale_finalized.topic0(), E.deal_opened.topic0()}}}) {
    if (auto r = query(std::move(topics)); !r) return std::unexpected(r.error());
  }
  auto events = to_events(all);
  if (!events) return std::unexpected(events.error());
  std::vector<Hash> deals;
  for (const L::Event& e : *events) {
    if (e.kind == EventKind::deal_opened && e.deal &&
        std::find(e.accounts.begin(), e.accounts.end(), a) != e.accounts.end()) {
      deals.push_back(*e.deal);
    }
  }
  if (!deals.empty()) {
    LogFilter f;
    f.addresses = {options_.deployment.centralizer};
    f.topics = {{}, deals};
    f.from_block = options_.deployment.block;
    auto logs = read_logs(f);
    if (!logs) return std::unexpected(logs.error());
    all.insert(all.end(), logs->begin(), logs->end());
  }
  // Keep those that concern the account, once each, in chain order.
  struct Keyed {
    uint64_t block;
    uint32_t log_index;
    L::Event e;
  };
  std::vector<Keyed> keyed;
  std::set<std::pair<uint64_t, uint32_t>> seen;
  for (const Log& log : all) {
    if (!seen.insert({log.block, log.log_index}).second) continue;
    auto info = tx_info(log.tx_hash);
    if (!info) return std::unexpected(info.error());
    auto e = to_event(log, *info);
    if (!e) return std::unexpected(e.error());
    if (!*e) continue;
    const auto& acc = (*e)->accounts;
    if (std::find(acc.begin(), acc.end(), a) == acc.end()) continue;
    keyed.push_back({log.block, log.log_index, std::move(**e)});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& x, const Keyed& y) {
    return std::tie(x.block, x.log_index) < std::tie(y.block, y.log_index);
  });
  std::vector<L::Event> out;
  size_t skip = keyed.size() > limit ? keyed.size() - limit : 0;
  for (size_t k = skip; k < keyed.size(); ++k) out.push_back(std::move(keyed[k].e));
  return out;
}

// Ethereum keeps no index of transactions by sender: the ledger builds one by reading every
// block since the deployment once (a deployment with many users would use an indexer).
Result<void> EthereumLedger::scan_history() const {
  auto head = rpc_->block_number();
  if (!head) return std::unexpected(head.error());
  std::lock_guard lock(history_mu_);
  for (uint64_t n = scanned_to_; n <= *head; ++n) {
    auto b = rpc_->block(n, true);
    if (!b) return std::unexpected(b.error());
    if (!*b) break;
    for (const ChainTx& t : (*b)->txs) {
      auto to = std::visit([](const auto& x) { return x.to; }, t.tx);
      if (!to || (*to != options_.deployment.token && *to != options_.deployment.centralizer)) {
        continue;
      }
      const Bytes& data = std::visit([](const auto& x) -> const Bytes& { return x.data; }, t.tx);
      const char* op = op_of_selector(data);
      if (!op) continue;
      auto r = rpc_->receipt(t.hash);
      if (!r) return std::unexpected(r.error());
      if (!*r || !(*r)->success) continue;  // reverted: not a ledger transaction
      uint64_t nonce = std::visit([](const auto& x) { return x.nonce; }, t.tx);
      L::TxRecord record{
          ledger_tx_id(t.tx, t.signature), (*b)->number, t.index, t.from, nonce, op, t.hash};
      history_by_id_[record.id] = record;
      history_[t.from].push_back(std::move(record));
    }
    scanned_to_ = n + 1;
    scanned_hashes_[n] = (*b)->hash;  // the keeper compares them with the chain's
    while (scanned_hashes_.size() > std::max<uint64_t>(1, options_.keep_depth))
      scanned_hashes_.erase(scanned_hashes_.begin());
  }
  return {};
}

Result<std::vector<L::TxRecord>> EthereumLedger::transactions_of(const Address& a,
                                                                 size_t limit) const {
  if (auto s = scan_history(); !s) return std::unexpected(s.error());
  std::lock_guard lock(history_mu_);
  auto it = history_.find(a);
  if (it == history_.end()) return std::vector<L::TxRecord>();
  const auto& all = it->second;
  size_t skip = all.size() > limit ? all.size() - limit : 0;
  return std::vector<L::TxRecord>(all.begin() + static_cast<ptrdiff_t>(skip), all.end());
}

Result<std::optional<L::TxRecord>> EthereumLedger::transaction(const Hash& id) const {
  if (auto s = scan_history(); !s) return std::unexpected(s.error());
  std::lock_guard lock(history_mu_);
  auto it = history_by_id_.find(id);
  if (it == history_by_id_.end()) return std::optional<L::TxRecord>();
  return std::optional<L::TxRecord>(it->second);
}

}  // namespace ipsx::eth
