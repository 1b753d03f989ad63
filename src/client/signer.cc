#include "client/signer.h"

#include <fmt/format.h>

#include "core/hex.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "eth/ethereum_abi.h"
#include "eth/transaction.h"
#include "ledger/tx_codec.h"

namespace ipsx::sdk {

Signer::Signer(crypto::PrivateKey key, const Hash& domain_separator)
    : key_(std::move(key)), address_(key_.address()), domain_(domain_separator) {}

Signer Signer::for_chain(crypto::PrivateKey key, uint64_t chain_id,
                         const Address& verifying_contract, std::optional<Address> token_contract) {
  Hash domain = ledger_domain(chain_id, verifying_contract).separator();
  Signer s(std::move(key), domain);
  s.chain_ = Chain{chain_id, verifying_contract, token_contract};
  return s;
}

Result<crypto::Signature> Signer::sign(const Hash& struct_hash) const {
  return crypto::sign(key_, crypto::eip712::digest(domain_, struct_hash));
}

Result<nlohmann::json> Signer::offer(Offer offer) const {
  offer.provider = address_;
  if (auto v = ledger::validate(offer); !v) return std::unexpected(v.error());
  auto sig = sign(offer.struct_hash());
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"offer", ledger::to_json(offer)}, {"signature", sig->to_hex()}};
}

Result<nlohmann::json> Signer::request(Request request) const {
  request.requester = address_;
  if (auto v = ledger::validate(request); !v) return std::unexpected(v.error());
  auto sig = sign(request.struct_hash());
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"request", ledger::to_json(request)}, {"signature", sig->to_hex()}};
}

Result<crypto::Signature> Signer::cancel(const Hash& order_hash) const {
  return sign(OrderCancel{order_hash}.struct_hash());
}

Result<market::SignedStatusEvent> Signer::status(const market::StatusEvent& event) const {
  return market::sign_event(key_, event, domain_);
}

Result<crypto::Signature> Signer::exit_announcement(const market::ExitAnnouncement& a) const {
  return sign(a.struct_hash());
}

Result<crypto::Signature> Signer::balance_proof(const Hash& deal_id, const U256& amount) const {
  return sign(BalanceProof{deal_id, amount}.struct_hash());
}

Result<nlohmann::json> Signer::transaction(const nlohmann::json& prepared,
                                           const ledger::Op& expected) const {
  auto refuse = [](std::string why) -> Result<nlohmann::json> {
    return std::unexpected(Error(CoreErrc::invalid_argument, "the prepared transaction " + why));
  };
  if (!prepared.is_object()) return refuse("is not an object");
  auto from = Address::parse(prepared.value("from", ""));
  if (!from || *from != address_) return refuse("is not from this wallet");
  auto nonce = prepared.find("nonce");
  if (nonce == prepared.end() || !nonce->is_number_unsigned()) return refuse("has no nonce");
  auto op = prepared.contains("op") ? ledger::op_from_json(prepared["op"])
                                    : Result<ledger::Op>(std::unexpected(Error({}, "")));
  if (!op || ledger::to_json(*op) != ledger::to_json(expected))
    return refuse("is not the operation asked for");
  auto digest = Hash::from_hex(prepared.value("digest", ""));
  if (!digest) return refuse("has no digest");
  const uint64_t n = nonce->get<uint64_t>();
  if (prepared.value("ledger", "") == "ethereum") {
    if (auto c = check_ethereum(prepared, n, *op, *digest); !c) return std::unexpected(c.error());
  } else if (*digest != ledger::tx_digest(domain_, n, *op)) {
    return refuse(
        "has a digest that is not its fields' (refused: the node's digest must be "
        "the transaction's own)");
  }
  auto sig = crypto::sign(key_, *digest);
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"from", address_.to_string()},
                        {"nonce", n},
                        {"op", prepared["op"]},
                        {"digest", digest->hex()},
                        {"signature", sig->to_hex()}};
}

Result<void> Signer::check_ethereum(const nlohmann::json& prepared, uint64_t nonce,
                                    const ledger::Op& op, const Hash& digest) const {
  auto refuse = [](std::string why) -> Result<void> {
    return std::unexpected(Error(CoreErrc::invalid_argument, "the prepared transaction " + why));
  };
  if (!chain_ || chain_->centralizer.is_zero())
    return refuse("is for Ethereum, and this wallet was not given its chain's contracts");
  auto payload = prepared.contains("signingPayload") && prepared["signingPayload"].is_string()
                     ? from_hex(prepared["signingPayload"].get<std::string>())
                     : Result<Bytes>(std::unexpected(Error({}, "")));
  if (!payload) return refuse("has no signingPayload: nothing to check the digest against");
  if (keccak256(*payload) != digest) return refuse("has a digest that is not its payload's");
  auto tx = eth::decode_signing_payload(*payload);
  if (!tx) return refuse("has a payload that does not decode: " + tx.error().message());
  if (tx->chain_id != chain_->id)
    return refuse(
        fmt::format("is for chain {}, this wallet signs for chain {}", tx->chain_id, chain_->id));
  if (tx->nonce != nonce)
    return refuse(
        fmt::format("has nonce {} in its payload and {} in its fields", tx->nonce, nonce));
  // A token operation of a wallet that does not know the token goes "to" the zero address.
  // An operation on a deal carries the deal's terms, which the contract checks against the deal
  // it keeps: those in the payload must be of the operation's deal (else the call would fail, at
  // the signer's cost in gas).
  auto terms = eth::ipsx_abi::terms_in_call(tx->data);
  if (!terms) return refuse("has deal terms that do not decode: " + terms.error().message());
  // Each deal's terms must be that deal's (all zero: a deal the node does not know, which the
  // contract refuses as unknown before anything moves).
  auto deals = eth::ipsx_abi::deals_operated(op);
  for (size_t i = 0; i < deals.size() && i < terms->size(); ++i) {
    const auto& t = (*terms)[i];
    if (t != eth::ipsx_abi::DealTerms{} && eth::ipsx_abi::deal_id(t) != deals[i])
      return refuse("carries the terms of deal " + eth::ipsx_abi::deal_id(t).hex() + " for deal " +
                    deals[i].hex());
  }
  auto call = eth::ipsx_abi::ledger_call(chain_->token.value_or(Address()), chain_->centralizer, op,
                                         std::span<const eth::ipsx_abi::DealTerms>(*terms));
  if (!call) return refuse("has an operation with no contract call: " + call.error().message());
  if (call->to.is_zero())
    return refuse("goes to the token contract, and this wallet was not told its address");
  if (!tx->to || *tx->to != call->to)
    return refuse(fmt::format("calls {}, not the {} contract",
                              tx->to ? tx->to->to_string() : "nothing (a contract creation)",
                              call->to.to_string()));
  if (tx->data != call->data) return refuse("has call data that is not the operation's");
  if (tx->value != call->value)
    return refuse(
        fmt::format("sends {} wei, the operation {}", tx->value.to_dec(), call->value.to_dec()));
  if (!tx->access_list.empty()) return refuse("has an access list it does not need");
  auto fee = U256(tx->gas_limit).checked_mul(tx->max_fee_per_gas);
  if (!fee || *fee > max_fee_wei_)
    return refuse(
        fmt::format("may cost up to {} wei in fees (gas {} x {} wei), above this "
                    "wallet's limit of {} wei",
                    fee ? fee->to_dec() : std::string("more than 2^256"), tx->gas_limit,
                    tx->max_fee_per_gas.to_dec(), max_fee_wei_.to_dec()));
  return {};
}

}  // namespace ipsx::sdk
