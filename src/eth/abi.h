// The Solidity contract ABI (docs.soliditylang.org, "Contract ABI Specification"): encoding and
// decoding of values by type, function selectors and calldata, event topics and logs, and the
// revert data a failed call returns (Error(string), Panic(uint256) and custom errors).
//
// Decoding reads untrusted bytes (RPC results, logs, revert data) and is strict: every offset and
// length is bounds-checked against the data; padding must be zero (address, bool, uint<N>,
// bytes<N>, and the tail of bytes and string) or a sign extension (int<N>); bool must be 0 or 1;
// bytes after the furthest byte the encoding uses are refused; and the words a decode reads are
// bounded by a multiple of the input's size, so overlapping offsets cannot blow up the output.
// Pure functions over values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/address.h"
#include "core/hash.h"
#include "core/uint256.h"
#include "eth/abi_type.h"

namespace ipsx::eth::abi {

// A signed 256-bit integer, held as its two's complement bit pattern. Value type.
class I256 {
 public:
  I256() = default;
  explicit I256(int64_t v);
  static I256 from_bits(const U256& bits) {
    I256 r;
    r.bits_ = bits;
    return r;
  }
  // Parses optional '-' then decimal digits; fails outside [-2^255, 2^255 - 1].
  static Result<I256> from_dec(std::string_view text);

  const U256& bits() const { return bits_; }
  bool is_negative() const { return bits_.bit(255); }
  // True iff the value lies in [-2^(n-1), 2^(n-1) - 1]. REQUIRES: 1 <= n <= 256.
  bool fits(unsigned n) const;
  std::string to_dec() const;

  friend bool operator==(const I256&, const I256&) = default;

 private:
  U256 bits_;
};

// An ABI value. Which alternative a type takes:
//   uint<N>: U256; int<N>: I256; address: Address; bool: bool;
//   bytes<N>: Bytes of exactly N bytes; bytes: Bytes; string: std::string;
//   T[], T[k] and tuples: List (elements or components in order).
// The value carries no type of its own: encode() checks it against the type it is given.
class Value {
 public:
  using List = std::vector<Value>;
  using Variant = std::variant<U256, I256, Address, bool, Bytes, std::string, List>;

  Value() = default;  // uint 0
  static Value uint(const U256& v) { return Value(Variant(v)); }
  static Value sint(const I256& v) { return Value(Variant(v)); }
  static Value sint(int64_t v) { return Value(Variant(I256(v))); }
  static Value address(const Address& v) { return Value(Variant(v)); }
  static Value boolean(bool v) { return Value(Variant(v)); }
  static Value bytes(Bytes v) { return Value(Variant(std::move(v))); }
  static Value bytes(ByteView v) { return bytes(Bytes(v.begin(), v.end())); }
  static Value string(std::string v) { return Value(Variant(std::move(v))); }
  static Value list(List v) { return Value(Variant(std::move(v))); }

  const Variant& variant() const { return v_; }
  // The alternative T, or nullptr if the value holds another.
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }
  // REQUIRES: the value holds a T.
  template <class T>
  const T& get() const {
    return std::get<T>(v_);
  }

  // Readable text for messages: decimal integers, checksummed addresses, 0x-hex bytes, quoted
  // strings, [a, b] lists.
  std::string to_string() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  explicit Value(Variant v) : v_(std::move(v)) {}
  Variant v_;
};

// abi.encode(values...): the encoding of the tuple (types...) holding `values`. Fails with
// bad_value, naming the argument path (e.g. "argument 1[2].0"), if a value does not fit its type.
Result<Bytes> encode(const std::vector<Type>& types, const std::vector<Value>& values);
// Decodes what encode() produces for `types`. See the file comment for what is refused.
Result<std::vector<Value>> decode(const std::vector<Type>& types, ByteView data);

using Selector = std::array<uint8_t, 4>;

