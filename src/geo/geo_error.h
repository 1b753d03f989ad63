// The geo layer's error codes: what opening the databases and looking an address up can refuse,
// and what check_offer_location() finds wrong with an offer. Messages name the file and line, the
// address, or the field and both values.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"

namespace ipsx::geo {

enum class GeoErrc {
  not_found = 1,      // no source knows the address (or not the field an offer claims)
  bad_database,       // a .mmdb or ASN CSV file that is corrupt, truncated or of the wrong shape
  bad_table,          // the operator's static table: a line that breaks its grammar, a duplicate
  bad_address,        // text that is not an IP address or range
  io_error,           // a file that cannot be opened or read, or is over its size limit
  location_mismatch,  // an offer claims a country, ASN or type that the databases contradict
};

const std::error_category& geo_category();
inline std::error_code make_error_code(GeoErrc e) {
  return {static_cast<int>(e), geo_category()};
}

}  // namespace ipsx::geo

template <>
struct std::is_error_code_enum<ipsx::geo::GeoErrc> : std::true_type {};
