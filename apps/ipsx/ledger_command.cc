#include "ledger_command.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "ledger/embedded_ledger.h"
#include "ledger/tx_codec.h"
#include "log.h"
#include "open_market.h"

namespace ipsx::cli {
namespace {

using namespace ipsx::ledger;

struct LedgerOptions {
  std::string data;
  std::string genesis;
  std::string out;
  // genesis template
  std::string early, bounty, team, treasury;
  std::vector<std::string> native;
  uint64_t chain_id = ledger::kDefaultChainId;
  std::string rate = "10000";
  std::string hard_cap = "90000";
  std::string soft_cap = "0";
  int64_t sale_start_ms = 0;
  int64_t sale_seconds = 3600;
  int64_t challenge_seconds = 3600;
  // send
  std::string keystore, address, password_file;
  std::string op;
  std::string to, spender, owner, amount, value, json_op, deal, order;
  int score = 0;
  // queries
  std::string account;
  size_t limit = 50;
  uint64_t block = 0;
};

Amount tokens(const std::string& text, const char* option) {
  return unwrap(Amount::parse(text), option);
}

void run_genesis(const LedgerOptions& o) {
  GenesisConfig g;
  g.chain_id = o.chain_id;
  // Whole seconds: a chain counts time in seconds, and a genesis for Ethereum must say the same
  // window as the embedded ledger (ipsx eth deploy refuses milliseconds).
  const int64_t now = to_unix_ms(SystemClock().now()) / 1000 * 1000;
  g.time = from_unix_ms(now);
  g.early_adopters = unwrap(Address::parse(o.early), "--early-adopters");
  g.bounty = unwrap(Address::parse(o.bounty), "--bounty");
  g.team = unwrap(Address::parse(o.team), "--team");
  g.sale.treasury = unwrap(Address::parse(o.treasury), "--treasury");
  g.sale.rate = unwrap(U256::from_dec(o.rate), "--rate");
  g.sale.hard_cap = tokens(o.hard_cap, "--hard-cap");
  g.sale.soft_cap = tokens(o.soft_cap, "--soft-cap");
  if (o.sale_start_ms < 0 || o.sale_start_ms % 1000 != 0)
    throw CommandError(fmt::format(
        "--sale-start-ms must be a whole second (a multiple of 1000), not {}", o.sale_start_ms));
  // Checked before the multiplication, which must not overflow: up to ten years.
  constexpr int64_t kMaxSaleSeconds = 10LL * 365 * 24 * 60 * 60;
  if (o.sale_seconds < 1 || o.sale_seconds > kMaxSaleSeconds)
    throw CommandError(fmt::format("--sale-seconds must be 1 .. {} (ten years), not {}",
                                   kMaxSaleSeconds, o.sale_seconds));
  g.sale.start = from_unix_ms(o.sale_start_ms ? o.sale_start_ms : now);
  g.sale.end = g.sale.start + Millis(o.sale_seconds * 1000);
  // Checked before the multiplication, which must not overflow.
  if (o.challenge_seconds < kMinChallengePeriod.count() / 1000 ||
      o.challenge_seconds > kMaxChallengePeriod.count() / 1000) {
    throw CommandError(fmt::format("--challenge-seconds must be {} .. {} (60 s .. 30 days), not {}",
                                   kMinChallengePeriod.count() / 1000,
                                   kMaxChallengePeriod.count() / 1000, o.challenge_seconds));
  }
  g.challenge_period = Millis(o.challenge_seconds * 1000);
  for (const std::string& n : o.native) {
    size_t eq = n.find('=');
    if (eq == std::string::npos) throw CommandError("--native takes ADDRESS=AMOUNT, got " + n);
    g.native.emplace_back(unwrap(Address::parse(n.substr(0, eq)), "--native"),
                          tokens(n.substr(eq + 1), "--native"));
  }
  unwrap(g.validate());
  std::string text = g.to_toml();
  if (o.out.empty() || o.out == "-") {
    std::cout << text;
  } else {
    std::ofstream(o.out) << text;
    std::cerr << "genesis written to " << o.out << "\n";
  }
}

void run_init(const LedgerOptions& o) {
  GenesisConfig g = unwrap(GenesisConfig::load(o.genesis));
  SystemClock clock;
  auto l = open_ledger(o.data, &g, clock);
  std::cout << "ledger created in " << o.data << ", chain " << l->chain_id() << ", genesis block "
            << unwrap(l->block(0)).hash.hex() << ", signing domain's verifying address "
            << l->domain().verifying_contract->to_string() << "\n";
}

void run_verify(const LedgerOptions& o) {
  logs::set_program("ipsx ledger verify");
  auto report =
      unwrap(EmbeddedLedger::verify(o.data, {replay_progress_printer(), Millis(1'000)}), o.data);
  std::cout << fmt::format(
      "ok: {} blocks, {} transactions, {} signatures checked; hash chain, "
      "transaction roots, state digests and invariants hold\n",
      report.blocks, report.transactions, report.signatures_checked);
}

void run_show(const LedgerOptions& o) {
  SystemClock clock;
  auto l = open_ledger(o.data, nullptr, clock);
  uint64_t h = unwrap(l->height());
  BlockView head = unwrap(l->block(h));
  std::cout << fmt::format("chain {}  height {}  head {}  verifying address {}\n", l->chain_id(), h,
                           head.hash.hex(), l->domain().verifying_contract->to_string());
  l->with_state([&](const State& s) {
    SupplyView v = s.supply();
    std::cout << fmt::format(
        "supply {} IPSX: accounts {}, wallets {}, reserved {}, sale pool {}, unclaimed {} ({})\n",
        v.total.to_string(), v.accounts.to_string(), v.wallet_balances.to_string(),
        v.wallet_reserved.to_string(), v.sale_pool.to_string(), v.unclaimed.to_string(),
        v.conserved() ? "conserved" : "NOT CONSERVED");
    SaleView sale = s.sale();
    const int64_t now = to_unix_ms(clock.now());
    std::cout << fmt::format(
        "sale: {} raised of a {} cap{}, {} IPSX sold, {}\n", sale.raised.to_string(),
        sale.hard_cap.to_string(),
        sale.soft_cap.is_zero() ? "" : " (soft cap " + sale.soft_cap.to_string() + ")",
        sale.sold.to_string(),
        sale.finalized ? "finalized"
        : sale.failed_at(now)
            ? "failed below its soft cap, " + sale.refunded.to_string() + " refunded"
            : "until " + std::to_string(sale.end_ms));
    std::cout << "accounts:\n";
    for (const Address& a : s.accounts()) {
      WalletView w = s.wallet(a);
      std::cout << fmt::format("  {}  tokens {}  native {}  wallet {}  reserved {}  nonce {}\n",
                               a.to_string(), s.balance_of(a).to_string(),
                               s.native_balance(a).to_string(), w.balance.to_string(),
                               w.reserved.to_string(), s.nonce_of(a));
    }
    auto deals = s.deals();
    std::cout << "deals: " << deals.size() << "\n";
    for (const DealView& d : deals) {
      std::cout << fmt::format("  {}  {}  provider {}  requester {}  deposit {}  claimed {}  {}\n",
                               d.id.hex(), to_string(d.state), d.provider.to_string(),
                               d.requester.to_string(), d.deposit.to_string(),
                               d.claimed.to_string(), to_string(d.reason));
    }
  });
}

Op build_op(const LedgerOptions& o) {
  const std::string& n = o.op;
  auto need = [&](const std::string& v, const char* opt) -> const std::string& {
    if (v.empty()) throw CommandError(fmt::format("{} needs {}", n, opt));
    return v;
  };
  auto address = [&](const std::string& v, const char* opt) {
    return unwrap(Address::parse(need(v, opt)), opt);
  };
  auto hash = [&](const std::string& v, const char* opt) {
    return unwrap(Hash::from_hex(need(v, opt)), opt);
  };
  if (n == "transfer")
    return Transfer{address(o.to, "--to"), tokens(need(o.amount, "--amount"), "--amount")};
  if (n == "approve")
    return Approve{address(o.spender, "--spender"), tokens(need(o.amount, "--amount"), "--amount")};
  if (n == "transfer-from") {
    return TransferFrom{address(o.owner, "--owner"), address(o.to, "--to"),
                        tokens(need(o.amount, "--amount"), "--amount")};
  }
  if (n == "buy") return Buy{tokens(need(o.value, "--value"), "--value")};
  if (n == "finalize-sale") return FinalizeSale{};
  if (n == "claim-unsold") return ClaimUnsold{};
  if (n == "refund") return Refund{};
  if (n == "deposit") return Deposit{tokens(need(o.amount, "--amount"), "--amount")};
  if (n == "withdraw") return Withdraw{tokens(need(o.amount, "--amount"), "--amount")};
  if (n == "cancel-order") return CancelOrder{hash(o.order, "--order")};
  if (n == "settle") return Settle{hash(o.deal, "--deal")};
  if (n == "rate") return Rate{hash(o.deal, "--deal"), static_cast<uint8_t>(o.score)};
  if (n == "json") {
    auto j = nlohmann::json::parse(need(o.json_op, "--json"), nullptr, false);
    if (j.is_discarded()) throw CommandError("--json is not valid JSON");
    return unwrap(op_from_json(j), "--json");
  }
  throw CommandError("unknown operation " + n);
}

void run_send(const LedgerOptions& o) {
  Op op = build_op(o);
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  SystemClock clock;
  auto l = open_ledger(o.data, nullptr, clock);
  UnsignedTx tx = unwrap(l->prepare(key.address(), std::move(op)));
  SignedTx signed_tx{tx, unwrap(crypto::sign(key, tx.digest))};
  Receipt r = unwrap(l->submit(signed_tx), op_name(tx.op));
  std::cout << fmt::format("tx {} in block {}\n", r.tx_id.hex(), r.block);
  for (const Event& e : r.events) std::cout << "  " << e.to_string() << "\n";
}

void run_events(const LedgerOptions& o) {
  SystemClock clock;
  auto l = open_ledger(o.data, nullptr, clock);
  std::vector<Event> events;
  if (!o.deal.empty()) {
    events = unwrap(l->events_of_deal(unwrap(Hash::from_hex(o.deal), "--deal")));
  } else if (!o.account.empty()) {
    events = unwrap(l->events_of_account(unwrap(Address::parse(o.account), "--account"), o.limit));
  } else {
    throw CommandError("give --account or --deal");
  }
  for (const Event& e : events) std::cout << e.to_string() << "\n";
}

void run_block(const LedgerOptions& o) {
  SystemClock clock;
  auto l = open_ledger(o.data, nullptr, clock);
  BlockView b = unwrap(l->block(o.block));
  std::cout << fmt::format(
      "block {}\n  hash {}\n  parent {}\n  time {}\n  tx_root {}\n  state {}\n", b.number,
      b.hash.hex(), b.parent.hex(), b.timestamp_ms, b.tx_root.hex(), b.state_digest.hex());
  for (const Hash& t : b.txs) std::cout << "  tx " << t.hex() << "\n";
}

}  // namespace

void add_ledger_command(CLI::App& app) {
  auto o = std::make_shared<LedgerOptions>();
  CLI::App* ledger =
      app.add_subcommand("ledger", "The embedded ledger: create, inspect, verify, transact");
  ledger->require_subcommand(1);
  auto data = [&](CLI::App* c) {
    c->add_option("--data", o->data, "Ledger data directory")->required();
  };

  CLI::App* cmd = ledger->add_subcommand("genesis", "Write a genesis file (TOML) for a new ledger");
  cmd->add_option("--out", o->out, "File to write (default: standard output)");
  cmd->add_option("--early-adopters", o->early, "Holder of the 495M early-adopter allocation")
      ->required();
  cmd->add_option("--bounty", o->bounty, "Holder of the 45M bounty allocation")->required();
  cmd->add_option("--team", o->team, "Holder of the 360M team allocation")->required();
  cmd->add_option("--treasury", o->treasury, "Receives the crowd sale's native coin")->required();
  cmd->add_option("--native", o->native, "ADDRESS=AMOUNT of native coin at genesis (repeatable)");
  cmd->add_option("--chain-id", o->chain_id,
                  "Chain id (default 1229996888, 0x49505358, which no common dev chain uses)");
  cmd->add_option("--rate", o->rate,
                  "IPSX per native coin (base units per base unit, default 10000)");
  cmd->add_option("--hard-cap", o->hard_cap, "Sale hard cap in native coin (default 90000)");
  cmd->add_option("--soft-cap", o->soft_cap,
                  "Sale soft cap in native coin (default 0, none): below it at the end, the sale "
                  "fails and its buyers take their coin back (ipsx sale refund)");
  cmd->add_option("--sale-start-ms", o->sale_start_ms, "Sale start, unix ms (default now)");
  cmd->add_option("--sale-seconds", o->sale_seconds, "Sale length in seconds (default 3600)");
  cmd->add_option("--challenge-seconds", o->challenge_seconds,
                  "Challenge period in seconds, 60 .. 2592000 (default 3600)");
  cmd->callback([o] { run_genesis(*o); });

  cmd = ledger->add_subcommand("init", "Create a ledger in a data directory from a genesis file");
  data(cmd);
  cmd->add_option("--genesis", o->genesis, "Genesis file")->required()->check(CLI::ExistingFile);
  cmd->callback([o] { run_init(*o); });

  cmd = ledger->add_subcommand(
      "verify", "Re-execute every block: signatures, hash chain, digests, invariants");
  data(cmd);
  cmd->callback([o] { run_verify(*o); });

  cmd = ledger->add_subcommand("show", "Print the supply, the sale, accounts, wallets and deals");
  data(cmd);
  cmd->callback([o] { run_show(*o); });

  cmd = ledger->add_subcommand("send", "Sign and apply one transaction");
  data(cmd);
  add_key_options(cmd, o->keystore, o->address, o->password_file, "the sender's");
  cmd->add_option("OP", o->op,
                  "transfer | approve | transfer-from | buy | finalize-sale | claim-unsold | "
                  "refund | deposit | "
                  "withdraw | cancel-order | settle | rate | json")
      ->required();
  cmd->add_option("--to", o->to, "Recipient");
  cmd->add_option("--spender", o->spender, "Spender (approve)");
  cmd->add_option("--owner", o->owner, "Owner (transfer-from)");
  cmd->add_option("--amount", o->amount, "IPSX, decimal (\"1.5\")");
  cmd->add_option("--value", o->value, "Native coin, decimal (buy)");
  cmd->add_option("--deal", o->deal, "Deal id (settle, rate)");
  cmd->add_option("--order", o->order, "Order hash (cancel-order)");
  cmd->add_option("--score", o->score, "1..5 (rate)");
  cmd->add_option("--json", o->json_op, "Any operation as JSON (docs/ledger-transactions.md)");
  cmd->callback([o] { run_send(*o); });

  cmd = ledger->add_subcommand("events", "Print the events of an account or a deal");
  data(cmd);
  cmd->add_option("--account", o->account, "Account address");
  cmd->add_option("--deal", o->deal, "Deal id");
  cmd->add_option("--limit", o->limit, "Newest N events of an account (default 50)");
  cmd->callback([o] { run_events(*o); });

  cmd = ledger->add_subcommand("block", "Print a block's header and transactions");
  data(cmd);
  cmd->add_option("NUMBER", o->block, "Block number")->required();
  cmd->callback([o] { run_block(*o); });
}

}  // namespace ipsx::cli
