// Faults between the Ethereum backend and its node: an unreachable node, a node that never
// answers, JSON-RPC error objects, reverts decoded to ledger errors, a transaction that passes
// simulation but reverts on chain, and the node going away mid-run and coming back (with its
// state) — each a clear error, nothing lost, nothing applied twice.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "eth/anvil_harness.h"
#include "eth/ethereum_abi.h"
#include "ledger/test_util.h"

namespace ipsx::eth {
namespace {

using ledger::LedgerErrc;
using testing::AnvilHarness;

crypto::PrivateKey key() {
  return crypto::PrivateKey::generate().value();
}

ledger::GenesisConfig genesis(const crypto::PrivateKey& early, const crypto::PrivateKey& bounty,
                              const crypto::PrivateKey& team, const Address& treasury) {
  ledger::GenesisConfig g;
  g.chain_id = 1337;
  g.time = from_unix_ms(1'767'225'600'000);
  g.early_adopters = early.address();
  g.bounty = bounty.address();
  g.team = team.address();
  g.sale.rate = U256(10'000);
  g.sale.hard_cap = Amount::from_tokens(50).value();
  g.sale.start = g.time;
  g.sale.end = g.time + Millis(86'400'000);
  g.sale.treasury = treasury;
  g.challenge_period = ledger::kMinChallengePeriod;
  return g;
}

ledger::SignedTx sign(const crypto::PrivateKey& k, const ledger::UnsignedTx& tx) {
  return ledger::SignedTx{tx, crypto::sign(k, tx.digest).value()};
}

TEST(RpcFaults, UnreachableNodeIsAClearUnavailableError) {
  int port = testing::free_loopback_port().value();
  RpcOptions o;
  o.timeout = Millis(500);
  o.read_attempts = 2;
  o.retry_backoff = Millis(10);
  auto rpc = RpcClient::connect("http://127.0.0.1:" + std::to_string(port) + "/", o).value();
  auto r = rpc->chain_id();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(EthErrc::unavailable));
  EXPECT_NE(r.error().message().find(std::to_string(port)), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("eth_chainId"), std::string::npos) << r.error().message();
}

TEST(RpcFaults, SilentNodeTimesOutAtTheDeadline) {
  // A listening socket nobody accepts from: connects (the kernel's backlog), never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  RpcOptions o;
  o.timeout = Millis(300);
  o.read_attempts = 1;
  auto rpc =
      RpcClient::connect("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/", o).value();
  auto t0 = std::chrono::steady_clock::now();
  auto r = rpc->block_number();
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(EthErrc::timeout)) << r.error().message();
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::milliseconds(2'000));
}

class EthFaults : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }
  void make(std::vector<std::string> extra) {
    h_.reset();
    auto h = AnvilHarness::create(genesis(early_, bounty_, team_, treasury_.address()),
                                  std::move(extra));
    ASSERT_TRUE(h) << h.error().message();
    h_ = std::move(*h);
  }
  ledger::Ledger& L() { return h_->ledger(); }
  // Another Ethereum ledger on the harness's chain and contracts, with its own options.
  Result<std::unique_ptr<EthereumLedger>> ledger_with(
      const std::function<void(EthereumLedgerOptions&)>& set) {
    EthereumLedgerOptions o;
    o.deployment = h_->eth_ledger().deployment();
    o.errors = ContractSet::load(IPSX_CONTRACTS_DIR).value().errors;
    o.fees = FeePolicy{U256(), U256()};
    set(o);
    return EthereumLedger::open(h_->rpc(), std::move(o));
  }
  ledger::SignedTx tx(const crypto::PrivateKey& k, ledger::Op op) {
    return sign(k, L().prepare(k.address(), std::move(op)).value());
  }
  // 100 ETH each to the provider and the requester: the fees come from the chain here.
  void fund_parties() {
    for (const auto* k : {&p_, &r_}) {
      ASSERT_TRUE(h_->rpc()->request(
          "anvil_setBalance",
          nlohmann::json::array({k->address().to_string(), "0x56bc75e2d63100000"})));
    }
  }
  // The node's own transaction on `l` (submit_as with p_'s key: an approval of r_), its answer
  // to come in the returned future.
  std::future<Result<ledger::Receipt>> submit_patient(EthereumLedger& l) {
    auto answer = std::make_shared<std::promise<Result<ledger::Receipt>>>();
    auto key = std::make_shared<const crypto::PrivateKey>(p_.clone());
    l.submit_as(key, ledger::Approve{r_.address(), Amount::from_tokens(1).value()},
                [answer](Result<ledger::Receipt> r) { answer->set_value(std::move(r)); });
    return answer->get_future();
  }
  // A user's transaction on `l`: r_'s approval of p_, signed by r_.
  ledger::SignedTx users_transaction(EthereumLedger& l) {
    ledger::Ledger& base = l;
    return sign(r_, base.prepare(r_.address(),
                                 ledger::Approve{p_.address(), Amount::from_tokens(1).value()})
                        .value());
  }

