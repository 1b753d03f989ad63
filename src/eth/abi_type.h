// The Solidity contract ABI's types as a tree: parsed from canonical type strings such as
// "(address,uint256,bytes)[]" and printed back in canonical form (the form function selectors
// and event topics hash). Value type; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "eth/eth_error.h"

namespace ipsx::eth::abi {

// Type strings longer than this are refused by parse().
inline constexpr size_t kMaxTypeText = 4096;
// Tuples and array dimensions nested deeper than this are refused by parse().
inline constexpr size_t kMaxTypeDepth = 16;
// parse() refuses static types whose encoding would exceed this many bytes (e.g. uint256[1e9]).
inline constexpr size_t kMaxStaticSize = size_t{1} << 20;

class Type {
 public:
  enum class Kind {
    uint,         // uint<bits>, bits in 8..256 by 8
    sint,         // int<bits>, two's complement
    address,      // 20 bytes
    boolean,      // bool
    fixed_bytes,  // bytes<size>, size in 1..32
    bytes,        // dynamic byte string
    string,       // dynamic UTF-8 text (not validated)
    array,        // T[]: dynamic length
    fixed_array,  // T[k], k >= 1
    tuple,        // (T1,...,Tn)
  };

  // Parses one canonical type: "uint256", "bytes32", "(address,bool)[2][]", ... The aliases
  // "uint" and "int" are read as uint256 and int256; no whitespace; no empty tuple "()"; no
  // zero-length array "T[0]"; "fixed", "ufixed" and "function" are not supported.
  static Result<Type> parse(std::string_view text);
  // Parses a parenthesized, comma-separated list of types, which may be empty: "(uint256,bool)",
  // "()". Used for parameter lists.
  static Result<std::vector<Type>> parse_list(std::string_view text);

  static Type uint(unsigned bits = 256) { return Type(Kind::uint, bits, 0, {}); }
  static Type sint(unsigned bits = 256) { return Type(Kind::sint, bits, 0, {}); }
  static Type address() { return Type(Kind::address, 0, 0, {}); }
  static Type boolean() { return Type(Kind::boolean, 0, 0, {}); }
  static Type fixed_bytes(size_t size) { return Type(Kind::fixed_bytes, 0, size, {}); }
  static Type bytes() { return Type(Kind::bytes, 0, 0, {}); }
  static Type string() { return Type(Kind::string, 0, 0, {}); }
  static Type array(Type element) { return Type(Kind::array, 0, 0, {std::move(element)}); }
  static Type fixed_array(Type element, size_t length) {
    return Type(Kind::fixed_array, 0, length, {std::move(element)});
  }
  static Type tuple(std::vector<Type> components) {
    return Type(Kind::tuple, 0, 0, std::move(components));
  }

  Kind kind() const { return kind_; }
  // uint/sint: the width in bits.
  unsigned bits() const { return bits_; }
  // fixed_bytes: the size in bytes; fixed_array: the length.
  size_t length() const { return length_; }
  // array and fixed_array: the element type. REQUIRES: kind() is array or fixed_array.
  const Type& element() const { return children_[0]; }
  // tuple: the component types (empty for other kinds).
  const std::vector<Type>& components() const { return children_; }

  // True for bytes, string, T[], and tuples and T[k] containing a dynamic type.
  bool is_dynamic() const { return dynamic_; }
  // Bytes the type takes in its enclosing head: 32 if dynamic, else its whole encoding.
  size_t head_size() const { return dynamic_ ? 32 : static_size_; }
  // True for the one-word types: uint, sint, address, bool and bytes<N>.
  bool is_word() const { return kind_ <= Kind::fixed_bytes; }

  // The canonical text: "uint256", "(address,bytes)[]".
  std::string to_string() const;

  friend bool operator==(const Type& a, const Type& b) {
    return a.kind_ == b.kind_ && a.bits_ == b.bits_ && a.length_ == b.length_ &&
           a.children_ == b.children_;
  }

 private:
  Type(Kind kind, unsigned bits, size_t length, std::vector<Type> children);

  Kind kind_;
  unsigned bits_;
  size_t length_;
  std::vector<Type> children_;
  bool dynamic_ = false;
  size_t static_size_ = 32;  // saturates at SIZE_MAX
};

// The canonical text of a parameter list: "(uint256,bytes)".
std::string to_string(const std::vector<Type>& types);

}  // namespace ipsx::eth::abi
