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

Result<nlohmann::json> parse_json_strict(std::string_view text) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> names;  // one set per object being read
  auto check = [&names](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw Refused{"not JSON this service reads: nested deeper than " +
                        std::to_string(kMaxJsonDepth)};
        }
        if (event == json::parse_event_t::object_start) names.emplace_back();
        break;
      case json::parse_event_t::key: {
        const auto& name = parsed.get_ref<const std::string&>();
        if (!names.empty() && !names.back().insert(name).second)
          throw Refused{"not JSON this service reads: the member " + ipsx::quoted(name) + " twice"};
        break;
      }
      case json::parse_event_t::object_end:
        if (!names.empty()) names.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const Refused& r) {
    return fail(CoreErrc::parse_error, r.why);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    return fail(CoreErrc::parse_error, "not JSON: " + grammar_message(e));
  }
}

}  // namespace ipsx
