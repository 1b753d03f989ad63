// ISO 3166-1 alpha-2 country codes: the 249 officially assigned ones.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ipsx {

// True iff `code` is two upper-case letters assigned by ISO 3166-1 ("DE", "US", ...).
bool is_country_code(std::string_view code);

// Every assigned code, sorted.
const std::array<std::array<char, 2>, 249>& country_codes();

}  // namespace ipsx