  crypto::PrivateKey early_ = key(), bounty_ = key(), team_ = key(), treasury_ = key();
  crypto::PrivateKey p_ = key(), r_ = key();
  std::unique_ptr<AnvilHarness> h_;
};

TEST_F(EthFaults, JsonRpcErrorObjectsAndRevertsAreDecoded) {
  RpcClient& rpc = *h_->rpc();
  auto r = rpc.request("eth_noSuchMethod", nlohmann::json::array());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(EthErrc::rpc_error));
  EXPECT_NE(r.error().message().find("eth_noSuchMethod"), std::string::npos);
  // A transfer before the sale is finalized reverts with TransfersLocked: the ledger's code.
  auto data =
      ipsx_abi::functions()
          .transfer.encode_call({abi::Value::address(p_.address()), abi::Value::uint(U256(1))})
          .value();
  auto c = rpc.call({early_.address(), h_->eth_ledger().deployment().token, U256(), data, {}});
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->reverted);
  auto contracts = ContractSet::load(IPSX_CONTRACTS_DIR).value();
  Error e = contracts.errors.to_error(c->data, "transfer");
  EXPECT_EQ(e.code(), ledger::make_error_code(LedgerErrc::transfers_locked)) << e.message();
  EXPECT_NE(e.message().find("finalized"), std::string::npos) << e.message();
}

TEST_F(EthFaults, ATransactionThatRevertsOnChainSpendsItsNonceAndSaysWhy) {
  RpcClient& rpc = *h_->rpc();
  for (const auto* k : {&p_, &r_}) {
    ASSERT_TRUE(rpc.request("anvil_setBalance",
                            nlohmann::json::array({k->address().to_lower_hex(),
                                                   quantity(Amount::from_tokens(100)->base())})));
  }
  // Both simulate against a chain without the other; mined together, the second passes the cap.
  ASSERT_TRUE(rpc.request("evm_setAutomine", nlohmann::json::array({false})));
  auto a = tx(p_, ledger::Buy{Amount::from_tokens(30).value()});
  auto b = tx(r_, ledger::Buy{Amount::from_tokens(30).value()});
  std::promise<Result<ledger::Receipt>> pa, pb;
  L().submit_async(a, [&](Result<ledger::Receipt> r) { pa.set_value(std::move(r)); });
  L().submit_async(b, [&](Result<ledger::Receipt> r) { pb.set_value(std::move(r)); });
  // Wait until both are in the pool, then mine them in one block.
  for (int i = 0; i < 200; ++i) {
    auto n = rpc.transaction_count(r_.address(), "pending");
    if (n && *n == 1) break;
    std::this_thread::sleep_for(Millis(10));
  }
  ASSERT_TRUE(rpc.request("evm_mine", nlohmann::json::array()));
  auto ra = pa.get_future().get();
  auto rb = pb.get_future().get();
  ASSERT_TRUE(ra) << ra.error().message();
  ASSERT_FALSE(rb);
  EXPECT_EQ(rb.error().code(), ledger::make_error_code(LedgerErrc::hard_cap_exceeded))
      << rb.error().message();
  EXPECT_NE(rb.error().message().find("reverted in block"), std::string::npos);
  // Ethereum: the reverted transaction is mined, its nonce is spent; nothing else changed.
  EXPECT_EQ(L().nonce_of(r_.address()).value(), 1u);
  EXPECT_TRUE(L().bought(r_.address()).value().is_zero());
  EXPECT_TRUE(L().transactions_of(r_.address(), 10).value().empty());
  ASSERT_TRUE(rpc.request("evm_setAutomine", nlohmann::json::array({true})));
}

TEST_F(EthFaults, NodeGoneMidRunIsAClearErrorAndBackWithItsStateLosesAndRepeatsNothing) {
  auto dir =
      std::filesystem::temp_directory_path() / ("ipsx-anvil-state-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  make({"--state", (dir / "state.json").string()});
  auto t0 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(1).value()});
  ASSERT_TRUE(L().submit(t0));
  auto t1 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(2).value()});

  h_->anvil().stop();  // dumps its state
  auto gone = L().submit(t1);
  ASSERT_FALSE(gone);
  EXPECT_TRUE(gone.error().code() == make_error_code(EthErrc::unavailable) ||
              gone.error().code() == make_error_code(EthErrc::timeout))
      << gone.error().message();
  EXPECT_NE(gone.error().message().find("127.0.0.1"), std::string::npos) << gone.error().message();
  EXPECT_FALSE(L().nonce_of(p_.address()));

  ASSERT_TRUE(h_->restart_node());
  EXPECT_EQ(L().nonce_of(p_.address()).value(), 1u);  // t0 survived the restart
  auto back = L().submit(t1);                         // the very same signed transaction
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->tx_id, t1.id());
  // Sent again: refused as a replay, applied once.
  auto again = L().submit(t1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ledger::make_error_code(LedgerErrc::bad_nonce));
  EXPECT_EQ(L().nonce_of(p_.address()).value(), 2u);
  EXPECT_EQ(L().allowance(p_.address(), r_.address()).value().base(),
            Amount::from_tokens(2)->base());
  auto txs = L().transactions_of(p_.address(), 10).value();
  ASSERT_EQ(txs.size(), 2u);
  EXPECT_EQ(txs[0].id, t0.id());
  EXPECT_EQ(txs[1].id, t1.id());
  h_.reset();
  std::filesystem::remove_all(dir);
}

