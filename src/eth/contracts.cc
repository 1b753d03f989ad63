#include "eth/contracts.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/keccak.h"
#include "eth/rlp.h"
#include "ledger/ledger_error.h"

namespace ipsx::eth {

using json = nlohmann::json;

namespace {

Result<std::string> read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fail(CoreErrc::io_error, fmt::format("cannot read {}", p.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Result<Bytes> read_bytecode(const std::filesystem::path& p) {
  auto text = read_text(p);
  if (!text) return std::unexpected(text.error());
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("bytecode") || !j["bytecode"].is_string()) {
    return fail(CoreErrc::parse_error, fmt::format("{}: no bytecode", p.string()));
  }
  auto b = from_hex(j["bytecode"].get<std::string>(), 1 << 20);
  if (!b || b->empty())
    return fail(CoreErrc::parse_error, fmt::format("{}: bad bytecode", p.string()));
  return std::move(*b);
}

bool contains(const std::string& text, std::string_view what) {
  std::string lower = text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find(what) != std::string::npos;
}

}  // namespace

Result<ContractErrors> ContractErrors::parse(std::string_view json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(CoreErrc::parse_error, "ledger-errors.json: not a JSON object");
  }
  ContractErrors out;
  for (const auto& [sel, e] : j.items()) {
    auto b = from_hex(sel, 4);
    if (!b || b->size() != 4 || !e.is_object() || !e.contains("name")) {
      return fail(CoreErrc::parse_error, fmt::format("ledger-errors.json: bad entry '{}'", sel));
    }
    abi::Selector s{};
    std::copy(b->begin(), b->end(), s.begin());
    Entry entry;
    entry.name = e["name"].get<std::string>();
    if (e.contains("code") && e["code"].is_number_integer()) entry.code = e["code"].get<int>();
    out.by_selector_[s] = std::move(entry);
  }
  return out;
}

namespace {

// The input a Centralizer revert reason names: its reasons read as the API's messages do,
// `offer.capacity: ...` or `request: ...` (the contract has no other channel for the field), so
// the prefix before ": ", if it is a field path, is the field. Empty for other reasons.
std::string reason_field(std::string_view reason) {
  size_t colon = reason.find(": ");
  if (colon == std::string_view::npos || colon == 0) return "";
  for (size_t i = 0; i < colon; ++i) {
    char c = reason[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '[' || c == ']'));
    if (!ok) return "";
  }
  return std::string(reason.substr(0, colon));
}

}  // namespace

Error ContractErrors::to_error(ByteView data, std::string_view context) const {
  if (data.size() >= 4) {
    abi::Selector s{};
    std::copy(data.begin(), data.begin() + 4, s.begin());
    auto it = by_selector_.find(s);
    if (it != by_selector_.end()) {
      std::string reason = it->second.name;
      auto args = abi::decode({abi::Type::string()}, data.subspan(4));
      if (args && !args->empty()) {
        if (const auto* text = (*args)[0].get_if<std::string>()) reason = *text;
      }
      std::error_code code =
          it->second.code > 0
              ? ledger::make_error_code(static_cast<ledger::LedgerErrc>(it->second.code))
              : make_error_code(EthErrc::reverted);
      return Error(code, fmt::format("{}: {} ({})", context, reason, it->second.name),
                   reason_field(reason));
    }
  }
  auto r = abi::decode_revert(data);
  std::string text = r ? r->to_string() : fmt::format("reverted with {}", to_hex(data));
  return Error(make_error_code(EthErrc::reverted), fmt::format("{}: {}", context, text));
}

Result<ContractSet> ContractSet::load(const std::filesystem::path& dir) {
  ContractSet s;
  auto t = read_bytecode(dir / "IPSXToken.json");
  if (!t) return std::unexpected(t.error());
  auto c = read_bytecode(dir / "Centralizer.json");
  if (!c) return std::unexpected(c.error());
  auto e = read_text(dir / "ledger-errors.json");
  if (!e) return std::unexpected(e.error());
  auto errors = ContractErrors::parse(*e);
  if (!errors) return std::unexpected(errors.error());
  s.token_bytecode = std::move(*t);
  s.centralizer_bytecode = std::move(*c);
  s.errors = std::move(*errors);
  return s;
}

