#include "api/metrics.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

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

std::string Metrics::process(const std::string& version, const std::string& role) {
  std::string out = family(
      "ipsx_build_info", "gauge", "The running program: 1, labelled with its version and role.",
      {{fmt::format("version=\"{}\",role=\"{}\"", escape_label(version), escape_label(role)),
        1.0}});
  // /proc/self/stat: after the command's ")", field 14 utime, 15 stime, 22 starttime (ticks),
  // 23 vsize (bytes), 24 rss (pages); numbered from the pid as field 1.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const long tick = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (auto close = stat.rfind(')'); close != std::string::npos && tick > 0 && page > 0) {
    std::istringstream in(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(in)),
                               std::istream_iterator<std::string>());
    // f[0] is field 3 (the state).
    auto field = [&f](size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : -1.0; };
    double cpu = (field(14) + field(15)) / static_cast<double>(tick);
    out += family("process_cpu_seconds_total", "counter",
                  "User and system CPU time spent, in seconds.", single(cpu));
    out += family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                  single(field(23)));
    out += family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                  single(field(24) * static_cast<double>(page)));
    // The start time in seconds since the epoch: boot time (/proc/stat btime) plus the ticks.
    std::ifstream proc_stat("/proc/stat");
    for (std::string line; std::getline(proc_stat, line);) {
      if (!line.starts_with("btime ")) continue;
      double boot = std::stod(line.substr(6));
      out += family("process_start_time_seconds", "gauge",
                    "Start time of the process since the Unix epoch, in seconds.",
                    single(boot + field(22) / static_cast<double>(tick)));
    }
  }
  std::error_code ec;
  size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  if (!ec)
    out += family("process_open_fds", "gauge", "Number of open file descriptors.", single(fds));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out += family("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                  single(static_cast<double>(lim.rlim_cur)));
  }
  return out;
}

}  // namespace ipsx::api
