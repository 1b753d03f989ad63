#include "net/udp_relay.h"

#include <fmt/format.h>

#include <deque>

#include "net/net_error.h"
#include "net/socks5.h"

namespace ipsx::net {
namespace {

constexpr size_t kMaxContacted = 256;

// Waits until `s` is readable, then takes one datagram through a per-thread scratch buffer (no
// buffer held while idle). Errors end the loop that calls it.
awaitable<Result<std::pair<udp::endpoint, Bytes>>> receive_datagram(udp::socket& s) {
  thread_local std::vector<uint8_t> scratch(kMaxUdpDatagramBytes);
  boost::system::error_code ec;
  for (;;) {
    udp::endpoint from;
    size_t n = s.receive_from(asio::buffer(scratch), from, 0, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      co_await s.async_wait(udp::socket::wait_read, use_ec(ec));
      if (ec) co_return fail(NetErrc::channel_closed, ec.message());
      continue;
    }
    if (ec == asio::error::connection_refused) continue;  // an ICMP error for an earlier send
    if (ec) co_return fail(NetErrc::channel_closed, ec.message());
    std::pair<udp::endpoint, Bytes> got{
        from, Bytes(scratch.begin(), scratch.begin() + static_cast<long>(n))};
    co_return got;
  }
}

class ExitUdp final : public UdpUpstream {
 public:
  ExitUdp(udp::socket s, asio::ip::address from, UdpAllow allow,
          std::function<void(uint64_t, uint64_t)> on_bytes)
      : s_(std::move(s)), from_(from), allow_(std::move(allow)), on_bytes_(std::move(on_bytes)) {}

  awaitable<void> send(const UdpDatagram& d) override {
    if (d.peer.port == 0) co_return;
    std::vector<asio::ip::address> candidates;
    if (auto* a4 = std::get_if<Ipv4>(&d.peer.host)) {
      candidates.push_back(asio::ip::address_v4(*a4));
    } else if (auto* a6 = std::get_if<Ip>(&d.peer.host)) {
      candidates.push_back(to_asio(*a6));
    } else {
      udp::resolver resolver(s_.get_executor());
      boost::system::error_code ec;
      auto results = co_await resolver.async_resolve(std::get<std::string>(d.peer.host),
                                                     std::to_string(d.peer.port), use_ec(ec));
      if (ec) co_return;
      for (const auto& r : results) candidates.push_back(r.endpoint().address());
    }
    for (const auto& addr : candidates) {
      if (addr.is_v4() != from_.is_v4()) continue;  // from the leased IP's family only
      if (allow_ && !allow_(addr)) co_return;       // the policy refuses it: dropped
      udp::endpoint to(addr, d.peer.port);
      boost::system::error_code ec;
      s_.send_to(asio::buffer(d.payload), to, 0, ec);
      if (ec) co_return;  // a full send buffer or an unreachable network: dropped
      if (on_bytes_) on_bytes_(d.payload.size(), 0);
      if (std::find(contacted_.begin(), contacted_.end(), to) == contacted_.end()) {
        contacted_.push_back(to);
        if (contacted_.size() > kMaxContacted) contacted_.pop_front();
      }
      co_return;
    }
  }

  awaitable<Result<UdpDatagram>> receive() override {
    for (;;) {
      auto got = co_await receive_datagram(s_);
      if (!got) co_return std::unexpected(got.error());
      auto& [from, payload] = *got;
      if (std::find(contacted_.begin(), contacted_.end(), from) == contacted_.end()) continue;
      if (on_bytes_) on_bytes_(0, payload.size());
      Endpoint peer{from.address().is_v4() ? Host(Ipv4(from.address().to_v4().to_bytes()))
                                           : Host(Ip(from.address().to_v6().to_bytes())),
                    from.port()};
      co_return UdpDatagram{std::move(peer), std::move(payload)};
    }
  }

  void abort() override {
    boost::system::error_code ec;
    s_.close(ec);
  }

 private:
  udp::socket s_;
  asio::ip::address from_;
  UdpAllow allow_;
  std::function<void(uint64_t, uint64_t)> on_bytes_;
  std::deque<udp::endpoint> contacted_;
};

class StreamUdp final : public UdpUpstream {
 public:
  StreamUdp(std::shared_ptr<MuxStream> s, std::function<void(uint64_t, uint64_t)> on_bytes)
      : s_(std::move(s)), on_bytes_(std::move(on_bytes)) {}
  ~StreamUdp() override { s_->reset(); }

