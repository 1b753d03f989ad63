// IP -> country, ASN and type. Three sources, in order of precedence:
//  1. the operator's static table (static_table.h): everything it states, for the ranges it lists;
//  2. a MaxMind-format country database read through libmaxminddb (geo-whois-asn-country.mmdb
//     from @ip-location-db/geo-whois-asn-country-mmdb: one `country_code` per range);
//  3. the ASN CSV files of @ip-location-db/asn (asn_table.h): number and organisation.
// The public data says nothing about the type (residential, datacenter, mobile); only the static
// table does. docs/geo.md describes the sources, their licences and the checks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "geo/asn_table.h"
#include "geo/static_table.h"
#include "vocab/ip.h"
#include "vocab/orders.h"

struct MMDB_s;

namespace ipsx::geo {

// Where a GeoInfo came from.
enum class GeoSource : uint8_t {
  static_table,  // the operator's table (country, ASN, organisation and type all from it)
  databases,     // the country database and the ASN data
};
const char* to_string(GeoSource source);

struct GeoInfo {
  std::optional<CountryCode> country;  // ISO 3166-1 alpha-2, upper case
  std::optional<uint32_t> asn;
  std::string asn_organisation;   // may be empty
  std::optional<IpType> ip_type;  // only the static table states a type
  GeoSource source = GeoSource::databases;
};

// The files to open; any may be empty (that source is then absent).
struct GeoPaths {
  std::filesystem::path country_mmdb;  // e.g. .../geo-whois-asn-country.mmdb
  std::filesystem::path asn_v4_csv;    // asn-ipv4.csv or asn-ipv4-num.csv
  std::filesystem::path asn_v6_csv;    // asn-ipv6.csv or asn-ipv6-num.csv
  std::filesystem::path static_table;  // the operator's table, see static_table.h
};

// The opened sources. Immutable once opened: lookup() may be called from any number of threads at
// once. Movable, not copyable; the country database stays memory-mapped while it lives.
class GeoDatabase {
 public:
  // Opens every source `paths` names. The ASN CSVs are parsed here (a few hundred milliseconds
  // for the full files; docs/geo.md has the figures). Errors: GeoErrc::io_error for a file that
  // cannot be read, GeoErrc::bad_database for a .mmdb that libmaxminddb refuses or that is not
  // an IPv6 tree of country_code strings, or for a bad CSV line, GeoErrc::bad_table for the static
  // table; each message names the file.
  static Result<GeoDatabase> open(const GeoPaths& paths);
  // Builds from sources already in memory (tests, or a caller that reads its own files).
  GeoDatabase(StaticTable table, AsnTable asns);

  GeoDatabase(GeoDatabase&&) noexcept;
  GeoDatabase& operator=(GeoDatabase&&) noexcept;
  ~GeoDatabase();

  // What the sources know of `ip` (IPv6, or IPv4 mapped as ::ffff:a.b.c.d). A static-table entry
  // answers alone; otherwise the country comes from the .mmdb and the ASN from the CSVs, and either
  // may be missing. Errors: GeoErrc::not_found naming the address when no source knows it;
  // GeoErrc::bad_database when the .mmdb fails during the search (a corrupt tree) or holds a
  // country_code that is not two letters.
  Result<GeoInfo> lookup(const Ip& ip) const;

  // The .mmdb's path and its metadata's database_type ("" when no .mmdb is open).
  const std::string& country_database_path() const { return country_path_; }
  const std::string& country_database_type() const { return country_type_; }
  const AsnTable& asn_table() const { return asns_; }
  const StaticTable& static_table() const { return table_; }

 private:
  struct MmdbCloser {
    void operator()(MMDB_s* db) const;
  };
  Result<std::optional<CountryCode>> country_of(const Ip& ip) const;

  StaticTable table_;
  AsnTable asns_;
  std::unique_ptr<MMDB_s, MmdbCloser> mmdb_;
  std::string country_path_;
  std::string country_type_;
};

// Checks that `offer`'s claims about its IP agree with what `db` finds for it: the country always;
// the ASN unless the offer leaves it 0 (no claim); the type when the source states one (the
// static table). Returns what was found. Errors: GeoErrc::location_mismatch naming the field,
// the offer's value and the found one; GeoErrc::not_found when the IP, or the field claimed, is
// unknown to every source; lookup()'s errors otherwise.
Result<GeoInfo> check_offer_location(const GeoDatabase& db, const Offer& offer);

}  // namespace ipsx::geo
