// Test helpers for the eth layer: random RLP items, ABI types and values (for round trips and
// for the cast cross-check), and their text forms as foundry's cast reads them.
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <random>
#include <string>

#include "eth/abi.h"
#include "eth/rlp.h"

namespace ipsx::eth::testing {

using Rng = std::mt19937_64;

inline Bytes random_bytes(Rng& rng, size_t n) {
  Bytes b(n);
  for (auto& c : b) c = static_cast<uint8_t>(rng());
  return b;
}

inline U256 random_u256(Rng& rng) {
  return U256::from_limbs(rng(), rng(), rng(), rng());
}

// A value of at most `bits` bits, biased toward the edges (0, 1, 2^bits - 1) and short values.
inline U256 random_uint(Rng& rng, unsigned bits) {
  U256 mask = bits >= 256 ? U256::max() : (U256(1) << bits).wrapping_sub(1);
  switch (rng() % 6) {
    case 0:
      return 0;
    case 1:
      return mask;
    case 2:
      return U256(rng() % 1000) & mask;
    case 3: {
      unsigned len = static_cast<unsigned>(rng() % bits) + 1;
      return random_u256(rng) & ((len >= 256 ? U256::max() : (U256(1) << len).wrapping_sub(1)));
    }
    default:
      return random_u256(rng) & mask;
  }
}

// A signed value that fits `bits` bits, as a two's complement pattern.
inline abi::I256 random_int(Rng& rng, unsigned bits) {
  U256 low = random_uint(rng, bits);
  if (rng() % 7 == 0) low = U256(1) << (bits - 1);  // the minimum, -2^(bits-1)
  if (bits < 256 && low.bit(bits - 1)) low = low | ~((U256(1) << bits).wrapping_sub(1));
  return abi::I256::from_bits(low);
}

inline std::string random_text(Rng& rng, size_t max_len) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.";
  std::string s(rng() % (max_len + 1), ' ');
  for (char& c : s) c = kAlphabet[rng() % kAlphabet.size()];
  // cast trims whitespace around a bare argument, so the text never starts or ends with one.
  if (!s.empty() && s.front() == ' ') s.front() = '_';
  if (!s.empty() && s.back() == ' ') s.back() = '_';
  return s;
}

// A random RLP item: strings of every length class (empty, single bytes, short, long), lists up
// to `depth` deep.
inline rlp::Item random_item(Rng& rng, int depth) {
  if (depth <= 0 || rng() % 3 == 0) {
    switch (rng() % 5) {
      case 0:
        return rlp::Item::string(random_bytes(rng, rng() % 2));
      case 1:
        return rlp::Item::string(Bytes{static_cast<uint8_t>(rng() % 0x80)});
      case 2:
        return rlp::Item::string(random_bytes(rng, 56 + rng() % 200));
      default:
        return rlp::Item::string(random_bytes(rng, rng() % 56));
    }
  }
  rlp::Item::List items;
  size_t n = rng() % 5;
  if (rng() % 8 == 0) n = 20 + rng() % 10;  // a payload over 55 bytes
  for (size_t i = 0; i < n; ++i) items.push_back(random_item(rng, depth - 1));
  return rlp::Item::list(std::move(items));
}

// The item as `cast to-rlp` reads it: "0x.." strings in JSON-style arrays.
inline std::string cast_rlp_arg(const rlp::Item& item) {
  if (!item.is_list()) return "\"" + to_hex(item.bytes()) + "\"";
  std::string out = "[";
  for (size_t i = 0; i < item.items().size(); ++i) {
    if (i != 0) out += ",";
    out += cast_rlp_arg(item.items()[i]);
  }
  return out + "]";
}

