#include "net/io_util.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <cerrno>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kScratchBytes = 64 * 1024;

}  // namespace

// What both directions of one splice share.
struct SpliceState {
  explicit SpliceState(asio::any_io_executor ex) : wake(ex) {}
  asio::steady_timer wake;  // only for waiting on the second direction at the end
  Clock::time_point last = Clock::now();
  int running = 2;
  bool aborted = false;
  bool waiting = false;
  std::function<void(uint64_t, uint64_t)> on_bytes;
  std::function<void()> abort_all;

  void finished() {
    --running;
    if (waiting) wake.cancel();
  }
  void abort() {
    if (aborted) return;
    aborted = true;
    if (abort_all) abort_all();
  }
  bool stopped() const { return aborted; }
  void count(bool up, uint64_t n) {
    last = Clock::now();
    if (on_bytes) on_bytes(up ? n : 0, up ? 0 : n);
  }
};

SpliceRegistry::SpliceRegistry(asio::any_io_executor ex, Millis idle) : timer_(ex), idle_(idle) {}

void SpliceRegistry::start() {
  asio::co_spawn(timer_.get_executor(), sweep(), asio::detached);
}

awaitable<void> SpliceRegistry::sweep() {
  auto self = shared_from_this();
  while (!closed_) {
    timer_.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer_.async_wait(use_ec(ec));
    if (closed_) break;
    auto now = Clock::now();
    std::erase_if(live_, [&](std::weak_ptr<SpliceState>& w) {
      auto st = w.lock();
      if (!st || st->running == 0) return true;
      if (now - st->last >= idle_) st->abort();
      return false;
    });
  }
}

void SpliceRegistry::close() {
  closed_ = true;
  timer_.cancel();
  auto live = std::move(live_);
  live_.clear();
  for (auto& w : live)
    if (auto st = w.lock()) st->abort();
}

size_t SpliceRegistry::running() const {
  size_t n = 0;
  for (auto& w : live_)
    if (auto st = w.lock(); st && st->running > 0) ++n;
  return n;
}

// Registers a splice for the idle sweep (or ends it at once if the registry is closed).
void register_splice(const std::shared_ptr<SpliceState>& st, SpliceRegistry& registry) {
  if (registry.closed_) st->abort();
  registry.live_.push_back(st);
}

namespace {

// Waits until both directions have finished.
awaitable<void> wait_done(std::shared_ptr<SpliceState> st) {
  while (st->running > 0) {
    st->waiting = true;
    st->wake.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await st->wake.async_wait(use_ec(ec));
    st->waiting = false;
  }
}

awaitable<void> socket_to_stream(std::shared_ptr<SpliceState> st, tcp::socket& s,
                                 std::shared_ptr<MuxStream> stream, bool up) {
  for (;;) {
    auto chunk = co_await read_available_view(s);
    if (!chunk || st->stopped()) {
      st->abort();
      break;
    }
    if (chunk->empty()) {
      stream->finish();
      break;
    }
    st->count(up, chunk->size());
    // Straight from the scratch buffer into the channel's output while credit lasts; what waits
    // for credit is copied first (the scratch buffer is the thread's, not this splice's).
    size_t sent = stream->write_some(*chunk);
    if (sent == chunk->size()) continue;
    Bytes rest(chunk->begin() + static_cast<long>(sent), chunk->end());
    auto w = co_await stream->write(rest);
    if (!w) {
      st->abort();
      break;
    }
  }
  st->finished();
}

awaitable<void> stream_to_socket(std::shared_ptr<SpliceState> st, std::shared_ptr<MuxStream> stream,
                                 tcp::socket& s, bool up) {
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    // What has arrived goes out in one gathered write.
    auto chunks = co_await stream->read_chunks(kScratchBytes);
    if (!chunks || st->stopped()) {
      st->abort();
      break;
    }
    if (chunks->empty()) {
      boost::system::error_code ignored;
      if (st->running > 1) s.shutdown(tcp::socket::shutdown_send, ignored);
      break;
    }
    buffers.clear();
    size_t n = 0;
    for (const Bytes& c : *chunks) {
      buffers.push_back(asio::buffer(c));
      n += c.size();
    }
    st->count(up, n);
    boost::system::error_code ec;
    co_await asio::async_write(s, buffers, use_ec(ec));
    if (ec) {
      st->abort();
      break;
    }
  }
  st->finished();
}

