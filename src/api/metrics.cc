#include "api/metrics.h"

#include <fmt/format.h>

namespace ipsx::api {
namespace {

std::string route_label(const std::string& route) {
  return route.empty() ? "unmatched" : route;
}

std::string number(double v) {
  return fmt::format("{}", v);
}

}  // namespace

void Metrics::observe(const std::string& method, const std::string& route, int status,
                      std::chrono::nanoseconds took) {
  const std::string r = route_label(route);
  ++requests_[{method, r, status}];
  Histogram& h = latency_[{method, r}];
  double s = std::chrono::duration<double>(took).count();
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (s <= kBuckets[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += s;
}

uint64_t Metrics::requests(const std::string& method, const std::string& route, int status) const {
  auto it = requests_.find({method, route_label(route), status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Metrics::family(const std::string& name, const std::string& type,
                            const std::string& help,
                            const std::vector<std::pair<std::string, double>>& samples) {
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const auto& [labels, value] : samples) {
    out += labels.empty() ? fmt::format("{} {}\n", name, number(value))
                          : fmt::format("{}{{{}}} {}\n", name, labels, number(value));
  }
  return out;
}

std::string Metrics::render() const {
  std::vector<std::pair<std::string, double>> counts;
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    counts.emplace_back(fmt::format("method=\"{}\",route=\"{}\",status=\"{}\"",
                                    escape_label(method), escape_label(route), status),
                        static_cast<double>(n));
  }
  std::string out = family("ipsx_http_requests_total", "counter",
                           "HTTP requests answered, by method, route and status.", counts);
  out +=
      "# HELP ipsx_http_request_duration_seconds Time to answer a request, by method and route.\n"
      "# TYPE ipsx_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    std::string labels = fmt::format("method=\"{}\",route=\"{}\"", escape_label(key.first),
                                     escape_label(key.second));
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += fmt::format("ipsx_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                         number(kBuckets[i]), cumulative);
    }
    out += fmt::format("ipsx_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels,
                       h.count);
    out += fmt::format("ipsx_http_request_duration_seconds_sum{{{}}} {}\n", labels, number(h.sum));
    out += fmt::format("ipsx_http_request_duration_seconds_count{{{}}} {}\n", labels, h.count);
  }
  return out;
}

}  // namespace ipsx::api
