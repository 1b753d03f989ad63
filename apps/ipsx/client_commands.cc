// The `ipsx` commands that talk to a running node through the SDK (docs/cli.md): `token`,
// `sale`, `offer place`, `request place`, `orders`, `deal`, and `market depth|trades`.
//
// Each takes --node URL (default: $IPSX_NODE, else http://127.0.0.1:8080) and --json, which
// prints the node's answer as-is (one JSON document on stdout, for scripts); without it the
// answer is told in lines for people. Commands that change something sign here, with the
// wallet of --keystore/--address/--password-file, under the ledger domain the node states
// (GET /v1/health): the node never holds the key. Ledger operations go through
// sdk::send_transaction and tell their wait on stderr. A failure is the SDK's message on stderr
// and exit status 1, with nothing on stdout.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "cli_util.h"
#include "client/signer.h"
#include "http/http_client.h"
#include "ledger/tx_codec.h"
#include "node_answers.h"
#include "node_session.h"
#include "order_options.h"
#include "sdk/dataplane.h"
#include "sdk/usage_store.h"

namespace ipsx::cli {
namespace {

using json = nlohmann::json;

struct ClientOptions {
  std::string node;  // empty: node_url()
  bool json = false;
  std::string keystore, address, password_file;
  std::string id;  // the positional ADDRESS or deal ID
  std::string to, spender, amount, value, order, deal, party, status, proof_signature;
  std::string reason = "completed";
  unsigned score = 0;
  std::string data, proof_file;  // usage logs: the provider's --data; a proof file
  std::string control;           // deal show: the requester's agent's control endpoint
  uint64_t index = 0;
  std::string owner, side, country, type, state;  // filters of the lists
  unsigned limit = 50, levels = 10;
  OrderFields fields;
};

// --node, else $IPSX_NODE, else the local default.
std::string node_url(const ClientOptions& o) {
  if (!o.node.empty()) return o.node;
  const char* env = std::getenv("IPSX_NODE");
  return env && *env ? env : "http://127.0.0.1:8080";
}

// The user's wallet at a node: its signer under the domain the node states.
struct Wallet {
  NodeSession session;
  sdk::Signer signer;
};

Wallet open_wallet(const ClientOptions& o) {
  // (the keystore and password from the environment, or the defaults: unlock_key)
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  NodeSession s = open_node(node_url(o));
  sdk::Signer signer =
      sdk::Signer::for_chain(std::move(key), s.chain_id, s.verifying_contract, s.token_contract);
  return {std::move(s), std::move(signer)};
}

// Prints the node's answer: as-is with --json, otherwise as `show` tells it.
void print(const ClientOptions& o, const json& answer,
           const std::function<void(const json&)>& show) {
  if (o.json) {
    std::cout << answer.dump() << "\n";
    return;
  }
  try {
    show(answer);
  } catch (const json::exception& e) {
    throw CommandError(fmt::format("the node's answer is not the documented one: {}", e.what()));
  }
}

Amount tokens(const std::string& value, const char* option) {
  return unwrap(Amount::parse(value), option);
}

Hash hash(const std::string& value, const char* option) {
  return unwrap(Hash::from_hex(value), option);
}

// "?a=1&b=2" of the non-empty values.
std::string query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    out += fmt::format("{}{}={}", out.empty() ? "?" : "&", name, sdk::url_encode(value));
  }
  return out;
}

// ---- Reads ------------------------------------------------------------------------------------

// GET `target` and print it.
void get_and_print(const ClientOptions& o, const std::string& target, void (*show)(const json&)) {
  auto node = unwrap(sdk::NodeClient::connect(node_url(o)), "--node");
  print(o, unwrap(node->get(target)), show);
}

