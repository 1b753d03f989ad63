// Errors as values. Every layer has its own error enum with a std::error_category; an Error pairs
// that code (for programs to branch on) with a message that names the problem (for people).
// Functions that can fail return Result<T>; exceptions never cross a layer boundary.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace ipsx {

// A failure: a machine-readable code, the input at fault if one is (`field`), and a
// human-readable message. Programs branch on the code and the field, never on the message.
// Cheap to move.
class Error {
 public:
  Error(std::error_code code, std::string message) : code_(code), message_(std::move(message)) {}
  // FIELD: the path of the input at fault, as the API names it ("offer.capacity",
  // "request.countries[2]", "offer" for the order as a whole); empty if no input is.
  Error(std::error_code code, std::string message, std::string field)
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  const std::error_code& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }
  // The first segment of field(): "offer" for "offer.capacity", "" if there is no field.
  std::string_view field_root() const;

  // Returns a copy whose message is prefixed with `context: ` (what was being done: "the exit's
  // pair channel"); the field stays.
  Error with_context(std::string_view context) const;

  friend bool operator==(const Error&, const Error&) = default;

 private:
  std::error_code code_;
  std::string message_;
  std::string field_;
};

template <class T>
using Result = std::expected<T, Error>;

// The core layer's error codes.
enum class CoreErrc {
  invalid_argument = 1,
  parse_error,
  overflow,
  underflow,
  division_by_zero,
  bad_checksum,
  io_error,
};

const std::error_category& core_category();
inline std::error_code make_error_code(CoreErrc e) {
  return {static_cast<int>(e), core_category()};
}

// Quotes untrusted text for an error message: in single quotes, at most `max_bytes` of it (then
// "..."), bytes outside printable ASCII and the quote and backslash themselves as \xNN. The
// result never holds a control character, so messages are safe to log and to put in a header.
std::string quoted(std::string_view text, size_t max_bytes = 64);

// Builds the unexpected value for a Result: `return fail(CoreErrc::overflow, "amount overflows");`
template <class Code>
std::unexpected<Error> fail(Code code, std::string message) {
  return std::unexpected<Error>(Error(make_error_code(code), std::move(message)));
}

// The same for an input at fault: the message reads `FIELD: WHY` and the field travels as a
// value (`return fail_at(LedgerErrc::bad_order, "offer.capacity", "must be at least 1");`).
template <class Code>
std::unexpected<Error> fail_at(Code code, std::string field, std::string_view why) {
  std::string message = field;
  message += ": ";
  message += why;
  return std::unexpected<Error>(Error(make_error_code(code), std::move(message), std::move(field)));
}

}  // namespace ipsx

template <>
struct std::is_error_code_enum<ipsx::CoreErrc> : std::true_type {};