awaitable<void> socket_to_socket(std::shared_ptr<SpliceState> st, tcp::socket& from,
                                 tcp::socket& to, bool up) {
  for (;;) {
    auto chunk = co_await read_available_view(from);
    if (!chunk || st->stopped()) {
      st->abort();
      break;
    }
    if (chunk->empty()) {
      // When the other direction is done too, the close right after sends the FIN.
      boost::system::error_code ignored;
      if (st->running > 1) to.shutdown(tcp::socket::shutdown_send, ignored);
      break;
    }
    st->count(up, chunk->size());
    // Straight from the scratch buffer while the socket takes it; what it does not take yet is
    // copied (the scratch buffer is the thread's) and waits.
    boost::system::error_code ec;
    size_t sent = to.write_some(asio::buffer(chunk->data(), chunk->size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      sent = 0;
      ec = {};
    }
    if (!ec && sent < chunk->size()) {
      Bytes rest(chunk->begin() + static_cast<long>(sent), chunk->end());
      co_await asio::async_write(to, asio::buffer(rest), use_ec(ec));
    }
    if (ec) {
      st->abort();
      break;
    }
  }
  st->finished();
}

}  // namespace

// Reads through a per-thread scratch buffer, so an idle connection holds no buffer
// (bytes_per_idle_conn); one read per chunk under load.
awaitable<Result<ByteView>> read_available_view(tcp::socket& s) {
  thread_local std::vector<uint8_t> scratch(kScratchBytes);
  boost::system::error_code ec;
  for (;;) {
    size_t n = s.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      co_await s.async_wait(tcp::socket::wait_read, use_ec(ec));
      if (ec) co_return fail(NetErrc::channel_closed, ec.message());
      continue;
    }
    if (ec == asio::error::eof) co_return ByteView{};
    if (ec) co_return fail(NetErrc::channel_closed, ec.message());
    co_return ByteView(scratch.data(), n);
  }
}

// A fresh buffer of exactly the size read.
awaitable<Result<Bytes>> read_available(tcp::socket& s) {
  auto got = co_await read_available_view(s);
  if (!got) co_return std::unexpected(got.error());
  co_return Bytes(got->begin(), got->end());
}

RelayWatch::RelayWatch(SpliceRegistry& registry, std::function<void()> abort,
                       std::shared_ptr<SpliceControl> control)
    : state_(std::make_shared<SpliceState>(registry.timer_.get_executor())),
      control_(std::move(control)) {
  state_->running = 1;
  state_->abort_all = std::move(abort);
  if (control_)
    control_->abort = [w = std::weak_ptr<SpliceState>(state_)] {
      if (auto s = w.lock()) s->abort();
    };
  register_splice(state_, registry);
}

RelayWatch::~RelayWatch() {
  state_->running = 0;
  state_->abort_all = nullptr;
  if (control_) control_->abort = nullptr;
}

void RelayWatch::touch() {
  state_->last = Clock::now();
}

bool RelayWatch::aborted() const {
  return state_->aborted;
}

Deadline::Deadline(tcp::socket& socket, Millis timeout)
    : timer_(socket.get_executor()), expired_(std::make_shared<bool>(false)) {
  timer_.expires_after(timeout);
  timer_.async_wait([&socket, expired = expired_](const boost::system::error_code& ec) {
    if (ec) return;
    *expired = true;
    boost::system::error_code ignored;
    socket.cancel(ignored);
  });
}

Deadline::~Deadline() {
  timer_.cancel();
}

bool accept_error_persists(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

awaitable<void> pause_after_accept_error(const boost::system::error_code& ec, Millis pause) {
  if (!accept_error_persists(ec)) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, pause);
  boost::system::error_code ignored;
  co_await timer.async_wait(use_ec(ignored));
}

void make_non_blocking(tcp::socket& s) {
  if (s.non_blocking()) return;
  boost::system::error_code ignored;
  s.non_blocking(true, ignored);
}

Result<uint16_t> listen_on(tcp::acceptor& a, const tcp::endpoint& ep) {
  boost::system::error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(
        NetErrc::exit_failed,
        fmt::format("listening on {}:{}: {}", ep.address().to_string(), ep.port(), ec.message()));
  return a.local_endpoint().port();
}

asio::ip::address to_asio(const Ip& a) {
  asio::ip::address_v6 v6(a);
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  return v6;
}

