#include "eth/abi.h"

#include <fmt/format.h>
#include <algorithm>
#include <limits>

namespace ipsx::eth::abi {

// ---- I256 and Value ----------------------------------------------------------------------------

I256::I256(int64_t v) : bits_(static_cast<uint64_t>(v)) {
  if (v < 0) bits_ = bits_ | ~U256(~0ull);  // sign-extend the upper three limbs
}

Result<I256> I256::from_dec(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  auto magnitude = U256::from_dec(negative ? text.substr(1) : text);
  if (!magnitude) return fail(EthErrc::bad_value, fmt::format("not an integer: '{}'", text));
  U256 limit = U256(1) << 255;
  if (negative ? *magnitude > limit : *magnitude >= limit) {
    return fail(EthErrc::bad_value, fmt::format("{} does not fit int256", text));
  }
  return from_bits(negative ? magnitude->wrapping_neg() : *magnitude);
}

bool I256::fits(unsigned n) const {
  if (n >= 256) return true;
  U256 top = bits_ >> (n - 1);
  return top.is_zero() || top == (U256::max() >> (n - 1));
}

std::string I256::to_dec() const {
  return is_negative() ? "-" + bits_.wrapping_neg().to_dec() : bits_.to_dec();
}

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

std::string Value::to_string() const {
  struct Visitor {
    std::string operator()(const U256& v) const { return v.to_dec(); }
    std::string operator()(const I256& v) const { return v.to_dec(); }
    std::string operator()(const Address& v) const { return v.to_string(); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const Bytes& v) const { return to_hex(v); }
    std::string operator()(const std::string& v) const { return quote(v); }
    std::string operator()(const List& v) const {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i != 0) out += ", ";
        out += v[i].to_string();
      }
      return out + "]";
    }
  };
  return std::visit(Visitor{}, v_);
}

namespace {

// ---- Paths for messages ------------------------------------------------------------------------

// Where a value sits: "argument 2[3].1". A chain of stack frames, rendered only on error.
struct Path {
  const Path* parent = nullptr;
  size_t index = 0;
  enum class Step { argument, element, component } step = Step::argument;

  std::string render() const {
    std::string prefix = parent ? parent->render() : "";
    switch (step) {
      case Step::argument:
        return fmt::format("argument {}", index);
      case Step::element:
        return fmt::format("{}[{}]", prefix, index);
      case Step::component:
        return fmt::format("{}.{}", prefix, index);
    }
    return prefix;
  }
  Path child(const Type& parent_type, size_t i) const {
    return Path{this, i, parent_type.kind() == Type::Kind::tuple ? Step::component : Step::element};
  }
};

constexpr size_t kWord = 32;

size_t padded(size_t n) {
  return (n + kWord - 1) / kWord * kWord;
}

void append_word(Bytes& out, const U256& v) {
  auto be = v.to_be_bytes();
  out.insert(out.end(), be.begin(), be.end());
}

// ---- Encoding ----------------------------------------------------------------------------------

class Encoder {
 public:
  std::unexpected<Error> mismatch(const Path& path, const Type& t, std::string_view what) const {
    return fail(EthErrc::bad_value,
                fmt::format("ABI encode: {}: {}: {}", path.render(), t.to_string(), what));
  }

