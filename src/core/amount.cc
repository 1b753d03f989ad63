#include "core/amount.h"

#include <fmt/format.h>

namespace ipsx {
namespace {

const U256 kOneToken = U256(1'000'000'000'000'000'000ull);  // 10^18

}  // namespace

Result<Amount> Amount::from_tokens(uint64_t tokens) {
  auto v = U256(tokens).checked_mul(kOneToken);
  if (!v) return fail(CoreErrc::overflow, "amount overflows");
  return Amount(*v);
}

Result<Amount> Amount::parse(std::string_view text) {
  if (text.empty()) return fail(CoreErrc::parse_error, "empty amount");
  if (text.front() == '-') return fail(CoreErrc::parse_error, "amounts cannot be negative");
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (dot != std::string_view::npos && (whole.empty() || frac.empty())) {
    return fail(CoreErrc::parse_error,
                fmt::format("amount '{}' needs digits on both sides of the decimal point", text));
  }
  if (frac.size() > kDecimals) {
    return fail(CoreErrc::parse_error, fmt::format("amount '{}' has {} decimal places; IPSX has {}",
                                                   text, frac.size(), kDecimals));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c < '0' || c > '9') && i != dot) {
      return fail(CoreErrc::parse_error,
                  fmt::format("invalid character '{}' at position {} in amount '{}'", c, i, text));
    }
  }
  std::string digits(whole);
  digits += frac;
  digits.append(kDecimals - frac.size(), '0');
  auto v = U256::from_dec(digits);
  if (!v)
    return fail(CoreErrc::overflow, fmt::format("amount '{}' exceeds 2^256-1 base units", text));
  return Amount(*v);
}

Result<Amount> Amount::parse_base(std::string_view text) {
  auto v = U256::parse(text);
  if (!v) return std::unexpected(v.error().with_context("amount in base units"));
  return Amount(*v);
}

std::string Amount::to_string() const {
  std::string digits = base_.to_dec();
  if (digits.size() <= kDecimals) digits.insert(0, kDecimals + 1 - digits.size(), '0');
  std::string whole = digits.substr(0, digits.size() - kDecimals);
  std::string frac = digits.substr(digits.size() - kDecimals);
  size_t last = frac.find_last_not_of('0');
  if (last == std::string::npos) return whole;
  return whole + "." + frac.substr(0, last + 1);
}

Result<Amount> Amount::add(const Amount& o) const {
  auto v = base_.checked_add(o.base_);
  if (!v)
    return fail(CoreErrc::overflow, fmt::format("{} + {} overflows", to_string(), o.to_string()));
  return Amount(*v);
}

Result<Amount> Amount::sub(const Amount& o) const {
  auto v = base_.checked_sub(o.base_);
  if (!v) {
    return fail(CoreErrc::underflow,
                fmt::format("{} - {} would be negative", to_string(), o.to_string()));
  }
  return Amount(*v);
}

Result<Amount> Amount::mul(const U256& factor) const {
  auto v = base_.checked_mul(factor);
  if (!v) {
    return fail(CoreErrc::overflow, fmt::format("{} * {} overflows", to_string(), factor.to_dec()));
  }
  return Amount(*v);
}

Result<Amount> Amount::div(const U256& divisor) const {
  auto v = base_.checked_div(divisor);
  if (!v) return fail(CoreErrc::division_by_zero, "amount divided by zero");
  return Amount(*v);
}

Result<Amount> Amount::mul_div(const U256& numerator, const U256& denominator) const {
  if (denominator.is_zero()) return fail(CoreErrc::division_by_zero, "amount divided by zero");
  auto product = mul(numerator);
  if (!product) return product;
  return product->div(denominator);
}

}  // namespace ipsx