// The keeper's pass, once the background one has had its say too (both are serialized).
EthereumLedger::KeeperStats keep(AnvilHarness& h) {
  auto s = h.eth_ledger().keep_acknowledged();
  EXPECT_TRUE(s) << s.error().message();
  return s.value_or(EthereumLedger::KeeperStats{});
}

// #19: a chain rolled back past a transaction the ledger acknowledged (anvil restarted from older
// state, a reorganisation; here evm_revert) loses it, and with it something the user was told
// was done. The keeper sends the same signed bytes again: it is mined once more, exactly once.
TEST_F(EthFaults, ATransactionRolledBackAfterItsReceiptIsSentAgainAndMinedOnce) {
  RpcClient& rpc = *h_->rpc();
  auto snapshot = rpc.request("evm_snapshot", nlohmann::json::array());
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  auto t0 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(1).value()});
  auto mined = L().submit(t0);
  ASSERT_TRUE(mined) << mined.error().message();
  ASSERT_EQ(L().transactions_of(p_.address(), 10).value().size(), 1u);  // indexed
  auto reverted = rpc.request("evm_revert", nlohmann::json::array({*snapshot}));
  ASSERT_TRUE(reverted && reverted->is_boolean() && reverted->get<bool>());
  ASSERT_EQ(rpc.transaction_count(p_.address(), "latest").value(), 0u) << "t0's block is gone";

  EthereumLedger::KeeperStats s = keep(*h_);  // sends it again; anvil mines it (automine)
  EXPECT_EQ(s.resent, 1u);
  // A later pass sees it mined again (anvil's automine answers the send before it has mined).
  for (int i = 0; i < 250 && s.back == 0; ++i) {
    std::this_thread::sleep_for(Millis(20));
    s = keep(*h_);
  }
  EXPECT_EQ(s.back, 1u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_GE(s.reorgs, 1u) << "the history index was not re-read";
  auto again = rpc.receipt(*mined->chain_tx).value();
  ASSERT_TRUE(again) << "t0 is not on chain again";
  EXPECT_TRUE(again->success);
  EXPECT_EQ(L().nonce_of(p_.address()).value(), 1u);
  EXPECT_EQ(L().allowance(p_.address(), r_.address()).value().base(),
            Amount::from_tokens(1)->base());
  auto txs = L().transactions_of(p_.address(), 10).value();
  ASSERT_EQ(txs.size(), 1u) << "once, not twice";
  EXPECT_EQ(txs[0].id, t0.id());
  EXPECT_EQ(txs[0].block, again->block);

  // The account goes on: its next transaction takes the next nonce.
  auto t1 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(2).value()});
  EXPECT_EQ(t1.tx.nonce, 1u);
  ASSERT_TRUE(L().submit(t1));
  EXPECT_EQ(L().allowance(p_.address(), r_.address()).value().base(),
            Amount::from_tokens(2)->base());
}

// Regression (#19): after such a rollback the ledger used to hand the lost transaction's nonce to
// the account's next transaction (the chain's count), which then took it for good, and before
// that it insisted on the nonce after the lost one, parking every later transaction behind a
// gap (a wedge). The nonce stays reserved for the keeper's resend; the next transaction queues
// behind it and both are mined.
TEST_F(EthFaults, ATransactionSubmittedBeforeTheKeeperSeesTheRollbackDoesNotTakeTheLostNonce) {
  RpcClient& rpc = *h_->rpc();
  auto snapshot = rpc.request("evm_snapshot", nlohmann::json::array());
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  auto t0 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(1).value()});
  ASSERT_TRUE(L().submit(t0));
  ASSERT_TRUE(rpc.request("evm_revert", nlohmann::json::array({*snapshot})));

  auto t1 = tx(p_, ledger::Approve{r_.address(), Amount::from_tokens(2).value()});
  EXPECT_EQ(t1.tx.nonce, 1u) << "nonce 0 belongs to t0, acknowledged";
  std::promise<Result<ledger::Receipt>> done;
  L().submit_async(t1, [&](Result<ledger::Receipt> r) { done.set_value(std::move(r)); });
  keep(*h_);
  auto r1 = done.get_future().get();
  ASSERT_TRUE(r1) << r1.error().message();
  EXPECT_EQ(L().nonce_of(p_.address()).value(), 2u);
  EXPECT_EQ(L().allowance(p_.address(), r_.address()).value().base(),
            Amount::from_tokens(2)->base());  // t0 then t1, in nonce order
}

