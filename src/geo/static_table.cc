#include "geo/static_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include "core/country.h"
#include "geo/geo_error.h"
#include "geo/read_file.h"

namespace ipsx::geo {
namespace {

constexpr size_t kMaxTableBytes = size_t{4} << 20;
constexpr size_t kMaxEntries = 65536;

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// The next blank-separated word of `rest`, removed from it.
std::string_view next_word(std::string_view& rest) {
  size_t b = 0;
  while (b < rest.size() && is_blank(rest[b])) ++b;
  size_t e = b;
  while (e < rest.size() && !is_blank(rest[e])) ++e;
  std::string_view word = rest.substr(b, e - b);
  rest.remove_prefix(e);
  return word;
}

}  // namespace

Result<StaticTable> StaticTable::parse(std::string_view text, std::string_view name) {
  StaticTable table;
  std::map<std::pair<Ip, uint8_t>, size_t> first_line;  // range -> the line that lists it
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto bad = [&](std::string_view what) {
      return fail(GeoErrc::bad_table,
                  fmt::format("static table {} line {}: {}", name, line_no, what));
    };
    std::string_view rest = line;
    std::string_view range_text = next_word(rest);
    if (range_text.empty()) continue;
    std::string_view country = next_word(rest);
    std::string_view asn_text = next_word(rest);
    std::string_view type = next_word(rest);
    if (type.empty()) return bad("expected: range country ASN type [organisation]");
    StaticEntry e;
    auto range = parse_prefix(range_text);
    if (!range) return bad(range.error().message());
    e.range = *range;
    if (!is_country_code(country))
      return bad(fmt::format("country {} is not an ISO 3166-1 alpha-2 code", quoted(country)));
    e.country = {country[0], country[1]};
    std::string_view digits = asn_text;
    if (digits.size() > 2 && (digits[0] == 'A' || digits[0] == 'a') &&
        (digits[1] == 'S' || digits[1] == 's'))
      digits.remove_prefix(2);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), e.asn);
    if (digits.empty() || ec != std::errc{} || p != digits.data() + digits.size() || e.asn == 0)
      return bad(fmt::format("ASN {} is not a number in 1..4294967295", quoted(asn_text)));
    auto ip_type = parse_ip_type(type);
    if (!ip_type)
      return bad(fmt::format("type {} is not residential, datacenter or mobile", quoted(type)));
    e.ip_type = *ip_type;
    while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
    while (!rest.empty() && is_blank(rest.back())) rest.remove_suffix(1);
    e.organisation = std::string(rest);
    auto [seen, added] = first_line.try_emplace({e.range.prefix, e.range.bits}, line_no);
    if (!added)
      return bad(
          fmt::format("range {} is already listed on line {}", to_string(e.range), seen->second));
    if (table.entries_.size() == kMaxEntries)
      return bad(fmt::format("more than {} entries", kMaxEntries));
    table.entries_.push_back(std::move(e));
  }
  std::stable_sort(
      table.entries_.begin(), table.entries_.end(),
      [](const StaticEntry& a, const StaticEntry& b) { return a.range.bits > b.range.bits; });
  return table;
}

Result<StaticTable> StaticTable::load(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxTableBytes, "static table");
  if (!text) return std::unexpected(text.error());
  return parse(*text, path.string());
}

const StaticEntry* StaticTable::find(const Ip& ip) const {
  for (const auto& e : entries_)
    if (e.range.contains(ip)) return &e;
  return nullptr;
}

}  // namespace ipsx::geo
