// The OpenAPI document (docs/api/openapi.yaml, embedded in the program and served at
// /v1/openapi.yaml) against the routes the node really serves: every documented path and method
// exists, and every served one is documented. Also: every error code the API can answer with is
// in the document's enum of codes.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "api/node_routes_fixture.h"

namespace ipsx::api {
namespace {

using testing::NodeRoutesTest;

// (METHOD, path) of every operation under `paths:`. The document is kept in one layout: a path
// indented two spaces, its operations four.
std::set<std::pair<std::string, std::string>> documented_operations(const std::string& yaml) {
  std::set<std::pair<std::string, std::string>> out;
  std::istringstream in(yaml);
  static const std::regex path_re(R"(^  (/[^:\s]*):\s*$)");
  static const std::regex op_re(R"(^    (get|put|post|delete|patch|head|options):)");
  bool in_paths = false;
  std::string path;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line.rfind("paths:", 0) == 0;
      continue;
    }
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_re)) {
      path = m[1];
    } else if (std::regex_search(line, m, op_re) && !path.empty()) {
      std::string method = m[1];
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.emplace(method, path);
    }
  }
  return out;
}

TEST(OpenApiDocumentTest, TheParserReadsPathsAndOperations) {
  auto ops = documented_operations(
      "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      x: 1\n    post:\n  /b/{id}:\n"
      "    delete:\ncomponents:\n  /c:\n    get:\n");
  std::set<std::pair<std::string, std::string>> want = {
      {"GET", "/a"}, {"POST", "/a"}, {"DELETE", "/b/{id}"}};
  EXPECT_EQ(ops, want);
}

TEST_F(NodeRoutesTest, EveryServedRouteIsDocumentedAndEveryDocumentedRouteServed) {
  auto documented = documented_operations(openapi_yaml());
  ASSERT_GT(documented.size(), 5u) << "the document's layout changed?";
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& r : router_.routes()) served.insert(r);
  for (const auto& op : documented)
    EXPECT_TRUE(served.contains(op))
        << op.first << " " << op.second << " is documented, not served";
  for (const auto& op : served)
    EXPECT_TRUE(documented.contains(op))
        << op.first << " " << op.second << " is served, not documented";
}

TEST(OpenApiDocumentTest, EveryErrorCodeIsInTheDocumentsEnum) {
  const std::string& yaml = openapi_yaml();
  size_t at = yaml.find("Stable, machine-readable.");
  ASSERT_NE(at, std::string::npos);
  size_t open = yaml.find('[', at), close = yaml.find(']', at);
  ASSERT_LT(open, close);
  std::string list = yaml.substr(open + 1, close - open - 1);
  std::set<std::string> codes;
  static const std::regex word(R"([a-z_]+)");
  for (std::sregex_iterator it(list.begin(), list.end(), word), end; it != end; ++it)
    codes.insert(it->str());
  for (const char* c : {"malformed_json",    "invalid_field",       "bad_request",
                        "not_found",         "method_not_allowed",  "payload_too_large",
                        "headers_too_large", "invalid_order",       "bad_signature",
                        "duplicate_order",   "unknown_order",       "unknown_deal",
                        "unknown_block",     "not_owner",           "wrong_party",
                        "bad_sequence",      "bad_transition",      "deal_closed",
                        "bad_time",          "wrong_deal",          "rate_limited",
                        "rejected",          "storage_unavailable", "internal"}) {
    EXPECT_TRUE(codes.contains(c)) << c;
  }
}

}  // namespace
}  // namespace ipsx::api
