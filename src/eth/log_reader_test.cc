// The log reader against a real anvil: confirmations hold logs back until they are deep enough,
// and a reorganisation (made with evm_snapshot / evm_revert and a different branch) reports the
// dropped logs as removed and delivers the new branch's.
#include "eth/log_reader.h"

#include <gtest/gtest.h>

#include "eth/anvil_process.h"
#include "eth/eth_error.h"

namespace ipsx::eth {
namespace {

using nlohmann::json;
using testing::AnvilProcess;

// Runtime code `PUSH1 0 PUSH1 0 LOG0 STOP`: every call emits one empty log. The init code
// returns it.
constexpr const char* kEmitterInit = "0x6560006000a0006000526006601af3";
constexpr const char* kDev = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";  // anvil's account 0

class LogReaderOnAnvil : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = AnvilProcess::start(IPSX_ANVIL, {});
    ASSERT_TRUE(a) << a.error().message();
    anvil_.emplace(std::move(*a));
    auto r = RpcClient::connect(anvil_->url());
    ASSERT_TRUE(r) << r.error().message();
    rpc_ = std::move(*r);
    auto tx = send({{"from", kDev}, {"data", kEmitterInit}});
    auto receipt = rpc_->request("eth_getTransactionReceipt", json::array({tx}));
    ASSERT_TRUE(receipt) << receipt.error().message();
    emitter_ = *Address::parse((*receipt)["contractAddress"].get<std::string>());
  }

  // Sends and waits until it is mined (anvil mines each transaction, but may answer first).
  std::string send(json tx) {
    auto r = rpc_->request("eth_sendTransaction", json::array({tx}));
    EXPECT_TRUE(r) << r.error().message();
    if (!r) return "";
    std::string hash = r->get<std::string>();
    auto mined = rpc_->wait_for_receipt(
        *Hash::from_hex(hash), std::chrono::steady_clock::now() + std::chrono::seconds(10));
    EXPECT_TRUE(mined) << mined.error().message();
    return hash;
  }
  // One call of the emitter, mined in a block of its own (anvil's automine): its tx hash.
  Hash emit() { return *Hash::from_hex(send({{"from", kDev}, {"to", emitter_.to_string()}})); }
  void mine(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(rpc_->request("evm_mine", json::array()));
  }
  LogFilter filter() const {
    LogFilter f;
    f.addresses = {emitter_};
    return f;
  }
  static std::vector<Hash> txs(const std::vector<LogEvent>& events, bool removed) {
    std::vector<Hash> out;
    for (auto& e : events)
      if (e.removed == removed) out.push_back(e.log.tx_hash);
    return out;
  }

  std::optional<AnvilProcess> anvil_;
  std::unique_ptr<RpcClient> rpc_;
  Address emitter_;
};

TEST_F(LogReaderOnAnvil, ConfirmationsHoldLogsBackUntilDeepEnough) {
  LogReader reader(*rpc_, filter(), 2);
  Hash a = emit(), b = emit(), c = emit();
  auto first = reader.poll();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(txs(*first, false), std::vector<Hash>{a});  // b and c are less than 2 blocks deep
  mine(2);
  auto second = reader.poll();
  ASSERT_TRUE(second);
  EXPECT_EQ(txs(*second, false), (std::vector<Hash>{b, c}));
  auto again = reader.poll();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());  // each block once
}

TEST_F(LogReaderOnAnvil, AReorganisationReportsTheDroppedLogsAndReadsTheNewBranch) {
  LogReader eager(*rpc_, filter(), 0);
  LogReader careful(*rpc_, filter(), 3);
  Hash a = emit();
  mine(3);
  auto snapshot = rpc_->request("evm_snapshot", json::array());
  ASSERT_TRUE(snapshot);
  Hash x = emit(), y = emit();  // the branch that will be dropped
  auto seen = eager.poll();
  ASSERT_TRUE(seen);
  EXPECT_EQ(txs(*seen, false), (std::vector<Hash>{a, x, y}));
  auto careful_seen = careful.poll();
  ASSERT_TRUE(careful_seen);
  EXPECT_EQ(txs(*careful_seen, false), std::vector<Hash>{a});  // x, y not yet 3 deep

  ASSERT_TRUE(rpc_->request("evm_revert", json::array({*snapshot})));
  mine(1);          // a different block where x was
  Hash z = emit();  // and a different log where y was
  mine(3);
  auto after = eager.poll();
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(txs(*after, true), (std::vector<Hash>{y, x}));  // removed, newest first
  EXPECT_EQ(txs(*after, false), std::vector<Hash>{z});
  auto careful_after = careful.poll();
  ASSERT_TRUE(careful_after);
  EXPECT_TRUE(txs(*careful_after, true).empty());  // it never delivered the dropped branch
  EXPECT_EQ(txs(*careful_after, false), std::vector<Hash>{z});
}

TEST_F(LogReaderOnAnvil, AReorganisationDeeperThanItRemembersIsAnError) {
  LogReader reader(*rpc_, filter(), 0, /*memory=*/0);  // remembers 16 blocks
  auto snapshot = rpc_->request("evm_snapshot", json::array());
  ASSERT_TRUE(snapshot);
  emit();
  mine(40);
  ASSERT_TRUE(reader.poll());
  ASSERT_TRUE(rpc_->request("evm_revert", json::array({*snapshot})));
  mine(45);
  auto r = reader.poll();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), make_error_code(EthErrc::reorg_too_deep)) << r.error().message();
}

}  // namespace
}  // namespace ipsx::eth
