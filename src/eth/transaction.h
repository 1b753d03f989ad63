// Ethereum transactions as the IPSX backend sends them: legacy transactions signed per EIP-155
// (replay-protected by chain id) and EIP-1559 dynamic-fee transactions (EIP-2718 type 0x02).
// Builds the signing payload, signs with a secp256k1 key, produces the raw signed bytes that
// eth_sendRawTransaction takes and the transaction hash; decodes raw signed bytes back, strictly
// (canonical RLP, exact field counts and shapes, low s), recovering the sender.
// Pure functions over values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "core/address.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "eth/eth_error.h"

namespace ipsx::eth {

// Raw transactions longer than this are refused by decode_transaction (geth's pool limit).
inline constexpr size_t kMaxRawTransaction = 128 * 1024;

// One EIP-2930 access-list entry: an address and storage keys the transaction will touch.
struct AccessListEntry {
  Address address;
  std::vector<Hash> storage_keys;
  friend bool operator==(const AccessListEntry&, const AccessListEntry&) = default;
};

// A legacy (type 0) transaction. With a chain id it is signed per EIP-155 (v = 2 * chain_id +
// 35 + y); without one (only met when decoding old transactions) v is 27 + y.
struct LegacyTx {
  std::optional<uint64_t> chain_id = 1;
  uint64_t nonce = 0;
  U256 gas_price;
  uint64_t gas_limit = 0;
  std::optional<Address> to;  // nullopt: contract creation
  U256 value;
  Bytes data;
  friend bool operator==(const LegacyTx&, const LegacyTx&) = default;
};

// An EIP-1559 dynamic-fee transaction, EIP-2718 type 0x02.
struct DynamicFeeTx {
  uint64_t chain_id = 1;
  uint64_t nonce = 0;
  U256 max_priority_fee_per_gas;
  U256 max_fee_per_gas;
  uint64_t gas_limit = 0;
  std::optional<Address> to;  // nullopt: contract creation
  U256 value;
  Bytes data;
  std::vector<AccessListEntry> access_list;
  friend bool operator==(const DynamicFeeTx&, const DynamicFeeTx&) = default;
};

using Transaction = std::variant<LegacyTx, DynamicFeeTx>;

// The bytes a sender signs: RLP of the fields (legacy; EIP-155 appends chain_id, 0, 0), or
// 0x02 || RLP of the fields (EIP-1559).
Bytes signing_payload(const Transaction& tx);
// keccak256(signing_payload(tx)): the digest the sender's key signs.
Hash signing_hash(const Transaction& tx);

// A transaction with its signature, raw encoding and (recovered or signing) sender. Built only
// by sign_transaction and decode_transaction, so the three always agree. Value type.
class SignedTransaction {
 public:
  const Transaction& tx() const { return tx_; }
  const crypto::Signature& signature() const { return sig_; }
  // The raw signed bytes: RLP list for legacy, 0x02 || RLP list for EIP-1559.
  const Bytes& raw() const { return raw_; }
  // The transaction hash: keccak256(raw()).
  Hash hash() const;
  const Address& sender() const { return sender_; }
  // The signature's v as the raw encoding carries it: 27/28, 2 * chain_id + 35/36, or the
  // y parity 0/1 of a typed transaction.
  U256 v() const;

 private:
  friend Result<SignedTransaction> sign_transaction(const Transaction&, const crypto::PrivateKey&);
  friend Result<SignedTransaction> decode_transaction(ByteView);
  friend Result<SignedTransaction> attach_signature(const Transaction&, const crypto::Signature&);
  SignedTransaction(Transaction tx, crypto::Signature sig, Address sender);

  Transaction tx_;
  crypto::Signature sig_;
  Address sender_;
  Bytes raw_;
};

// Signs `tx` with `key` (RFC 6979, low s). Fails only if the key cannot sign.
Result<SignedTransaction> sign_transaction(const Transaction& tx, const crypto::PrivateKey& key);

// Combines `tx` with a signature made elsewhere over signing_hash(tx) (a user's own wallet) and
// checks it as decode_transaction would: low s, and some sender recovers. The sender is whoever
// recovers; callers compare it with the account they expect.
Result<SignedTransaction> attach_signature(const Transaction& tx, const crypto::Signature& sig);

// Decodes raw signed bytes (legacy or type 0x02) and recovers the sender. Fails with
// unsupported_type for other EIP-2718 types, bad_transaction for a wrong field count or shape,
// bad_signature for an impossible v, r or s, the RLP errors for non-canonical bytes, and the
// crypto errors if no sender recovers (including high s).
Result<SignedTransaction> decode_transaction(ByteView raw);

// Decodes the bytes an EIP-1559 transaction's sender signs (0x02 || RLP of its 9 fields,
// signing_payload's output): what a wallet checks before it signs a transaction built elsewhere.
// Fails as decode_transaction does, and with non_canonical for bytes that are not exactly
// signing_payload of the fields read.
Result<DynamicFeeTx> decode_signing_payload(ByteView payload);

}  // namespace ipsx::eth
