#include "api/live_node.h"

#include <stdexcept>

namespace ipsx::api::testing {

using ledger::testing::named_key;

LiveNode::LiveNode(const Clock& clock, LiveNodeOptions options)
    : genesis_(ledger::testing::named_genesis(clock.now() - Millis(10'000), 1337)) {
  if (options.challenge_period) genesis_.challenge_period = *options.challenge_period;
  ledger::EmbeddedOptions lo;
  lo.data_dir = dir_.path() / "ledger";
  if (options.verify_threads != 0) lo.verify_threads = options.verify_threads;
  ledger_ = ledger::EmbeddedLedger::open(lo, &genesis_, clock).value();
  exec(named_key("team"), ledger::FinalizeSale{});
  exec(named_key("early"),
       ledger::Transfer{named_key("requester").address(), options.requester_funds});
  exec(named_key("requester"), ledger::Deposit{options.requester_funds});
  if (options.journal) journal_ = market::Journal::open(dir_.path() / "market").value();
  market_ = std::make_unique<market::Market>(*ledger_, named_key("market"), clock, options.market,
                                             journal_.get());
  if (journal_) market_->recover().value();
  context_ = std::make_unique<NodeContext>(NodeContext{*market_, *ledger_, "openapi: 3\n"});
  NodeLimits limits;
  if (options.unlimited) limits.per_ip = limits.per_address = {0, 0};
  add_node_routes(router_, *context_, limits);
  ServerOptions so;
  so.stop_on_signals = false;
  if (options.tick) so.on_tick = [this] { tick(*context_); };
  so.tls_certificate_file = options.tls_certificate_file;
  so.tls_key_file = options.tls_key_file;
  server_ = std::make_unique<HttpServer>(router_, so);
  if (options.background) {
    context_->post = server_->poster();
    market_->open_deals_in_background(
        context_->post, [this](std::vector<Hash> deals) { publish_opened(*context_, deals); });
  }
  url_ = (so.tls_certificate_file.empty() ? "http://" : "https://") +
         server_->listen("127.0.0.1", 0).value();
  thread_ = std::thread([this] { server_->run(); });
}

LiveNode::~LiveNode() {
  server_->stop();
  thread_.join();
}

void LiveNode::exec(const crypto::PrivateKey& key, ledger::Op op) {
  auto tx = ledger_->prepare(key.address(), std::move(op));
  if (!tx) throw std::runtime_error("live node set-up: " + tx.error().message());
  auto r = ledger_->submit(ledger::testing::sign_tx(key, *tx));
  if (!r) throw std::runtime_error("live node set-up: " + r.error().message());
}

}  // namespace ipsx::api::testing