  // Appends the encoding of `v` as a `t` (for dynamic types: the tail, i.e. what an offset in
  // the head points to).
  Result<void> encode(const Type& t, const Value& v, const Path& path, Bytes& out) {
    using K = Type::Kind;
    switch (t.kind()) {
      case K::uint: {
        auto* x = v.get_if<U256>();
        if (!x) return mismatch(path, t, "expected an unsigned integer");
        if (x->bit_length() > t.bits()) {
          return mismatch(path, t, fmt::format("{} does not fit {} bits", x->to_dec(), t.bits()));
        }
        append_word(out, *x);
        return {};
      }
      case K::sint: {
        auto* x = v.get_if<I256>();
        if (!x) return mismatch(path, t, "expected a signed integer");
        if (!x->fits(t.bits())) {
          return mismatch(path, t, fmt::format("{} does not fit {} bits", x->to_dec(), t.bits()));
        }
        append_word(out, x->bits());
        return {};
      }
      case K::address: {
        auto* x = v.get_if<Address>();
        if (!x) return mismatch(path, t, "expected an address");
        out.insert(out.end(), 12, 0);
        out.insert(out.end(), x->bytes().begin(), x->bytes().end());
        return {};
      }
      case K::boolean: {
        auto* x = v.get_if<bool>();
        if (!x) return mismatch(path, t, "expected a bool");
        append_word(out, U256(*x ? 1 : 0));
        return {};
      }
      case K::fixed_bytes: {
        auto* x = v.get_if<Bytes>();
        if (!x) return mismatch(path, t, "expected bytes");
        if (x->size() != t.length()) {
          return mismatch(path, t, fmt::format("expected {} bytes, got {}", t.length(), x->size()));
        }
        out.insert(out.end(), x->begin(), x->end());
        out.insert(out.end(), kWord - x->size(), 0);
        return {};
      }
      case K::bytes:
      case K::string: {
        ByteView content;
        if (t.kind() == K::bytes) {
          auto* x = v.get_if<Bytes>();
          if (!x) return mismatch(path, t, "expected bytes");
          content = *x;
        } else {
          auto* x = v.get_if<std::string>();
          if (!x) return mismatch(path, t, "expected a string");
          content = as_bytes(*x);
        }
        append_word(out, U256(content.size()));
        out.insert(out.end(), content.begin(), content.end());
        out.insert(out.end(), padded(content.size()) - content.size(), 0);
        return {};
      }
      case K::array:
      case K::fixed_array:
      case K::tuple: {
        auto* list = v.get_if<Value::List>();
        if (!list) return mismatch(path, t, "expected a list");
        if (t.kind() == K::array) {
          append_word(out, U256(list->size()));
        } else {
          size_t want = t.kind() == K::tuple ? t.components().size() : t.length();
          if (list->size() != want) {
            return mismatch(path, t, fmt::format("expected {} values, got {}", want, list->size()));
          }
        }
        return encode_sequence(t, *list, &path, out);
      }
    }
    return mismatch(path, t, "unknown type");
  }

  // Heads then tails of `values`, typed by the components of tuple `t` or the element of array
  // `t`, or (for the top level, `parent` null) by `types`.
  Result<void> encode_sequence(const Type& t, const Value::List& values, const Path* parent,
                               Bytes& out, const std::vector<Type>* types = nullptr) {
    auto type_at = [&](size_t i) -> const Type& {
      if (types) return (*types)[i];
      return t.kind() == Type::Kind::tuple ? t.components()[i] : t.element();
    };
    size_t head_size = 0;
    for (size_t i = 0; i < values.size(); ++i) head_size += type_at(i).head_size();
    out.reserve(out.size() + head_size);
    Bytes tail;
    for (size_t i = 0; i < values.size(); ++i) {
      const Type& ct = type_at(i);
      Path path = parent ? parent->child(t, i) : Path{nullptr, i, Path::Step::argument};
      if (ct.is_dynamic()) {
        append_word(out, U256(head_size + tail.size()));
        if (auto ok = encode(ct, values[i], path, tail); !ok) return ok;
      } else {
        if (auto ok = encode(ct, values[i], path, out); !ok) return ok;
      }
    }
    out.insert(out.end(), tail.begin(), tail.end());
    return {};
  }
};

// ---- Decoding ----------------------------------------------------------------------------------

bool has_empty_tuple(const Type& t) {
  if (t.kind() == Type::Kind::tuple && t.components().empty()) return true;
  if (t.kind() == Type::Kind::array || t.kind() == Type::Kind::fixed_array) {
    return has_empty_tuple(t.element());
  }
  for (const Type& c : t.components()) {
    if (has_empty_tuple(c)) return true;
  }
  return false;
}

class Decoder {
 public:
  explicit Decoder(ByteView data) : data_(data), budget_(4 * (data.size() / kWord) + 64) {}

