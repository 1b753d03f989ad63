// The operator's static table: ranges whose location the operator states, for private and test
// space (the demo's 127.0.0.2..127.0.0.5) or to correct the public data. It takes precedence
// over the databases; the longest matching prefix wins. docs/geo.md describes the format:
//
//   # range          country  ASN      type         organisation (optional, rest of the line)
//   127.0.0.2/32     DE       AS64501  residential  Demo provider in Germany
//
// Fields are separated by spaces or tabs; '#' starts a comment; the ASN is written with or
// without "AS"; the type is residential, datacenter or mobile.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "vocab/ip.h"
#include "vocab/orders.h"

namespace ipsx::geo {

struct StaticEntry {
  IpPrefix range;
  CountryCode country{};
  uint32_t asn = 0;  // 1..4294967295
  IpType ip_type = IpType::residential;
  std::string organisation;  // may be empty
};

// Immutable once built: const members may be called from any number of threads at once.
class StaticTable {
 public:
  // Parses the table's text; `name` stands for the file in messages. Errors: GeoErrc::bad_table
  // naming the line and the field (a range, country, ASN or type out of its grammar, a range
  // listed twice, more than 65536 entries).
  static Result<StaticTable> parse(std::string_view text, std::string_view name);
  // Reads and parses the file at `path` (at most 4 MiB). Errors: GeoErrc::io_error, as parse().
  static Result<StaticTable> load(const std::filesystem::path& path);

  // The entry with the longest prefix holding `ip`, or nullptr. The pointer lives as the table.
  const StaticEntry* find(const Ip& ip) const;

  const std::vector<StaticEntry>& entries() const { return entries_; }

 private:
  std::vector<StaticEntry> entries_;  // longest prefix first
};

}  // namespace ipsx::geo
