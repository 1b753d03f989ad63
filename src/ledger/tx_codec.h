// Encodings of transactions and orders: the EIP-712 digest a sender signs for each operation
// (embedded backend; docs/ledger-transactions.md lists the types), and a JSON form for storage,
// the command line and the API. JSON input is untrusted: errors name the member.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "ledger/ledger.h"

namespace ipsx::ledger {

// The EIP-712 type string of an operation's struct (with the types it references appended).
std::string op_encoded_type(const Op& op);
// EIP-712 digest of `op` with `nonce` under the domain whose separator is given.
Hash tx_digest(const Hash& domain_separator, uint64_t nonce, const Op& op);

nlohmann::json to_json(const Offer& o);
nlohmann::json to_json(const Request& r);
nlohmann::json to_json(const Op& op);  // {"op": name, ...arguments}
nlohmann::json to_json(const SignedTx& tx);
nlohmann::json to_json(const Event& e);

Result<Offer> offer_from_json(const nlohmann::json& j);
Result<Request> request_from_json(const nlohmann::json& j);
Result<Op> op_from_json(const nlohmann::json& j);
// A signed transaction; the digest is recomputed from the fields and `domain_separator`, never
// taken from the input.
Result<SignedTx> signed_tx_from_json(const nlohmann::json& j, const Hash& domain_separator);

}  // namespace ipsx::ledger
