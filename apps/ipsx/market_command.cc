#include "market_command.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "crypto/keystore.h"
#include "eth/deployment_file.h"
#include "ledger/embedded_ledger.h"
#include "ledger/tx_codec.h"
#include "market/market.h"
#include "open_market.h"
#include "order_options.h"

namespace ipsx::cli {
namespace {

using json = nlohmann::json;

// `ipsx order offer|request`: the order's fields, and where and how it is signed.
struct OrderOptions {
  std::string keystore, address, password_file, out;
  std::string market;
  uint16_t fee_bps = 0;
  std::string genesis;     // an embedded ledger's genesis file: its chain id and genesis hash
  std::string deployment;  // an Ethereum deployment file: its chain id and verifying contract
  OrderFields fields;
};

// The domain orders, cancels and status events are signed under: with the genesis file of an
// embedded ledger, its chain id and the address its genesis hash gives; with a deployment file
// from `ipsx eth deploy`, the Ethereum ledger's chain id and Centralizer. One of the two.
Hash signing_domain(const std::string& genesis, const std::string& deployment) {
  if (!genesis.empty()) {
    auto g = unwrap(ledger::GenesisConfig::load(genesis), "--genesis");
    return ledger_domain(g.chain_id, ledger::embedded_verifying_contract(g.hash())).separator();
  }
  if (deployment.empty())
    throw CommandError(
        "give the ledger to sign for: --genesis FILE (embedded) or --deployment FILE (Ethereum)");
  auto f = unwrap(eth::DeploymentFile::load(deployment), "--deployment");
  return ledger_domain(f.deployment.chain_id, f.deployment.centralizer).separator();
}

void write_out(const std::string& path, const json& j) {
  if (path.empty() || path == "-") {
    std::cout << j.dump(2) << "\n";
  } else {
    std::ofstream(path) << j.dump(2) << "\n";
    std::cerr << "written to " << path << "\n";
  }
}

void run_offer(const OrderOptions& o) {
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  Offer offer = make_offer(o.fields, unwrap(Address::parse(o.market), "--market"), o.fee_bps);
  offer.provider = key.address();
  unwrap(ledger::validate(offer));
  auto sig = unwrap(crypto::sign(
      key, crypto::eip712::digest(signing_domain(o.genesis, o.deployment), offer.struct_hash())));
  write_out(o.out, {{"offer", ledger::to_json(offer)}, {"signature", sig.to_hex()}});
}

void run_request(const OrderOptions& o) {
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  Request r = make_request(o.fields, unwrap(Address::parse(o.market), "--market"), o.fee_bps);
  r.requester = key.address();
  unwrap(ledger::validate(r));
  auto sig = unwrap(crypto::sign(
      key, crypto::eip712::digest(signing_domain(o.genesis, o.deployment), r.struct_hash())));
  write_out(o.out, {{"request", ledger::to_json(r)}, {"signature", sig.to_hex()}});
}

// `ipsx order cancel` and `ipsx order event`: the owner's signed cancel of an order, and a deal
// party's signed status event, in the JSON the node's API takes (docs/api.md).
struct SignOptions {
  std::string keystore, address, password_file, out;
  std::string genesis;     // as OrderOptions::genesis
  std::string deployment;  // as OrderOptions::deployment
  // cancel
  std::string order_file, order_hash;
  // event
  std::string deal, party, status;
  uint64_t seq = 0;
  int64_t at_ms = -1;
};

Hash order_hash_of(const SignOptions& o) {
  if (!o.order_hash.empty()) return unwrap(Hash::from_hex(o.order_hash), "--order-hash");
  if (o.order_file.empty()) throw CommandError("give --order FILE or --order-hash HASH");
  std::string text = unwrap(crypto::read_small_file(o.order_file, 1 << 20), o.order_file);
  json j = json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("offer"))
    return unwrap(ledger::offer_from_json(j["offer"]), o.order_file).struct_hash();
  if (j.is_object() && j.contains("request"))
    return unwrap(ledger::request_from_json(j["request"]), o.order_file).struct_hash();
  throw CommandError(o.order_file + ": not a signed order from `ipsx order offer|request`");
}

void run_cancel(const SignOptions& o) {
  Hash hash = order_hash_of(o);
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  auto sig =
      unwrap(crypto::sign(key, crypto::eip712::digest(signing_domain(o.genesis, o.deployment),
                                                      market::cancel_struct_hash(hash))));
  write_out(o.out, {{"cancel", {{"orderHash", hash.hex()}}}, {"signature", sig.to_hex()}});
}

void run_event(const SignOptions& o) {
  market::StatusEvent e;
  e.deal_id = unwrap(Hash::from_hex(o.deal), "--deal");
  e.party = parse_party(o.party, "--party");
  e.state = parse_party_state(o.status, "--status");
  e.at = o.at_ms >= 0 ? from_unix_ms(o.at_ms) : SystemClock().now();
  e.seq = o.seq;
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  auto signed_event = unwrap(market::sign_event(key, e, signing_domain(o.genesis, o.deployment)));
  write_out(o.out, {{"event",
                     {{"dealId", e.deal_id.hex()},
                      {"party", static_cast<int>(e.party)},
                      {"status", static_cast<int>(e.state)},
                      {"at", to_unix_ms(e.at)},
                      {"seq", e.seq}}},
                    {"signature", signed_event.signature.to_hex()}});
}

struct MarketOptions {
  std::string data, journal, keystore, address, password_file;
  uint16_t fee_bps = 0;
  std::vector<std::string> files;
};

void run_place(const MarketOptions& o) {
  OpenMarket m(o.data, o.journal, o.keystore, o.address, o.password_file, o.fee_bps);
  for (const std::string& file : o.files) {
    std::string text = unwrap(crypto::read_small_file(file, 1 << 20), file);
    json j = json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("signature") || !j["signature"].is_string()) {
      throw CommandError(
          file + ": not a signed order (want {\"offer\"|\"request\": ..., \"signature\": ...})");
    }
    auto sig = unwrap(crypto::Signature::from_hex(j["signature"].get<std::string>()), file);
    Result<market::PlaceResult> placed = std::unexpected(Error({}, ""));
    if (j.contains("offer")) {
      placed = m.market->place_offer(unwrap(ledger::offer_from_json(j["offer"]), file), sig);
    } else if (j.contains("request")) {
      placed = m.market->place_request(unwrap(ledger::request_from_json(j["request"]), file), sig);
    } else {
      throw CommandError(file + ": neither \"offer\" nor \"request\"");
    }
    auto result = unwrap(std::move(placed), file);
    std::cout << fmt::format("{}: order {} placed\n", file, result.id);
    for (const Hash& d : result.deals) {
      auto view = unwrap(m.ledger->deal(d));
      std::cout << fmt::format(
          "  deal {} opened: provider {} requester {} price {} base units/s for {} s, "
          "deposit {} IPSX\n",
          d.hex(), view.provider.to_string(), view.requester.to_string(),
          view.price_per_second.to_dec(), view.duration, view.deposit.to_string());
    }
    for (const auto& [fill, err] : result.refused) {
      std::cout << fmt::format("  fill of offer {} for request {} refused by the ledger: {}\n",
                               fill.offer, fill.request, err.message());
    }
  }
}