  size_t extent() const { return extent_; }

  std::unexpected<Error> error(EthErrc code, const Path* path, size_t offset,
                               std::string_view what) const {
    return fail(code, fmt::format("ABI decode: {}: at offset {}: {}",
                                  path ? path->render() : "data", offset, what));
  }

  // The 32-byte word at `pos`.
  Result<ByteView> word(size_t pos, const Path* path) {
    if (pos > data_.size() || data_.size() - pos < kWord) {
      return error(EthErrc::truncated, path, pos,
                   fmt::format("word runs past the end ({} bytes)", data_.size()));
    }
    if (budget_ == 0) {
      return error(EthErrc::too_large, path, pos,
                   "decoding reads far more words than the data holds (overlapping offsets)");
    }
    --budget_;
    extent_ = std::max(extent_, pos + kWord);
    return data_.subspan(pos, kWord);
  }

  // A word holding an offset or a length that must not exceed `limit`.
  Result<size_t> small_word(size_t pos, const Path* path, size_t limit, std::string_view what) {
    auto w = word(pos, path);
    if (!w) return std::unexpected(w.error());
    U256 v = U256::from_be_bytes(w->first<kWord>());
    if (!v.fits_u64() || v.low64() > limit) {
      return error(EthErrc::bad_offset, path, pos,
                   fmt::format("{} {} out of range (at most {})", what, v.to_dec(), limit));
    }
    return static_cast<size_t>(v.low64());
  }

  // Decodes the value whose encoding starts at `pos` (for a dynamic type: where its offset
  // points).
  Result<Value> decode(const Type& t, size_t pos, const Path* path) {
    using K = Type::Kind;
    if (t.is_word()) {
      auto w = word(pos, path);
      if (!w) return std::unexpected(w.error());
      return decode_word(t, *w, pos, path);
    }
    switch (t.kind()) {
      case K::bytes:
      case K::string: {
        size_t room = data_.size() - std::min(data_.size(), pos + kWord);
        auto len = small_word(pos, path, room, "length");
        if (!len) return std::unexpected(len.error());
        size_t start = pos + kWord;
        size_t full = padded(*len);
        if (full > room) {
          return error(EthErrc::truncated, path, start,
                       fmt::format("{} bytes lack their padding to {}", *len, full));
        }
        if (full / kWord > budget_) {
          return error(EthErrc::too_large, path, start,
                       "decoding reads far more words than the data holds (overlapping offsets)");
        }
        budget_ -= full / kWord;
        extent_ = std::max(extent_, start + full);
        for (size_t i = start + *len; i < start + full; ++i) {
          if (data_[i] != 0) {
            return error(EthErrc::bad_padding, path, i, "non-zero padding after the content");
          }
        }
        ByteView content = data_.subspan(start, *len);
        if (t.kind() == K::bytes) return Value::bytes(content);
        return Value::string(std::string(content.begin(), content.end()));
      }
      case K::array: {
        size_t room = data_.size() - std::min(data_.size(), pos + kWord);
        auto n = small_word(pos, path, room / t.element().head_size(), "array length");
        if (!n) return std::unexpected(n.error());
        return as_value(decode_sequence(t, *n, pos + kWord, path));
      }
      case K::fixed_array:
        return as_value(decode_sequence(t, t.length(), pos, path));
      case K::tuple:
        return as_value(decode_sequence(t, t.components().size(), pos, path));
      default:
        break;
    }
    return error(EthErrc::bad_type, path, pos, "unknown type");
  }

  // `n` values typed by tuple `t`'s components or array `t`'s element (or `types` at the top
  // level), heads starting at `base`; offsets are relative to `base`.
  static Result<Value> as_value(Result<Value::List> list) {
    if (!list) return std::unexpected(list.error());
    return Value::list(std::move(*list));
  }

