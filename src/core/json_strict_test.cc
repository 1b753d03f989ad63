#include "core/json_strict.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

std::string refusal(std::string_view text) {
  auto r = parse_json_strict(text);
  EXPECT_FALSE(r) << text;
  if (r) return "";
  EXPECT_EQ(r.error().code(), make_error_code(CoreErrc::parse_error));
  return r.error().message();
}

TEST(JsonStrict, ReadsWhatIsValid) {
  auto j = parse_json_strict(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}],"d":"é"})");
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ((*j)["b"]["a"], 2);
  EXPECT_EQ((*j)["c"][1]["a"], 4);  // the same name in sibling objects is fine
}

TEST(JsonStrict, RefusesAMemberTwiceAtAnyDepth) {
  EXPECT_EQ(refusal(R"({"duration":30,"duration":60})"),
            "not JSON this service reads: the member 'duration' twice");
  EXPECT_NE(refusal(R"({"a":{"b":[{"c":1,"c":1}]}})").find("'c' twice"), std::string::npos);
  // The quoted name never carries a control character.
  EXPECT_NE(refusal("{\"a\\nb\":1,\"a\\nb\":2}").find("'a\\x0ab' twice"), std::string::npos);
  // Objects are counted, not their names kept: a repeat is found in an object among others,
  // after an inner object of as many members, and named by a second reading.
  EXPECT_NE(refusal(R"({"a":{"x":1,"y":2},"b":[{"x":1},{"z":1,"z":2}],"c":3})").find("'z' twice"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"a":{"x":1,"y":{}},"a":{"x":1}})").find("'a' twice"), std::string::npos);
  EXPECT_NE(refusal(R"([{"k":[],"k":{}}])").find("'k' twice"), std::string::npos);
  EXPECT_TRUE(parse_json_strict(R"({"a":{"a":{"a":{}}},"b":{"a":1,"b":2},"c":[{},{"c":{}}]})"));
}

TEST(JsonStrict, RefusesInvalidUtf8WithoutEchoingIt) {
  for (std::string bad : {std::string("{\"from\":\"\xff\xfe\"}"), std::string("\"\xc3\x28\""),
                          std::string("\"\xed\xa0\x80\""), std::string("\"\\udc80\"")}) {
    std::string why = refusal(bad);
    EXPECT_TRUE(why.starts_with("not JSON: ")) << why;
    for (char c : why) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << why;
  }
}

TEST(JsonStrict, RefusesNestingPastTheLimit) {
  auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_TRUE(parse_json_strict(nested(kMaxJsonDepth)));
  EXPECT_NE(refusal(nested(kMaxJsonDepth + 1)).find("nested deeper than 64"), std::string::npos);
  EXPECT_NE(refusal(nested(100'000)).find("nested deeper"), std::string::npos);
}

TEST(JsonStrict, RefusesWhatIsNotOneDocument) {
  for (std::string_view bad :
       {"", "{", "{\"a\":1} {", "[1,]", "{'a':1}", "NaN", "01", "1e999", "[-1e400]"})
    EXPECT_TRUE(refusal(bad).starts_with("not JSON: ")) << bad;
}

}  // namespace
}  // namespace ipsx
