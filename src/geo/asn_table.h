// Address ranges -> autonomous system (number and organisation), from the CSV files of
// @ip-location-db/asn: `start,end,asn,organisation`, an inclusive range per line, the addresses
// either as text ("1.0.0.0", "2001:200::") or as decimal numbers ("16777216"), the organisation
// quoted as in RFC 4180 when it holds a comma or a quote. Held as one sorted vector of disjoint
// ranges per family and searched by bisection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "vocab/ip.h"

namespace ipsx::geo {

enum class IpFamily : uint8_t { v4, v6 };

// What the table knows of one address. `organisation` points into the table: valid while it lives
// and is not loaded into again.
struct AsnRecord {
  uint32_t asn = 0;
  std::string_view organisation;
};

// Immutable once loaded: const members may be called from any number of threads at once; the
// loading members need exclusive access.
class AsnTable {
 public:
  // Adds every range of the CSV file at `path`, whose addresses are all of `family` (the file
  // names say it: asn-ipv4.csv, asn-ipv6-num.csv). Errors: GeoErrc::io_error (cannot read, over
  // 256 MiB), GeoErrc::bad_database naming the file, the line and the field. Nothing is added
  // when it fails.
  Result<void> load_csv(const std::filesystem::path& path, IpFamily family);
  // The same for CSV text already in memory; `name` stands for the file in messages.
  Result<void> add_csv(std::string_view text, IpFamily family, std::string_view name);

  // The range holding `ip` (IPv4 in its mapped form), or nothing.
  std::optional<AsnRecord> find(const Ip& ip) const;

  size_t v4_ranges() const { return v4_.size(); }
  size_t v6_ranges() const { return v6_.size(); }
  // How many times two ranges of the data overlapped. Where they do, the range that starts later
  // (the more specific one) wins and the earlier one keeps what lies on either side of it.
  size_t overlaps() const { return overlaps_; }

  // The stored form; public only so that the loader's helpers can name it.
  __extension__ using U128 = unsigned __int128;
  template <class Key>
  struct Range {
    Key start;
    Key end;  // inclusive
    uint32_t asn;
    uint32_t organisation;  // index into organisations_
  };

 private:
  std::vector<Range<uint32_t>> v4_;
  std::vector<Range<U128>> v6_;
  std::vector<std::string> organisations_;
  size_t overlaps_ = 0;
};

}  // namespace ipsx::geo
