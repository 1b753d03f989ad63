// The SDK's signer: a wallet's key and the ledger's EIP-712 domain, producing the signed
// messages the node and the exits accept (docs/orders.md, docs/protocol.md). The node never
// holds users' keys: programs sign here, on their own machine, and send the result.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>

#include "core/address.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "market/deal_protocol.h"
#include "market/exit_directory.h"
#include "vocab/orders.h"

namespace ipsx::sdk {

// The most a wallet lets one Ethereum transaction cost in fees (gas limit x max fee per gas)
// unless told otherwise: 0.05 ETH.
inline const U256 kDefaultMaxFeeWei = U256(50'000'000'000'000'000ULL);

class Signer {
 public:
  // `domain_separator` is ledger_domain(chain_id, verifying_contract).separator(). Such
  // a signer does not know the chain's contracts and refuses Ethereum transactions.
  Signer(crypto::PrivateKey key, const Hash& domain_separator);
  // The embedded ledger's domain (verifying contract: the zero address) or an Ethereum one,
  // whose Centralizer is `verifying_contract`; `token_contract` is the IPSX token's address there
  // (the node's health states both), without which token transactions are refused.
  static Signer for_chain(crypto::PrivateKey key, uint64_t chain_id,
                          const Address& verifying_contract = Address(),
                          std::optional<Address> token_contract = std::nullopt);
  // The most one Ethereum transaction may cost in fees (default kDefaultMaxFeeWei).
  void limit_fee(const U256& max_wei) { max_fee_wei_ = max_wei; }
  // The IPSX token's contract, for a signer made by for_chain without it.
  void use_token_contract(const Address& token) {
    if (chain_) chain_->token = token;
  }

  const Address& address() const { return address_; }
  const Hash& domain_separator() const { return domain_; }

  // The offer with this wallet as its provider, checked field by field (ledger::validate), as
  // {"offer": ..., "signature": "0x..."}: the body of POST /v1/orders and `ipsx order offer`'s
  // output.
  Result<nlohmann::json> offer(Offer offer) const;
  // The same for a request, with this wallet as its requester.
  Result<nlohmann::json> request(Request request) const;
  // The owner's signature cancelling the order whose EIP-712 struct hash is `order_hash`.
  Result<crypto::Signature> cancel(const Hash& order_hash) const;
  // A deal status report by this wallet's side.
  Result<market::SignedStatusEvent> status(const market::StatusEvent& event) const;
  // The provider's announcement of where its exit listens (market/exit_directory.h).
  Result<crypto::Signature> exit_announcement(const market::ExitAnnouncement& a) const;
  // The requester's balance proof: it owes `amount` (cumulative) for the deal.
  Result<crypto::Signature> balance_proof(const Hash& deal_id, const U256& amount) const;
  // Signs a ledger transaction the node prepared (POST /v1/ledger/transactions/prepare's
  // answer) and returns the body of POST /v1/ledger/transactions. It must be this wallet's and
  // carry `expected` (the operation asked for). On the embedded ledger the digest is recomputed
  // here and a node's digest that differs is refused. On Ethereum (`"ledger":"ethereum"`) the
  // digest must be the hash of `signingPayload`, the EIP-1559 transaction the node built, which
  // is decoded and checked before signing: this chain, the nonce, the contract the operation
  // goes to, its call data and ether exactly, no access list, and fees within limit_fee.
  Result<nlohmann::json> transaction(const nlohmann::json& prepared,
                                     const ledger::Op& expected) const;

 private:
  struct Chain {
    uint64_t id = 0;
    Address centralizer;
    std::optional<Address> token;
  };
  Result<crypto::Signature> sign(const Hash& struct_hash) const;
  Result<void> check_ethereum(const nlohmann::json& prepared, uint64_t nonce, const ledger::Op& op,
                              const Hash& digest) const;
  crypto::PrivateKey key_;
  Address address_;
  Hash domain_;
  std::optional<Chain> chain_;
  U256 max_fee_wei_ = kDefaultMaxFeeWei;
};

}  // namespace ipsx::sdk