Result<Fees> choose_fees(RpcClient& rpc, const FeePolicy& policy) {
  Fees f;
  if (policy.max_priority_fee_per_gas) {
    f.max_priority_fee_per_gas = *policy.max_priority_fee_per_gas;
  } else {
    auto tip = rpc.max_priority_fee();
    f.max_priority_fee_per_gas = tip ? *tip : U256(1'000'000'000);
  }
  if (policy.max_fee_per_gas) {
    f.max_fee_per_gas = *policy.max_fee_per_gas;
  } else {
    auto h = rpc.fee_history(1, 50);
    if (!h) return std::unexpected(h.error());
    U256 base = h->base_fees.empty() ? U256() : h->base_fees.back();
    auto cap = (base << 1).checked_add(f.max_priority_fee_per_gas);
    if (!cap) return fail(CoreErrc::overflow, "max fee per gas overflows");
    f.max_fee_per_gas = *cap;
  }
  if (f.max_priority_fee_per_gas > f.max_fee_per_gas) {
    f.max_priority_fee_per_gas = f.max_fee_per_gas;
  }
  return f;
}

Fees bumped_fees(const DynamicFeeTx& stuck, const Fees& now) {
  auto raise = [](const U256& v) {
    auto step = (v >> 3).checked_add(U256(1));
    auto up = step ? v.checked_add(*step) : std::nullopt;
    return up ? *up : v;
  };
  Fees f;
  f.max_priority_fee_per_gas =
      std::max(raise(stuck.max_priority_fee_per_gas), now.max_priority_fee_per_gas);
  f.max_fee_per_gas = std::max(raise(stuck.max_fee_per_gas), now.max_fee_per_gas);
  if (f.max_fee_per_gas < f.max_priority_fee_per_gas)
    f.max_fee_per_gas = f.max_priority_fee_per_gas;
  return f;
}

Result<TxReceipt> send_transaction(RpcClient& rpc, const SignedTransaction& tx,
                                   const SendOptions& o, RpcErrorObject* error_object,
                                   bool already_sent, SignedTransaction* mined,
                                   const std::vector<SignedTransaction>& earlier) {
  const Hash hash = tx.hash();
  auto deadline = std::chrono::steady_clock::now() + o.receipt_timeout;
  bool sent = already_sent;
  std::string last;
  for (int attempt = 0; !sent && attempt < std::max(1, o.send_attempts); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(Millis(100 * attempt));
    RpcErrorObject err;
    auto r = rpc.send_raw_transaction(tx.raw(), &err);
    if (r) {
      if (*r != hash) {
        return fail(EthErrc::bad_response,
                    fmt::format("the node named {} for transaction {}", r->hex(), hash.hex()));
      }
      sent = true;
      break;
    }
    last = r.error().message();
    if (r.error().code() != make_error_code(EthErrc::rpc_error)) continue;  // not reached: retry
    if (contains(err.message, "already known") || contains(err.message, "already imported") ||
        contains(err.message, "known transaction")) {
      sent = true;
      break;
    }
    // This very transaction may have gone through and been mined (an attempt before, or a send
    // of the same bytes by another path): its nonce is then taken by itself.
    if (contains(err.message, "nonce too low")) {
      auto rc = rpc.receipt(hash);
      if (rc && *rc) return std::move(**rc);
    }
    if (error_object) *error_object = err;
    return std::unexpected(r.error());
  }
  if (!sent) {
    return fail(EthErrc::unavailable,
                fmt::format("transaction {} could not be sent: {}", hash.hex(), last));
  }
  // The transaction and its replacements, newest last: any one of them may be mined.
  std::vector<SignedTransaction> versions = earlier;
  versions.push_back(tx);
  auto last_send = std::chrono::steady_clock::now();
  auto last_bump = last_send;
  for (;;) {
    for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
      auto r = rpc.receipt(v->hash());
      if (r && *r) {
        if (mined) *mined = *v;
        return std::move(**r);
      }
      if (!r) last = r.error().message();
    }
    auto now = std::chrono::steady_clock::now();
    if (o.stop && o.stop()) {
      return fail(EthErrc::timeout,
                  fmt::format("no receipt for transaction {} before closing; it may still be mined",
                              versions.back().hash().hex()));
    }
    if (now + o.poll > deadline && o.keep_waiting && o.keep_waiting()) {
      deadline = now + o.receipt_timeout;
    } else if (now + o.poll > deadline) {
      if (o.keep_waiting) {
        // The nonce was taken since the receipts were asked for: by one of these, perhaps.
        for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
          auto r = rpc.receipt(v->hash());
          if (r && *r) {
            if (mined) *mined = *v;
            return std::move(**r);
          }
        }
      }
      return fail(EthErrc::timeout,
                  fmt::format("no receipt for transaction {} by the deadline ({}); it may still "
                              "be mined",
                              versions.back().hash().hex(), last.empty() ? "pending" : last));
    }
    if (o.bump && now - last_bump >= o.bump_after) {
      last_bump = now;
      if (auto next = o.bump(versions.back())) {
        RpcErrorObject err;
        auto r = rpc.send_raw_transaction(next->raw(), &err);
        // Taken, or already known from an answer that was lost: it is one of the candidates.
        if (r || contains(err.message, "already known") ||
            contains(err.message, "known transaction")) {
          versions.push_back(std::move(*next));
          last_send = now;
        } else {
          last = r.error().message();  // underpriced after all, or the old one mined meanwhile
        }
      }
    }
    if (now - last_send > o.resend_every) {
      // The newest bytes again: the pool may have lost them; at most one version is ever mined.
      (void)rpc.send_raw_transaction(versions.back().raw());
      last_send = now;
    }
    std::this_thread::sleep_for(o.poll);
  }
}

