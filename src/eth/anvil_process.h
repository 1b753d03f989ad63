// A local anvil (foundry's dev node) for tests: started on a free 127.0.0.1 port, stopped (and
// its state dumped, if asked) on destruction or stop(). Test support only: not in ipsx_eth.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace ipsx::eth::testing {

class AnvilProcess {
 public:
  // Starts `binary` with --host 127.0.0.1 --port <free> --silent plus `args`, and waits (up to
  // ten seconds) until it answers eth_chainId. `port` 0 picks a free one.
  static Result<AnvilProcess> start(const std::string& binary, std::vector<std::string> args,
                                    int port = 0);
  AnvilProcess(AnvilProcess&& o) noexcept;
  AnvilProcess& operator=(AnvilProcess&& o) noexcept;
  AnvilProcess(const AnvilProcess&) = delete;
  ~AnvilProcess();

  // SIGTERM and wait (anvil dumps --dump-state / --state on the way out).
  void stop();
  // SIGKILL and wait: the node vanishes without a word.
  void kill();
  std::string url() const;
  int port() const { return port_; }

 private:
  AnvilProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
Result<int> free_loopback_port();

}  // namespace ipsx::eth::testing