// `ipsx deal show`: the node's view of the deal and, with --control, what the requester's agent
// knows of it (the node hears of no bytes or off-chain payments).
void show_deal_with_agent(const ClientOptions& o) {
  const Hash id = hash(o.id, "ID");
  auto node = unwrap(sdk::NodeClient::connect(node_url(o)), "--node");
  auto got = node->get("/v1/deals/" + id.hex());
  if (!got && got.error().code() == make_error_code(sdk::SdkErrc::unknown_deal) &&
      node->get("/v1/ledger/deals/" + id.hex())) {
    // The market forgets a deal a week after it closed; the ledger keeps it.
    throw CommandError(
        fmt::format("{}: the market forgot it (a week after it closed); the ledger has it: GET "
                    "/v1/ledger/deals/{} on the node",
                    got.error().message(), id.hex()));
  }
  json d = unwrap(std::move(got));
  if (!o.control.empty()) {
    auto client = unwrap(http::HttpClient::create(o.control), "--control");
    auto reply = unwrap(client->request("GET", "/v1/leases"), "--control " + o.control);
    auto j = json::parse(reply.body, nullptr, false);
    if (reply.status != 200 || !j.is_object() || !j["leases"].is_array())
      throw CommandError(fmt::format("--control {}: not an agent's control endpoint (HTTP {})",
                                     o.control, reply.status));
    for (const json& l : j["leases"])
      if (l.value("deal", "") == id.hex()) d["agent"] = l;
    if (!d.contains("agent"))
      throw CommandError(
          fmt::format("--control {}: the agent has no lease of deal {}", o.control, id.hex()));
  }
  print(o, d, show_deal);
}

// ---- Signed changes ---------------------------------------------------------------------------

// Signs `op`, sends it through the node and prints the receipt; the wait is told on stderr.
void send_op(const ClientOptions& o, const ledger::Op& op) {
  Wallet w = open_wallet(o);
  const char* name = ledger::op_name(op);
  std::cerr << "sending " << name << " ... " << std::flush;
  auto r = sdk::send_transaction(*w.session.node, w.signer, op);
  std::string told = "failed";
  if (r) {
    told = fmt::format("included in block {}", text(*r, "/block"));
    if (r->contains("chainTx")) told += ", transaction " + text(*r, "/chainTx");
  }
  std::cerr << told << "\n";
  print(o, unwrap(std::move(r), name), show_receipt);
}

void place(const ClientOptions& o, bool is_offer) {
  Wallet w = open_wallet(o);
  const NodeSession& s = w.session;
  json signed_order =
      is_offer ? unwrap(w.signer.offer(make_offer(o.fields, s.market, s.fee_bps)), "offer")
               : unwrap(w.signer.request(make_request(o.fields, s.market, s.fee_bps)), "request");
  print(o, unwrap(s.node->place_order(signed_order), is_offer ? "offer" : "request"), show_placed);
}

void cancel(const ClientOptions& o) {
  Hash order = hash(o.order, "--order");
  Wallet w = open_wallet(o);
  auto sig = unwrap(w.signer.cancel(order), "cancel");
  json answer = unwrap(
      w.session.node->post("/v1/orders/" + order.hex() + "/cancel", {{"signature", sig.to_hex()}}),
      "cancel");
  print(o, answer, [](const json& a) {
    std::cout << fmt::format("order {} ({}) cancelled: {}\n", text(a, "/id"), text(a, "/hash"),
                             text(a, "/state"));
  });
}

// A signed status report with the party's next seq (its last, read from the node, plus one).
void report(const ClientOptions& o) {
  market::StatusEvent e;
  e.deal_id = hash(o.deal, "--deal");
  e.party = parse_party(o.party, "--party");
  e.state = parse_party_state(o.status, "--status");
  Wallet w = open_wallet(o);
  json deal = unwrap(w.session.node->get("/v1/deals/" + e.deal_id.hex()), "--deal");
  e.seq = deal.value(json::json_pointer("/parties/" + o.party + "/seq"), uint64_t{0}) + 1;
  e.at = SystemClock().now();
  json answer = unwrap(sdk::send_status(*w.session.node, w.signer, e), "report");
  print(o, answer, [&](const json& a) {
    std::cout << fmt::format("deal {}: {} reported {} (seq {}); the deal is {}\n", e.deal_id.hex(),
                             o.party, o.status, e.seq, text(a, "/status/phase"));
  });
}

ledger::CloseReason close_reason(const ClientOptions& o) {
  for (int r = 0; r <= static_cast<int>(ledger::CloseReason::expired); ++r)
    if (o.reason == ledger::to_string(static_cast<ledger::CloseReason>(r)))
      return static_cast<ledger::CloseReason>(r);
  throw CommandError(
      "--reason: completed, requester_closed, provider_closed, "
      "provider_failed, unpaid or expired");
}