Address create_address(const Address& sender, uint64_t nonce) {
  Bytes payload;
  rlp::append_string(payload, sender.view());
  rlp::append_uint(payload, U256(nonce));
  Hash h = keccak256(ByteView(rlp::wrap_list(payload)));
  return Address(std::span<const uint8_t, 20>(h.bytes().data() + 12, 20));
}

Result<DeployParams> deploy_params(const ledger::GenesisConfig& g) {
  const int64_t ms = g.challenge_period.count();
  if (ms <= 0 || ms % 1000 != 0) {
    return fail(ledger::LedgerErrc::invalid_argument,
                fmt::format("genesis: challenge_period_ms must be whole seconds, not {}", ms));
  }
  // The token counts the sale's window in seconds: a window in milliseconds would open and close
  // up to a second apart from the embedded ledger's, so it is refused, never truncated.
  for (const auto& [name, at] : {std::pair{"sale.start", g.sale.start}, {"sale.end", g.sale.end}}) {
    const int64_t t = to_unix_ms(at);
    if (t < 0 || t % 1000 != 0)
      return fail(
          ledger::LedgerErrc::invalid_argument,
          fmt::format("genesis: {} must be a whole second on Ethereum, not {} ms", name, t));
  }
  DeployParams p;
  p.early_adopters = g.early_adopters;
  p.bounty = g.bounty;
  p.team = g.team;
  p.rate = g.sale.rate;
  p.hard_cap = g.sale.hard_cap.base();
  p.soft_cap = g.sale.soft_cap.base();
  p.sale_start = static_cast<uint64_t>(to_unix_seconds(g.sale.start));
  p.sale_end = static_cast<uint64_t>(to_unix_seconds(g.sale.end));
  p.treasury = g.sale.treasury;
  p.challenge_period = static_cast<uint64_t>(ms / 1000);
  return p;
}

