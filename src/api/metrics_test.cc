// The Prometheus text: counters by method, route and status; cumulative histogram buckets; label
// escaping.
#include "api/metrics.h"

#include <gtest/gtest.h>

#include <ctime>

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

// The process's series, as Prometheus' client libraries name them, with values that can be true
// of this very process (it has used some CPU, holds memory and descriptors, started in the past).
TEST(MetricsTest, TheProcessSeriesDescribeThisProcess) {
  std::string text = Metrics::process("1.2.3", "node");
  EXPECT_NE(text.find("ipsx_build_info{version=\"1.2.3\",role=\"node\"} 1\n"), std::string::npos)
      << text;
  auto value = [&](const std::string& name) {
    size_t at = text.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << " in " << text;
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  EXPECT_GE(value("process_cpu_seconds_total"), 0.0);
  EXPECT_GT(value("process_resident_memory_bytes"), 1e5);
  EXPECT_GE(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  EXPECT_GE(value("process_open_fds"), 3.0);  // at least the standard three
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));
  double start = value("process_start_time_seconds");
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 86'400.0 * 365);
  EXPECT_LE(start, now + 1);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
}

}  // namespace
}  // namespace ipsx::api