// A transaction the chain lost whose nonce another transaction took meanwhile (the same key used
// elsewhere; here anvil_setNonce) cannot be mined again: it is reported lost and its nonce is
// released, so the account is not wedged behind it.
TEST_F(EthFaults, ALostTransactionWhoseNonceWasTakenIsReportedAndReleased) {
  RpcClient& rpc = *h_->rpc();
  // A ledger whose keeper runs only when asked: none may resend t0 between the rollback and the
  // nonce being taken.
  auto own = ledger_with([](EthereumLedgerOptions& o) { o.keep_every = Millis(0); });
  ASSERT_TRUE(own);
  EthereumLedger& l = **own;
  auto snapshot = rpc.request("evm_snapshot", nlohmann::json::array());
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  auto approve = [&](int tokens) {
    auto u =
        l.prepare(p_.address(), ledger::Approve{r_.address(), Amount::from_tokens(tokens).value()},
                  std::nullopt);
    EXPECT_TRUE(u) << u.error().message();
    return sign(p_, u.value_or(ledger::UnsignedTx{}));
  };
  ASSERT_TRUE(l.submit(approve(1)));
  ASSERT_EQ(l.transactions_of(p_.address(), 10).value().size(), 1u);
  ASSERT_TRUE(rpc.request("evm_revert", nlohmann::json::array({*snapshot})));
  ASSERT_TRUE(
      rpc.request("anvil_setNonce", nlohmann::json::array({p_.address().to_lower_hex(), "0x1"})));
  auto s = l.keep_acknowledged();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->lost, 1u);
  EXPECT_EQ(s->resent, 0u);
  EXPECT_EQ(s->watched, 0u);
  EXPECT_TRUE(l.transactions_of(p_.address(), 10).value().empty()) << "the index forgot it";
  EXPECT_TRUE(l.allowance(p_.address(), r_.address()).value().is_zero());
  auto t1 = approve(2);
  EXPECT_EQ(t1.tx.nonce, 1u);
  ASSERT_TRUE(l.submit(t1));
  EXPECT_EQ(l.allowance(p_.address(), r_.address()).value().base(), Amount::from_tokens(2)->base());
}

// #19: the keeper's memory survives a restart (keep_in: a file the node keeps in its data
// directory): a transaction acknowledged before the node stopped, and taken back by the chain
// while it was down, is sent again by the node that starts next. A torn last line (a crash
// mid-write) is skipped, and so are planted lines whose bytes are not what their hash names.
TEST_F(EthFaults, ARestartedLedgerStillSendsAgainWhatARollbackTookBack) {
  RpcClient& rpc = *h_->rpc();
  ledger::testing::TempDir dir;
  const std::string file = (dir.path() / "acknowledged.jsonl").string();
  auto no_thread = [](EthereumLedgerOptions& o) { o.keep_every = Millis(0); };
  auto snapshot = rpc.request("evm_snapshot", nlohmann::json::array());
  ASSERT_TRUE(snapshot) << snapshot.error().message();
  std::optional<Hash> chain_tx;
  {
    auto first = ledger_with(no_thread);
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_EQ((*first)->keep_in(file).value(), 0u);
    auto u = (*first)->prepare(
        p_.address(), ledger::Approve{r_.address(), Amount::from_tokens(1).value()}, std::nullopt);
    ASSERT_TRUE(u) << u.error().message();
    auto r = (*first)->submit(sign(p_, *u));
    ASSERT_TRUE(r) << r.error().message();
    chain_tx = r->chain_tx;
  }  // the node stops
  // Attack: lines planted in the file (anyone who can write the data directory) whose bytes are
  // not the transaction their hash names: the raw bytes changed under the real hash, and the real
  // bytes under another hash. Neither is loaded, so neither is ever sent.
  {
    std::ifstream in(file);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    auto j = nlohmann::json::parse(line);
    std::string raw = j["raw"];
    auto tampered = j;
    tampered["raw"] = raw.substr(0, raw.size() - 2) + (raw.back() == '0' ? "01" : "00");
    auto renamed = j;
    renamed["hash"] = Hash{}.hex();
    std::ofstream(file, std::ios::app) << tampered.dump() << "\n" << renamed.dump() << "\n";
  }
  std::ofstream(file, std::ios::app) << "{\"hash\":\"0x12";
  ASSERT_TRUE(rpc.request("evm_revert", nlohmann::json::array({*snapshot})));
  ASSERT_FALSE(rpc.receipt(*chain_tx).value()) << "taken back";

  auto second = ledger_with(no_thread);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ((*second)->keep_in(file).value(), 1u);
  auto s = (*second)->keep_acknowledged();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->resent, 1u);
  for (int i = 0; i < 250 && s && s->back == 0; ++i) {
    std::this_thread::sleep_for(Millis(20));
    s = (*second)->keep_acknowledged();
  }
  ASSERT_TRUE(s);
  EXPECT_EQ(s->back, 1u);
  auto again = rpc.receipt(*chain_tx).value();
  ASSERT_TRUE(again) << "not on chain again";
  EXPECT_TRUE(again->success);
  EXPECT_EQ(L().allowance(p_.address(), r_.address()).value().base(),
            Amount::from_tokens(1)->base());
  std::ifstream in(file);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find("0x12\n"), std::string::npos) << "the torn line was dropped: " << all;
}

