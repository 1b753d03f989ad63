// The geo layer against the real databases that `npm ci` installs (pinned in package-lock.json):
// the answers asserted here are what geo-whois-asn-country.mmdb and @ip-location-db/asn's CSVs of
// that version say.
#include "geo/geo.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "geo/geo_error.h"

namespace ipsx::geo {
namespace {

namespace fs = std::filesystem;

const fs::path kDataDir = IPSX_GEO_DATA_DIR;
const fs::path kCountryMmdb =
    kDataDir / "geo-whois-asn-country-mmdb" / "geo-whois-asn-country.mmdb";
const fs::path kAsnDir = kDataDir / "asn";

// The demo's providers egress from 127.0.0.2..5; the table gives them four countries. 9.9.9.9
// overrides the public data (US, AS19281 Quad9); 10/8 and 10.1/16 test longest-prefix order.
constexpr const char* kStaticTable = R"(# range        country  ASN      type         organisation
127.0.0.2/32     DE       AS64501  residential  Demo provider DE
127.0.0.3/32     FR       AS64502  datacenter   Demo provider FR
127.0.0.4        JP       64503    mobile
127.0.0.5/32     BR       AS64504  residential  Demo provider BR   # trailing comment
9.9.9.9/32       CH       AS64510  datacenter   Operator override
10.0.0.0/8       NL       AS64520  datacenter   Wide
10.1.0.0/16      BE       AS64521  residential  Narrow
fd00::/8         SE       AS64530  residential  ULA
)";

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / fmt::format("ipsx-geo-test-{}-{}", getpid(), name);
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Ip ip(std::string_view text) {
  auto r = parse_ip(text);
  EXPECT_TRUE(r) << text;
  return r.value_or(Ip{});
}

GeoPaths country_only(const fs::path& mmdb) {
  GeoPaths paths;
  paths.country_mmdb = mmdb;
  return paths;
}

GeoPaths asn_v4_only(const fs::path& csv) {
  GeoPaths paths;
  paths.asn_v4_csv = csv;
  return paths;
}

CountryCode cc(const char (&s)[3]) {
  return {s[0], s[1]};
}

std::string missing_data_hint() {
  return fmt::format(
      "the GeoIP data is missing under {}: run `npm ci` in the project root (make test does)",
      kDataDir.string());
}

// One database for the whole suite: the CSVs take a few hundred milliseconds to parse.
class GeoData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kCountryMmdb) || !fs::exists(kAsnDir / "asn-ipv4.csv") ||
        !fs::exists(kAsnDir / "asn-ipv6.csv"))
      return;
    write_file(temp_path("static.txt"), kStaticTable);
    auto started = std::chrono::steady_clock::now();
    auto opened = GeoDatabase::open({kCountryMmdb, kAsnDir / "asn-ipv4.csv",
                                     kAsnDir / "asn-ipv6.csv", temp_path("static.txt")});
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
    fs::remove(temp_path("static.txt"));
    if (!opened) {
      open_error_ = new std::string(opened.error().message());
      return;
    }
    db_ = new GeoDatabase(std::move(*opened));
    std::printf("[ geo      ] databases opened in %.0f ms (%zu IPv4 and %zu IPv6 ASN ranges)\n",
                ms.count(), db_->asn_table().v4_ranges(), db_->asn_table().v6_ranges());
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
    delete open_error_;
    open_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_FALSE(open_error_) << *open_error_;
    ASSERT_TRUE(db_) << missing_data_hint();
  }

  static GeoInfo found(std::string_view text) {
    auto r = db_->lookup(ip(text));
    EXPECT_TRUE(r) << text << ": " << r.error().message();
    return r.value_or(GeoInfo{});
  }

  static GeoDatabase* db_;
  static std::string* open_error_;
};
GeoDatabase* GeoData::db_ = nullptr;
std::string* GeoData::open_error_ = nullptr;

