#include "core/json_strict.h"

#include <set>
#include <string>
#include <vector>

namespace ipsx {

namespace {

struct Refused {
  std::string why;
};

// nlohmann's message without its prefix and without "last read: ...", which echoes the input
// (possibly invalid UTF-8) back.
std::string grammar_message(const nlohmann::json::exception& e) {
  std::string m = e.what();
  if (auto p = m.find("] "); p != std::string::npos && m.starts_with("[json.exception"))
    m.erase(0, p + 2);
  if (auto p = m.find("; last read"); p != std::string::npos) m.erase(p);
  std::string out;
  for (char c : m) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

namespace {

// Parses with the checks; `names`: find a repeated member by the names themselves (a set per
// object), else only count each object's members against the members it ends with (a repeated
// name overwrites, so it ends with fewer) and throw `Repeated` without saying which.
struct Repeated {};

nlohmann::json parse_checked(std::string_view text, bool names) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> seen;  // with `names`: one set per object being read
  std::vector<size_t> counts;               // without: members read, per object being read
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw Refused{"not JSON this service reads: nested deeper than " +
                        std::to_string(kMaxJsonDepth)};
        }
        if (event == json::parse_event_t::object_start) {
          if (names) {
            seen.emplace_back();
          } else {
            counts.push_back(0);
          }
        }
        break;
      case json::parse_event_t::key:
        if (names) {
          const auto& name = parsed.get_ref<const std::string&>();
          if (!seen.empty() && !seen.back().insert(name).second) {
            throw Refused{"not JSON this service reads: the member " + ipsx::quoted(name) +
                          " twice"};
          }
        } else if (!counts.empty()) {
          ++counts.back();
        }
        break;
      case json::parse_event_t::object_end:
        if (names) {
          if (!seen.empty()) seen.pop_back();
        } else if (!counts.empty()) {
          if (counts.back() != parsed.size()) throw Repeated{};
          counts.pop_back();
        }
        break;
      default:
        break;
    }
    return true;
  };
  return json::parse(text.begin(), text.end(), check);
}

}  // namespace

Result<nlohmann::json> parse_json_strict(std::string_view text) {
  using json = nlohmann::json;
  try {
    try {
      return parse_checked(text, /*names=*/false);
    } catch (const Repeated&) {
      // Rare: read again, keeping the names, to say which member is repeated.
      return parse_checked(text, /*names=*/true);
    }
  } catch (const Refused& r) {
    return fail(CoreErrc::parse_error, r.why);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    return fail(CoreErrc::parse_error, "not JSON: " + grammar_message(e));
  }
}

}  // namespace ipsx
