// Loopback fixtures for the data plane's integration tests and benchmarks: a destination that
// answers with the caller's address (plain HTTP, or HTTPS under a test CA), a test CA, curl as a
// separate process, and deals between real keys.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/wait.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>

#include "core/clock.h"
#include "crypto/keys.h"
#include "net/asio.h"
#include "net/exit.h"
#include "net/gateway.h"
#include "net/io_util.h"
#include "vocab/orders.h"

namespace ipsx::net::testing {

// Waits (up to 10 s, looking every 10 ms) for `cond`: a test waits for the event, not a time.
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// An io_context on its own thread, stopped and joined on destruction.
class IoThread {
 public:
  IoThread() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// A CA and a server certificate for 127.0.0.1 and localhost, PEM files in `dir`.
struct TestCa {
  std::string ca_file, cert_file, key_file;
};
TestCa make_test_ca(const std::string& dir);

// The destination: answers every request with the caller's address and a newline, or with N
// bytes for "GET /bytes/N", the request body for "/echo" (Content-Length bodies), N bytes in
// chunks for "/chunked/N", N bytes ended by closing the connection for "/close/N", and 204 for
// "/status/204"; HEAD gets no body. Keep-alive unless "Connection: close". Plain HTTP, or HTTPS
// with the test CA's server certificate.
class EchoServer {
 public:
  explicit EchoServer(const TestCa* tls = nullptr, const std::string& address = "127.0.0.1");
  ~EchoServer();
  uint16_t port() const { return port_; }

 private:
  awaitable<void> accept();
  template <class Stream>
  awaitable<void> serve(Stream& s, std::string peer);
  IoThread io_;
  tcp::acceptor acceptor_;
  std::shared_ptr<asio::ssl::context> ssl_;
  uint16_t port_ = 0;
};

// Runs a shell command; its exit status and what it printed (stdout and stderr).
struct Run {
  int status = -1;
  std::string output;
};
Run run(const std::string& command);

// Deals that an exit serves, shared with the test (thread-safe). A held deal's lookup blocks
// until the hold is lifted, as a directory that asks a slow node does.
class StaticDeals final : public ExitDealDirectory {
 public:
  void add(ExitDeal d) {
    std::lock_guard lock(mu_);
    deals_[d.id] = d;
  }
  void hold(const Hash& id) {
    std::lock_guard lock(mu_);
    held_.insert(id);
  }
  // find() throws for this deal, as a directory whose source breaks.
  void fail(const Hash& id) {
    std::lock_guard lock(mu_);
    failing_.insert(id);
  }
  // Lifts every hold.
  void lift() {
    std::lock_guard lock(mu_);
    held_.clear();
    changed_.notify_all();
  }
  // How many lookups wait on a hold.
  int holding() const {
    std::lock_guard lock(mu_);
    return waiting_;
  }
  std::optional<ExitDeal> find(const Hash& id) const override {
    std::unique_lock lock(mu_);
    ++waiting_;
    changed_.wait(lock, [&] { return !held_.contains(id); });
    --waiting_;
    if (failing_.contains(id)) throw std::runtime_error("the directory broke");
    auto it = deals_.find(id);
    if (it == deals_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  mutable int waiting_ = 0;
  std::unordered_set<Hash, FixedBytesHasher> held_, failing_;
  std::unordered_map<Hash, ExitDeal, FixedBytesHasher> deals_;
};

// One deal's two views: the exit's and the gateway's.
struct TestDeal {
  ExitDeal exit;
  Lease lease;
};

// A deal between `provider` and `requester` for `ip` (e.g. "127.0.0.2") in `country`, from `start`
// for `seconds`, at `price` per second, served by the exit at `exit_port`.
TestDeal make_deal(const crypto::PrivateKey& provider, const crypto::PrivateKey& requester,
                   const std::string& ip, const char* country, uint16_t exit_port, uint64_t start,
                   uint64_t seconds, uint64_t price, uint32_t protocols = 7, uint32_t scope = 1);

}  // namespace ipsx::net::testing