TEST_F(GeoData, OpensTheWholeDataWithItsKnownOverlapResolved) {
  EXPECT_EQ(db_->country_database_type(), "country ipvAll");
  EXPECT_GT(db_->asn_table().v4_ranges(), 400'000u);
  EXPECT_GT(db_->asn_table().v6_ranges(), 100'000u);
  // asn-ipv4.csv has one overlap: AS749 214.95.0.0-215.0.255.255 and AS721 215.0.0.0-215.1.3.255.
  EXPECT_EQ(db_->asn_table().overlaps(), 1u);
}

TEST_F(GeoData, PublicIpv4AddressesHaveTheirCountryAndAsn) {
  GeoInfo g = found("8.8.8.8");
  EXPECT_EQ(g.country, cc("US"));
  EXPECT_EQ(g.asn, 15169u);
  EXPECT_EQ(g.asn_organisation, "Google LLC");
  EXPECT_EQ(g.source, GeoSource::databases);
  EXPECT_FALSE(g.ip_type);  // the public data does not know the type

  g = found("1.1.1.1");
  EXPECT_EQ(g.country, cc("AU"));  // APNIC's registration of 1.1.1.0/24
  EXPECT_EQ(g.asn, 13335u);
  EXPECT_EQ(g.asn_organisation, "Cloudflare, Inc.");  // quoted in the CSV: it holds a comma

  g = found("193.0.6.139");
  EXPECT_EQ(g.country, cc("NL"));
  EXPECT_EQ(g.asn, 3333u);

  g = found("195.71.11.67");
  EXPECT_EQ(g.country, cc("DE"));
  EXPECT_EQ(g.asn, 6805u);
}

TEST_F(GeoData, PublicIpv6AddressesHaveTheirCountryAndAsn) {
  GeoInfo g = found("2001:4860:4860::8888");
  EXPECT_EQ(g.country, cc("US"));
  EXPECT_EQ(g.asn, 15169u);
  g = found("2606:4700:4700::1111");
  EXPECT_EQ(g.country, cc("US"));
  EXPECT_EQ(g.asn, 13335u);
  g = found("2a00:1450:4001::1");
  EXPECT_EQ(g.country, cc("IE"));
  EXPECT_EQ(g.asn, 15169u);
}

TEST_F(GeoData, StaticTableAnswersForTheDemoLoopbackAddresses) {
  struct Want {
    const char* ip;
    CountryCode country;
    uint32_t asn;
    IpType type;
  };
  const Want wants[] = {{"127.0.0.2", cc("DE"), 64501, IpType::residential},
                        {"127.0.0.3", cc("FR"), 64502, IpType::datacenter},
                        {"127.0.0.4", cc("JP"), 64503, IpType::mobile},
                        {"127.0.0.5", cc("BR"), 64504, IpType::residential}};
  for (const auto& w : wants) {
    GeoInfo g = found(w.ip);
    EXPECT_EQ(g.source, GeoSource::static_table) << w.ip;
    EXPECT_EQ(g.country, w.country) << w.ip;
    EXPECT_EQ(g.asn, w.asn) << w.ip;
    EXPECT_EQ(g.ip_type, w.type) << w.ip;
  }
  EXPECT_EQ(found("127.0.0.2").asn_organisation, "Demo provider DE");
  EXPECT_EQ(found("127.0.0.4").asn_organisation, "");
  EXPECT_EQ(found("127.0.0.5").asn_organisation, "Demo provider BR");
  auto other = db_->lookup(ip("127.0.0.6"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), GeoErrc::not_found);
}

TEST_F(GeoData, StaticTableWinsOverThePublicData) {
  GeoInfo g = found("9.9.9.9");
  EXPECT_EQ(g.source, GeoSource::static_table);
  EXPECT_EQ(g.country, cc("CH"));
  EXPECT_EQ(g.asn, 64510u);
  // Its neighbour is still the public data's.
  g = found("9.9.9.10");
  EXPECT_EQ(g.source, GeoSource::databases);
  EXPECT_EQ(g.country, cc("US"));
  EXPECT_EQ(g.asn, 19281u);
}

TEST_F(GeoData, StaticTableLongestPrefixWins) {
  EXPECT_EQ(found("10.1.2.3").country, cc("BE"));
  EXPECT_EQ(found("10.2.0.1").country, cc("NL"));
  EXPECT_EQ(found("fd00::1").country, cc("SE"));
}

TEST_F(GeoData, UnassignedAndSpecialSpaceIsNotFound) {
  for (const char* text : {"240.0.0.1", "100.64.0.1", "0.0.0.1", "3fff::1", "::1"}) {
    auto r = db_->lookup(ip(text));
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code(), GeoErrc::not_found) << text;
    EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
  }
}

TEST_F(GeoData, OffersThatAgreePass) {
  Offer o;
  o.ip = ip("8.8.8.8");
  o.country = cc("US");
  o.asn = 15169;
  o.ip_type = IpType::datacenter;  // the public data states no type: not checked
  auto r = check_offer_location(*db_, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->asn, 15169u);

  o.asn = 0;  // no ASN claimed
  EXPECT_TRUE(check_offer_location(*db_, o));

  o.ip = ip("2a00:1450:4001::1");
  o.country = cc("IE");
  o.asn = 15169;
  EXPECT_TRUE(check_offer_location(*db_, o));

  o.ip = ip("127.0.0.2");
  o.country = cc("DE");
  o.asn = 64501;
  o.ip_type = IpType::residential;
  r = check_offer_location(*db_, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->source, GeoSource::static_table);
}

void expect_refused(const GeoDatabase& db, const Offer& o, GeoErrc code,
                    std::initializer_list<std::string_view> in_message) {
  auto r = check_offer_location(db, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), code);
  for (auto part : in_message)
    EXPECT_NE(r.error().message().find(part), std::string::npos)
        << "'" << part << "' not in: " << r.error().message();
}

