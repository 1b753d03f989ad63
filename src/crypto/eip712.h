// EIP-712 typed structured data hashing, as eth_signTypedData_v4 does it, so that a signature
// made by any wallet verifies here and in Solidity, and ours verify there.
//
// Two ways in:
//  - TypedData: a whole JSON document {types, primaryType, domain, message}, validated against
//    size and depth limits, for the CLI and the API (untrusted input).
//  - StructHasher: the hot path for our own fixed types (orders, balance proofs), where the type
//    hash is computed once and fields are appended as words.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/address.h"
#include "core/hash.h"
#include "core/uint256.h"
#include "crypto/crypto_error.h"

namespace ipsx::crypto::eip712 {

// keccak256 of an encoded type string such as "Mail(Person from,Person to,string contents)...".
Hash type_hash(std::string_view encoded_type);

// The signing digest keccak256(0x19 0x01 || domain_separator || struct_hash).
Hash digest(const Hash& domain_separator, const Hash& struct_hash);

// Builds hashStruct(s) = keccak256(typeHash || encodeData(s)) one 32-byte word at a time. The
// caller appends fields in the type's declared order. Not thread-safe; cheap to construct.
class StructHasher {
 public:
  explicit StructHasher(const Hash& type_hash);
  StructHasher& add_uint(const U256& v);
  StructHasher& add_int(int64_t v);
  StructHasher& add_bool(bool v) { return add_uint(v ? 1 : 0); }
  StructHasher& add_address(const Address& a);
  // A bytes32 value, or the hash of a nested struct or of an array.
  StructHasher& add_word(const Hash& w);
  // Dynamic values are hashed: keccak256(bytes) and keccak256(utf-8 text).
  StructHasher& add_bytes(ByteView b);
  StructHasher& add_string(std::string_view s);
  Hash finish() const;

 private:
  std::vector<uint8_t> buf_;
};

// The EIP712Domain fields in their canonical order; absent fields are left out of the type.
struct Domain {
  std::optional<std::string> name;
  std::optional<std::string> version;
  std::optional<U256> chain_id;
  std::optional<Address> verifying_contract;
  std::optional<Hash> salt;

  std::string encoded_type() const;
  Hash separator() const;
};

// Bounds on untrusted typed-data documents.
struct Limits {
  size_t max_json_bytes = 1 << 20;  // whole document
  size_t max_types = 256;
  size_t max_fields_per_type = 256;
  size_t max_depth = 32;          // nesting of structs and arrays in values
  size_t max_values = 1'000'000;  // atomic values encoded in total
};

// A validated typed-data document. Immutable after parse; safe to share between threads.
class TypedData {
 public:
  // Parses and validates the document: JSON syntax, every declared type (names, field types
  // resolvable, no duplicates), primaryType declared, EIP712Domain declared, domain an object.
  // Values are checked against their types when hashed. Errors name the field's path.
  static Result<TypedData> parse(std::string_view json_text, const Limits& limits = {});
  static Result<TypedData> from_json(const nlohmann::json& doc, const Limits& limits = {});

  const std::string& primary_type() const { return primary_; }
  // encodeType: the type followed by its referenced struct types in alphabetical order.
  Result<std::string> encode_type(std::string_view type) const;
  Result<Hash> hash_struct(std::string_view type, const nlohmann::json& value) const;
  Result<Hash> domain_separator() const;
  // hashStruct(message) under primaryType.
  Result<Hash> message_hash() const;
  // The digest a wallet signs; keccak256(0x1901 || domainSeparator) alone when primaryType
  // is EIP712Domain, as eth_signTypedData_v4 does.
  Result<Hash> digest() const;

 private:
  struct Field {
    std::string name;
    std::string type;
  };
  struct Encoder;

  std::map<std::string, std::vector<Field>, std::less<>> types_;
  std::map<std::string, Hash, std::less<>> type_hashes_;
  std::string primary_;
  std::shared_ptr<const nlohmann::json> doc_;
  Limits limits_;
};

}  // namespace ipsx::crypto::eip712
