#include "net/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace ipsx::net {
namespace {

using Steady = std::chrono::steady_clock;

// In the child: the standard descriptors given, every other one closed, then exec.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, int in, int out, int err) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  std::vector<char*> cargv;
  for (const auto& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);
  ::execvp(cargv[0], cargv.data());
  ::_exit(127);
}

std::string describe(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

std::string exit_status(int status) {
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    return code == 127 ? "not found or not executable" : fmt::format("exit status {}", code);
  }
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "ended";
}

}  // namespace

bool on_path(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    std::string file = (dir.empty() ? "." : dir) + "/" + std::string(program);
    if (::access(file.c_str(), X_OK) == 0) return true;
  }
  return false;
}

Result<std::string> run_command(const std::vector<std::string>& argv, std::string_view input,
                                std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail(CoreErrc::invalid_argument, "run_command: no program");
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return fail(CoreErrc::io_error, "pipe() failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]);
    return fail(CoreErrc::io_error, "pipe() failed");
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
    return fail(CoreErrc::io_error, "pipe() failed");
  }
  pid_t pid = ::fork();
  if (pid == 0) exec_child(argv, in[0], out[1], err[1]);
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  if (pid < 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    return fail(CoreErrc::io_error, "fork() failed");
  }
  // Feed stdin and drain stdout and stderr together: a tool that writes much before it reads all
  // its input must not block us both.
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  std::string stdout_text, stderr_text;
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) ::close(in_fd), in_fd = -1;
  const auto deadline = Steady::now() + timeout;
  bool timed_out = false;
  int open_outputs = 2;
  while (open_outputs > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    int n = ::poll(fds, in_fd >= 0 ? 3 : 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? stdout_text : stderr_text).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        (i == 0 ? out[0] : err[0]) = -1;
        --open_outputs;
      }
    }
    if (out[0] < 0 && err[0] < 0) break;
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t put = ::write(in_fd, input.data() + written, input.size() - written);
      if (put > 0) written += static_cast<size_t>(put);
      if (put < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
      if (written >= input.size()) ::close(in_fd), in_fd = -1;
    }
    // A closed output is polled as fd -1 (ignored) until both are.
  }
  if (in_fd >= 0) ::close(in_fd);
  if (out[0] >= 0) ::close(out[0]);
  if (err[0] >= 0) ::close(err[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return fail(CoreErrc::io_error,
                fmt::format("`{}` took over {} ms (killed)", describe(argv), timeout.count()));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!stderr_text.empty() && (stderr_text.back() == '\n' || stderr_text.back() == ' '))
      stderr_text.pop_back();
    return fail(CoreErrc::io_error, fmt::format("`{}`: {}{}", describe(argv), exit_status(status),
                                                stderr_text.empty() ? "" : ": " + stderr_text));
  }
  return stdout_text;
}

Result<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv, int* stdout_fd) {
  if (argv.empty()) return fail(CoreErrc::invalid_argument, "spawn: no program");
  if (!on_path(argv[0])) return fail(CoreErrc::io_error, argv[0] + " is not installed");
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return fail(CoreErrc::io_error, "cannot open /dev/null");
  int out[2] = {-1, -1};
  if (stdout_fd && ::pipe2(out, O_CLOEXEC) != 0) {
    ::close(devnull);
    return fail(CoreErrc::io_error, "pipe() failed");
  }
  pid_t pid = ::fork();
  if (pid == 0) exec_child(argv, devnull, stdout_fd ? out[1] : devnull, devnull);
  ::close(devnull);
  if (stdout_fd) {
    ::close(out[1]);
    if (pid < 0)
      ::close(out[0]);
    else
      *stdout_fd = out[0];
  }
  if (pid < 0) return fail(CoreErrc::io_error, "fork() failed");
  ChildProcess c;
  c.pid_ = pid;
  return c;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) {
  o.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  stop();
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {  // a second to go on its own
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace ipsx::net
