#include "crypto/eip712.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "core/keccak.h"

namespace ipsx::crypto::eip712 {
namespace {

using json = nlohmann::json;

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  auto head = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$';
  };
  if (!head(s[0])) return false;
  for (char c : s) {
    if (!head(c) && !std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Parses the N of "uintN"/"intN"/"bytesN" after `prefix`; 0 if malformed.
unsigned type_width(std::string_view type, std::string_view prefix) {
  std::string_view digits = type.substr(prefix.size());
  if (digits.empty() || digits.size() > 3 || digits[0] == '0') return 0;
  unsigned n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

enum class Atom { none, boolean, address, string, bytes, fixed_bytes, uint, sint };

struct AtomType {
  Atom kind = Atom::none;
  unsigned width = 0;  // bits for uint/int, bytes for bytesN
};

AtomType atom_of(std::string_view t) {
  if (t == "bool") return {Atom::boolean, 0};
  if (t == "address") return {Atom::address, 0};
  if (t == "string") return {Atom::string, 0};
  if (t == "bytes") return {Atom::bytes, 0};
  if (t.starts_with("bytes")) {
    unsigned n = type_width(t, "bytes");
    if (n >= 1 && n <= 32) return {Atom::fixed_bytes, n};
  } else if (t.starts_with("uint")) {
    unsigned n = type_width(t, "uint");
    if (n >= 8 && n <= 256 && n % 8 == 0) return {Atom::uint, n};
  } else if (t.starts_with("int")) {
    unsigned n = type_width(t, "int");
    if (n >= 8 && n <= 256 && n % 8 == 0) return {Atom::sint, n};
  }
  return {};
}

// Splits "T[3][]" into element type "T[3]" and dimension "" (dynamic) or "3".
bool split_array(std::string_view type, std::string_view* element, std::string_view* dim) {
  if (type.empty() || type.back() != ']') return false;
  size_t open = type.rfind('[');
  if (open == std::string_view::npos || open == 0) return false;
  *element = type.substr(0, open);
  *dim = type.substr(open + 1, type.size() - open - 2);
  return true;
}

std::string_view base_type(std::string_view type) {
  size_t b = type.find('[');
  return b == std::string_view::npos ? type : type.substr(0, b);
}

std::string describe(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

}  // namespace

Hash type_hash(std::string_view encoded_type) {
  return keccak256(encoded_type);
}

Hash digest(const Hash& domain_separator, const Hash& struct_hash) {
  std::array<uint8_t, 66> buf;
  buf[0] = 0x19;
  buf[1] = 0x01;
  std::copy(domain_separator.bytes().begin(), domain_separator.bytes().end(), buf.begin() + 2);
  std::copy(struct_hash.bytes().begin(), struct_hash.bytes().end(), buf.begin() + 34);
  return keccak256(ByteView(buf));
}

StructHasher::StructHasher(const Hash& th) {
  buf_.reserve(32 * 16);
  add_word(th);
}

StructHasher& StructHasher::add_word(const Hash& w) {
  buf_.insert(buf_.end(), w.bytes().begin(), w.bytes().end());
  return *this;
}

StructHasher& StructHasher::add_uint(const U256& v) {
  size_t at = buf_.size();
  buf_.resize(at + 32);
  v.write_be(std::span<uint8_t, 32>(buf_.data() + at, 32));
  return *this;
}

StructHasher& StructHasher::add_int(int64_t v) {
  U256 w = v < 0 ? U256(static_cast<uint64_t>(-(v + 1)) + 1).wrapping_neg()
                 : U256(static_cast<uint64_t>(v));
  return add_uint(w);
}

StructHasher& StructHasher::add_address(const Address& a) {
  buf_.insert(buf_.end(), 12, 0);
  buf_.insert(buf_.end(), a.bytes().begin(), a.bytes().end());
  return *this;
}

StructHasher& StructHasher::add_bytes(ByteView b) {
  return add_word(keccak256(b));
}
StructHasher& StructHasher::add_string(std::string_view s) {
  return add_word(keccak256(s));
}
Hash StructHasher::finish() const {
  return keccak256(ByteView(buf_));
}

std::string Domain::encoded_type() const {
  std::vector<std::string> fields;
  if (name) fields.push_back("string name");
  if (version) fields.push_back("string version");
  if (chain_id) fields.push_back("uint256 chainId");
  if (verifying_contract) fields.push_back("address verifyingContract");
  if (salt) fields.push_back("bytes32 salt");
  return fmt::format("EIP712Domain({})", fmt::join(fields, ","));
}

Hash Domain::separator() const {
  StructHasher h(type_hash(encoded_type()));
  if (name) h.add_string(*name);
  if (version) h.add_string(*version);
  if (chain_id) h.add_uint(*chain_id);
  if (verifying_contract) h.add_address(*verifying_contract);
  if (salt) h.add_word(*salt);
  return h.finish();
}

// Walks a value against its type, producing 32-byte words; counts values and depth.
struct TypedData::Encoder {
  const TypedData& td;
  size_t values = 0;

  Result<Hash> struct_hash(std::string_view type, const json& value, const std::string& path,
                           size_t depth) {
    if (depth > td.limits_.max_depth) {
      return fail(CryptoErrc::limit_exceeded,
                  fmt::format("{}: nested deeper than {} levels", path, td.limits_.max_depth));
    }
    if (!value.is_object()) {
      return fail(CryptoErrc::bad_value, fmt::format("{}: expected an object of type {}, got {}",
                                                     path, type, describe(value)));
    }
    auto it = td.types_.find(type);
    StructHasher h(td.type_hashes_.find(type)->second);
    for (const Field& f : it->second) {
      std::string fpath = path + "." + f.name;
      auto v = value.find(f.name);
      bool present = v != value.end();
      if (td.types_.contains(f.type)) {
        // eth_signTypedData_v4 encodes a missing or null struct as 32 zero bytes.
        if (!present || v->is_null()) {
          h.add_word(Hash());
          continue;
        }
      } else if (!present) {
        return fail(CryptoErrc::bad_value,
                    fmt::format("{}: missing value for field of type {}", fpath, f.type));
      }
      auto w = word(f.type, *v, fpath, depth + 1);
      if (!w) return std::unexpected(w.error());
      h.add_word(*w);
    }
    return h.finish();
  }

  Result<Hash> word(std::string_view type, const json& value, const std::string& path,
                    size_t depth) {
    if (++values > td.limits_.max_values) {
      return fail(CryptoErrc::limit_exceeded, fmt::format("{}: more than {} values in the document",
                                                          path, td.limits_.max_values));
    }
    std::string_view element, dim;
    if (split_array(type, &element, &dim)) {
      if (depth > td.limits_.max_depth) {
        return fail(CryptoErrc::limit_exceeded,
                    fmt::format("{}: nested deeper than {} levels", path, td.limits_.max_depth));
      }
      if (!value.is_array()) {
        return fail(CryptoErrc::bad_value, fmt::format("{}: expected an array for {}, got {}", path,
                                                       type, describe(value)));
      }
      if (!dim.empty() && std::to_string(value.size()) != dim) {
        return fail(CryptoErrc::bad_value, fmt::format("{}: {} needs exactly {} elements, got {}",
                                                       path, type, dim, value.size()));
      }
      std::vector<uint8_t> words;
      words.reserve(value.size() * 32);
      for (size_t i = 0; i < value.size(); ++i) {
        auto w = td.types_.contains(element) && value[i].is_null()
                     ? Result<Hash>(Hash())
                     : word(element, value[i], fmt::format("{}[{}]", path, i), depth + 1);
        if (!w) return std::unexpected(w.error());
        words.insert(words.end(), w->bytes().begin(), w->bytes().end());
      }
      return keccak256(ByteView(words));
    }
    if (td.types_.contains(type)) return struct_hash(type, value, path, depth);
    return atom(atom_of(type), type, value, path);
  }

  Result<Hash> atom(AtomType t, std::string_view type, const json& v, const std::string& path) {
    auto bad = [&](std::string_view why) {
      return fail(CryptoErrc::bad_value,
                  fmt::format("{}: {} is not a valid {}: {}", path, describe(v), type, why));
    };
    switch (t.kind) {
      case Atom::boolean:
        if (!v.is_boolean()) return bad("expected true or false");
        return Hash(U256(v.get<bool>() ? 1 : 0).to_be_bytes());
      case Atom::address: {
        if (!v.is_string()) return bad("expected a 0x-prefixed hex string");
        auto a = Address::parse(v.get_ref<const std::string&>());
        if (!a) return bad(a.error().message());
        Hash w;
        std::copy(a->bytes().begin(), a->bytes().end(), w.bytes().begin() + 12);
        return w;
      }
      case Atom::string:
        if (!v.is_string()) return bad("expected a string");
        return keccak256(std::string_view(v.get_ref<const std::string&>()));
      case Atom::bytes: {
        // As eth_signTypedData_v4: 0x-hex is decoded (odd length gets a leading zero), any
        // other string is taken as its UTF-8 bytes.
        if (!v.is_string()) return bad("expected a 0x-prefixed hex string");
        const std::string& s = v.get_ref<const std::string&>();
        if (s.starts_with("0x") || s.starts_with("0X")) {
          std::string digits = s.size() % 2 ? "0" : "";
          digits.append(s, 2);
          auto b = from_hex(digits, td.limits_.max_json_bytes);
          if (b) return keccak256(ByteView(*b));
        }
        return keccak256(std::string_view(s));
      }
      case Atom::fixed_bytes: {
        if (!v.is_string()) return bad("expected a 0x-prefixed hex string");
        const std::string& s = v.get_ref<const std::string&>();
        if (!s.starts_with("0x")) return bad("expected a 0x-prefixed hex string");
        std::array<uint8_t, 32> buf{};
        auto ok = from_hex_exact(s, std::span<uint8_t>(buf.data(), t.width));
        if (!ok) return bad(ok.error().message());
        return Hash(buf);
      }
      case Atom::uint:
      case Atom::sint:
        return integer(t, type, v, path);
      case Atom::none:
        break;
    }
    return fail(CryptoErrc::unknown_type, fmt::format("{}: unknown type '{}'", path, type));
  }

  Result<Hash> integer(AtomType t, std::string_view type, const json& v, const std::string& path) {
    bool is_signed = t.kind == Atom::sint;
    bool negative = false;
    U256 magnitude;
    auto bad = [&](std::string_view why) {
      return fail(CryptoErrc::bad_value,
                  fmt::format("{}: {} is not a valid {}: {}", path, describe(v), type, why));
    };
    if (v.is_number_unsigned()) {
      magnitude = U256(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
      int64_t i = v.get<int64_t>();
      negative = i < 0;
      magnitude =
          negative ? U256(static_cast<uint64_t>(-(i + 1)) + 1) : U256(static_cast<uint64_t>(i));
    } else if (v.is_number_float()) {
      double d = v.get<double>();
      if (d != std::floor(d) || std::fabs(d) > 9007199254740992.0) {
        return bad("not an integer that a JSON number can hold exactly; use a decimal string");
      }
      negative = d < 0;
      magnitude = U256(static_cast<uint64_t>(std::fabs(d)));
    } else if (v.is_string()) {
      std::string_view s = v.get_ref<const std::string&>();
      if (s.starts_with("-")) {
        negative = true;
        s.remove_prefix(1);
      }
      auto parsed = U256::parse(s);
      if (!parsed) return bad(parsed.error().message());
      magnitude = *parsed;
    } else {
      return bad("expected a number or a decimal or 0x-hex string");
    }
    if (magnitude.is_zero()) negative = false;
    if (negative && !is_signed) return bad("negative value for an unsigned type");
    unsigned bits = t.width;
    if (!is_signed) {
      if (magnitude.bit_length() > bits) return bad(fmt::format("does not fit in {} bits", bits));
      return Hash(magnitude.to_be_bytes());
    }
    U256 limit = U256(1) << (bits - 1);  // |min| for negatives; max+1 for positives
    if (negative ? magnitude > limit : magnitude >= limit) {
      return bad(fmt::format("out of range for a signed {}-bit integer", bits));
    }
    return Hash((negative ? magnitude.wrapping_neg() : magnitude).to_be_bytes());
  }
};

Result<TypedData> TypedData::parse(std::string_view json_text, const Limits& limits) {
  if (json_text.size() > limits.max_json_bytes) {
    return fail(CryptoErrc::limit_exceeded,
                fmt::format("typed data is {} bytes, more than the limit of {}", json_text.size(),
                            limits.max_json_bytes));
  }
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    return fail(CryptoErrc::bad_typed_data, fmt::format("not valid JSON: {}", e.what()));
  }
  return from_json(doc, limits);
}

Result<TypedData> TypedData::from_json(const json& doc, const Limits& limits) {
  auto bad = [](std::string msg) { return fail(CryptoErrc::bad_typed_data, std::move(msg)); };
  if (!doc.is_object()) return bad("typed data must be a JSON object");
  for (const char* key : {"types", "primaryType", "domain", "message"}) {
    if (!doc.contains(key)) return bad(fmt::format("typed data lacks the '{}' member", key));
  }
  const json& types = doc["types"];
  if (!types.is_object()) return bad("'types' must be an object");
  if (types.size() > limits.max_types) {
    return fail(CryptoErrc::limit_exceeded, fmt::format("'types' declares {} types, more than {}",
                                                        types.size(), limits.max_types));
  }
  if (!doc["primaryType"].is_string()) return bad("'primaryType' must be a string");
  if (!doc["domain"].is_object()) return bad("'domain' must be an object");
  if (!types.contains("EIP712Domain")) return bad("'types' must declare EIP712Domain");

  TypedData td;
  td.limits_ = limits;
  for (const auto& [name, fields] : types.items()) {
    std::string where = fmt::format("types.{}", name);
    if (!is_identifier(name))
      return bad(fmt::format("{}: '{}' is not a valid type name", where, name));
    if (atom_of(name).kind != Atom::none) {
      return bad(fmt::format("{}: a struct cannot take the name of atomic type '{}'", where, name));
    }
    if (!fields.is_array()) return bad(fmt::format("{} must be an array of fields", where));
    if (fields.size() > limits.max_fields_per_type) {
      return fail(CryptoErrc::limit_exceeded,
                  fmt::format("{} has {} fields, more than {}", where, fields.size(),
                              limits.max_fields_per_type));
    }
    std::vector<Field> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < fields.size(); ++i) {
      const json& f = fields[i];
      std::string fw = fmt::format("{}[{}]", where, i);
      if (!f.is_object() || !f.contains("name") || !f.contains("type") || !f["name"].is_string() ||
          !f["type"].is_string()) {
        return bad(fmt::format("{} must be an object with string 'name' and 'type'", fw));
      }
      Field field{f["name"].get<std::string>(), f["type"].get<std::string>()};
      if (!is_identifier(field.name)) {
        return bad(fmt::format("{}: '{}' is not a valid field name", fw, field.name));
      }
      if (!seen.insert(field.name).second) {
        return bad(fmt::format("{}: field '{}' is declared twice", fw, field.name));
      }
      out.push_back(std::move(field));
    }
    td.types_.emplace(name, std::move(out));
  }
  // Every field type must be atomic or declared, with well-formed array dimensions.
  for (const auto& [name, fields] : td.types_) {
    for (const Field& f : fields) {
      std::string_view t = f.type, element, dim;
      while (split_array(t, &element, &dim)) {
        bool digits_ok =
            dim.empty() || (dim.size() <= 6 && dim[0] != '0' &&
                            dim.find_first_not_of("0123456789") == std::string_view::npos);
        if (!digits_ok) {
          return bad(fmt::format("types.{}.{}: bad array dimension in '{}'", name, f.name, f.type));
        }
        t = element;
      }
      if (atom_of(t).kind == Atom::none && !td.types_.contains(t)) {
        return fail(CryptoErrc::unknown_type,
                    fmt::format("types.{}.{}: unknown type '{}'", name, f.name, std::string(t)));
      }
    }
  }
  td.primary_ = doc["primaryType"].get<std::string>();
  if (!td.types_.contains(td.primary_)) {
    return fail(CryptoErrc::unknown_type,
                fmt::format("primaryType '{}' is not declared in 'types'", td.primary_));
  }
  for (const auto& entry : td.types_) {
    auto enc = td.encode_type(entry.first);
    td.type_hashes_.emplace(entry.first, type_hash(*enc));
  }
  td.doc_ = std::make_shared<const json>(doc);
  return td;
}

Result<std::string> TypedData::encode_type(std::string_view type) const {
  auto it = types_.find(type);
  if (it == types_.end()) {
    return fail(CryptoErrc::unknown_type, fmt::format("unknown type '{}'", type));
  }
  // Collect referenced struct types (recursive types are fine: each is visited once).
  std::set<std::string, std::less<>> deps;
  std::vector<std::string_view> stack{type};
  while (!stack.empty()) {
    std::string_view t = stack.back();
    stack.pop_back();
    for (const Field& f : types_.find(t)->second) {
      std::string_view b = base_type(f.type);
      if (types_.contains(b) && b != type && deps.insert(std::string(b)).second) stack.push_back(b);
    }
  }
  auto one = [&](std::string_view name) {
    std::vector<std::string> parts;
    for (const Field& f : types_.find(name)->second) parts.push_back(f.type + " " + f.name);
    return fmt::format("{}({})", name, fmt::join(parts, ","));
  };
  std::string out = one(type);
  for (const std::string& d : deps) out += one(d);
  return out;
}

Result<Hash> TypedData::hash_struct(std::string_view type, const json& value) const {
  if (!types_.contains(type)) {
    return fail(CryptoErrc::unknown_type, fmt::format("unknown type '{}'", type));
  }
  Encoder enc{*this};
  return enc.struct_hash(type, value, std::string(type == "EIP712Domain" ? "domain" : "message"),
                         0);
}

Result<Hash> TypedData::domain_separator() const {
  return hash_struct("EIP712Domain", (*doc_)["domain"]);
}

Result<Hash> TypedData::message_hash() const {
  return hash_struct(primary_, (*doc_)["message"]);
}

Result<Hash> TypedData::digest() const {
  auto domain = domain_separator();
  if (!domain) return domain;
  if (primary_ == "EIP712Domain") {
    std::array<uint8_t, 34> buf;
    buf[0] = 0x19;
    buf[1] = 0x01;
    std::copy(domain->bytes().begin(), domain->bytes().end(), buf.begin() + 2);
    return keccak256(ByteView(buf));
  }
  auto msg = message_hash();
  if (!msg) return msg;
  return eip712::digest(*domain, *msg);
}

}  // namespace ipsx::crypto::eip712
