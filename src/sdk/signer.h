// The SDK's signer: a wallet's key and the ledger's EIP-712 domain, producing the signed
// messages the node and the exits accept (docs/orders.md, docs/protocol.md). The node never
// holds users' keys: programs sign here, on their own machine, and send the result.
#pragma once

#include <nlohmann/json.hpp>

#include "core/address.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "ledger/orders.h"
#include "market/deal_protocol.h"
#include "market/exit_directory.h"

namespace ipsx::sdk {

class Signer {
 public:
  // `domain_separator` is ledger::ledger_domain(chain_id, verifying_contract).separator().
  Signer(crypto::PrivateKey key, const Hash& domain_separator);
  // The embedded ledger's domain (verifying contract: the zero address) or an Ethereum one.
  static Signer for_chain(crypto::PrivateKey key, uint64_t chain_id,
                          const Address& verifying_contract = Address());

  const Address& address() const { return address_; }
  const Hash& domain_separator() const { return domain_; }

  // The offer with this wallet as its provider, checked field by field (ledger::validate), as
  // {"offer": ..., "signature": "0x..."}: the body of POST /v1/orders and `ipsx order offer`'s
  // output.
  Result<nlohmann::json> offer(ledger::Offer offer) const;
  // The same for a request, with this wallet as its requester.
  Result<nlohmann::json> request(ledger::Request request) const;
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
  // here and a node's digest that differs is refused; on Ethereum (`"ledger":"ethereum"`) it is
  // the signing hash of the contract call the node built, signed as given.
  Result<nlohmann::json> transaction(const nlohmann::json& prepared,
                                     const ledger::Op& expected) const;

 private:
  Result<crypto::Signature> sign(const Hash& struct_hash) const;
  crypto::PrivateKey key_;
  Address address_;
  Hash domain_;
};

}  // namespace ipsx::sdk