ledger::CloseDeal close_op(const ClientOptions& o) {
  ledger::CloseDeal c{hash(o.deal, "--deal"), Amount::zero(), std::nullopt, close_reason(o)};
  if (o.amount.empty() != o.proof_signature.empty())
    throw CommandError("--amount and --proof-signature go together (the requester's proof)");
  if (!o.amount.empty()) {
    c.amount = tokens(o.amount, "--amount");
    c.requester_signature =
        unwrap(crypto::Signature::from_hex(o.proof_signature), "--proof-signature");
  }
  return c;
}

// ---- Registration -----------------------------------------------------------------------------

using Options = std::shared_ptr<ClientOptions>;

CLI::App* client_command(CLI::App* parent, const char* name, const char* about, const Options& o) {
  CLI::App* c = parent->add_subcommand(name, about);
  c->add_option("--node", o->node,
                "The node's URL (default: $IPSX_NODE, else http://127.0.0.1:8080)");
  c->add_flag("--json", o->json, "Print the node's JSON answer as-is");
  return c;
}

CLI::App* signing_command(CLI::App* parent, const char* name, const char* about, const Options& o) {
  CLI::App* c = client_command(parent, name, about, o);
  add_key_options(c, o->keystore, o->address, o->password_file, "the signing");
  return c;
}

// A command that signs the ledger operation `make` builds from the options and sends it.
CLI::App* op_command(CLI::App* parent, const char* name, const char* about, const Options& o,
                     std::function<ledger::Op(const ClientOptions&)> make) {
  CLI::App* c = signing_command(parent, name, about, o);
  c->callback([o, make] { send_op(*o, make(*o)); });
  return c;
}

CLI::App* group(CLI::App& app, const char* name, const char* about) {
  CLI::App* g = app.add_subcommand(name, about);
  g->require_subcommand(1);
  return g;
}

void add_token_commands(CLI::App& app, const Options& o) {
  CLI::App* token = group(app, "token", "IPSX balances and transfers, at a node");
  client_command(token, "balance", "An account's tokens, Centralizer wallet and nonce", o)
      ->callback([o] {
        Address a = unwrap(Address::parse(o->id), "ADDRESS");
        get_and_print(*o, "/v1/ledger/accounts/" + a.to_string(), show_account);
      })
      ->add_option("ADDRESS", o->id, "The account")
      ->required();
  op_command(
      token, "transfer", "Send IPSX to an address", o,
      [](const ClientOptions& c) {
        return ledger::Transfer{unwrap(Address::parse(c.to), "--to"), tokens(c.amount, "--amount")};
      })
      ->add_option("--to", o->to, "The recipient")
      ->required();
  op_command(token, "approve", "Allow a spender to transfer up to an amount", o,
             [](const ClientOptions& c) {
               return ledger::Approve{unwrap(Address::parse(c.spender), "--spender"),
                                      tokens(c.amount, "--amount")};
             })
      ->add_option("--spender", o->spender, "The spender")
      ->required();
  op_command(token, "deposit", "Move IPSX into the Centralizer wallet (backs requests)", o,
             [](const ClientOptions& c) { return ledger::Deposit{tokens(c.amount, "--amount")}; });
  op_command(token, "withdraw", "Move IPSX out of the Centralizer wallet", o,
             [](const ClientOptions& c) { return ledger::Withdraw{tokens(c.amount, "--amount")}; });
  for (CLI::App* c : token->get_subcommands([](CLI::App* c) { return c->get_name() != "balance"; }))
    c->add_option("--amount", o->amount, "IPSX, decimal (\"2.5\")")->required();
}

void add_sale_commands(CLI::App& app, const Options& o) {
  CLI::App* sale = group(app, "sale", "The crowd sale, at a node");
  client_command(sale, "show", "The sale's terms and progress", o)->callback([o] {
    get_and_print(*o, "/v1/ledger/sale", show_sale);
  });
  op_command(sale, "buy", "Buy IPSX with the native coin", o,
             [](const ClientOptions& c) { return ledger::Buy{tokens(c.value, "--value")}; })
      ->add_option("--value", o->value, "Native coin, decimal")
      ->required();
  op_command(sale, "finalize", "End the sale once it is over", o,
             [](const ClientOptions&) { return ledger::FinalizeSale{}; });
  op_command(sale, "claim", "Claim the unsold IPSX owed to this wallet", o,
             [](const ClientOptions&) { return ledger::ClaimUnsold{}; });
  op_command(sale, "refund", "Take back the coin paid, after a sale that failed its soft cap", o,
             [](const ClientOptions&) { return ledger::Refund{}; });
}

