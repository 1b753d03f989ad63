#include "core/error.h"

namespace ipsx {

std::string_view Error::field_root() const {
  std::string_view f = field_;
  return f.substr(0, f.find_first_of(".["));
}

Error Error::with_context(std::string_view context) const {
  std::string m(context);
  m += ": ";
  m += message_;
  return Error(code_, std::move(m), field_);
}

namespace {

class CoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.core"; }
  std::string message(int c) const override {
    switch (static_cast<CoreErrc>(c)) {
      case CoreErrc::invalid_argument:
        return "invalid argument";
      case CoreErrc::parse_error:
        return "parse error";
      case CoreErrc::overflow:
        return "arithmetic overflow";
      case CoreErrc::underflow:
        return "arithmetic underflow";
      case CoreErrc::division_by_zero:
        return "division by zero";
      case CoreErrc::bad_checksum:
        return "bad checksum";
      case CoreErrc::io_error:
        return "I/O error";
    }
    return "unknown core error";
  }
};

}  // namespace

const std::error_category& core_category() {
  static const CoreCategory category;
  return category;
}

std::string quoted(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  out += '\'';
  if (text.size() > max_bytes) out += "...";
  return out;
}

}  // namespace ipsx
