#include "slowloris.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace ipsx::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A connection from 127.0.0.(2 + source % 250).(...) to 127.0.0.1:port that has sent the start
// of a request; -1 if it could not be made.
int open_slow(uint16_t port, size_t source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7F000002u + static_cast<uint32_t>(source));  // 127.0.0.2 + i
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(0x7F000001u);
  static const char kStart[] = "GET /v1/health HTTP/1.1\r\nHost: node\r\n";
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
      ::send(fd, kStart, sizeof kStart - 1, MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int slowloris_client(uint16_t port, size_t connections, size_t sources, double seconds) {
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  // One poll over every connection: those the server closed (readable: EOF or a reset) are
  // opened again; every 2 s each sends one more header line, never the blank line that would
  // end its request.
  std::vector<pollfd> fds(connections, pollfd{-1, POLLIN, 0});
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  auto next_drip = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < end) {
    size_t open = 0;
    const bool drip = Clock::now() >= next_drip;
    if (drip) next_drip = Clock::now() + std::chrono::seconds(2);
    for (size_t i = 0; i < fds.size(); ++i) {
      pollfd& p = fds[i];
      if (p.fd >= 0 &&
          (p.revents != 0 || (drip && ::send(p.fd, "X-a: b\r\n", 8, MSG_NOSIGNAL) < 0))) {
        ::close(p.fd);
        p.fd = -1;
      }
      if (p.fd < 0) p.fd = open_slow(port, i % sources);
      p.revents = 0;
      if (p.fd >= 0) ++open;
    }
    std::printf("open %zu\n", open);
    std::fflush(stdout);
    ::poll(fds.data(), fds.size(), 500);
  }
  for (const pollfd& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  return 0;
}

Slowloris::Slowloris(uint16_t port, size_t connections, size_t sources, double seconds) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  const std::string p = std::to_string(port), n = std::to_string(connections),
                    s = std::to_string(sources), t = std::to_string(seconds);
  const char* argv[] = {
      "ipsx-bench-node", "--slowloris-client", p.c_str(), n.c_str(), s.c_str(), t.c_str(), nullptr};
  int rc =
      ::posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  out_ = pipe_fds[0];
  if (rc != 0) throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
}

Slowloris::~Slowloris() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  if (out_ >= 0) ::close(out_);
}

size_t Slowloris::wait_open(size_t want, double timeout_s) {
  const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end && last_ < want) {
    pollfd p{out_, POLLIN, 100};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t got = ::read(out_, buf, sizeof buf);
    if (got <= 0) break;
    pending_.append(buf, static_cast<size_t>(got));
    for (size_t nl; (nl = pending_.find('\n')) != std::string::npos; pending_.erase(0, nl + 1))
      if (pending_.starts_with("open ")) last_ = std::stoul(pending_.substr(5, nl - 5));
  }
  return last_;
}

}  // namespace ipsx::bench
