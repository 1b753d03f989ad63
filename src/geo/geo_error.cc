#include "geo/geo_error.h"

#include <fmt/format.h>

namespace ipsx::geo {
namespace {

class GeoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.geo"; }
  std::string message(int c) const override {
    switch (static_cast<GeoErrc>(c)) {
      case GeoErrc::not_found:
        return "address not found";
      case GeoErrc::bad_database:
        return "bad database";
      case GeoErrc::bad_table:
        return "bad static table";
      case GeoErrc::bad_address:
        return "bad address";
      case GeoErrc::io_error:
        return "I/O error";
      case GeoErrc::location_mismatch:
        return "location mismatch";
    }
    return "unknown geo error";
  }
};

}  // namespace

const std::error_category& geo_category() {
  static const GeoCategory category;
  return category;
}

}  // namespace ipsx::geo
