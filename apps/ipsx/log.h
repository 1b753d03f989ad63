// The agents' and servers' log: one line per event on standard error, through spdlog.
//
// Text (the default) is for people: `2026-12-06T22:51:29.123Z info ipsx provide: deal 0x... paid
// 3 IPSX`, time in UTC. JSON (`--log-format json`) is for log collectors: one object per line,
// `{"time":...,"level":...,"program":...,"msg":...}` plus the event's context fields (`deal`,
// `ip`, `order`, ...) so that one deal's lines can be selected without parsing the message.
// `--log-level debug|info|warning|error|off` (default info) drops what is below it. Both are
// options of `ipsx` itself, also read from IPSX_LOG_LEVEL and IPSX_LOG_FORMAT (docs/operations.md).
#pragma once

#include <CLI/CLI.hpp>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ipsx::cli::logs {

enum class Level { debug, info, warning, error };

// One piece of an event's context: a JSON field in JSON lines (the text line says it in words).
struct Field {
  std::string_view key;
  std::string value;
};

// Adds --log-level and --log-format to `app` (the root: they may follow any subcommand).
void add_options(CLI::App& app);

// The name each line carries (`ipsx node`, `ipsx provide`, ...): set once a command starts.
void set_program(std::string_view program);

void write(Level level, std::string_view message, std::initializer_list<Field> context = {});
// Whether a line at `level` would be written (to skip building one that would not).
bool enabled(Level level);
inline void debug(std::string_view m, std::initializer_list<Field> c = {}) {
  write(Level::debug, m, c);
}
inline void info(std::string_view m, std::initializer_list<Field> c = {}) {
  write(Level::info, m, c);
}
inline void warning(std::string_view m, std::initializer_list<Field> c = {}) {
  write(Level::warning, m, c);
}
inline void error(std::string_view m, std::initializer_list<Field> c = {}) {
  write(Level::error, m, c);
}

}  // namespace ipsx::cli::logs