void add_order_commands(CLI::App& app, const Options& o) {
  CLI::App* cmd = signing_command(group(app, "offer", "Offers at a node"), "place",
                                  "Sign an offer of one IP and place it at the node", o);
  add_offer_options(cmd, o->fields);
  cmd->callback([o] { place(*o, true); });
  cmd = signing_command(group(app, "request", "Requests at a node"), "place",
                        "Sign a request for IPs and place it at the node", o);
  add_request_options(cmd, o->fields);
  cmd->callback([o] { place(*o, false); });

  CLI::App* orders = group(app, "orders", "The node's orders: list, cancel");
  cmd = client_command(orders, "list", "Orders, oldest first", o);
  cmd->add_option("--owner", o->owner, "Only this wallet's");
  cmd->add_option("--side", o->side, "offer | request");
  cmd->add_option("--country", o->country, "Only orders that take this country");
  cmd->add_option("--type", o->type, "residential | datacenter | mobile");
  cmd->add_option("--state", o->state, "resting | busy | closed");
  cmd->add_option("--limit", o->limit, "At most this many (default 50)");
  cmd->callback([o] {
    get_and_print(*o,
                  "/v1/orders" + query({{"owner", o->owner},
                                        {"side", o->side},
                                        {"country", o->country},
                                        {"type", o->type},
                                        {"state", o->state},
                                        {"limit", std::to_string(o->limit)}}),
                  show_orders);
  });
  cmd = signing_command(orders, "cancel", "Withdraw an order (its owner's signature)", o);
  cmd->add_option("--order", o->order, "The order's hash")->required();
  cmd->callback([o] { cancel(*o); });
}

// ---- Usage receipts (docs/usage-receipts.md) ---------------------------------------------------

std::unique_ptr<sdk::UsageStore> usage_store(const ClientOptions& o) {
  std::filesystem::path dir = std::filesystem::path(o.data) / "usage";
  if (!std::filesystem::is_directory(dir))
    throw CommandError(
        fmt::format("--data: {} holds no usage logs (is it the DIR of `ipsx "
                    "provide --data DIR`?)",
                    o.data));
  return unwrap(sdk::UsageStore::open(dir), "--data");
}

