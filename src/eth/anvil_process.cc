#include "eth/anvil_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "eth/rpc.h"

namespace ipsx::eth::testing {

Result<int> free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return fail(CoreErrc::io_error, "socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return fail(CoreErrc::io_error, "cannot bind a loopback port");
  }
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

Result<AnvilProcess> AnvilProcess::start(const std::string& binary, std::vector<std::string> args,
                                         int port) {
  if (::access(binary.c_str(), X_OK) != 0) {
    return fail(CoreErrc::io_error,
                fmt::format("anvil not found at {} (run `make`, which runs npm ci)", binary));
  }
  if (port == 0) {
    auto p = free_loopback_port();
    if (!p) return std::unexpected(p.error());
    port = *p;
  }
  std::vector<std::string> argv = {binary,    "--host", "127.0.0.1", "--port", std::to_string(port),
                                   "--silent"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid < 0) return fail(CoreErrc::io_error, "fork() failed");
  if (pid == 0) {
    // Dies with the test process, even one that crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Nothing anvil might try leaves the machine.
    ::setenv("http_proxy", "http://127.0.0.1:9", 1);
    ::setenv("https_proxy", "http://127.0.0.1:9", 1);
    ::setenv("all_proxy", "http://127.0.0.1:9", 1);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    std::vector<char*> cargv;
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    ::execv(binary.c_str(), cargv.data());
    ::_exit(127);
  }
  AnvilProcess p;
  p.pid_ = pid;
  p.port_ = port;
  RpcOptions o;
  o.timeout = Millis(500);
  o.read_attempts = 1;
  auto rpc = RpcClient::connect(p.url(), o);
  if (!rpc) return std::unexpected(rpc.error());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if ((*rpc)->chain_id()) return p;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p.pid_ = -1;
      return fail(CoreErrc::io_error, fmt::format("anvil exited at start (status {})", status));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fail(CoreErrc::io_error, "anvil did not answer within 10 s");
}

AnvilProcess::AnvilProcess(AnvilProcess&& o) noexcept : pid_(o.pid_), port_(o.port_) {
  o.pid_ = -1;
}

AnvilProcess& AnvilProcess::operator=(AnvilProcess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = o.pid_;
    port_ = o.port_;
    o.pid_ = -1;
  }
  return *this;
}

AnvilProcess::~AnvilProcess() {
  stop();
}

void AnvilProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void AnvilProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string AnvilProcess::url() const {
  return fmt::format("http://127.0.0.1:{}/", port_);
}

}  // namespace ipsx::eth::testing
