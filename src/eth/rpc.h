// A JSON-RPC 2.0 client for an Ethereum node (geth, anvil, ...) over an RpcTransport: the
// methods the Ethereum ledger backend needs, typed. Every request has a deadline; reads are
// retried on transport failures (they are idempotent); a JSON-RPC error object becomes
// EthErrc::rpc_error with the node's code and message, and a reverted eth_call is a value
// (CallResult::reverted with the revert data), not an error.
//
// Thread-safe: requests from several threads share the transport.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/uint256.h"
#include "eth/http_transport.h"
#include "eth/transaction.h"

namespace ipsx::eth {

struct RpcOptions {
  Millis timeout{10'000};  // per request
  int read_attempts = 3;   // tries of an idempotent read on unavailable / timeout
  Millis retry_backoff{100};
};

// A JSON-RPC error object as the node sent it.
struct RpcErrorObject {
  int64_t code = 0;
  std::string message;
  std::optional<Bytes> data;  // hex `data`, when there is any (revert data)
};

struct CallRequest {
  std::optional<Address> from;
  std::optional<Address> to;  // nullopt: contract creation
  U256 value;
  Bytes data;
  std::optional<uint64_t> gas;
};

struct CallResult {
  bool reverted = false;
  Bytes data;           // the return data, or the revert data
  std::string message;  // the node's message for a revert
};

struct Log {
  Address address;
  std::vector<Hash> topics;
  Bytes data;
  uint64_t block = 0;
  Hash block_hash;  // of the block the node had when it answered (a reorganisation may drop it)
  Hash tx_hash;
  uint32_t tx_index = 0;
  uint32_t log_index = 0;
};

struct TxReceipt {
  Hash tx_hash;
  uint64_t block = 0;
  Hash block_hash;
  uint32_t index = 0;
  bool success = false;
  uint64_t gas_used = 0;
  Address from;
  std::optional<Address> contract_address;
  std::vector<Log> logs;
};

// A transaction as a block or eth_getTransactionByHash returns it, rebuilt into the typed form
// (legacy or EIP-1559) with its signature, so its signing hash can be recomputed.
struct ChainTx {
  Transaction tx;
  crypto::Signature signature;
  Address from;
  Hash hash;
  std::optional<uint64_t> block;  // nullopt while pending
  uint32_t index = 0;
};

struct BlockInfo {
  uint64_t number = 0;
  Hash hash;
  Hash parent;
  uint64_t timestamp = 0;  // unix seconds
  Hash tx_root;
  Hash state_root;
  U256 base_fee;
  std::vector<ChainTx> txs;  // when asked for full transactions
  std::vector<Hash> tx_hashes;
};

// eth_getLogs' filter. Each `topics` position lists alternatives (empty: any value).
struct LogFilter {
  std::vector<Address> addresses;
  std::vector<std::vector<Hash>> topics;
  uint64_t from_block = 0;
  std::optional<uint64_t> to_block;  // nullopt: latest
};

struct FeeHistory {
  std::vector<U256> base_fees;  // one more than the blocks asked: the next block's base fee last
  std::vector<U256> rewards;    // the asked percentile's priority fee, per block
};

class RpcClient {
 public:
  RpcClient(std::unique_ptr<RpcTransport> transport, RpcOptions options = {});
  // An HttpTransport to `url`.
  static Result<std::unique_ptr<RpcClient>> connect(std::string_view url, RpcOptions options = {});

  const RpcOptions& options() const { return options_; }
  std::string endpoint() const { return transport_->endpoint(); }

  // One request; on a JSON-RPC error object, `error_object` (if given) receives it and the
  // result is rpc_error. `idempotent` requests are retried on unavailable / timeout.
  Result<nlohmann::json> request(std::string_view method, nlohmann::json params,
                                 bool idempotent = true, RpcErrorObject* error_object = nullptr);

  Result<uint64_t> chain_id();
  Result<uint64_t> block_number();
  Result<U256> balance(const Address& a, std::string_view block = "latest");
  // eth_getTransactionCount: "latest" counts mined transactions, "pending" also the pool's.
  Result<uint64_t> transaction_count(const Address& a, std::string_view block);
  Result<U256> gas_price();
  Result<U256> max_priority_fee();
  Result<FeeHistory> fee_history(uint64_t blocks, double percentile);
  // eth_estimateGas; a revert is rpc_error, with the revert data in `error_object`.
  Result<uint64_t> estimate_gas(const CallRequest& call, RpcErrorObject* error_object = nullptr);
  // eth_call at `block`, with optional state and block overrides (geth's and anvil's extra
  // parameters; null leaves them out).
  Result<CallResult> call(const CallRequest& call, std::string_view block = "latest",
                          const nlohmann::json& state_override = nullptr,
                          const nlohmann::json& block_override = nullptr);
  // eth_sendRawTransaction, sent once (callers retry with the same bytes, which is safe).
  Result<Hash> send_raw_transaction(ByteView raw, RpcErrorObject* error_object = nullptr);
  Result<std::optional<TxReceipt>> receipt(const Hash& tx_hash);
  // Polls for the receipt every `poll` until `deadline` (steady clock). Transport failures while
  // waiting are ridden out; at the deadline it fails with timeout, naming the last failure.
  Result<TxReceipt> wait_for_receipt(const Hash& tx_hash,
                                     std::chrono::steady_clock::time_point deadline,
                                     Millis poll = Millis(20));
  Result<std::optional<ChainTx>> transaction(const Hash& tx_hash);
  Result<std::optional<BlockInfo>> block(uint64_t number, bool full_transactions);
  Result<std::vector<Log>> logs(const LogFilter& filter);

 private:
  std::unique_ptr<RpcTransport> transport_;
  RpcOptions options_;
  std::atomic<uint64_t> next_id_{1};
};

// ---- JSON helpers (shared with the backend) ---------------------------------------------------
std::string quantity(const U256& v);  // "0x1a" (no leading zeros; "0x0")
std::string quantity(uint64_t v);
Result<U256> parse_quantity(const nlohmann::json& j, std::string_view what);
Result<uint64_t> parse_u64(const nlohmann::json& j, std::string_view what);
Result<Bytes> parse_data(const nlohmann::json& j, std::string_view what);
Result<Hash> parse_hash(const nlohmann::json& j, std::string_view what);
Result<Address> parse_address(const nlohmann::json& j, std::string_view what);
Result<ChainTx> parse_chain_tx(const nlohmann::json& j);

}  // namespace ipsx::eth
