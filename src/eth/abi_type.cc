#include "eth/abi_type.h"

#include <fmt/format.h>
#include <cstdint>
#include <limits>

namespace ipsx::eth::abi {
namespace {

size_t saturating_mul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) {
    return std::numeric_limits<size_t>::max();
  }
  return a * b;
}

size_t saturating_add(size_t a, size_t b) {
  return b > std::numeric_limits<size_t>::max() - a ? std::numeric_limits<size_t>::max() : a + b;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Recursive-descent parser over canonical type text. Every failure names the position.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::unexpected<Error> error(EthErrc code, std::string_view what) const {
    return fail(code, fmt::format("ABI type '{}': at {}: {}", text_, pos_, what));
  }

  bool at_end() const { return pos_ == text_.size(); }

  Result<Type> parse_type(size_t depth) {
    if (depth > kMaxTypeDepth) {
      return error(EthErrc::too_deep, fmt::format("nested more than {} deep", kMaxTypeDepth));
    }
    Result<Type> base = peek() == '(' ? parse_tuple(depth) : parse_elementary();
    if (!base) return base;
    Type t = std::move(*base);
    while (peek() == '[') {
      if (++depth > kMaxTypeDepth) {
        return error(EthErrc::too_deep, fmt::format("nested more than {} deep", kMaxTypeDepth));
      }
      ++pos_;
      if (peek() == ']') {
        ++pos_;
        t = Type::array(std::move(t));
        continue;
      }
      size_t start = pos_;
      uint64_t k = 0;
      while (is_digit(peek())) {
        if (pos_ - start >= 9) return error(EthErrc::too_large, "array length too large");
        k = k * 10 + static_cast<uint64_t>(text_[pos_++] - '0');
      }
      if (pos_ == start) return error(EthErrc::bad_type, "expected an array length or ']'");
      if (text_[start] == '0') {
        return error(EthErrc::bad_type, "array length must be positive, without leading zeros");
      }
      if (peek() != ']') return error(EthErrc::bad_type, "expected ']'");
      ++pos_;
      t = Type::fixed_array(std::move(t), k);
      if (t.head_size() > kMaxStaticSize) {
        return error(EthErrc::too_large,
                     fmt::format("static type encodes to more than {} bytes", kMaxStaticSize));
      }
    }
    return t;
  }

  // '(' [type (',' type)*] ')'; an empty list only if `allow_empty`.
  Result<std::vector<Type>> parse_components(size_t depth, bool allow_empty) {
    if (peek() != '(') return error(EthErrc::bad_type, "expected '('");
    ++pos_;
    std::vector<Type> out;
    if (peek() == ')') {
      if (!allow_empty) return error(EthErrc::bad_type, "empty tuple");
      ++pos_;
      return out;
    }
    for (;;) {
      auto t = parse_type(depth + 1);
      if (!t) return std::unexpected(t.error());
      out.push_back(std::move(*t));
      char c = peek();
      ++pos_;
      if (c == ')') return out;
      if (c != ',') {
        --pos_;
        return error(EthErrc::bad_type, "expected ',' or ')'");
      }
    }
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  Result<Type> parse_tuple(size_t depth) {
    auto comps = parse_components(depth, false);
    if (!comps) return std::unexpected(comps.error());
    Type t = Type::tuple(std::move(*comps));
    if (t.head_size() > kMaxStaticSize) {
      return error(EthErrc::too_large,
                   fmt::format("static type encodes to more than {} bytes", kMaxStaticSize));
    }
    return t;
  }

  Result<Type> parse_elementary() {
    size_t start = pos_;
    while (pos_ < text_.size() && ((text_[pos_] >= 'a' && text_[pos_] <= 'z') ||
                                   (text_[pos_] >= 'A' && text_[pos_] <= 'Z'))) {
      ++pos_;
    }
    std::string_view name = text_.substr(start, pos_ - start);
    size_t digits_start = pos_;
    while (is_digit(peek())) ++pos_;
    std::string_view digits = text_.substr(digits_start, pos_ - digits_start);
    unsigned n = 0;
    if (digits.size() > 3 || (!digits.empty() && digits[0] == '0')) {
      pos_ = digits_start;
      return error(EthErrc::bad_type, fmt::format("bad size '{}'", digits));
    }
    for (char c : digits) n = n * 10 + static_cast<unsigned>(c - '0');
    auto bad_size = [&](std::string_view rule) {
      pos_ = digits_start;
      return error(EthErrc::bad_type, fmt::format("{}{}: {}", name, digits, rule));
    };
    if (name == "uint" || name == "int") {
      if (digits.empty()) n = 256;
      if (n < 8 || n > 256 || n % 8 != 0) return bad_size("width must be 8..256 by 8");
      return name == "uint" ? Type::uint(n) : Type::sint(n);
    }
    if (name == "bytes") {
      if (digits.empty()) return Type::bytes();
      if (n < 1 || n > 32) return bad_size("size must be 1..32");
      return Type::fixed_bytes(n);
    }
    if (digits.empty()) {
      if (name == "address") return Type::address();
      if (name == "bool") return Type::boolean();
      if (name == "string") return Type::string();
    }
    pos_ = start;
    if (name.empty()) return error(EthErrc::bad_type, "expected a type");
    return error(EthErrc::bad_type, fmt::format("unknown type '{}{}'", name, digits));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

Result<void> check_length(std::string_view text) {
  if (text.size() > kMaxTypeText) {
    return fail(EthErrc::too_large,
                fmt::format("ABI type of {} characters (max {})", text.size(), kMaxTypeText));
  }
  return {};
}

}  // namespace

Type::Type(Kind kind, unsigned bits, size_t length, std::vector<Type> children)
    : kind_(kind), bits_(bits), length_(length), children_(std::move(children)) {
  switch (kind_) {
    case Kind::bytes:
    case Kind::string:
    case Kind::array:
      dynamic_ = true;
      break;
    case Kind::fixed_array:
      dynamic_ = children_[0].dynamic_;
      static_size_ = saturating_mul(children_[0].static_size_, length_);
      break;
    case Kind::tuple:
      static_size_ = 0;
      for (const Type& c : children_) {
        dynamic_ = dynamic_ || c.dynamic_;
        static_size_ = saturating_add(static_size_, c.head_size());
      }
      break;
    default:
      break;
  }
  if (dynamic_) static_size_ = 32;
}

Result<Type> Type::parse(std::string_view text) {
  if (auto ok = check_length(text); !ok) return std::unexpected(ok.error());
  Parser p(text);
  auto t = p.parse_type(0);
  if (!t) return t;
  if (!p.at_end()) return p.error(EthErrc::bad_type, "unexpected text after the type");
  return t;
}

Result<std::vector<Type>> Type::parse_list(std::string_view text) {
  if (auto ok = check_length(text); !ok) return std::unexpected(ok.error());
  Parser p(text);
  auto list = p.parse_components(0, true);
  if (!list) return list;
  if (!p.at_end()) return p.error(EthErrc::bad_type, "unexpected text after the list");
  return list;
}

std::string Type::to_string() const {
  switch (kind_) {
    case Kind::uint:
      return fmt::format("uint{}", bits_);
    case Kind::sint:
      return fmt::format("int{}", bits_);
    case Kind::address:
      return "address";
    case Kind::boolean:
      return "bool";
    case Kind::fixed_bytes:
      return fmt::format("bytes{}", length_);
    case Kind::bytes:
      return "bytes";
    case Kind::string:
      return "string";
    case Kind::array:
      return children_[0].to_string() + "[]";
    case Kind::fixed_array:
      return fmt::format("{}[{}]", children_[0].to_string(), length_);
    case Kind::tuple:
      return abi::to_string(children_);
  }
  return "?";
}

std::string to_string(const std::vector<Type>& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) {
    if (i != 0) out += ',';
    out += types[i].to_string();
  }
  out += ')';
  return out;
}

}  // namespace ipsx::eth::abi