std::string utc_ms(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

std::string record_line(const UsageRecord& r) {
  return fmt::format("#{} {} .. {} {}:{} {} up, {} down{}", r.index, utc_ms(r.opened_ms),
                     utc_ms(r.closed_ms), r.host, r.port, r.bytes_up, r.bytes_down,
                     r.stream == 0 ? " (at the exit's front)" : "");
}

void show_usage(const ClientOptions& o) {
  Hash deal = hash(o.id, "DEAL");
  auto store = usage_store(o);
  auto records = unwrap(store->records(deal), "the usage log");
  auto receipt = unwrap(store->receipt(deal), "the usage receipt");
  if (o.json) {
    nlohmann::json out = {{"deal", deal.hex()}, {"records", nlohmann::json::array()}};
    for (const auto& r : records) out["records"].push_back(usage_record_json(r));
    out["receipted"] = receipt ? receipt->count : 0;
    std::cout << out.dump(2) << "\n";
    return;
  }
  for (const auto& r : records) std::cout << record_line(r) << "\n";
  if (receipt)
    std::cout << fmt::format(
        "{} connection(s); the requester {} signed for the first {} (root {})\n", records.size(),
        receipt->requester.to_string(), receipt->count, receipt->root.hex());
  else
    std::cout << fmt::format("{} connection(s); no receipt from the requester yet\n",
                             records.size());
}

void verify_usage(const ClientOptions& o) {
  std::ifstream in(o.proof_file);
  if (!in) throw CommandError("cannot read " + o.proof_file);
  auto proof = nlohmann::json::parse(in, nullptr, false);
  if (proof.is_discarded()) throw CommandError(o.proof_file + ": not JSON");
  auto v = unwrap(sdk::verify_usage_proof(proof), o.proof_file);
  std::string anchored = " (against the proof's own claims; give --node to check them)";
  if (!o.node.empty()) {
    // The node says whose deal it is and in which domain its ledger signs.
    NodeSession s = open_node(o.node);
    Hash domain = ledger_domain(s.chain_id, s.verifying_contract).separator();
    if (domain != v.domain_separator)
      throw CommandError(o.proof_file + ": signed in another ledger's domain than the node's");
    auto deal = unwrap(s.node->get("/v1/deals/" + v.record.deal_id.hex()), "the deal");
    if (deal.value("requester", "") != v.requester.to_string())
      throw CommandError(fmt::format("{}: the node says deal {}'s requester is {}, not {}",
                                     o.proof_file, v.record.deal_id.hex(),
                                     deal.value("requester", "?"), v.requester.to_string()));
    anchored = fmt::format(" (checked at {}: it is the deal's requester)", o.node);
    // The root the close put on the ledger (RecordUsage), if any.
    const auto& on_ledger = deal.value("ledger", nlohmann::json::object());
    const uint64_t count = on_ledger.value("usageCount", uint64_t{0});
    if (count == v.count) {
      if (on_ledger.value("usageRoot", "") != v.root.hex())
        throw CommandError(
            fmt::format("{}: the ledger holds another root for the deal's first {} records",
                        o.proof_file, count));
      anchored += "; the ledger holds this root";
    } else if (count > 0) {
      anchored += fmt::format("; the ledger holds the root of its first {} records", count);
    }
  }
  std::cout << fmt::format(
      "verified: {} signed the usage log of deal {} ({} connection(s)){}, which holds\n  {}\n",
      v.requester.to_string(), v.record.deal_id.hex(), v.count, anchored, record_line(v.record));
}

void add_usage_commands(CLI::App* deal, const Options& o) {
  CLI::App* cmd = deal->add_subcommand(
      "usage", "The provider's log of a deal's connections and the requester's receipt");
  cmd->add_option("DEAL", o->id, "The deal id")->required();
  cmd->add_option("--data", o->data, "The provider's --data directory")->required();
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o] { show_usage(*o); });
  cmd = deal->add_subcommand("prove-usage",
                             "Print the proof that the requester used connection N (JSON)");
  cmd->add_option("DEAL", o->id, "The deal id")->required();
  cmd->add_option("N", o->index, "The connection's index in the log (ipsx deal usage)")->required();
  cmd->add_option("--data", o->data, "The provider's --data directory")->required();
  cmd->callback([o] {
    auto store = usage_store(*o);
    std::cout
        << unwrap(sdk::usage_proof(*store, hash(o->id, "DEAL"), o->index), "the proof").dump(2)
        << "\n";
  });
  cmd = deal->add_subcommand("verify-usage", "Check a usage proof (from ipsx deal prove-usage)");
  cmd->add_option("PROOF", o->proof_file, "The proof's JSON file")->required();
  cmd->add_option("--node", o->node, "Also check the deal's requester and domain at this node");
  cmd->callback([o] { verify_usage(*o); });
}

