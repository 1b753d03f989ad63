#include "core/error.h"

namespace ipsx {

Error Error::with_context(std::string_view context) const {
  std::string m(context);
  m += ": ";
  m += message_;
  return Error(code_, std::move(m));
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

}  // namespace ipsx