Result<Deployment> deploy_contracts(RpcClient& rpc, const crypto::PrivateKey& deployer,
                                    const ContractSet& contracts, const DeployParams& p,
                                    const FeePolicy& policy, const SendOptions& send,
                                    const std::function<void()>& before_send) {
  auto chain = rpc.chain_id();
  if (!chain) return std::unexpected(chain.error());
  auto nonce = rpc.transaction_count(deployer.address(), "pending");
  if (!nonce) return std::unexpected(nonce.error());
  auto fees = choose_fees(rpc, policy);
  if (!fees) return std::unexpected(fees.error());
  Deployment d;
  d.chain_id = *chain;
  Address centralizer = create_address(deployer.address(), *nonce + 1);

  auto ctor =
      abi::encode({abi::Type::address(), abi::Type::address(), abi::Type::address(),
                   abi::Type::uint(), abi::Type::uint(), abi::Type::uint(), abi::Type::uint(64),
                   abi::Type::uint(64), abi::Type::address(), abi::Type::address()},
                  {abi::Value::address(p.early_adopters), abi::Value::address(p.bounty),
                   abi::Value::address(p.team), abi::Value::uint(p.rate),
                   abi::Value::uint(p.hard_cap), abi::Value::uint(p.soft_cap),
                   abi::Value::uint(U256(p.sale_start)), abi::Value::uint(U256(p.sale_end)),
                   abi::Value::address(p.treasury), abi::Value::address(centralizer)});
  if (!ctor) return std::unexpected(ctor.error());

  auto create = [&](Bytes code, uint64_t n, uint64_t gas, const char* what) -> Result<TxReceipt> {
    // The constructor's own checks first, so that a refusal says which and why.
    CallRequest sim;
    sim.from = deployer.address();
    sim.data = code;
    auto simulated = rpc.call(sim);
    if (!simulated) return std::unexpected(simulated.error().with_context(what));
    if (simulated->reverted)
      return std::unexpected(contracts.errors.to_error(simulated->data, what));
    DynamicFeeTx tx;
    tx.chain_id = *chain;
    tx.nonce = n;
    tx.max_fee_per_gas = fees->max_fee_per_gas;
    tx.max_priority_fee_per_gas = fees->max_priority_fee_per_gas;
    tx.gas_limit = gas;
    tx.data = std::move(code);
    auto stx = sign_transaction(tx, deployer);
    if (!stx) return std::unexpected(stx.error());
    if (before_send) before_send();
    auto r = send_transaction(rpc, *stx, send);
    if (!r) return std::unexpected(r.error().with_context(what));
    if (!r->success || !r->contract_address) {
      return fail(EthErrc::reverted, fmt::format("{}: the deployment reverted", what));
    }
    return r;
  };
  Bytes token_code = contracts.token_bytecode;
  token_code.insert(token_code.end(), ctor->begin(), ctor->end());
  auto t = create(std::move(token_code), *nonce, 3'000'000, "deploying IPSXToken");
  if (!t) return std::unexpected(t.error());
  d.token = *t->contract_address;
  d.block = t->block;

  auto cargs =
      abi::encode({abi::Type::address(), abi::Type::uint(64)},
                  {abi::Value::address(d.token), abi::Value::uint(U256(p.challenge_period))});
  if (!cargs) return std::unexpected(cargs.error());
  Bytes c_code = contracts.centralizer_bytecode;
  c_code.insert(c_code.end(), cargs->begin(), cargs->end());
  auto c = create(std::move(c_code), *nonce + 1, 8'000'000, "deploying Centralizer");
  if (!c) return std::unexpected(c.error());
  if (*c->contract_address != centralizer) {
    return fail(EthErrc::bad_response, "the Centralizer is not at its precomputed address");
  }
  d.centralizer = centralizer;
  return d;
}

}  // namespace ipsx::eth
