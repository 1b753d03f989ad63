#include "sdk/signer.h"

#include "crypto/eip712.h"
#include "ledger/tx_codec.h"
#include "market/market.h"

namespace ipsx::sdk {

Signer::Signer(crypto::PrivateKey key, const Hash& domain_separator)
    : key_(std::move(key)), address_(key_.address()), domain_(domain_separator) {}

Signer Signer::for_chain(crypto::PrivateKey key, uint64_t chain_id,
                         const Address& verifying_contract) {
  Hash domain = ledger::ledger_domain(chain_id, verifying_contract).separator();
  return Signer(std::move(key), domain);
}

Result<crypto::Signature> Signer::sign(const Hash& struct_hash) const {
  return crypto::sign(key_, crypto::eip712::digest(domain_, struct_hash));
}

Result<nlohmann::json> Signer::offer(ledger::Offer offer) const {
  offer.provider = address_;
  if (auto v = ledger::validate(offer); !v) return std::unexpected(v.error());
  auto sig = sign(offer.struct_hash());
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"offer", ledger::to_json(offer)}, {"signature", sig->to_hex()}};
}

Result<nlohmann::json> Signer::request(ledger::Request request) const {
  request.requester = address_;
  if (auto v = ledger::validate(request); !v) return std::unexpected(v.error());
  auto sig = sign(request.struct_hash());
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"request", ledger::to_json(request)}, {"signature", sig->to_hex()}};
}

Result<crypto::Signature> Signer::cancel(const Hash& order_hash) const {
  return sign(market::cancel_struct_hash(order_hash));
}

Result<market::SignedStatusEvent> Signer::status(const market::StatusEvent& event) const {
  return market::sign_event(key_, event, domain_);
}

Result<crypto::Signature> Signer::exit_announcement(const market::ExitAnnouncement& a) const {
  return sign(a.struct_hash());
}

Result<crypto::Signature> Signer::balance_proof(const Hash& deal_id, const U256& amount) const {
  return sign(ledger::BalanceProof{deal_id, amount}.struct_hash());
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
  if (prepared.value("ledger", "") != "ethereum" && *digest != ledger::tx_digest(domain_, n, *op))
    return refuse(
        "has a digest that is not its fields' (refused: the node's digest must be "
        "the transaction's own)");
  auto sig = crypto::sign(key_, *digest);
  if (!sig) return std::unexpected(sig.error());
  return nlohmann::json{{"from", address_.to_string()},
                        {"nonce", n},
                        {"op", prepared["op"]},
                        {"digest", digest->hex()},
                        {"signature", sig->to_hex()}};
}

}  // namespace ipsx::sdk
