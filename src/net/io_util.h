// Socket plumbing shared by the exit and the gateway: connecting with a deadline (and from a
// given local address: the exit's leased IP), reading and writing with deadlines, and splicing
// two byte streams together until both ends finish, with byte counters and an idle deadline.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "core/error.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "net/mux.h"

namespace ipsx::net {

// Cancels the socket's pending operations once `timeout` has passed; expired() tells whether
// that is why they ended. Disarmed on destruction.
class Deadline {
 public:
  Deadline(tcp::socket& socket, Millis timeout);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool expired() const { return *expired_; }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<bool> expired_;
};

// Counts one holder in `n` while it lives: one more now, one less when it goes, on every path
// out of a coroutine (connections held, punches running).
class CountedIn {
 public:
  explicit CountedIn(size_t& n) : n_(n) { ++n_; }
  ~CountedIn() { --n_; }
  CountedIn(const CountedIn&) = delete;
  CountedIn& operator=(const CountedIn&) = delete;

 private:
  size_t& n_;
};

// Puts a socket in non-blocking mode once, as soon as it exists: asio would otherwise set it
// again, one system call each time, on its first asynchronous operation and on every
// non_blocking(true).
void make_non_blocking(tcp::socket& s);

// True for the accept errors that come back at once while the connection keeps waiting in the
// backlog: out of descriptors (EMFILE, ENFILE) or of memory (ENOBUFS, ENOMEM). An accept loop
// that retries at once then spins on a whole core.
bool accept_error_persists(const boost::system::error_code& ec);
// What an accept loop does after an error: for one that persists, waits `pause` (descriptors
// come back as connections close) before accepting again; for others (a connection reset before
// it was accepted), nothing.
awaitable<void> pause_after_accept_error(const boost::system::error_code& ec,
                                         Millis pause = Millis(100));

// Opens, binds and listens; the port bound. Errors name the address.
Result<uint16_t> listen_on(tcp::acceptor& acceptor, const tcp::endpoint& endpoint);

asio::ip::address to_asio(const Ip& mapped_or_v6);
Ip from_asio(const asio::ip::address& a);

// Connects to `to`, from `from` when set (bind before connect), within `timeout`.
// Errors: timed_out, exit_failed (refused, unreachable...), with the address in the message.
awaitable<Result<tcp::socket>> dial(asio::any_io_executor ex, tcp::endpoint to,
                                    std::optional<asio::ip::address> from, Millis timeout);

// Reads at least one byte into `buf` within `timeout`: 0 means EOF. Errors: timed_out,
// channel_closed.
awaitable<Result<size_t>> read_some_for(tcp::socket& s, asio::mutable_buffer buf, Millis timeout);
awaitable<Result<void>> write_all_for(tcp::socket& s, asio::const_buffer buf, Millis timeout);

// Lets an owner end a running splice from outside (a cut deal, a stopping server): abort() is
// set while the splice runs and closes both ends.
struct SpliceControl {
  std::function<void()> abort;
};

struct SpliceState;

// The running splices of one component (an exit, a gateway). Instead of a timer per connection,
// one sweep a second ends the splices idle for longer than `idle`; close() ends them all.
// Single-threaded, like its component.
class SpliceRegistry : public std::enable_shared_from_this<SpliceRegistry> {
 public:
  SpliceRegistry(asio::any_io_executor ex, Millis idle);
  void start();
  void close();
  Millis idle() const { return idle_; }
  size_t running() const;

 private:
  friend void register_splice(const std::shared_ptr<SpliceState>&, SpliceRegistry&);
  friend class RelayWatch;
  awaitable<void> sweep();
  asio::steady_timer timer_;
  Millis idle_;
  bool closed_ = false;
  std::vector<std::weak_ptr<SpliceState>> live_;
};

// Reads what `s` (non-blocking) has, waiting until it is readable only when nothing is there
// yet, through a per-thread scratch buffer: an idle connection holds no buffer. Empty: EOF.
// Errors: channel_closed.
awaitable<Result<Bytes>> read_available(tcp::socket& s);
// The same without the copy: the bytes stay in the per-thread scratch buffer, and the view is
// valid only until the caller next suspends (any co_await).
awaitable<Result<ByteView>> read_available_view(tcp::socket& s);

// A relay that is not a splice (plain-HTTP forwarding, a UDP association) in a registry's idle
// sweep and close(): `abort` is called when nothing moved for the registry's idle time, when the
// registry closes, or through `control->abort()`. touch() on every transfer. Leaves the sweep on
// destruction.
class RelayWatch {
 public:
  RelayWatch(SpliceRegistry& registry, std::function<void()> abort,
             std::shared_ptr<SpliceControl> control = nullptr);
  ~RelayWatch();
  RelayWatch(const RelayWatch&) = delete;
  RelayWatch& operator=(const RelayWatch&) = delete;
  void touch();
  bool aborted() const;

 private:
  std::shared_ptr<SpliceState> state_;
  std::shared_ptr<SpliceControl> control_;
};

// Copies both ways between a socket and a mux stream until both directions finished, one side
// failed, nothing moved for the registry's idle time, or `control->abort()` was called. Bytes
// read from the socket count as `up` when `socket_is_client`, else as `down`. `on_bytes`
// (optional) is called with (up, down) increments as they pass, for metering.
awaitable<void> splice(tcp::socket socket, std::shared_ptr<MuxStream> stream,
                       SpliceRegistry& registry, bool socket_is_client,
                       std::function<void(uint64_t, uint64_t)> on_bytes,
                       std::shared_ptr<SpliceControl> control = nullptr);

// The same between two sockets (client first).
awaitable<void> splice(tcp::socket client, tcp::socket destination, SpliceRegistry& registry,
                       std::function<void(uint64_t, uint64_t)> on_bytes,
                       std::shared_ptr<SpliceControl> control = nullptr);

}  // namespace ipsx::net
