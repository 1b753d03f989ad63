// The node's Prometheus metrics (text exposition format 0.0.4): requests counted by method, route
// pattern and status, and their latency as a histogram by method and route; the node adds its
// gauges (book sizes, deals by status) when it renders them. Real counters, from the router's
// observer. Not thread-safe (the server's one thread observes and renders).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ipsx::api {

class Metrics {
 public:
  // Upper bounds of the latency buckets, seconds (then +Inf).
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

  // One answered request. `route` is the route's pattern ("" for no route: counted as
  // "unmatched").
  void observe(const std::string& method, const std::string& route, int status,
               std::chrono::nanoseconds took);
  // The requests' counters and histograms as Prometheus text.
  std::string render() const;
  uint64_t requests(const std::string& method, const std::string& route, int status) const;

  // Helpers for the node's own series.
  static std::string escape_label(const std::string& value);
  // One unlabelled sample, for family().
  static std::vector<std::pair<std::string, double>> single(double value) { return {{"", value}}; }
  // "# HELP/# TYPE" lines and one sample per (labels, value); labels like `phase="active"`.
  static std::string family(const std::string& name, const std::string& type,
                            const std::string& help,
                            const std::vector<std::pair<std::string, double>>& samples);
  // What every IPSX process exposes, as Prometheus' client libraries name it: `ipsx_build_info`
  // (1, labelled with the version and the program's role), and the process's
  // `process_cpu_seconds_total`, `process_resident_memory_bytes`,
  // `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds` and
  // `process_start_time_seconds` (read from /proc/self; a series /proc cannot give is left out).
  static std::string process(const std::string& version, const std::string& role);

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> latency_;
};

}  // namespace ipsx::api