// A function or custom error: a name and its parameter (and optional return) types.
class Function {
 public:
  // Parses "transfer(address,uint256)" or, with return types as cast writes them,
  // "balanceOf(address)(uint256)". The name is [A-Za-z_$][A-Za-z0-9_$]*.
  static Result<Function> parse(std::string_view signature);

  const std::string& name() const { return name_; }
  const std::vector<Type>& inputs() const { return inputs_; }
  const std::vector<Type>& outputs() const { return outputs_; }
  // The canonical signature "transfer(address,uint256)" (without return types).
  std::string signature() const;
  // The first 4 bytes of keccak256(signature()).
  Selector selector() const { return selector_; }

  // Calldata: the selector followed by the encoding of `args`.
  Result<Bytes> encode_call(const std::vector<Value>& args) const;
  // The arguments of calldata for this function; fails with unknown_selector if the first 4
  // bytes are another function's selector.
  Result<std::vector<Value>> decode_call(ByteView calldata) const;
  // The values a call returned (the encoding of outputs()).
  Result<std::vector<Value>> decode_output(ByteView data) const;

 private:
  std::string name_;
  std::vector<Type> inputs_;
  std::vector<Type> outputs_;
  Selector selector_{};
};

// The first 4 bytes of keccak256(signature); `signature` is used as given (not canonicalized).
Selector selector_of(std::string_view signature);

// An event: a name, its parameter types, and which parameters are indexed (topics).
class Event {
 public:
  // Parses "Transfer(address,address,uint256)"; `indexed[i]` says whether parameter i is
  // indexed (missing entries mean not indexed). Anonymous events are not supported.
  static Result<Event> parse(std::string_view signature, std::vector<bool> indexed = {});

  const std::string& name() const { return name_; }
  const std::vector<Type>& params() const { return params_; }
  const std::vector<bool>& indexed() const { return indexed_; }
  std::string signature() const;
  // topics[0] of every log of this event: keccak256(signature()).
  Hash topic0() const { return topic0_; }

  // The topics of a log with these parameter values: topic0, then one per indexed parameter.
  Result<std::vector<Hash>> topics(const std::vector<Value>& values) const;
  // The parameter values of a log. Indexed parameters of a dynamic type (bytes, string, arrays,
  // tuples) are only present as their hash: they decode as a 32-byte Value::bytes.
  Result<std::vector<Value>> decode_log(std::span<const Hash> topics, ByteView data) const;

 private:
  std::string name_;
  std::vector<Type> params_;
  std::vector<bool> indexed_;
  Hash topic0_;
};

// The topic an indexed parameter contributes: the 32-byte word of a one-word type; for bytes and
// string the keccak256 of the content; for arrays and tuples the keccak256 of their in-place
// encoding (elements encoded and padded to 32 bytes, without lengths or offsets).
Result<Hash> indexed_topic(const Type& type, const Value& value);

// Why a call reverted, decoded from its revert data.
struct Revert {
  enum class Kind {
    empty,   // no data: revert() or require(cond) without a message, or out of gas
    error,   // Error(string): revert("..."), require(cond, "...")
    panic,   // Panic(uint256): assert, overflow, division by zero, ...
    custom,  // a custom error declared by the contract
  };
  Kind kind = Kind::empty;
  std::string message;      // error: the reason string
  U256 panic_code;          // panic: the code (0x11 overflow, 0x12 division by zero, ...)
  std::string error_name;   // custom: the error's name
  std::vector<Value> args;  // custom: the error's arguments

  // "reverted without data", "reverted: <message>", "panic 0x11: arithmetic overflow",
  // "InsufficientBalance(10, 20)".
  std::string to_string() const;
};

// Decodes revert data, trying Error(string), Panic(uint256) and then `custom_errors` by selector.
// Fails with unknown_selector for a selector none of them has, and as decode() for bad data.
Result<Revert> decode_revert(ByteView data, std::span<const Function> custom_errors = {});

// The meaning of a Panic(uint256) code, e.g. "arithmetic overflow" for 0x11.
std::string panic_reason(const U256& code);

}  // namespace ipsx::eth::abi
