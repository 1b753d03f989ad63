// The IPSX contracts as the build produces them (`node contracts/build.js DIR`: IPSXToken.json,
// Centralizer.json, ledger-errors.json), their deployment, and the mapping of their custom
// errors to LedgerErrc codes. Also the one way this layer sends a signed transaction and waits
// for it: send_transaction (safe retries, deadline).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/address.h"
#include "crypto/keys.h"
#include "eth/abi.h"
#include "eth/rpc.h"
#include "eth/transaction.h"
#include "ledger/genesis.h"

namespace ipsx::eth {

// What a custom error of the contracts means: ledger-errors.json, selector -> name and code.
class ContractErrors {
 public:
  static Result<ContractErrors> parse(std::string_view json_text);
  // An Error for revert data: a ledger error (LedgerErrc code, the contract's reason as the
  // message) if the selector is one of ours, else EthErrc::reverted with the decoded text.
  Error to_error(ByteView revert_data, std::string_view context) const;

 private:
  struct Entry {
    std::string name;
    int code = 0;  // LedgerErrc, or 0 for an error with no ledger code
  };
  std::map<abi::Selector, Entry> by_selector_;
};

struct ContractSet {
  Bytes token_bytecode;
  Bytes centralizer_bytecode;
  ContractErrors errors;
  // Reads DIR/IPSXToken.json, DIR/Centralizer.json and DIR/ledger-errors.json.
  static Result<ContractSet> load(const std::filesystem::path& dir);
};

// Fees of the transactions this layer sends: fixed, or from the node (tip from
// eth_maxPriorityFeePerGas, cap = 2 x the latest base fee + tip, as wallets do).
struct FeePolicy {
  std::optional<U256> max_fee_per_gas;
  std::optional<U256> max_priority_fee_per_gas;
};
struct Fees {
  U256 max_fee_per_gas;
  U256 max_priority_fee_per_gas;
};
Result<Fees> choose_fees(RpcClient& rpc, const FeePolicy& policy);

struct SendOptions {
  Millis receipt_timeout{30'000};
  Millis poll{10};
  int send_attempts = 5;       // eth_sendRawTransaction tries while the node is unreachable
  Millis resend_every{2'000};  // while waiting, resend the same bytes (the pool may have lost it)
  // Fee bumping: with `bump` set, a transaction with no receipt `bump_after` after it was sent
  // (or after its last replacement) is replaced by what `bump` returns for it (the same nonce,
  // higher fees, signed); nullopt: no replacement this time. The chain mines one of them at most.
  Millis bump_after{15'000};
  std::function<std::optional<SignedTransaction>(const SignedTransaction& stuck)> bump;
  // Asked at the deadline: true waits another receipt_timeout (the transaction is still pending
  // and its nonce free, so it may yet be mined), false ends the wait with `timeout`.
  std::function<bool()> keep_waiting;
  // Asked at every look for the receipt: true ends the wait at once with `timeout` (the caller
  // is closing).
  std::function<bool()> stop;
};

// The fees a replacement of `stuck` offers: each at least 1/8 over the stuck one's (what nodes
// require to replace a pooled transaction; geth asks 10 %) and at least what `now` offers.
Fees bumped_fees(const DynamicFeeTx& stuck, const Fees& now);

// Sends a signed transaction and waits for its receipt. Resending the same raw bytes is always
// safe (same hash, same nonce: it is mined at most once), so an unreachable node or a lost answer
// is retried with the same bytes; "already known" counts as sent, "nonce too low" after a resend
// as sent if the transaction turns out to be mined. Fails with the node's rpc_error for a
// definitive refusal (`error_object` receives it), or timeout when no receipt came by the
// deadline (the transaction may still be mined later: its hash is in the message).
// With `already_sent`, the first send is skipped (the caller sent it and the node took it).
// With options.bump, the receipt may be a replacement's: `mined` (when given) receives the
// transaction whose receipt it is. `earlier`: versions `tx` replaces (same sender and nonce, sent
// before): the receipt of whichever is mined is the answer.
Result<TxReceipt> send_transaction(RpcClient& rpc, const SignedTransaction& tx,
                                   const SendOptions& options,
                                   RpcErrorObject* error_object = nullptr,
                                   bool already_sent = false, SignedTransaction* mined = nullptr,
                                   const std::vector<SignedTransaction>& earlier = {});

struct DeployParams {
  Address early_adopters, bounty, team;
  U256 rate;
  U256 hard_cap;                          // native base units
  U256 soft_cap;                          // native base units; 0: none
  uint64_t sale_start = 0, sale_end = 0;  // unix seconds
  Address treasury;
  uint64_t challenge_period = 3600;  // seconds; the Centralizer refuses one outside 60 .. 30 days
};

// The deployment's parameters from a genesis. The challenge period must be whole seconds (the
// contract counts seconds; it is never truncated), else LedgerErrc::invalid_argument; its bounds
// are left to the contract's constructor. The sale window's times are rounded down to seconds.
Result<DeployParams> deploy_params(const ledger::GenesisConfig& g);

struct Deployment {
  uint64_t chain_id = 0;
  Address token;
  Address centralizer;
  uint64_t block = 0;  // the token's deployment block: history starts there
};

// Deploys IPSXToken at the deployer's next nonce n and the Centralizer at n + 1 (the token names
// the Centralizer's precomputed CREATE address). `before_send` runs before each transaction (a
// dev chain pins its timestamp there). Each creation is simulated first: a constructor's refusal
// is the contract's error mapped by `contracts.errors` (e.g. LedgerErrc::invalid_argument for a
// challenge period out of bounds), and nothing more is sent.
Result<Deployment> deploy_contracts(RpcClient& rpc, const crypto::PrivateKey& deployer,
                                    const ContractSet& contracts, const DeployParams& params,
                                    const FeePolicy& fees, const SendOptions& send = {},
                                    const std::function<void()>& before_send = {});

// The CREATE address of `sender` at `nonce`: keccak256(rlp([sender, nonce]))[12:].
Address create_address(const Address& sender, uint64_t nonce);

}  // namespace ipsx::eth
