#include "geo/asn_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <queue>
#include <unordered_map>

#include "geo/geo_error.h"
#include "geo/read_file.h"

namespace ipsx::geo {
namespace {

using U128 = AsnTable::U128;
constexpr size_t kMaxCsvBytes = size_t{256} << 20;

U128 to_u128(const Ip& ip) {
  U128 v = 0;
  for (uint8_t b : ip) v = (v << 8) | b;
  return v;
}

// A decimal number of at most 128 bits, digits only.
std::optional<U128> parse_decimal128(std::string_view s) {
  if (s.empty() || s.size() > 39) return std::nullopt;
  constexpr U128 kMax = ~U128{0};
  constexpr U128 kLimit = kMax / 10;  // v * 10 + d fits iff v < kLimit, or v == kLimit, d <= 5
  constexpr auto kLastDigit = static_cast<unsigned>(kMax % 10);
  U128 v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<unsigned>(c - '0');
    if (v > kLimit || (v == kLimit && d > kLastDigit)) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

template <class Key>
std::optional<Key> parse_address(std::string_view field, IpFamily family) {
  bool text = field.find_first_of(".:") != std::string_view::npos;
  if (!text) {
    if constexpr (sizeof(Key) == 4) {
      uint32_t v = 0;
      auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
      if (field.empty() || ec != std::errc{} || p != field.data() + field.size())
        return std::nullopt;
      return v;
    } else {
      return parse_decimal128(field);
    }
  }
  auto ip = parse_ip(field);
  if (!ip) return std::nullopt;
  // Text of the other family is refused (a mapped address in an IPv6 file included).
  bool v4_text = field.find(':') == std::string_view::npos;
  if (v4_text != (family == IpFamily::v4)) return std::nullopt;
  if constexpr (sizeof(Key) == 4) {
    return v4_value(*ip);
  } else {
    return to_u128(*ip);
  }
}

// The organisation field: the rest of the line, unquoted; or one RFC 4180 quoted string, whose
// text goes to `scratch`. The result points into the field or into `scratch`.
std::optional<std::string_view> parse_organisation(std::string_view field, std::string& scratch) {
  if (field.empty() || field.front() != '"') {
    if (field.find('"') != std::string_view::npos) return std::nullopt;
    return field;
  }
  scratch.clear();
  for (size_t i = 1; i < field.size(); ++i) {
    if (field[i] != '"') {
      scratch += field[i];
    } else if (i + 1 < field.size() && field[i + 1] == '"') {
      scratch += '"';
      ++i;
    } else {
      if (i + 1 != field.size()) return std::nullopt;  // text after the closing quote
      return std::string_view(scratch);
    }
  }
  return std::nullopt;  // no closing quote
}

// Organisation names are looked up by string_view, without building a string per line.
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Sorts `v` by start and makes the ranges disjoint: where two overlap the later-starting one
// wins, and the parts of the earlier one on either side of it remain. Returns the overlaps seen.
template <class Key>
size_t normalize(std::vector<AsnTable::Range<Key>>& v) {
  using R = AsnTable::Range<Key>;
  std::stable_sort(v.begin(), v.end(), [](const R& a, const R& b) { return a.start < b.start; });
  auto later = [](const R& a, const R& b) { return a.start > b.start; };
  std::priority_queue<R, std::vector<R>, decltype(later)> tails(later);
  std::vector<R> out;
  out.reserve(v.size());
  size_t overlaps = 0;
  size_t i = 0;
  while (i < v.size() || !tails.empty()) {
    R r;
    if (!tails.empty() && (i == v.size() || tails.top().start <= v[i].start)) {
      r = tails.top();
      tails.pop();
    } else {
      r = v[i++];
    }
    if (!out.empty() && out.back().end >= r.start) {
      ++overlaps;
      R& p = out.back();
      if (p.end > r.end) {
        R tail = p;
        tail.start = r.end + 1;
        tails.push(tail);
      }
      if (p.start == r.start) {
        out.pop_back();
      } else {
        p.end = r.start - 1;
      }
    }
    out.push_back(r);
  }
  v = std::move(out);
  return overlaps;
}

template <class Key>
const AsnTable::Range<Key>* bisect(const std::vector<AsnTable::Range<Key>>& v, Key key) {
  auto it = std::upper_bound(v.begin(), v.end(), key,
                             [](Key k, const AsnTable::Range<Key>& r) { return k < r.start; });
  if (it == v.begin()) return nullptr;
  --it;
  return key <= it->end ? &*it : nullptr;
}

template <class Key>
Result<void> parse_csv(std::string_view text, IpFamily family, std::string_view name,
                       std::vector<AsnTable::Range<Key>>& ranges,
                       std::vector<std::string>& organisations) {
  std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> index;
  std::string scratch;
  index.reserve(organisations.size() + 1024);
  for (size_t i = 0; i < organisations.size(); ++i)
    index.emplace(organisations[i], static_cast<uint32_t>(i));
  const char* family_name = family == IpFamily::v4 ? "IPv4" : "IPv6";
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto bad = [&](std::string_view what) {
      return fail(GeoErrc::bad_database,
                  fmt::format("ASN CSV {} line {}: {}", name, line_no, what));
    };
    std::string_view fields[3];
    size_t at = 0;
    for (auto& f : fields) {
      size_t comma = line.find(',', at);
      if (comma == std::string_view::npos) return bad("fewer than 4 fields");
      f = line.substr(at, comma - at);
      at = comma + 1;
    }
    auto start = parse_address<Key>(fields[0], family);
    if (!start)
      return bad(fmt::format("start {} is not an {} address", quoted(fields[0]), family_name));
    auto end = parse_address<Key>(fields[1], family);
    if (!end)
      return bad(fmt::format("end {} is not an {} address", quoted(fields[1]), family_name));
    if (*end < *start) return bad("the range ends before it starts");
    uint32_t asn = 0;
    auto [p, ec] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), asn);
    if (fields[2].empty() || ec != std::errc{} || p != fields[2].data() + fields[2].size())
      return bad(fmt::format("ASN {} is not a number of 32 bits", quoted(fields[2])));
    auto organisation = parse_organisation(line.substr(at), scratch);
    if (!organisation)
      return bad(fmt::format("organisation {} is badly quoted", quoted(line.substr(at))));
    auto it = index.find(*organisation);
    if (it == index.end()) {
      it = index.emplace(std::string(*organisation), static_cast<uint32_t>(organisations.size()))
               .first;
      organisations.emplace_back(*organisation);
    }
    ranges.push_back({*start, *end, asn, it->second});
  }
  return {};
}

}  // namespace

