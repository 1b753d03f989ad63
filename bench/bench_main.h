// A shared main for the benchmark programs. Each program registers named figures such as
// "crypto.sign_per_s"; the run writes every figure it measured into one flat JSON object,
// merged into the --results file (so several programs fill one results.json). With --smoke each
// benchmark runs one iteration, which is how ctest keeps them from rotting.
#pragma once

#include <benchmark/benchmark.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipsx::bench {

// One benchmark whose items_per_second is reported under `figure`. A body may also set
// user counters (state.counters["p99_us"] = ...); `counters` maps such a counter's name to the
// figure it is reported as.
struct Figure {
  std::string figure;
  std::function<void(benchmark::State&)> body;
  int threads = 1;
  std::map<std::string, std::string> counters = {};
  int repetitions = 3;
  bool real_time = false;  // measure wall-clock time (work done on other threads counts)
  // A fixed number of iterations (0: as many as fill 0.5 s). A benchmark whose iterations change
  // the state the next one starts from sets it, so that every run does the same work.
  int64_t iterations = 0;
};

// A figure computed after the run from measured ones (e.g. a ratio); `compute` sees every
// measured figure and returns the value, or nothing if an input is missing.
struct Derived {
  std::string figure;
  std::function<std::optional<double>(const std::map<std::string, double>&)> compute;
};

// Parses --results FILE, --smoke and Google Benchmark's own flags; runs `figures` (median of
// repetitions); merges measured and derived figures into FILE; prints them. Returns the
// process exit code.
int run(int argc, char** argv, const std::vector<Figure>& figures,
        const std::vector<Derived>& derived = {});

// Whether this run is a --smoke run (set by run() before any benchmark runs): a body that
// builds a large fixture first makes a small one instead.
bool smoke_run();

// Merges `figures` into the flat JSON object in `file` (created if missing), for programs that
// measure without Google Benchmark (fixed-duration loads, latency percentiles).
void merge_results(const std::string& file, const std::map<std::string, double>& figures);

}  // namespace ipsx::bench
