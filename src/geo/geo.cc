#include "geo/geo.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <maxminddb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "geo/geo_error.h"

namespace ipsx::geo {
namespace {

bool is_upper_letter(char c) {
  return c >= 'A' && c <= 'Z';
}

// An offer's country as it claims it: "DE", or quoted bytes when it is not two letters.
std::string country_text(const CountryCode& c) {
  std::string_view text(c.data(), c.size());
  if (is_upper_letter(c[0]) && is_upper_letter(c[1])) return std::string(text);
  return quoted(text);
}

}  // namespace

const char* to_string(GeoSource source) {
  switch (source) {
    case GeoSource::static_table:
      return "static table";
    case GeoSource::databases:
      return "databases";
  }
  return "unknown";
}

void GeoDatabase::MmdbCloser::operator()(MMDB_s* db) const {
  MMDB_close(db);
  delete db;
}

GeoDatabase::GeoDatabase(StaticTable table, AsnTable asns)
    : table_(std::move(table)), asns_(std::move(asns)) {}
GeoDatabase::GeoDatabase(GeoDatabase&&) noexcept = default;
GeoDatabase& GeoDatabase::operator=(GeoDatabase&&) noexcept = default;
GeoDatabase::~GeoDatabase() = default;

Result<GeoDatabase> GeoDatabase::open(const GeoPaths& paths) {
  // The .mmdb first: it opens at once, and a bad one should not cost the CSVs' parse.
  std::unique_ptr<MMDB_s, MmdbCloser> mmdb;
  const std::string mmdb_name = paths.country_mmdb.string();
  if (!paths.country_mmdb.empty()) {
    std::error_code ec;
    if (std::filesystem::file_size(paths.country_mmdb, ec) == 0 && !ec)
      return fail(GeoErrc::bad_database,
                  fmt::format("country database {}: the file is empty", mmdb_name));
    auto opened = std::make_unique<MMDB_s>();
    int status = MMDB_open(mmdb_name.c_str(), MMDB_MODE_MMAP, opened.get());
    if (status != MMDB_SUCCESS) {  // MMDB_open has freed what it allocated
      if (status == MMDB_FILE_OPEN_ERROR || status == MMDB_IO_ERROR)
        return fail(GeoErrc::io_error, fmt::format("country database {}: {}: {}", mmdb_name,
                                                   MMDB_strerror(status), std::strerror(errno)));
      return fail(GeoErrc::bad_database,
                  fmt::format("country database {}: {}", mmdb_name, MMDB_strerror(status)));
    }
    mmdb.reset(opened.release());
    if (mmdb->metadata.ip_version != 6)
      return fail(GeoErrc::bad_database,
                  fmt::format("country database {}: an IPv{} tree; IPv6 addresses need an IPv6 one",
                              mmdb_name, mmdb->metadata.ip_version));
  }
  StaticTable table;
  if (!paths.static_table.empty()) {
    auto t = StaticTable::load(paths.static_table);
    if (!t) return std::unexpected(t.error());
    table = std::move(*t);
  }
  AsnTable asns;
  if (!paths.asn_v4_csv.empty())
    if (auto r = asns.load_csv(paths.asn_v4_csv, IpFamily::v4); !r)
      return std::unexpected(r.error());
  if (!paths.asn_v6_csv.empty())
    if (auto r = asns.load_csv(paths.asn_v6_csv, IpFamily::v6); !r)
      return std::unexpected(r.error());
  GeoDatabase db(std::move(table), std::move(asns));
  if (mmdb) {
    db.country_path_ = mmdb_name;
    db.country_type_ = mmdb->metadata.database_type ? mmdb->metadata.database_type : "";
    db.mmdb_ = std::move(mmdb);
  }
  return db;
}

Result<std::optional<CountryCode>> GeoDatabase::country_of(const Ip& ip) const {
  if (!mmdb_) return std::optional<CountryCode>{};
  sockaddr_storage storage{};
  if (is_v4_mapped(ip)) {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(v4_value(ip));
  } else {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    std::memcpy(sa->sin6_addr.s6_addr, ip.data(), ip.size());
  }
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s found =
      MMDB_lookup_sockaddr(mmdb_.get(), reinterpret_cast<const sockaddr*>(&storage), &mmdb_error);
  auto bad = [&](std::string_view what) {
    return fail(GeoErrc::bad_database, fmt::format("country database {}: looking up {}: {}",
                                                   country_path_, format_ip(ip), what));
  };
  if (mmdb_error != MMDB_SUCCESS) return bad(MMDB_strerror(mmdb_error));
  if (!found.found_entry) return std::optional<CountryCode>{};
  MMDB_entry_data_s data{};
  int status = MMDB_get_value(&found.entry, &data, "country_code", nullptr);
  if (status == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR ||
      (status == MMDB_SUCCESS && !data.has_data))
    return std::optional<CountryCode>{};
  if (status != MMDB_SUCCESS) return bad(MMDB_strerror(status));
  if (data.type != MMDB_DATA_TYPE_UTF8_STRING) return bad("country_code is not a string");
  std::string_view code(data.utf8_string, data.data_size);
  if (code.size() != 2 || !is_upper_letter(code[0]) || !is_upper_letter(code[1]))
    return bad(fmt::format("country_code {} is not two upper-case letters", quoted(code)));
  return std::optional<CountryCode>(CountryCode{code[0], code[1]});
}

Result<GeoInfo> GeoDatabase::lookup(const Ip& ip) const {
  GeoInfo info;
  if (const StaticEntry* e = table_.find(ip)) {
    info.country = e->country;
    info.asn = e->asn;
    info.asn_organisation = e->organisation;
    info.ip_type = e->ip_type;
    info.source = GeoSource::static_table;
    return info;
  }
  auto country = country_of(ip);
  if (!country) return std::unexpected(country.error());
  info.country = *country;
  if (auto asn = asns_.find(ip)) {
    info.asn = asn->asn;
    info.asn_organisation = std::string(asn->organisation);
  }
  if (!info.country && !info.asn)
    return fail(GeoErrc::not_found,
                fmt::format("no country or ASN is known for {}", format_ip(ip)));
  return info;
}

Result<GeoInfo> check_offer_location(const GeoDatabase& db, const Offer& offer) {
  Ip ip = offer.ip;
  auto info = db.lookup(ip);
  if (!info) return info;
  std::string where = fmt::format("offer for {}", format_ip(ip));
  bool from_table = info->source == GeoSource::static_table;
  std::string country_says =
      from_table
          ? "the static table says"
          : fmt::format("the country database {} says",
                        std::filesystem::path(db.country_database_path()).filename().string());
  std::string asn_says = from_table ? "the static table says" : "the ASN data says";
  if (!info->country)
    return fail_at(GeoErrc::not_found, "country",
                   fmt::format("{} claims {}; no country is known for it", where,
                               country_text(offer.country)));
  if (*info->country != offer.country)
    return fail_at(GeoErrc::location_mismatch, "country",
                   fmt::format("{} claims {}; {} {}", where, country_text(offer.country),
                               country_says, country_text(*info->country)));
  if (offer.asn != 0) {
    if (!info->asn)
      return fail_at(GeoErrc::not_found, "asn",
                     fmt::format("{} claims AS{}; no ASN is known for it", where, offer.asn));
    if (*info->asn != offer.asn)
      return fail_at(
          GeoErrc::location_mismatch, "asn",
          fmt::format(
              "{} claims AS{}; {} AS{}{}", where, offer.asn, asn_says, *info->asn,
              info->asn_organisation.empty() ? "" : fmt::format(" ({})", info->asn_organisation)));
  }
  if (info->ip_type && *info->ip_type != offer.ip_type)
    return fail_at(GeoErrc::location_mismatch, "type",
                   fmt::format("{} claims {}; the static table says {}", where,
                               to_string(offer.ip_type), to_string(*info->ip_type)));
  return info;
}

}  // namespace ipsx::geo