// A random ABI type up to `depth` levels of arrays and tuples.
inline abi::Type random_type(Rng& rng, int depth) {
  using abi::Type;
  if (depth <= 0 || rng() % 2 == 0) {
    switch (rng() % 8) {
      case 0:
        return Type::uint(8 * static_cast<unsigned>(1 + rng() % 32));
      case 1:
        return Type::sint(8 * static_cast<unsigned>(1 + rng() % 32));
      case 2:
        return Type::address();
      case 3:
        return Type::boolean();
      case 4:
        return Type::fixed_bytes(1 + rng() % 32);
      case 5:
        return Type::bytes();
      case 6:
        return Type::string();
      default:
        return Type::uint(256);
    }
  }
  switch (rng() % 3) {
    case 0:
      return Type::array(random_type(rng, depth - 1));
    case 1:
      return Type::fixed_array(random_type(rng, depth - 1), 1 + rng() % 3);
    default: {
      std::vector<Type> comps;
      size_t n = 1 + rng() % 3;
      for (size_t i = 0; i < n; ++i) comps.push_back(random_type(rng, depth - 1));
      return Type::tuple(std::move(comps));
    }
  }
}

inline abi::Value random_value(Rng& rng, const abi::Type& t) {
  using abi::Type;
  using abi::Value;
  switch (t.kind()) {
    case Type::Kind::uint:
      return Value::uint(random_uint(rng, t.bits()));
    case Type::Kind::sint:
      return Value::sint(random_int(rng, t.bits()));
    case Type::Kind::address:
      return Value::address(
          Address(std::span<const uint8_t, 20>(random_bytes(rng, 20).data(), 20)));
    case Type::Kind::boolean:
      return Value::boolean(rng() % 2 == 0);
    case Type::Kind::fixed_bytes:
      return Value::bytes(random_bytes(rng, t.length()));
    case Type::Kind::bytes:
      return Value::bytes(random_bytes(rng, rng() % 3 == 0 ? 0 : rng() % 80));
    case Type::Kind::string:
      return Value::string(random_text(rng, 40));
    case Type::Kind::array:
    case Type::Kind::fixed_array:
    case Type::Kind::tuple: {
      Value::List list;
      size_t n = t.kind() == Type::Kind::array   ? rng() % 4
                 : t.kind() == Type::Kind::tuple ? t.components().size()
                                                 : t.length();
      for (size_t i = 0; i < n; ++i) {
        list.push_back(
            random_value(rng, t.kind() == Type::Kind::tuple ? t.components()[i] : t.element()));
      }
      return Value::list(std::move(list));
    }
  }
  return Value();
}

// The value as cast reads an argument of type `t`: decimal integers, 0x-hex bytes and addresses,
// true/false, [a,b] arrays, (a,b) tuples; strings bare at the top level, quoted inside.
inline std::string cast_abi_arg(const abi::Type& t, const abi::Value& v, bool top = true) {
  using abi::Type;
  switch (t.kind()) {
    case Type::Kind::uint:
      return v.get<U256>().to_dec();
    case Type::Kind::sint:
      return v.get<abi::I256>().to_dec();
    case Type::Kind::address:
      return v.get<Address>().to_lower_hex();
    case Type::Kind::boolean:
      return v.get<bool>() ? "true" : "false";
    case Type::Kind::fixed_bytes:
    case Type::Kind::bytes:
      return to_hex(v.get<Bytes>());
    case Type::Kind::string:
      return top ? v.get<std::string>() : "\"" + v.get<std::string>() + "\"";
    default:
      break;
  }
  const auto& list = v.get<abi::Value::List>();
  bool tuple = t.kind() == Type::Kind::tuple;
  std::string out = tuple ? "(" : "[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i != 0) out += ",";
    out += cast_abi_arg(tuple ? t.components()[i] : t.element(), list[i], false);
  }
  return out + (tuple ? ")" : "]");
}

}  // namespace ipsx::eth::testing

namespace ipsx::eth::abi {
// gtest prints values in their readable form.
inline void PrintTo(const Value& v, std::ostream* os) {
  *os << v.to_string();
}
}  // namespace ipsx::eth::abi
