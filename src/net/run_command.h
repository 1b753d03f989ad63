// Running the system's network tools (ip, wg, nft, wireguard-go) for the VPN (net/wireguard.h):
// argument vectors handed to exec, never to a shell, so nothing a peer sends is ever parsed as a
// command. A VPN peer's key or address reaches these tools only after it was checked and
// re-encoded (base64 of 32 bytes, a dotted quad).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ipsx::net {

// Runs argv[0] (found on PATH) with `input` on its standard input, and waits at most `timeout`
// (then kills it). Its standard output, or an error (CoreErrc::io_error) naming the command, its
// exit status and what it wrote to standard error.
Result<std::string> run_command(const std::vector<std::string>& argv, std::string_view input = {},
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Whether `program` is an executable on PATH.
bool on_path(std::string_view program);

// A long-running child (wireguard-go in the foreground), killed (SIGTERM, then SIGKILL) and
// reaped when this goes, and when this process dies (PR_SET_PDEATHSIG).
class ChildProcess {
 public:
  // With `stdout_fd`: the child's standard output is a pipe whose reading end (close-on-exec,
  // the caller's to close) is stored there; otherwise it goes to /dev/null.
  static Result<ChildProcess> spawn(const std::vector<std::string>& argv, int* stdout_fd = nullptr);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ~ChildProcess();
  // Whether it still runs (reaps it if it ended).
  bool running();
  void stop();

 private:
  pid_t pid_ = -1;
};

}  // namespace ipsx::net