  awaitable<void> send(const UdpDatagram& d) override {
    auto record = write_datagram_record(d.peer, d.payload);
    if (record && s_->try_write(*record) && on_bytes_) on_bytes_(d.payload.size(), 0);
    co_return;
  }

  awaitable<Result<UdpDatagram>> receive() override {
    for (;;) {
      auto r = parse_datagram_record(in_);
      if (!r) co_return std::unexpected(r.error());
      if (r->complete()) {
        in_.erase(in_.begin(), in_.begin() + static_cast<long>(r->consumed));
        if (on_bytes_) on_bytes_(0, r->message->payload.size());
        co_return std::move(*r->message);
      }
      auto chunk = co_await s_->read_chunk();
      if (!chunk) co_return std::unexpected(chunk.error());
      if (chunk->empty()) co_return fail(NetErrc::channel_closed, "the exit ended the stream");
      in_.insert(in_.end(), chunk->begin(), chunk->end());
    }
  }

  void abort() override { s_->reset(); }

 private:
  std::shared_ptr<MuxStream> s_;
  std::function<void(uint64_t, uint64_t)> on_bytes_;
  Bytes in_;  // at most one record and one chunk: the stream's window bounds it
};

// The coroutines of one association, joined before it ends.
struct Join {
  explicit Join(asio::any_io_executor ex) : wake(ex) {}
  asio::steady_timer wake;
  int running = 0;
  void done() {
    --running;
    wake.cancel();
  }
  awaitable<void> wait() {
    while (running > 0) {
      wake.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await wake.async_wait(use_ec(ec));
    }
  }
};

struct Association {
  Association(asio::any_io_executor ex, UdpUpstream& u) : relay(ex), up(u) {}
  udp::socket relay;
  UdpUpstream& up;
  RelayWatch* watch = nullptr;
  asio::ip::address client_ip;
  uint16_t client_port = 0;  // 0 until the first datagram when the request named none
  bool ended = false;

  // Client -> destination: the client's address only, whole datagrams only.
  awaitable<void> outbound(std::shared_ptr<Join> join) {
    while (!ended) {
      auto got = co_await receive_datagram(relay);
      if (!got) break;
      auto& [from, datagram] = *got;
      if (from.address() != client_ip || (client_port != 0 && from.port() != client_port)) continue;
      auto header = parse_udp_header(datagram);
      if (!header || header->destination.port == 0) continue;  // fragments, garbage: dropped
      client_port = from.port();
      watch->touch();
      UdpDatagram d{
          header->destination,
          Bytes(datagram.begin() + static_cast<long>(header->header_size), datagram.end())};
      co_await up.send(d);
    }
    join->done();
  }