Ip from_asio(const asio::ip::address& a) {
  if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

awaitable<Result<tcp::socket>> dial(asio::any_io_executor ex, tcp::endpoint to,
                                    std::optional<asio::ip::address> from, Millis timeout) {
  tcp::socket s(ex);
  boost::system::error_code ec;
  s.open(to.protocol(), ec);
  if (!ec) make_non_blocking(s);
#ifdef IP_BIND_ADDRESS_NO_PORT
  // The local port is chosen at connect(), for the whole four-tuple, instead of at bind() for
  // the address alone: a leased IP's ports are then shared among destinations rather than one
  // per outbound connection (about 28,000 with the default ephemeral range).
  if (!ec && from) {
    int one = 1;
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  }
#endif
  if (!ec && from) s.bind(tcp::endpoint(*from, 0), ec);
  if (ec)
    co_return fail(NetErrc::exit_failed,
                   fmt::format("cannot leave from {}: {}",
                               from ? from->to_string() : std::string("any"), ec.message()));
  bool expired;
  {
    Deadline deadline(s, timeout);
    co_await s.async_connect(to, use_ec(ec));
    expired = deadline.expired();
  }
  if (expired)
    co_return fail(NetErrc::timed_out,
                   fmt::format("connecting to {}:{} took over {} ms", to.address().to_string(),
                               to.port(), timeout.count()));
  if (ec)
    co_return fail(
        NetErrc::exit_failed,
        fmt::format("connecting to {}:{}: {}", to.address().to_string(), to.port(), ec.message()));
  s.set_option(tcp::no_delay(true), ec);
  co_return std::move(s);
}

awaitable<Result<size_t>> read_some_for(tcp::socket& s, asio::mutable_buffer buf, Millis timeout) {
  Deadline deadline(s, timeout);
  boost::system::error_code ec;
  size_t n = co_await s.async_read_some(buf, use_ec(ec));
  if (deadline.expired()) co_return fail(NetErrc::timed_out, "read timed out");
  if (ec == asio::error::eof) co_return size_t{0};
  if (ec) co_return fail(NetErrc::channel_closed, ec.message());
  co_return n;
}

awaitable<Result<void>> write_all_for(tcp::socket& s, asio::const_buffer buf, Millis timeout) {
  Deadline deadline(s, timeout);
  boost::system::error_code ec;
  co_await asio::async_write(s, buf, use_ec(ec));
  if (deadline.expired()) co_return fail(NetErrc::timed_out, "write timed out");
  if (ec) co_return fail(NetErrc::channel_closed, ec.message());
  co_return Result<void>{};
}

awaitable<void> splice(tcp::socket socket, std::shared_ptr<MuxStream> stream,
                       SpliceRegistry& registry, bool socket_is_client,
                       std::function<void(uint64_t, uint64_t)> on_bytes,
                       std::shared_ptr<SpliceControl> control) {
  auto ex = socket.get_executor();
  auto st = std::make_shared<SpliceState>(ex);
  st->on_bytes = std::move(on_bytes);
  tcp::socket s = std::move(socket);
  make_non_blocking(s);
  st->abort_all = [&s, stream] {
    boost::system::error_code ignored;
    s.close(ignored);
    stream->reset();
  };
  if (control)
    control->abort = [w = std::weak_ptr<SpliceState>(st)] {
      if (auto s = w.lock()) s->abort();
    };
  register_splice(st, registry);
  asio::co_spawn(ex, stream_to_socket(st, stream, s, !socket_is_client), asio::detached);
  co_await socket_to_stream(st, s, stream, socket_is_client);
  co_await wait_done(st);
  if (control) control->abort = nullptr;
  st->abort_all = nullptr;
  boost::system::error_code ignored;
  s.close(ignored);
  if (!stream->closed()) stream->finish();
}

awaitable<void> splice(tcp::socket client, tcp::socket destination, SpliceRegistry& registry,
                       std::function<void(uint64_t, uint64_t)> on_bytes,
                       std::shared_ptr<SpliceControl> control) {
  auto ex = client.get_executor();
  auto st = std::make_shared<SpliceState>(ex);
  st->on_bytes = std::move(on_bytes);
  tcp::socket a = std::move(client);
  tcp::socket b = std::move(destination);
  make_non_blocking(a);
  make_non_blocking(b);
  st->abort_all = [&a, &b] {
    boost::system::error_code ignored;
    a.close(ignored);
    b.close(ignored);
  };
  if (control)
    control->abort = [w = std::weak_ptr<SpliceState>(st)] {
      if (auto s = w.lock()) s->abort();
    };
  register_splice(st, registry);
  asio::co_spawn(ex, socket_to_socket(st, b, a, false), asio::detached);
  co_await socket_to_socket(st, a, b, true);
  co_await wait_done(st);
  if (control) control->abort = nullptr;
  st->abort_all = nullptr;
  boost::system::error_code ignored;
  a.close(ignored);
  b.close(ignored);
}

}  // namespace ipsx::net
