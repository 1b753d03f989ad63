// `ipsx completion bash|zsh` and `ipsx manpage` (hidden): shell completions and the man page
// written from the commands' own definitions (help_export.cc).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ipsx::cli {

// Adds both to `app`; call it after every other command is added (they describe what is there).
void add_help_export_commands(CLI::App& app, std::string version);

}  // namespace ipsx::cli
