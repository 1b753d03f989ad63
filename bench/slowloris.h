// The node under a slowloris attack (docs/performance.md, "Load held"): thousands of clients that
// open a connection, send part of a request and then one header line now and then, never
// finishing, from many addresses (127.0.0.2 and up, as a botnet's would be), while a health check
// and order placement from 127.0.0.1 go on. The attackers run in a child process of their own
// (`ipsx-bench-node --slowloris-client ...`), so that their descriptors are not the server's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ipsx::bench {

// The child's side: keeps `connections` slow requests open to 127.0.0.1:`port`, spread over
// `sources` addresses, for `seconds`, opening a new one for each the server closes; prints
// "open N" once a second. Returns the exit status.
int slowloris_client(uint16_t port, size_t connections, size_t sources, double seconds);

// The parent's side: the child started with posix_spawn; its "open N" lines read as they come.
class Slowloris {
 public:
  Slowloris(uint16_t port, size_t connections, size_t sources, double seconds);
  ~Slowloris();  // ends the child (SIGTERM) and waits for it
  // Waits up to `timeout_s` until the child reports at least `want` open; returns the last count.
  size_t wait_open(size_t want, double timeout_s);

 private:
  int pid_ = -1;
  int out_ = -1;  // the child's standard output
  std::string pending_;
  size_t last_ = 0;
};

}  // namespace ipsx::bench
