#include "bench_main.h"

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

namespace ipsx::bench {
namespace {

// Collects the median items_per_second of each benchmark while printing as usual.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  // benchmark name -> counter name -> median value
  std::map<std::string, std::map<std::string, double>> medians;

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      bool aggregate = r.run_type == Run::RT_Aggregate;
      if (aggregate && r.aggregate_name != "median") continue;
      std::string name = r.run_name.function_name;
      for (const auto& [counter, value] : r.counters) {
        // A median overrides a single run's figure; single runs fill in when there is no median.
        auto& slot = medians[name];
        if (aggregate || !slot.contains(counter)) slot[counter] = value.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

bool g_smoke = false;

}  // namespace

bool smoke_run() {
  return g_smoke;
}

int run(int argc, char** argv, const std::vector<Figure>& figures,
        const std::vector<Derived>& derived) {
  std::string results;
  bool smoke = false;
  static char no_color[] = "--benchmark_color=false";
  std::vector<char*> rest{argv[0], no_color};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--results" && i + 1 < argc) {
      results = argv[++i];
    } else if (a == "--smoke") {
      smoke = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  g_smoke = smoke;
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  for (const Figure& f : figures) {
    auto* b = benchmark::RegisterBenchmark(f.figure.c_str(), f.body);
    if (f.threads > 1) b->Threads(f.threads)->UseRealTime();
    if (f.real_time) b->UseRealTime();
    if (smoke) {
      b->Iterations(1);
    } else {
      if (f.iterations > 0) {
        b->Iterations(f.iterations);
      } else {
        b->MinTime(0.5);
      }
      b->Repetitions(f.repetitions)->ReportAggregatesOnly(true);
    }
  }
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (smoke) return 0;  // one iteration measures nothing worth keeping

  std::map<std::string, double> measured;
  for (const Figure& f : figures) {
    for (const auto& [name, counters] : reporter.medians) {
      // Names carry suffixes such as "/threads:2/real_time"; the figure is the part before.
      if (name.substr(0, name.find('/')) != f.figure) continue;
      if (auto it = counters.find("items_per_second"); it != counters.end())
        measured[f.figure] = it->second;
      for (const auto& [counter, figure] : f.counters) {
        if (auto it = counters.find(counter); it != counters.end()) measured[figure] = it->second;
      }
    }
  }
  for (const Derived& d : derived) {
    if (auto v = d.compute(measured)) measured[d.figure] = *v;
  }
  for (const auto& [k, v] : measured) std::cout << k << " = " << v << "\n";
  if (results.empty()) return 0;

  merge_results(results, measured);
  return 0;
}

void merge_results(const std::string& file, const std::map<std::string, double>& figures) {
  nlohmann::json out = nlohmann::json::object();
  if (std::ifstream in(file); in) {
    out = nlohmann::json::parse(in, nullptr, false);
    if (!out.is_object()) out = nlohmann::json::object();
  }
  for (const auto& [k, v] : figures) out[k] = v;
  std::ofstream(file) << out.dump(2) << "\n";
}

}  // namespace ipsx::bench