  // Destination -> client, with the header naming the source.
  awaitable<void> inbound(std::shared_ptr<Join> join) {
    while (!ended) {
      auto got = co_await up.receive();
      if (!got) break;
      if (client_port == 0) continue;  // nowhere to send it yet
      auto header = write_udp_header(got->peer);
      if (!header || header->size() + got->payload.size() > kMaxUdpDatagramBytes) continue;
      header->insert(header->end(), got->payload.begin(), got->payload.end());
      watch->touch();
      boost::system::error_code ec;
      relay.send_to(asio::buffer(*header), udp::endpoint(client_ip, client_port), 0, ec);
    }
    join->done();
  }
};

}  // namespace

Result<std::unique_ptr<UdpUpstream>> exit_udp_upstream(
    asio::any_io_executor ex, asio::ip::address from, UdpAllow allow,
    std::function<void(uint64_t, uint64_t)> on_bytes) {
  udp::socket s(ex);
  boost::system::error_code ec;
  s.open(from.is_v4() ? udp::v4() : udp::v6(), ec);
  if (!ec) s.bind(udp::endpoint(from, 0), ec);
  if (!ec) s.non_blocking(true, ec);
  if (ec)
    return fail(NetErrc::exit_failed,
                fmt::format("cannot send UDP from {}: {}", from.to_string(), ec.message()));
  return std::make_unique<ExitUdp>(std::move(s), from, std::move(allow), std::move(on_bytes));
}

std::unique_ptr<UdpUpstream> stream_udp_upstream(std::shared_ptr<MuxStream> stream,
                                                 std::function<void(uint64_t, uint64_t)> on_bytes) {
  return std::make_unique<StreamUdp>(std::move(stream), std::move(on_bytes));
}

namespace {

// Exit side: what comes back from the destinations goes into the stream as records.
awaitable<void> udp_to_stream(std::shared_ptr<Join> join, UdpUpstream& up,
                              std::shared_ptr<MuxStream> stream, RelayWatch& watch) {
  for (;;) {
    auto got = co_await up.receive();
    if (!got) break;
    auto record = write_datagram_record(got->peer, got->payload);
    if (record && stream->try_write(*record)) watch.touch();
  }
  join->done();
}

}  // namespace

awaitable<void> relay_udp_stream(std::shared_ptr<MuxStream> stream,
                                 std::unique_ptr<UdpUpstream> upstream, SpliceRegistry& registry,
                                 std::shared_ptr<SpliceControl> ctl) {
  auto ex = co_await asio::this_coro::executor;
  auto stop = [stream, up = upstream.get()] {
    stream->reset();
    up->abort();
  };
  RelayWatch watch(registry, stop, ctl);
  auto join = std::make_shared<Join>(ex);
  join->running = 1;
  asio::co_spawn(ex, udp_to_stream(join, *upstream, stream, watch), asio::detached);
  Bytes in;
  for (bool ok = true; ok;) {
    auto chunk = co_await stream->read_chunk();
    if (!chunk || chunk->empty()) break;
    in.insert(in.end(), chunk->begin(), chunk->end());
    for (;;) {
      auto r = parse_datagram_record(in);
      if (!r) {
        ok = false;  // out of step: end the stream
        break;
      }
      if (!r->complete()) break;
      UdpDatagram d = std::move(*r->message);
      in.erase(in.begin(), in.begin() + static_cast<long>(r->consumed));
      watch.touch();
      co_await upstream->send(d);
    }
  }
  stop();
  co_await join->wait();
}

awaitable<void> serve_udp_associate(tcp::socket& control, const FrontRequest& request,
                                    std::unique_ptr<UdpUpstream> upstream, SpliceRegistry& registry,
                                    std::shared_ptr<SpliceControl> ctl, Millis timeout) {
  auto ex = control.get_executor();
  boost::system::error_code ec;
  tcp::endpoint local = control.local_endpoint(ec);
  tcp::endpoint peer;
  if (!ec) peer = control.remote_endpoint(ec);
  Association a(ex, *upstream);
  if (!ec) a.relay.open(local.address().is_v4() ? udp::v4() : udp::v6(), ec);
  if (!ec) a.relay.bind(udp::endpoint(local.address(), 0), ec);
  if (!ec) a.relay.non_blocking(true, ec);
  udp::endpoint bound;
  if (!ec) bound = a.relay.local_endpoint(ec);
  if (ec) {
    co_await answer_failure(control, request,
                            Error(NetErrc::exit_failed, "no UDP relay port: " + ec.message()),
                            timeout);
    co_return;
  }
  a.client_ip = peer.address();
  a.client_port = request.destination.port;
  Endpoint bnd{bound.address().is_v4() ? Host(Ipv4(bound.address().to_v4().to_bytes()))
                                       : Host(Ip(bound.address().to_v6().to_bytes())),
               bound.port()};
  auto reply = write_reply(Socks5Reply::succeeded, bnd);
  if (!reply || !co_await write_all_for(control, asio::buffer(*reply), timeout)) co_return;

  auto stop = [&a, &control, up = upstream.get()] {
    a.ended = true;
    boost::system::error_code ignored;
    a.relay.close(ignored);
    up->abort();
    control.close(ignored);
  };
  RelayWatch watch(registry, stop, ctl);
  a.watch = &watch;
  auto join = std::make_shared<Join>(ex);
  join->running = 2;
  asio::co_spawn(ex, a.outbound(join), asio::detached);
  asio::co_spawn(ex, a.inbound(join), asio::detached);
  // The association lives as long as the control connection: whatever the client sends on it
  // after the request is ignored; its end (or any error) ends the association.
  control.non_blocking(true, ec);
  for (;;) {
    auto got = co_await read_available(control);
    if (!got || got->empty()) break;
  }
  stop();
  co_await join->wait();
}

}  // namespace ipsx::net