void run_show(const MarketOptions& o) {
  OpenMarket m(o.data, o.journal, o.keystore, o.address, o.password_file, o.fee_bps);
  const auto& book = m.market->book();
  std::cout << fmt::format("market {}: {} offers live, {} requests resting, {} deals open\n",
                           m.market->address().to_string(), book.offers(), book.requests(),
                           m.market->open_deals());
  for (const auto& p : m.market->recent_deals(20)) {
    auto status = m.market->deal_status(p.deal_id);
    static const char* kTypeNames[] = {"?", "residential", "datacenter", "mobile"};
    std::cout << fmt::format(
        "  deal {} {} {} at {} base units/s: {}\n", p.deal_id.hex(),
        std::string(p.country.data(), 2), kTypeNames[static_cast<int>(p.ip_type) & 3],
        p.price_per_second.to_dec(), status ? market::to_string(status->phase) : "?");
  }
}

}  // namespace

void add_order_command(CLI::App& app) {
  auto o = std::make_shared<OrderOptions>();
  CLI::App* order = app.add_subcommand("order", "Sign offers and requests (EIP-712) with a wallet");
  order->require_subcommand(1);
  auto common = [&](CLI::App* c) {
    add_key_options(c, o->keystore, o->address, o->password_file, "the signing");
    c->add_option("--market", o->market, "The market's address")->required();
    c->add_option("--fee-bps", o->fee_bps, "The market's commission in basis points (default 0)");
    auto* genesis = c->add_option("--genesis", o->genesis,
                                  "For an embedded ledger: its genesis file (chain id and genesis "
                                  "hash, the EIP-712 domain)");
    c->add_option("--deployment", o->deployment,
                  "For the Ethereum ledger: the file `ipsx eth deploy --out` wrote (chain id and "
                  "Centralizer, the EIP-712 domain)")
        ->excludes(genesis);
    c->add_option("--out", o->out, "File to write the signed order to (default: standard output)");
  };
  CLI::App* cmd = order->add_subcommand("offer", "Sign an offer of one IP");
  common(cmd);
  add_offer_options(cmd, o->fields);
  cmd->callback([o] { run_offer(*o); });

  cmd = order->add_subcommand("request", "Sign a request for IPs");
  common(cmd);
  add_request_options(cmd, o->fields);
  cmd->callback([o] { run_request(*o); });

  auto so = std::make_shared<SignOptions>();
  auto signer = [&](CLI::App* c) {
    add_key_options(c, so->keystore, so->address, so->password_file, "the signing");
    auto* genesis =
        c->add_option("--genesis", so->genesis, "For an embedded ledger: its genesis file");
    c->add_option("--deployment", so->deployment,
                  "For the Ethereum ledger: the file `ipsx eth deploy --out` wrote")
        ->excludes(genesis);
    c->add_option("--out", so->out, "File to write to (default: standard output)");
  };
  cmd = order->add_subcommand("cancel", "Sign the cancel of an order (its owner's wallet)");
  signer(cmd);
  cmd->add_option("--order", so->order_file, "The signed order file (from `ipsx order`)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--order-hash", so->order_hash, "Or the order's EIP-712 hash");
  cmd->callback([so] { run_cancel(*so); });

  cmd = order->add_subcommand("event", "Sign a deal status event (docs/protocol.md) as a party");
  signer(cmd);
  cmd->add_option("--deal", so->deal, "The deal id")->required();
  cmd->add_option("--party", so->party, "provider | requester")->required();
  cmd->add_option("--status", so->status, "ready | connected | closed | failed | unpaid")
      ->required();
  cmd->add_option("--seq", so->seq, "The party's report counter: 1, 2, ...")->required();
  cmd->add_option("--at-ms", so->at_ms, "When it happened, unix ms (default now)");
  cmd->callback([so] { run_event(*so); });
}

void add_market_command(CLI::App& app) {
  auto o = std::make_shared<MarketOptions>();
  CLI::App* market =
      app.add_subcommand("market",
                         "The market: run on local directories (place, show), or a node's book "
                         "(depth, trades)");
  market->require_subcommand(1);
  auto common = [&](CLI::App* c) {
    c->add_option("--data", o->data, "Ledger data directory")->required();
    c->add_option("--journal", o->journal, "Market journal directory (created if missing)")
        ->required();
    add_key_options(c, o->keystore, o->address, o->password_file, "the market operator's");
    c->add_option("--fee-bps", o->fee_bps, "Commission every order must name (default 0)");
  };
  CLI::App* cmd =
      market->add_subcommand("place", "Verify and place signed orders; open a deal per match");
  common(cmd);
  cmd->add_option("FILE", o->files, "Signed order files (from `ipsx order`)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->callback([o] { run_place(*o); });
  cmd = market->add_subcommand("show", "The book's size and the recent deals with their status");
  common(cmd);
  cmd->callback([o] { run_show(*o); });
}

}  // namespace ipsx::cli