TEST_F(GeoData, OffersThatDisagreeNameTheFieldAndBothValues) {
  Offer o;
  o.ip = ip("8.8.8.8");
  o.country = cc("DE");
  o.asn = 15169;
  expect_refused(*db_, o, GeoErrc::location_mismatch,
                 {"country:", "8.8.8.8", "claims DE",
                  "the country database geo-whois-asn-country.mmdb says US"});

  o.country = cc("US");
  o.asn = 3320;
  expect_refused(*db_, o, GeoErrc::location_mismatch,
                 {"asn:", "claims AS3320", "AS15169 (Google LLC)"});

  o.ip = ip("127.0.0.3");
  o.country = cc("FR");
  o.asn = 64502;
  o.ip_type = IpType::residential;
  expect_refused(*db_, o, GeoErrc::location_mismatch,
                 {"type:", "claims residential", "static table says datacenter"});

  o.country = cc("DE");
  expect_refused(*db_, o, GeoErrc::location_mismatch,
                 {"country:", "claims DE", "static table says FR"});

  o.ip = ip("240.0.0.1");
  expect_refused(*db_, o, GeoErrc::not_found, {"240.0.0.1"});

  o.ip = ip("8.8.8.8");
  o.country = {'u', 's'};  // not even a code: shown quoted, never trusted
  expect_refused(*db_, o, GeoErrc::location_mismatch, {"claims 'us'", "says US"});
}

// @ip-location-db/asn ships each family twice: addresses as text and as decimal numbers. Both
// forms must load to the same table.
TEST_F(GeoData, TextAndNumericCsvFormsAgree) {
  for (auto family : {IpFamily::v4, IpFamily::v6}) {
    const char* stem = family == IpFamily::v4 ? "asn-ipv4" : "asn-ipv6";
    AsnTable text, num;
    ASSERT_TRUE(text.load_csv(kAsnDir / fmt::format("{}.csv", stem), family));
    auto loaded = num.load_csv(kAsnDir / fmt::format("{}-num.csv", stem), family);
    ASSERT_TRUE(loaded) << loaded.error().message();
    EXPECT_EQ(text.v4_ranges(), num.v4_ranges());
    EXPECT_EQ(text.v6_ranges(), num.v6_ranges());
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20'000; ++i) {
      Ip a{};
      uint64_t hi = rng(), lo = rng();
      for (size_t b = 0; b < 8; ++b) {
        a[b] = static_cast<uint8_t>(hi >> (56 - 8 * b));
        a[8 + b] = static_cast<uint8_t>(lo >> (56 - 8 * b));
      }
      if (family == IpFamily::v4) {
        a = v4_mapped(static_cast<uint32_t>(lo));
      } else {
        a[0] = 0x20 | (a[0] & 0x0f);  // 2000::/4, where the data is
      }
      auto x = text.find(a), y = num.find(a);
      ASSERT_EQ(x.has_value(), y.has_value()) << format_ip(a);
      if (x) {
        EXPECT_EQ(x->asn, y->asn) << format_ip(a);
        EXPECT_EQ(x->organisation, y->organisation) << format_ip(a);
      }
    }
  }
}