// #19: with `confirmations`, submit answers for a transaction only once its block has that many
// blocks on top (a deal counts as open, a payment as made, only that deep); one the chain took
// back meanwhile is sent again by the keeper and answered from its new block, that deep.
TEST_F(EthFaults, WithConfirmationsATransactionIsAnsweredOnlyThatDeepEvenAfterARollback) {
  RpcClient& rpc = *h_->rpc();
  auto deep = ledger_with([](EthereumLedgerOptions& o) {
    o.confirmations = 2;
    o.confirm_poll = Millis(20);
    o.keep_every = Millis(20);
  });
  ASSERT_TRUE(deep) << deep.error().message();
  for (bool rollback : {false, true}) {
    SCOPED_TRACE(rollback ? "rolled back once" : "straight");
    auto snapshot = rpc.request("evm_snapshot", nlohmann::json::array());
    ASSERT_TRUE(snapshot);
    auto u = (*deep)->prepare(
        p_.address(), ledger::Approve{r_.address(), Amount::from_tokens(1).value()}, std::nullopt);
    ASSERT_TRUE(u) << u.error().message();
    std::promise<Result<ledger::Receipt>> done;
    std::atomic<uint64_t> head_then{0};
    (*deep)->submit_async(sign(p_, *u), [&](Result<ledger::Receipt> r) {
      head_then = rpc.block_number().value_or(0);
      done.set_value(std::move(r));
    });
    auto answer = done.get_future();
    if (rollback) {
      // Included at once (automine), then taken back before it is two deep.
      for (int i = 0; i < 200 && rpc.transaction_count(p_.address(), "latest").value_or(0) == 0;
           ++i)
        std::this_thread::sleep_for(Millis(10));
      ASSERT_TRUE(rpc.request("evm_revert", nlohmann::json::array({*snapshot})));
    }
    // Blocks on top, one at a time, until the ledger answers.
    for (int i = 0; i < 400 && answer.wait_for(Millis(25)) != std::future_status::ready; ++i) {
      ASSERT_TRUE(rpc.request("evm_mine", nlohmann::json::array()));
    }
    auto r = answer.get();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_GE(head_then.load(), r->block + 2) << "answered before two blocks were on top";
    auto at = rpc.receipt(*r->chain_tx).value();
    ASSERT_TRUE(at);
    EXPECT_EQ(at->block, r->block) << "the receipt names the block the transaction is in now";
  }
}

// Attack (#19): other code put at the Centralizer's address under a running node (a chain swapped
// behind the same RPC URL, or a development chain's anvil_setCode) is seen by the identity check,
// which the node runs every two seconds: the ledger is then unusable, with the reason.
TEST_F(EthFaults, CodeSwappedUnderTheLedgerIsSeen) {
  ASSERT_TRUE(L().check_identity());
  RpcClient& rpc = *h_->rpc();
  const Deployment& d = h_->eth_ledger().deployment();
  auto token_code =
      rpc.request("eth_getCode", nlohmann::json::array({d.token.to_lower_hex(), "latest"}));
  ASSERT_TRUE(token_code);
  ASSERT_TRUE(rpc.request("anvil_setCode",
                          nlohmann::json::array({d.centralizer.to_lower_hex(), *token_code})));
  auto swapped = L().check_identity();
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().code(), ledger::make_error_code(LedgerErrc::wrong_chain));
  EXPECT_NE(swapped.error().message().find("is not the code the node opened"), std::string::npos)
      << swapped.error().message();
  ASSERT_TRUE(
      rpc.request("anvil_setCode", nlohmann::json::array({d.centralizer.to_lower_hex(), "0x"})));
  auto gone = L().check_identity();
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message().find("no contract at"), std::string::npos)
      << gone.error().message();
}

