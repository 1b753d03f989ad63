// The eth layer's error codes: what the Ethereum encodings (RLP, the contract ABI, signed
// transactions) refuse. Raw transactions, RPC results and revert data are untrusted, so every
// refusal has a code a program can branch on and a message that names the offset, field or type.
#pragma once

#include <system_error>

#include "core/error.h"

namespace ipsx::eth {

enum class EthErrc {
  truncated = 1,     // input ends inside an item, word or field that it announces
  non_canonical,     // RLP: a length or integer not in its one shortest form
  trailing_bytes,    // bytes after a complete RLP item or raw transaction
  too_deep,          // nesting deeper than the limit (RLP lists, ABI types)
  too_large,         // a length, count or size over its limit
  bad_type,          // ABI: a type or signature string that is not a valid canonical type
  bad_value,         // ABI: a value that does not fit its type (encoding side)
  bad_offset,        // ABI: an offset or length that points outside its data
  bad_padding,       // ABI: non-zero bits where the encoding requires zeros or sign extension
  bad_transaction,   // a transaction's fields are missing, of the wrong shape or out of range
  unsupported_type,  // an EIP-2718 transaction type other than legacy and 0x02
  bad_signature,     // a transaction signature's v, r or s is out of range
  unknown_selector,  // revert data or calldata whose 4-byte selector is not known
  // JSON-RPC (rpc.h) and the Ethereum ledger backend:
  rpc_error,       // the node answered with a JSON-RPC error object (code and message in the text)
  unavailable,     // the node could not be reached, or the connection broke mid-request
  timeout,         // no answer (or no receipt) within the deadline
  bad_response,    // the node's answer is not the JSON-RPC or value shape expected
  reverted,        // a transaction or call reverted with data no known error decodes
  reorg_too_deep,  // the chain reorganised below the blocks a log reader remembers
};

const std::error_category& eth_category();
inline std::error_code make_error_code(EthErrc e) {
  return {static_cast<int>(e), eth_category()};
}

}  // namespace ipsx::eth

template <>
struct std::is_error_code_enum<ipsx::eth::EthErrc> : std::true_type {};