TEST(GeoDatabaseOpen, CorruptCountryDatabaseIsRefusedClearly) {
  fs::path garbage = temp_path("garbage.mmdb");
  write_file(garbage, std::string(4096, '\x5a'));
  auto r = GeoDatabase::open(country_only(garbage));
  fs::remove(garbage);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::bad_database);
  EXPECT_NE(r.error().message().find(garbage.string()), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("metadata"), std::string::npos) << r.error().message();

  fs::path empty = temp_path("empty.mmdb");
  write_file(empty, "");
  r = GeoDatabase::open(country_only(empty));
  fs::remove(empty);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::bad_database);
  EXPECT_NE(r.error().message().find("empty"), std::string::npos) << r.error().message();

  r = GeoDatabase::open(country_only(temp_path("absent.mmdb")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::io_error);
  EXPECT_NE(r.error().message().find("absent.mmdb"), std::string::npos) << r.error().message();
}

TEST(GeoDatabaseOpen, TruncatedCountryDatabaseIsRefused) {
  if (!fs::exists(kCountryMmdb)) GTEST_FAIL() << missing_data_hint();
  std::ifstream in(kCountryMmdb, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::path cut = temp_path("cut.mmdb");
  write_file(cut, std::string_view(bytes).substr(0, bytes.size() / 2));  // metadata is at the end
  auto r = GeoDatabase::open(country_only(cut));
  fs::remove(cut);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::bad_database) << r.error().message();
}

