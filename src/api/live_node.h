// A node on the embedded ledger, serving the API on a loopback port from its own thread: what
// the SDK's tests and the node's benchmark talk to, as programs talk to `ipsx node`. For tests
// and benchmarks only (library ipsx_api_testing).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "api/node_routes.h"
#include "core/clock.h"
#include "ledger/embedded_ledger.h"
#include "ledger/test_util.h"
#include "market/journal.h"
#include "market/market.h"

namespace ipsx::api::testing {

struct LiveNodeOptions {
  market::MarketConfig market;             // the market's fee and protocol timeouts
  std::optional<Millis> challenge_period;  // GenesisConfig's unless set
  Amount requester_funds = Amount::from_tokens(100).value();  // deposited for "requester"
  bool journal = false;    // journal every accepted order before answering, as `ipsx node` does
  bool unlimited = false;  // no per-address or per-IP rate limits (benchmarks)
  bool tick = false;       // the server's periodic tick runs api::tick, as `ipsx node` does
  // Answers and deals come later, as `ipsx node` runs them: the routes post their work to the
  // server's thread (NodeContext::post: an order's answer is made on a worker) and the market
  // opens deals in the background.
  bool background = false;
  uint32_t verify_threads = 1;  // the ledger's signature-verifying threads (0: its default)
  // https with this PEM certificate chain and key (ServerOptions::tls_*); url() is then https.
  std::string tls_certificate_file, tls_key_file;
};

// The ledger starts from ledger::testing::named_genesis ten seconds before `clock`'s now (chain
// 1337), so its crowd sale is over: the team has finalized it, and "early" has funded the
// named key "requester" with `requester_funds`, deposited into its Centralizer wallet. The market
// signs with the named key "market". Every party is a named key (ledger::testing::named_key).
class LiveNode {
 public:
  explicit LiveNode(const Clock& clock, LiveNodeOptions options = {});
  ~LiveNode();
  LiveNode(const LiveNode&) = delete;
  LiveNode& operator=(const LiveNode&) = delete;

  const std::string& url() const { return url_; }  // http(s)://127.0.0.1:PORT
  ledger::EmbeddedLedger& ledger() { return *ledger_; }
  market::Market& market() { return *market_; }
  const ledger::GenesisConfig& genesis() const { return genesis_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  // Prepares, signs with `key` and submits `op`; throws std::runtime_error naming the refusal.
  void exec(const crypto::PrivateKey& key, ledger::Op op);

 private:
  ledger::testing::TempDir dir_;
  ledger::GenesisConfig genesis_;
  std::unique_ptr<ledger::EmbeddedLedger> ledger_;
  std::unique_ptr<market::Journal> journal_;
  std::unique_ptr<market::Market> market_;
  std::unique_ptr<NodeContext> context_;
  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::string url_;
};

}  // namespace ipsx::api::testing
