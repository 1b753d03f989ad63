// The Prometheus text: counters by method, route and status; cumulative histogram buckets; label
// escaping.
#include "api/metrics.h"

#include <gtest/gtest.h>

namespace ipsx::api {
namespace {

using namespace std::chrono_literals;

TEST(MetricsTest, CountsAndHistograms) {
  Metrics m;
  m.observe("GET", "/v1/health", 200, 50us);
  m.observe("GET", "/v1/health", 200, 3ms);
  m.observe("GET", "", 404, 10us);
  EXPECT_EQ(m.requests("GET", "/v1/health", 200), 2u);
  EXPECT_EQ(m.requests("GET", "", 404), 1u);
  std::string t = m.render();
  EXPECT_NE(t.find("# TYPE ipsx_http_requests_total counter\n"), std::string::npos) << t;
  EXPECT_NE(
      t.find("ipsx_http_requests_total{method=\"GET\",route=\"/v1/health\",status=\"200\"} 2\n"),
      std::string::npos)
      << t;
  EXPECT_NE(t.find("route=\"unmatched\",status=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE ipsx_http_request_duration_seconds histogram\n"), std::string::npos);
  const std::string h =
      "ipsx_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/health\",";
  EXPECT_NE(t.find(h + "le=\"0.0001\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find(h + "le=\"0.0025\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find(h + "le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find(h + "le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(
      t.find("ipsx_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/health\"} 2\n"),
      std::string::npos);
}

TEST(MetricsTest, FamiliesAndEscaping) {
  EXPECT_EQ(Metrics::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(Metrics::family("x", "gauge", "An x.", {{"", 3}, {"k=\"v\"", 1.5}}),
            "# HELP x An x.\n# TYPE x gauge\nx 3\nx{k=\"v\"} 1.5\n");
}

}  // namespace
}  // namespace ipsx::api