TEST(GeoDatabaseOpen, CorruptSearchTreeFailsTheLookupNotTheProcess) {
  if (!fs::exists(kCountryMmdb)) GTEST_FAIL() << missing_data_hint();
  std::ifstream in(kCountryMmdb, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The search tree starts the file; records of all ones point past the tree and the data.
  std::fill(bytes.begin(), bytes.begin() + 4096, '\xff');
  fs::path bad = temp_path("tree.mmdb");
  write_file(bad, bytes);
  auto db = GeoDatabase::open(country_only(bad));
  fs::remove(bad);  // the mapping stays valid
  ASSERT_TRUE(db) << db.error().message();
  auto r = db->lookup(ip("8.8.8.8"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::bad_database);
  EXPECT_NE(r.error().message().find("8.8.8.8"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("tree.mmdb"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("corrupt"), std::string::npos) << r.error().message();
}

TEST(GeoDatabaseOpen, MissingCsvIsAnIoError) {
  auto r = GeoDatabase::open(asn_v4_only(temp_path("absent.csv")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), GeoErrc::io_error);
  EXPECT_NE(r.error().message().find("absent.csv"), std::string::npos) << r.error().message();
}

TEST(AsnTable, ParsesQuotedOrganisationsAndBothAddressForms) {
  AsnTable t;
  auto r = t.add_csv(
      "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\r\n"
      "2.26.200.0,2.26.215.255,201907,\"LLC \"\"SPUTNIK\"\"\"\n"
      "50331648,50331903,7018,AT&T\n"
      "\n",
      IpFamily::v4, "test.csv");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(t.v4_ranges(), 3u);
  EXPECT_EQ(t.find(ip("1.0.0.7"))->organisation, "Cloudflare, Inc.");
  EXPECT_EQ(t.find(ip("2.26.201.1"))->organisation, "LLC \"SPUTNIK\"");
  EXPECT_EQ(t.find(ip("3.0.0.255"))->asn, 7018u);  // 50331648 = 3.0.0.0
  EXPECT_FALSE(t.find(ip("3.0.1.0")));
  EXPECT_FALSE(t.find(ip("0.255.255.255")));

  r = t.add_csv(
      "42540528726795050063891204319802818560,42540528727329395276160870415022948351,"
      "2500,WIDE Project\n2001:4:112::,2001:4:112:ffff:ffff:ffff:ffff:ffff,112,DNS-OARC\n",
      IpFamily::v6, "test6.csv");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(t.find(ip("2001:200::1"))->asn, 2500u);  // the first line is 2001:200::/...
  EXPECT_EQ(t.find(ip("2001:4:112::53"))->asn, 112u);
  EXPECT_FALSE(t.find(ip("::ffff:0:0")));  // a mapped address is looked up among IPv4 ranges
}

TEST(AsnTable, OverlappingRangesLetTheLaterStartingOneWin) {
  AsnTable t;
  ASSERT_TRUE(
      t.add_csv("10.0.0.0,10.0.255.255,1,Outer\n"
                "10.0.1.0,10.0.1.255,2,Inner\n"
                "10.0.255.0,10.1.0.255,3,Straddling\n",
                IpFamily::v4, "overlap.csv"));
  EXPECT_EQ(t.overlaps(), 2u);
  EXPECT_EQ(t.find(ip("10.0.0.1"))->asn, 1u);
  EXPECT_EQ(t.find(ip("10.0.1.1"))->asn, 2u);
  EXPECT_EQ(t.find(ip("10.0.2.1"))->asn, 1u);  // the outer range's part after the inner one
  EXPECT_EQ(t.find(ip("10.0.255.1"))->asn, 3u);
  EXPECT_EQ(t.find(ip("10.1.0.1"))->asn, 3u);
  EXPECT_EQ(t.v4_ranges(), 4u);
}

TEST(AsnTable, BadLinesNameTheFileTheLineAndTheField) {
  struct Case {
    const char* text;
    IpFamily family;
    const char* expected;
  };
  const Case cases[] = {
      {"1.0.0.0,1.0.0.255,1,A\n1.0.1.0,1.0.1.255\n", IpFamily::v4, "line 2: fewer than 4 fields"},
      {"1.0.0.x,1.0.0.255,1,A\n", IpFamily::v4, "line 1: start '1.0.0.x'"},
      {"2001::,2001::ff,1,A\n", IpFamily::v4, "start '2001::' is not an IPv4"},
      {"1.0.0.0,1.0.0.255,1,A\n", IpFamily::v6, "start '1.0.0.0' is not an IPv6"},
      {"4294967296,4294967296,1,A\n", IpFamily::v4, "start '4294967296'"},
      {"340282366920938463463374607431768211456,1,1,A\n", IpFamily::v6, "start"},
      {"1.0.0.9,1.0.0.1,1,A\n", IpFamily::v4, "ends before it starts"},
      {"1.0.0.0,1.0.0.255,AS1,A\n", IpFamily::v4, "ASN 'AS1'"},
      {"1.0.0.0,1.0.0.255,1,\"A\n", IpFamily::v4, "badly quoted"},
      {"1.0.0.0,1.0.0.255,1,\"A\"B\n", IpFamily::v4, "badly quoted"},
  };
  for (const auto& c : cases) {
    AsnTable t;
    auto r = t.add_csv(c.text, c.family, "bad.csv");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), GeoErrc::bad_database);
    EXPECT_NE(r.error().message().find("bad.csv"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find(c.expected), std::string::npos) << r.error().message();
    EXPECT_EQ(t.v4_ranges() + t.v6_ranges(), 0u);  // nothing added
  }
}

TEST(StaticTable, BadLinesNameTheLineAndTheField) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"127.0.0.2/32 DE AS1\n", "line 1: expected: range country ASN type"},
      {"# c\n127.0.0.256 DE AS1 mobile\n", "line 2: range '127.0.0.256'"},
      {"127.0.0.2/33 DE AS1 mobile\n", "prefix length is not 0..32"},
      {"127.0.0.1/8 DE AS1 mobile\n", "bits set past the prefix"},
      {"127.0.0.2 XX AS1 mobile\n", "country 'XX'"},
      {"127.0.0.2 de AS1 mobile\n", "country 'de'"},
      {"127.0.0.2 DE AS0 mobile\n", "ASN 'AS0'"},
      {"127.0.0.2 DE ASx mobile\n", "ASN 'ASx'"},
      {"127.0.0.2 DE 1 cable\n", "type 'cable'"},
      {"127.0.0.2 DE 1 mobile\n127.0.0.2/32 FR 2 mobile\n",
       "line 2: range 127.0.0.2/32 is already listed on line 1"},
  };
  for (const auto& c : cases) {
    auto r = StaticTable::parse(c.text, "table.txt");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), GeoErrc::bad_table);
    EXPECT_NE(r.error().message().find("static table table.txt"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find(c.expected), std::string::npos) << r.error().message();
  }
}

TEST(StaticTable, WorksWithoutAnyDatabase) {
  auto table = StaticTable::parse(kStaticTable, "inline");
  ASSERT_TRUE(table) << table.error().message();
  GeoDatabase db(std::move(*table), AsnTable{});
  auto r = db.lookup(ip("127.0.0.3"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->country, cc("FR"));
  EXPECT_EQ(db.lookup(ip("8.8.8.8")).error().code(), GeoErrc::not_found);
}

}  // namespace
}  // namespace ipsx::geo
