#include "net/punch.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "net/io_util.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

std::string text(const tcp::endpoint& e) {
  return e.address().is_v6() ? fmt::format("[{}]:{}", e.address().to_string(), e.port())
                             : fmt::format("{}:{}", e.address().to_string(), e.port());
}

// A socket bound to `local` that other sockets may bind too (SO_REUSEADDR, SO_REUSEPORT).
Result<tcp::socket> reusable(asio::any_io_executor ex, const tcp::endpoint& local) {
  tcp::socket s(ex);
  boost::system::error_code ec;
  s.open(local.protocol(), ec);
  if (!ec) make_non_blocking(s);
  if (!ec) s.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(s.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = boost::system::error_code(errno, boost::system::system_category());
  }
  if (!ec) s.bind(local, ec);
  if (ec)
    return fail(NetErrc::exit_failed, fmt::format("binding {}: {}", text(local), ec.message()));
  return s;
}

}  // namespace

awaitable<Result<tcp::socket>> dial_reusable(asio::any_io_executor ex, tcp::endpoint to,
                                             tcp::endpoint local, Millis timeout) {
  auto s = reusable(ex, local);
  if (!s) co_return std::unexpected(s.error());
  boost::system::error_code ec;
  bool expired;
  {
    Deadline deadline(*s, timeout);
    co_await s->async_connect(to, use_ec(ec));
    expired = deadline.expired();
  }
  if (expired)
    co_return fail(NetErrc::timed_out,
                   fmt::format("connecting to {} took over {} ms", text(to), timeout.count()));
  if (ec)
    co_return fail(NetErrc::exit_failed,
                   fmt::format("connecting to {}: {}", text(to), ec.message()));
  s->set_option(tcp::no_delay(true), ec);
  co_return std::move(*s);
}

namespace {

// What the two halves of a punch share: the connection that came first, by our connect or by
// the listener, and the attempt to stop when the listener wins.
struct PunchRace {
  explicit PunchRace(asio::any_io_executor ex) : acceptor(ex), pause(ex) {}
  tcp::acceptor acceptor;
  asio::steady_timer pause;
  std::optional<tcp::socket> won;
  tcp::socket* attempt = nullptr;
};

// The listening half: the other side's SYN may come in after our own SYN opened our NAT (and
// find our attempt's socket, or this listener between two attempts). Only the peer counts.
awaitable<void> accept_peer(std::shared_ptr<PunchRace> race, tcp::endpoint peer) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await race->acceptor.async_accept(use_ec(ec));
    if (ec || race->won) co_return;
    if (s.remote_endpoint(ec) != peer || ec) continue;
    race->won = std::move(s);
    boost::system::error_code ignored;
    if (race->attempt) race->attempt->cancel(ignored);
    race->pause.cancel();
    co_return;
  }
}

}  // namespace

awaitable<Result<tcp::socket>> punch(asio::any_io_executor ex, tcp::endpoint local,
                                     tcp::endpoint peer, Millis timeout) {
  // An attempt lasts at most kAttempt: a SYN the other NAT dropped (it came before the other
  // side's own SYN had opened the way) would otherwise wait for the kernel's retransmission, a
  // second later. A refused attempt (the other NAT, or the other host between two attempts,
  // answered with a reset) is retried after kPause. Meanwhile a listener on the same port takes
  // the other side's SYN if it comes while no attempt is under way.
  constexpr Millis kAttempt{400}, kPause{20};
  using Steady = std::chrono::steady_clock;
  const auto deadline = Steady::now() + timeout;
  auto race = std::make_shared<PunchRace>(ex);
  {
    auto l = reusable(ex, local);
    if (!l) co_return std::unexpected(l.error());
    boost::system::error_code ec;
    const int fd = l->release();
    race->acceptor.assign(local.protocol(), fd, ec);
    if (ec) ::close(fd);  // not the acceptor's: nobody else would
    if (!ec) race->acceptor.listen(4, ec);
    if (ec)
      co_return fail(NetErrc::exit_failed,
                     fmt::format("listening on {} to punch: {}", text(local), ec.message()));
  }
  asio::co_spawn(ex, accept_peer(race, peer), asio::detached);
  struct Close {
    PunchRace& r;
    ~Close() {
      boost::system::error_code ignored;
      r.acceptor.close(ignored);
    }
  } close_listener{*race};
  std::string last = "no attempt";
  while (!race->won && Steady::now() < deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Steady::now());
    auto s = reusable(ex, local);
    if (!s) co_return std::unexpected(s.error());
    boost::system::error_code ec;
    bool expired;
    race->attempt = &*s;
    {
      Deadline attempt(*s, std::min(kAttempt, left));
      co_await s->async_connect(peer, use_ec(ec));
      expired = attempt.expired();
    }
    race->attempt = nullptr;
    if (race->won) break;
    if (!ec && !expired) {
      race->won = std::move(*s);
      break;
    }
    last = expired ? "no answer" : ec.message();
    boost::system::error_code ignored;
    s->close(ignored);
    if (!expired) {
      race->pause.expires_after(kPause);
      co_await race->pause.async_wait(use_ec(ignored));
    }
  }
  if (race->won) {
    boost::system::error_code ignored;
    race->won->set_option(tcp::no_delay(true), ignored);
    make_non_blocking(*race->won);
    co_return std::move(*race->won);
  }
  co_return fail(NetErrc::timed_out,
                 fmt::format("no punched path from {} to {} within {} ms (last attempt: {})",
                             text(local), text(peer), timeout.count(), last));
}

}  // namespace ipsx::net