  Result<Value::List> decode_sequence(const Type& t, size_t n, size_t base, const Path* parent,
                                      const std::vector<Type>* types = nullptr) {
    auto type_at = [&](size_t i) -> const Type& {
      if (types) return (*types)[i];
      return t.kind() == Type::Kind::tuple ? t.components()[i] : t.element();
    };
    if (base > data_.size()) {
      return error(EthErrc::bad_offset, parent, base, "points past the end");
    }
    size_t room = data_.size() - base;
    // Reject impossible counts before allocating (every type here heads at least one word).
    if (n > room / kWord + 1) {
      return error(EthErrc::truncated, parent, base,
                   fmt::format("{} values cannot fit in {} bytes", n, room));
    }
    Value::List values;
    values.reserve(n);
    size_t pos = base;
    for (size_t i = 0; i < n; ++i) {
      const Type& ct = type_at(i);
      Path path = parent ? parent->child(t, i) : Path{nullptr, i, Path::Step::argument};
      Result<Value> v;
      if (ct.is_dynamic()) {
        auto off = small_word(pos, &path, room, "offset");
        if (!off) return std::unexpected(off.error());
        v = decode(ct, base + *off, &path);
      } else {
        v = decode(ct, pos, &path);
      }
      if (!v) return std::unexpected(v.error());
      values.push_back(std::move(*v));
      // Past the end, later reads fail as truncated; never let `pos` wrap.
      pos = ct.head_size() > data_.size() - std::min(pos, data_.size()) ? data_.size() + 1
                                                                        : pos + ct.head_size();
    }
    return values;
  }

  Result<Value> decode_word(const Type& t, ByteView w, size_t pos, const Path* path) const {
    U256 v = U256::from_be_bytes(w.first<kWord>());
    auto bad = [&](std::string_view what) {
      return error(EthErrc::bad_padding, path, pos,
                   fmt::format("{} word {}: {}", t.to_string(), to_hex(w), what));
    };
    switch (t.kind()) {
      case Type::Kind::uint:
        if (v.bit_length() > t.bits()) return bad("bits set above the width");
        return Value::uint(v);
      case Type::Kind::sint: {
        I256 s = I256::from_bits(v);
        if (!s.fits(t.bits())) return bad("not a sign extension");
        return Value::sint(s);
      }
      case Type::Kind::address:
        if (v.bit_length() > 160) return bad("non-zero bytes before the address");
        return Value::address(Address(w.subspan<12, 20>()));
      case Type::Kind::boolean:
        if (v > U256(1)) return bad("bool must be 0 or 1");
        return Value::boolean(v == U256(1));
      case Type::Kind::fixed_bytes:
        for (size_t i = t.length(); i < kWord; ++i) {
          if (w[i] != 0) return bad("non-zero bytes after the value");
        }
        return Value::bytes(w.first(t.length()));
      default:
        break;
    }
    return bad("not a one-word type");
  }

 private:
  ByteView data_;
  size_t budget_;
  size_t extent_ = 0;
};

}  // namespace

Result<Bytes> encode(const std::vector<Type>& types, const std::vector<Value>& values) {
  if (types.size() != values.size()) {
    return fail(EthErrc::bad_value,
                fmt::format("ABI encode: {} types but {} values", types.size(), values.size()));
  }
  Bytes out;
  Encoder enc;
  Type none = Type::boolean();
  if (auto ok = enc.encode_sequence(none, values, nullptr, out, &types); !ok) {
    return std::unexpected(ok.error());
  }
  return out;
}

Result<std::vector<Value>> decode(const std::vector<Type>& types, ByteView data) {
  for (const Type& t : types) {
    if (has_empty_tuple(t)) {
      return fail(EthErrc::bad_type, fmt::format("ABI decode: {}: empty tuple", t.to_string()));
    }
  }
  Decoder dec(data);
  Type none = Type::boolean();
  auto v = dec.decode_sequence(none, types.size(), 0, nullptr, &types);
  if (!v) return std::unexpected(v.error());
  if (dec.extent() < data.size()) {
    return fail(EthErrc::trailing_bytes,
                fmt::format("ABI decode: at offset {}: {} bytes after the encoding", dec.extent(),
                            data.size() - dec.extent()));
  }
  return std::move(*v);
}

}  // namespace ipsx::eth::abi