// #19: a transaction of the account whose key the process holds (the market operator's) that the
// chain will not mine, the base fee having risen past its max fee after it was sent, is replaced
// with higher fees and mined once, as the replacement; the account's next transaction follows.
TEST_F(EthFaults, AStuckTransactionOfTheOperatorIsReplacedWithHigherFeesAndMinedOnce) {
  RpcClient& rpc = *h_->rpc();
  using nlohmann::json;
  ASSERT_TRUE(rpc.request("anvil_setBalance",  // 100 ETH: the fees come from the chain here
                          json::array({p_.address().to_string(), "0x56bc75e2d63100000"})));
  auto own = ledger_with([](EthereumLedgerOptions& o) {
    o.fees = FeePolicy{};
    o.send.bump_after = Millis(500);
    o.keep_every = Millis(0);
  });
  ASSERT_TRUE(own) << own.error().message();
  EthereumLedger& l = **own;
  l.replace_stuck_with(p_.clone());

  // Into the pool with the fees of a chain whose base fee is 0 (nothing mines it yet) ...
  ASSERT_TRUE(rpc.request("evm_setAutomine", json::array({false})));
  ledger::Ledger& base = l;
  auto t0 = sign(
      p_, base.prepare(p_.address(), ledger::Approve{r_.address(), Amount::from_tokens(1).value()})
              .value());
  std::promise<Result<ledger::Receipt>> done;
  l.submit_async(t0, [&](Result<ledger::Receipt> r) { done.set_value(std::move(r)); });
  for (int i = 0; i < 500; ++i) {
    auto pool = rpc.request("txpool_status", json::array());
    if (pool && (*pool)["pending"] == "0x1") break;
    std::this_thread::sleep_for(Millis(10));
  }
  // ... then blocks every second, the first with a base fee of 10 gwei: far over its max fee.
  ASSERT_TRUE(rpc.request("anvil_setNextBlockBaseFeePerGas", json::array({"0x2540be400"})));
  ASSERT_TRUE(rpc.request("evm_setIntervalMining", json::array({1})));
  auto r = done.get_future().get();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->chain_tx);
  EXPECT_NE(r->tx_id, t0.id()) << "the receipt names the replacement, as the chain does";
  auto mined = rpc.request("eth_getTransactionByHash", json::array({r->chain_tx->hex()}));
  ASSERT_TRUE(mined && mined->is_object());
  EXPECT_EQ((*mined)["nonce"], "0x0");
  EXPECT_GE(U256::from_hex((*mined)["maxFeePerGas"].get<std::string>()).value(),
            U256(10'000'000'000))
      << "replaced with fees the chain takes";
  EXPECT_EQ(l.keeper_stats().replaced, 1u);
  EXPECT_EQ(l.nonce_of(p_.address()).value(), 1u);
  EXPECT_EQ(l.allowance(p_.address(), r_.address()).value().base(), Amount::from_tokens(1)->base());
  auto txs = l.transactions_of(p_.address(), 10).value();
  ASSERT_EQ(txs.size(), 1u) << "mined once";
  EXPECT_EQ(txs[0].id, r->tx_id);

  auto t1 = sign(
      p_, base.prepare(p_.address(), ledger::Approve{r_.address(), Amount::from_tokens(2).value()})
              .value());
  EXPECT_EQ(t1.tx.nonce, 1u);
  ASSERT_TRUE(l.submit(t1));
  EXPECT_EQ(l.allowance(p_.address(), r_.address()).value().base(), Amount::from_tokens(2)->base());
}

// #19: a user's transaction the chain does not mine by the deadline holds the account's nonce;
// the same operation prepared at that nonce replaces it, with each fee 1/8 over the pending one's
// (what nodes require), is taken at that nonce although it is below the next, and once mined is
// the one transaction of the account (what sdk::send_transaction does on such a timeout).
TEST_F(EthFaults, AUsersPendingTransactionIsReplacedAtItsNonceWithHigherFees) {
  RpcClient& rpc = *h_->rpc();
  using nlohmann::json;
  ASSERT_TRUE(rpc.request("anvil_setBalance",
                          json::array({r_.address().to_string(), "0x56bc75e2d63100000"})));
  auto own = ledger_with([](EthereumLedgerOptions& o) {
    o.fees = FeePolicy{};
    o.send.receipt_timeout = Millis(1'000);
  });
  ASSERT_TRUE(own) << own.error().message();
  ledger::Ledger& l = **own;
  ASSERT_TRUE(rpc.request("evm_setAutomine", json::array({false})));
  ledger::Approve op{p_.address(), Amount::from_tokens(1).value()};
  auto first = sign(r_, l.prepare(r_.address(), op).value());
  auto stuck = l.submit(first);
  ASSERT_FALSE(stuck);
  ASSERT_EQ(stuck.error().code(), make_error_code(EthErrc::timeout)) << stuck.error().message();
  const std::string msg = stuck.error().message();
  const std::string first_hash = msg.substr(msg.find("0x"), 66);
  auto pooled = rpc.request("eth_getTransactionByHash", json::array({first_hash}));
  ASSERT_TRUE(pooled && pooled->is_object()) << "pending in the pool: " << first_hash;
  U256 first_fee = U256::from_hex((*pooled)["maxFeePerGas"].get<std::string>()).value();

  auto next = sign(r_, l.prepare(r_.address(), op).value());
  EXPECT_EQ(next.tx.nonce, first.tx.nonce + 1) << "without a nonce: the one after the pending";
  auto again = sign(r_, l.prepare(r_.address(), op, first.tx.nonce).value());
  std::promise<Result<ledger::Receipt>> done;
  l.submit_async(again, [&](Result<ledger::Receipt> r) { done.set_value(std::move(r)); });
  auto f = done.get_future();
  for (int i = 0; i < 200 && f.wait_for(Millis(0)) != std::future_status::ready; ++i) {
    auto pool = rpc.request("txpool_status", json::array());
    if (pool && (*pool)["pending"] == "0x1") {
      auto gone = rpc.request("eth_getTransactionByHash", json::array({first_hash}));
      if (gone && gone->is_null()) break;  // the pool took the replacement in its place
    }
    std::this_thread::sleep_for(Millis(10));
  }
  ASSERT_TRUE(rpc.request("evm_mine", json::array()));
  auto r = f.get();
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(r->chain_tx);
  EXPECT_NE(r->chain_tx->hex(), first_hash);
  auto mined = rpc.request("eth_getTransactionByHash", json::array({r->chain_tx->hex()}));
  ASSERT_TRUE(mined && mined->is_object());
  EXPECT_EQ(U256::from_hex((*mined)["nonce"].get<std::string>()).value(), U256(first.tx.nonce));
  EXPECT_GE(U256::from_hex((*mined)["maxFeePerGas"].get<std::string>()).value(),
            first_fee.checked_add(first_fee >> 3).value())
      << "each fee 1/8 over the pending one's";
  EXPECT_EQ(l.nonce_of(r_.address()).value(), first.tx.nonce + 1);
  EXPECT_EQ(l.transactions_of(r_.address(), 10).value().size(), 1u) << "mined once";
  EXPECT_EQ(l.allowance(r_.address(), p_.address()).value().base(), Amount::from_tokens(1)->base());
  // A nonce already used is refused, not taken as a replacement.
  auto late = l.submit(sign(r_, l.prepare(r_.address(), op, first.tx.nonce).value()));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ledger::LedgerErrc::bad_nonce) << late.error().message();
}

// #19: the market's openDeal (submit_as) on a chain that stalls past the receipt deadline is
// not answered "timeout" while it may still be mined (the market would undo a fill whose deal
// then opens without it): the wait goes on, and the answer is the receipt once a block comes. A
// transaction submitted the usual way on the same chain still ends at its deadline.
TEST_F(EthFaults, TheNodesOwnTransactionIsWaitedForPastTheDeadlineWhileItMayStillBeMined) {
  RpcClient& rpc = *h_->rpc();
  using nlohmann::json;
  fund_parties();
  auto own = ledger_with([](EthereumLedgerOptions& o) { o.send.receipt_timeout = Millis(1'000); });
  ASSERT_TRUE(own) << own.error().message();
  EthereumLedger& l = **own;
  ASSERT_TRUE(rpc.request("evm_setAutomine", json::array({false})));
  auto f = submit_patient(l);
  auto ended = l.submit(users_transaction(l));  // waits for its own deadline: nothing mined
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), make_error_code(EthErrc::timeout)) << ended.error().message();
  std::this_thread::sleep_for(Millis(1'500));  // the submit_as one's deadline passed too
  EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "answered while its transaction could still be mined";
  ASSERT_TRUE(rpc.request("evm_mine", json::array()));
  auto r = f.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(l.allowance(p_.address(), r_.address()).value().base(), Amount::from_tokens(1)->base());
}

// #19: the node's own transactions waited for past their deadline while a chain stalls do not
// hold the threads that answer the users' transactions: with one receipt thread, a user's
// transaction is still answered at its own deadline.
TEST_F(EthFaults, TheNodesPatientWaitsDoNotHoldTheUsersAnswers) {
  RpcClient& rpc = *h_->rpc();
  using nlohmann::json;
  fund_parties();
  auto own = ledger_with([](EthereumLedgerOptions& o) {
    o.send.receipt_timeout = Millis(500);
    o.receipt_threads = 1;
  });
  ASSERT_TRUE(own) << own.error().message();
  EthereumLedger& l = **own;
  ASSERT_TRUE(rpc.request("evm_setAutomine", json::array({false})));
  auto f = submit_patient(l);
  std::this_thread::sleep_for(Millis(800));  // its deadline passed: it waits on
  std::promise<Result<ledger::Receipt>> user;
  l.submit_async(users_transaction(l),
                 [&](Result<ledger::Receipt> r) { user.set_value(std::move(r)); });
  auto u = user.get_future();
  ASSERT_EQ(u.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the user's answer waited behind the node's own";
  auto ended = u.get();
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), make_error_code(EthErrc::timeout)) << ended.error().message();
  EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  ASSERT_TRUE(rpc.request("evm_mine", json::array()));
  auto r = f.get();
  ASSERT_TRUE(r) << r.error().message();
}

// #19: with `confirmations`, the node's own transaction (the market's openDeal) mined but not yet
// deep enough when the deadline passes is waited for still: a timeout there had the market undo
// a fill whose deal was on chain. Another account's is answered "timeout" as before.
TEST_F(EthFaults, WithConfirmationsTheNodesOwnMinedTransactionIsWaitedForUntilDeepEnough) {
  RpcClient& rpc = *h_->rpc();
  using nlohmann::json;
  fund_parties();
  auto deep = ledger_with([](EthereumLedgerOptions& o) {
    o.confirmations = 2;
    o.confirm_poll = Millis(20);
    o.send.receipt_timeout = Millis(300);  // a deadline of 900 ms for two confirmations
  });
  ASSERT_TRUE(deep) << deep.error().message();
  EthereumLedger& l = **deep;
  auto f = submit_patient(l);
  auto ended = l.submit(users_transaction(l));  // mined at once (automine), then nothing on top
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), make_error_code(EthErrc::timeout)) << ended.error().message();
  std::this_thread::sleep_for(Millis(1'500));  // past the patient one's deadline too
  EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "answered while its transaction was on chain, not yet deep enough";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rpc.request("evm_mine", json::array()));
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto r = f.get();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_GE(rpc.block_number().value(), r->block + 2);
}

// A hosted JSON-RPC provider refuses eth_getLogs over more than `max_blocks` blocks (as Alchemy,
// Infura and QuickNode do, with an error object), passing every other request to `inner`.
class RangeLimitedTransport final : public RpcTransport {
 public:
  RangeLimitedTransport(std::unique_ptr<RpcTransport> inner, uint64_t max_blocks)
      : inner_(std::move(inner)), max_(max_blocks) {}
  Result<std::string> post(std::string_view body, Millis timeout) override {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.value("method", "") == "eth_getLogs") {
      ++log_requests;
      const auto& f = j["params"][0];
      auto block = [&](const char* k) -> uint64_t {
        std::string v = f.value(k, "latest");
        if (v == "latest") return UINT64_MAX;
        return std::stoull(v, nullptr, 16);
      };
      if (block("toBlock") == UINT64_MAX || block("toBlock") - block("fromBlock") + 1 > max_) {
        ++refused;
        return nlohmann::json{{"jsonrpc", "2.0"},
                              {"id", j["id"]},
                              {"error",
                               {{"code", -32602},
                                {"message",
                                 "You can make eth_getLogs requests with up to a "
                                 "100 block range."}}}}
            .dump();
      }
    }
    return inner_->post(body, timeout);
  }
  std::string endpoint() const override { return inner_->endpoint(); }
  std::atomic<int> log_requests{0}, refused{0};

 private:
  std::unique_ptr<RpcTransport> inner_;
  uint64_t max_;
};

// #19 review: events and a deal's terms were read with one eth_getLogs from the deployment block
// to the head; a provider that caps the range refused it, and every deal call after a restart
// (whose terms are not cached) failed. The ledger now reads in windows once refused.
TEST_F(EthFaults, LogsAreReadInWindowsFromAProviderThatCapsTheRange) {
  fund_parties();
  auto sent = L().submit(tx(r_, ledger::Approve{p_.address(), Amount::from_tokens(1).value()}));
  ASSERT_TRUE(sent) << sent.error().message();
  ASSERT_TRUE(h_->rpc()->request("anvil_mine", nlohmann::json::array({"0x1f4"})));  // 500 blocks
  auto limited = std::make_unique<RangeLimitedTransport>(
      HttpTransport::create(h_->rpc()->endpoint()).value(), 100);
  RangeLimitedTransport* seen = limited.get();
  auto rpc = std::make_shared<RpcClient>(std::move(limited));
  EthereumLedgerOptions o;
  o.deployment = h_->eth_ledger().deployment();
  o.errors = ContractSet::load(IPSX_CONTRACTS_DIR).value().errors;
  o.fees = FeePolicy{U256(), U256()};
  auto l = EthereumLedger::open(rpc, std::move(o));
  ASSERT_TRUE(l) << l.error().message();
  auto events = (*l)->events_of_account(r_.address(), 100);
  ASSERT_TRUE(events) << events.error().message();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, ledger::EventKind::approval);
  EXPECT_GT(seen->refused.load(), 0) << "the provider never refused a range: nothing tested";
  // A deal the chain does not have: read newest first, window by window, down to the deployment.
  auto none = (*l)->deal(keccak256(std::string("no such deal")));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), LedgerErrc::unknown_deal) << none.error().message();
}

}  // namespace
}  // namespace ipsx::eth