Result<void> AsnTable::load_csv(const std::filesystem::path& path, IpFamily family) {
  auto text = read_file(path, kMaxCsvBytes, "ASN CSV");
  if (!text) return std::unexpected(text.error());
  return add_csv(*text, family, path.string());
}

Result<void> AsnTable::add_csv(std::string_view text, IpFamily family, std::string_view name) {
  // Parse into copies so that a failure leaves the table as it was.
  auto organisations = organisations_;
  if (family == IpFamily::v4) {
    std::vector<Range<uint32_t>> ranges = v4_;
    if (auto r = parse_csv(text, family, name, ranges, organisations); !r) return r;
    overlaps_ += normalize(ranges);
    v4_ = std::move(ranges);
  } else {
    std::vector<Range<U128>> ranges = v6_;
    if (auto r = parse_csv(text, family, name, ranges, organisations); !r) return r;
    overlaps_ += normalize(ranges);
    v6_ = std::move(ranges);
  }
  organisations_ = std::move(organisations);
  return {};
}

std::optional<AsnRecord> AsnTable::find(const Ip& ip) const {
  if (is_v4_mapped(ip)) {
    if (const auto* r = bisect(v4_, v4_value(ip)))
      return AsnRecord{r->asn, organisations_[r->organisation]};
  } else if (const auto* r = bisect(v6_, to_u128(ip))) {
    return AsnRecord{r->asn, organisations_[r->organisation]};
  }
  return std::nullopt;
}

}  // namespace ipsx::geo