void add_deal_commands(CLI::App& app, const Options& o) {
  CLI::App* deal = group(app, "deal", "Deals at a node: list, show, report, close, rate");
  CLI::App* cmd = client_command(deal, "list", "Deals, by id", o);
  cmd->add_option("--party", o->party, "Only deals this wallet is a party to");
  cmd->add_option("--status", o->status, "pending | ready | active | closed");
  cmd->add_option("--limit", o->limit, "At most this many (default 50)");
  cmd->callback([o] {
    get_and_print(*o,
                  "/v1/deals" + query({{"party", o->party},
                                       {"status", o->status},
                                       {"limit", std::to_string(o->limit)}}),
                  show_deals);
  });
  cmd = client_command(deal, "show", "A deal: its status, parties' reports and ledger state", o);
  cmd->add_option("ID", o->id, "The deal id")->required();
  cmd->add_option("--control", o->control,
                  "The requester's agent, http://HOST:PORT (`ipsx gateway` or `ipsx vpn` "
                  "--control): adds its bytes and payments for the deal (a VPN deal's too)");
  cmd->callback([o] { show_deal_with_agent(*o); });

  cmd = signing_command(deal, "report", "Send this party's signed status report", o);
  cmd->add_option("--party", o->party, "provider | requester")->required();
  cmd->add_option("--status", o->status, "ready | connected | closed | failed | unpaid")
      ->required();
  cmd->callback([o] { report(*o); });
  cmd = op_command(deal, "close", "The provider closes the deal on the ledger", o, close_op);
  cmd->add_option("--amount", o->amount, "With --proof-signature: the proof's IPSX");
  cmd->add_option("--proof-signature", o->proof_signature, "The requester's balance proof");
  cmd->add_option("--reason", o->reason, "Why (default completed)");
  cmd = op_command(deal, "claim", "The provider collects a balance proof on the ledger", o,
                   [](const ClientOptions& c) {
                     return ledger::Claim{hash(c.deal, "--deal"), tokens(c.amount, "--amount"),
                                          unwrap(crypto::Signature::from_hex(c.proof_signature),
                                                 "--proof-signature")};
                   });
  cmd->add_option("--amount", o->amount, "The proof's cumulative IPSX")->required();
  cmd->add_option("--proof-signature", o->proof_signature, "The requester's balance proof")
      ->required();
  cmd = op_command(deal, "uncooperative-close",
                   "The requester closes alone, admitting an amount; the provider has the "
                   "challenge period to present a higher proof",
                   o, [](const ClientOptions& c) {
                     return ledger::UncooperativeClose{
                         hash(c.deal, "--deal"), tokens(c.amount, "--amount"), close_reason(c)};
                   });
  cmd->add_option("--amount", o->amount, "The IPSX the requester admits it owes")->required();
  cmd->add_option("--reason", o->reason, "Why (default completed)");
  op_command(deal, "settle", "Settle a deal whose challenge period is over (anyone)", o,
             [](const ClientOptions& c) { return ledger::Settle{hash(c.deal, "--deal")}; });
  cmd = op_command(deal, "rate", "Rate the other party of a closed deal", o,
                   [](const ClientOptions& c) {
                     return ledger::Rate{hash(c.deal, "--deal"), static_cast<uint8_t>(c.score)};
                   });
  cmd->add_option("--score", o->score, "1 (worst) to 5 (best)")
      ->required()
      ->check(CLI::Range(1, 5));
  for (const char* name : {"report", "close", "claim", "uncooperative-close", "settle", "rate"})
    deal->get_subcommand(name)->add_option("--deal", o->deal, "The deal id")->required();
  add_usage_commands(deal, o);
}

// `ipsx market depth|trades`: beside the local `place` and `show` of market_command.cc.
void add_market_data_commands(CLI::App& app, const Options& o) {
  CLI::App* market = app.get_subcommand("market");
  CLI::App* cmd = client_command(market, "depth", "The book's price levels in a country", o);
  cmd->add_option("--country", o->country, "ISO 3166-1 alpha-2")->required();
  cmd->add_option("--type", o->type, "Only this IP type");
  cmd->add_option("--levels", o->levels, "Price levels per side (default 10)");
  cmd->callback([o] {
    get_and_print(*o,
                  "/v1/market/depth" + query({{"country", o->country},
                                              {"type", o->type},
                                              {"levels", std::to_string(o->levels)}}),
                  show_depth);
  });
  cmd = client_command(market, "trades", "Recent deals as market data, newest first", o);
  cmd->add_option("--country", o->country, "Only this country");
  cmd->add_option("--type", o->type, "Only this IP type");
  cmd->add_option("--limit", o->limit, "At most this many (default 50)");
  cmd->callback([o] {
    get_and_print(*o,
                  "/v1/market/trades" + query({{"country", o->country},
                                               {"type", o->type},
                                               {"limit", std::to_string(o->limit)}}),
                  show_trades);
  });
}

}  // namespace

void add_client_commands(CLI::App& app) {
  auto o = std::make_shared<ClientOptions>();
  add_token_commands(app, o);
  add_sale_commands(app, o);
  add_order_commands(app, o);
  add_deal_commands(app, o);
  add_market_data_commands(app, o);
}

}  // namespace ipsx::cli
