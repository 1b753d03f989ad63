#include "log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace ipsx::cli::logs {
namespace {

struct State {
  std::mutex mu;
  bool json = false;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string program = "ipsx";
  std::shared_ptr<spdlog::logger> logger;
};

State& state() {
  static State s;
  return s;
}

// Called under the state's mutex: a logger for the current program, level and format.
void rebuild(State& s) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  s.logger = std::make_shared<spdlog::logger>(s.program, sink);
  // The message a write() hands over is the whole line after the time and level (text) or the
  // object's remaining fields (JSON): the program's name is in it, escaped where needed.
  const char* pattern = s.json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                               : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
  s.logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  s.logger->set_level(s.level);
  s.logger->flush_on(spdlog::level::trace);
}

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warning:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void add_options(CLI::App& app) {
  app.add_option_function<std::string>(
         "--log-level",
         [](const std::string& v) {
           State& s = state();
           std::lock_guard lock(s.mu);
           s.level = v == "debug"     ? spdlog::level::debug
                     : v == "info"    ? spdlog::level::info
                     : v == "warning" ? spdlog::level::warn
                     : v == "error"   ? spdlog::level::err
                                      : spdlog::level::off;
           s.logger.reset();
         },
         "The agents' and servers' log: debug, info (default), warning, error or off")
      ->envname("IPSX_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warning", "error", "off"}));
  app.add_option_function<std::string>(
         "--log-format",
         [](const std::string& v) {
           State& s = state();
           std::lock_guard lock(s.mu);
           s.json = v == "json";
           s.logger.reset();
         },
         "text (default: time, level, message) or json (one object per line with the event's "
         "context: deal, ip, order)")
      ->envname("IPSX_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
}

void set_program(std::string_view program) {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.program = std::string(program);
  s.logger.reset();
}

bool enabled(Level level) {
  State& s = state();
  std::lock_guard lock(s.mu);
  return to_spdlog(level) >= s.level;
}

void write(Level level, std::string_view message, std::initializer_list<Field> context) {
  State& s = state();
  std::shared_ptr<spdlog::logger> logger;
  bool as_json;
  std::string program;
  {
    std::lock_guard lock(s.mu);
    if (!s.logger) rebuild(s);
    logger = s.logger;
    as_json = s.json;
    program = s.program;
  }
  const auto lvl = to_spdlog(level);
  if (!logger->should_log(lvl)) return;
  if (!as_json) {
    logger->log(lvl, "{}: {}", program, message);
    return;
  }
  using nlohmann::json;
  auto field = [](std::string_view k, std::string_view v) {
    // Invalid UTF-8 (a peer's words) is replaced, never a reason to lose the line.
    return json(std::string(k)).dump() + ":" +
           json(std::string(v)).dump(-1, ' ', false, json::error_handler_t::replace);
  };
  std::string rest = field("program", program) + "," + field("msg", message);
  bool has_deal = false;
  for (const Field& f : context) {
    rest += "," + field(f.key, f.value);
    has_deal = has_deal || f.key == "deal";
  }
  // A line about a deal names it as `deal 0x<64 hex>`: its context, for lines made elsewhere.
  if (auto at = message.find("deal 0x"); !has_deal && at != std::string_view::npos) {
    std::string_view id = message.substr(at + 5, 66);
    if (id.size() == 66 && id.find_first_not_of("0123456789abcdef", 2) == std::string_view::npos)
      rest += "," + field("deal", id);
  }
  logger->log(lvl, "{}", rest);
}

}  // namespace ipsx::cli::logs
