#include "market/scenario.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#ifndef IPSX_MARKET_SCENARIOS
#error "IPSX_MARKET_SCENARIOS must name the scenarios directory (an absolute path string)"
#endif

namespace ipsx::market {
namespace {

namespace fs = std::filesystem;

// Every *.txt under the scenarios directory, by file name, sorted.
std::vector<std::string> scenario_files() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(IPSX_MARKET_SCENARIOS, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".txt") {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ScenarioFile : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioFile, Passes) {
  auto r = run_scenario_file(fs::path(IPSX_MARKET_SCENARIOS) / GetParam());
  EXPECT_TRUE(r) << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioFile, ::testing::ValuesIn(scenario_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = fs::path(info.param).stem().string();
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ScenarioFiles, ThereAreAtLeastThirtyTwo) {
  EXPECT_GE(scenario_files().size(), 32u) << "in " << IPSX_MARKET_SCENARIOS;
}

// ---- The parser's and the runner's messages ------------------------------------------------

std::string parse_error(std::string_view text) {
  auto s = parse_scenario(text, "t.txt");
  if (s) return "(parsed)";
  EXPECT_EQ(s.error().code(), make_error_code(ScenarioErrc::parse_error));
  return s.error().message();
}

std::string run_error(std::string_view text) {
  auto s = parse_scenario(text, "t.txt");
  if (!s) return "(parse error) " + s.error().message();
  auto r = run_scenario(*s);
  if (r) return "(passed)";
  EXPECT_EQ(r.error().code(), make_error_code(ScenarioErrc::expectation_failed));
  return r.error().message();
}

TEST(ScenarioParser, UnknownCommandNamesTheLine) {
  EXPECT_EQ(parse_error("# a comment\n\noffer o1 by p1\nfrobnicate o1 now\n"),
            "t.txt:4: `frobnicate o1 now`: unknown command 'frobnicate' (known: offer, request, "
            "cancel, release, expire, tick, advance, time, rating, rerate, timeouts, deal, event, "
            "expect)");
}

TEST(ScenarioParser, BadNumberNamesTheField) {
  EXPECT_EQ(parse_error("offer o1 by p1 price ten   # not a number\n"),
            "t.txt:1: `offer o1 by p1 price ten`: bad number 'ten' for price");
  EXPECT_EQ(parse_error("offer o1 by p1\nrequest r1 by q1 count 2x\n"),
            "t.txt:2: `request r1 by q1 count 2x`: bad number '2x' for count");
  EXPECT_EQ(parse_error("advance 3 weeks\n"), "t.txt:1: `advance 3 weeks`: unexpected 'weeks'");
  EXPECT_EQ(parse_error("advance 3w\n"), "t.txt:1: `advance 3w`: bad duration '3w' for advance");
  EXPECT_EQ(parse_error("time 5s\n"),
            "t.txt:1: `time 5s`: bad time '5s' for time (write +D, now, now+D or now-D)");
  EXPECT_EQ(parse_error("offer o1 by p1 capacity 4294967296\n"),
            "t.txt:1: `offer o1 by p1 capacity 4294967296`: capacity 4294967296 is out of range");
}

TEST(ScenarioParser, UnknownNamesAreCaught) {
  EXPECT_EQ(parse_error("offer o1 by p1\ncancel o2\n"), "t.txt:2: `cancel o2`: unknown order 'o2'");
  EXPECT_EQ(parse_error("offer o1 by p1\nrequest r1 by q1\nexpect fill o1 r2\n"),
            "t.txt:3: `expect fill o1 r2`: unknown request 'r2'");
  EXPECT_EQ(parse_error("event d1 provider ready\n"),
            "t.txt:1: `event d1 provider ready`: unknown deal 'd1'");
  EXPECT_EQ(parse_error("offer o1 by p1\noffer o1 by p2\n"),
            "t.txt:2: `offer o1 by p2`: order 'o1' is already defined");
  EXPECT_EQ(parse_error("offer o1 by p1 colour red\n"),
            "t.txt:1: `offer o1 by p1 colour red`: unknown offer key 'colour'");
  EXPECT_EQ(parse_error("deal d1 provider p1 requester q1\nevent d1 provider ready sometime\n"),
            "t.txt:2: `event d1 provider ready sometime`: unknown event key 'sometime'");
}

TEST(ScenarioParser, TheClockOnlyMovesForward) {
  EXPECT_EQ(parse_error("advance 10s\ntime +5s\n"),
            "t.txt:2: `time +5s`: the clock cannot go back from +10s to +5s");
}

TEST(ScenarioRunner, AFailedExpectationSaysWhatWasExpectedAndFound) {
  const char* text =
      "offer o1 by p1 price 10\n"
      "offer o2 by p2 price 12\n"
      "request r1 by q1 max 50\n"
      "expect fill o2 r1 price 12\n";
  EXPECT_EQ(run_error(text),
            "t.txt:4: `expect fill o2 r1 price 12`: expected fill o2 -> r1 at price 12, found "
            "fill o1 -> r1 at price 10 index 0");
}

TEST(ScenarioRunner, FillsNeverExpectedFailTheScenario) {
  EXPECT_EQ(run_error("offer o1 by p1\nrequest r1 by q1\n"),
            "t.txt: 1 fills never expected; fill o1 -> r1 at price 10 index 0");
}

TEST(ScenarioRunner, ProtocolExpectationsReportTheStatus) {
  const char* text =
      "deal d1 provider p1 requester q1 start +0 duration 60\n"
      "event d1 provider ready at +1s\n"
      "expect event-rejected d1 requester connected at +2s seq 1 bad_sequence\n";
  EXPECT_EQ(run_error(text),
            "t.txt:3: `expect event-rejected d1 requester connected at +2s seq 1 bad_sequence`: "
            "expected requester connected at +2s seq 1 rejected as bad_sequence, found it "
            "accepted (deal pending since +0s not-final)");
  EXPECT_EQ(run_error("deal d1 provider p1 requester q1\ntime +31s\nexpect status d1 ready\n"),
            "t.txt:3: `expect status d1 ready`: expected ready, found closed provider_failed "
            "since +30s not-final");
}

TEST(ScenarioRunner, InvalidOrdersAreRejectedByValidation) {
  EXPECT_EQ(run_error("offer o1 by p1 duration 3..60\n"),
            "t.txt:1: `offer o1 by p1 duration 3..60`: expected a valid order, found "
            "offer.minDuration: must be within 5 s .. 30 days");
  EXPECT_EQ(run_error("expect invalid offer o1 by p1 duration 3..60 => offer.minDuration\n"),
            "(passed)");
}

}  // namespace
}  // namespace ipsx::market
