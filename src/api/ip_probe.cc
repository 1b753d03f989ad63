#include "api/ip_probe.h"

#include <fmt/format.h>

#include <atomic>
#include <random>

#include "net/asio.h"
#include "net/io_util.h"
#include "vocab/orders.h"

namespace ipsx::api {
namespace {

namespace asio = net::asio;
using net::tcp;

Hash random_challenge() {
  thread_local std::random_device rd;
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); i += 4) {
    uint32_t v = rd();
    for (size_t k = 0; k < 4; ++k) b[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  return Hash(FixedBytes<32>(std::span<const uint8_t, 32>(b)));
}

Ip to_bytes(const asio::ip::address& a) {
  if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
  return a.to_v6().to_bytes();
}

Error probe_error(std::string why) {
  return Error(CoreErrc::invalid_argument, std::move(why));
}

}  // namespace

// ---- IpProofs -----------------------------------------------------------------------------------

IpProofs::IpProofs(ProbeOptions options, const Clock& clock) : options_(options), clock_(clock) {}

void IpProofs::prune(Timestamp now) {
  while (!challenge_order_.empty() &&
         (challenge_order_.begin()->first <= now || challenges_.size() > options_.max_challenges)) {
    challenges_.erase(challenge_order_.begin()->second);
    challenge_order_.erase(challenge_order_.begin());
  }
  while (!proof_order_.empty() &&
         (proof_order_.begin()->first <= now || proofs_.size() > options_.max_proofs)) {
    auto it = proofs_.find(proof_order_.begin()->second);
    if (it != proofs_.end() && it->second == proof_order_.begin()->first) proofs_.erase(it);
    proof_order_.erase(proof_order_.begin());
  }
}

Hash IpProofs::issue(const Address& provider, const Ip& ip) {
  Hash c = random_challenge();
  std::lock_guard lock(mu_);
  Timestamp now = clock_.now();
  prune(now);
  Timestamp expires = now + options_.challenge_ttl;
  challenges_[c] = Challenge{provider, ip, expires};
  challenge_order_.emplace(expires, c);
  return c;
}

Result<Ip> IpProofs::present(const Hash& challenge, const Ip& remote) {
  std::lock_guard lock(mu_);
  Timestamp now = clock_.now();
  prune(now);
  auto it = challenges_.find(challenge);
  if (it == challenges_.end())
    return std::unexpected(probe_error("unknown or expired challenge (ask POST /v1/probes again)"));
  Challenge c = it->second;
  challenges_.erase(it);  // single use, whatever the outcome
  if (c.ip != remote) {
    return std::unexpected(
        probe_error(fmt::format("the challenge is for {}, this connection is from {}",
                                format_ip(c.ip), format_ip(remote))));
  }
  Timestamp expires = now + options_.proof_ttl;
  proofs_[{c.provider, c.ip}] = expires;
  proof_order_.emplace(expires, std::pair{c.provider, c.ip});
  return c.ip;
}

bool IpProofs::proven(const Address& provider, const Ip& ip) const {
  std::lock_guard lock(mu_);
  auto it = proofs_.find({provider, ip});
  return it != proofs_.end() && clock_.now() < it->second;
}

std::string probe_line(const Hash& challenge) {
  return "IPSX-PROBE " + challenge.hex() + "\n";
}

// ---- ProbeServer --------------------------------------------------------------------------------

struct ProbeServer::Impl {
  IpProofs& proofs;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<uint64_t> ok{0}, refused{0};
  size_t open = 0;
  static constexpr size_t kMaxOpen = 1024;

  explicit Impl(IpProofs& p) : proofs(p) {}

  net::awaitable<void> serve(tcp::socket socket) {
    ++open;
    boost::system::error_code ec;
    asio::steady_timer deadline(io);
    deadline.expires_after(proofs.options().read_timeout);
    deadline.async_wait([&socket](boost::system::error_code e) {
      if (!e) socket.close();
    });
    std::string line;
    co_await asio::async_read_until(socket, asio::dynamic_buffer(line, 128), '\n', net::use_ec(ec));
    std::string answer;
    if (ec) {
      answer = "ERR want one line: IPSX-PROBE 0x<challenge>\n";
    } else {
      line.erase(line.find('\n'));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto challenge = line.starts_with("IPSX-PROBE ")
                           ? Hash::from_hex(line.substr(11))
                           : Result<Hash>(std::unexpected(probe_error("")));
      auto remote = socket.remote_endpoint(ec);
      if (!challenge || ec) {
        answer = "ERR want one line: IPSX-PROBE 0x<challenge>\n";
      } else if (auto r = proofs.present(*challenge, to_bytes(remote.address())); !r) {
        answer = "ERR " + r.error().message() + "\n";
      } else {
        answer = "OK " + format_ip(*r) + "\n";
      }
    }
    (answer.starts_with("OK") ? ok : refused)++;
    if (socket.is_open()) co_await asio::async_write(socket, asio::buffer(answer), net::use_ec(ec));
    deadline.cancel();
    socket.close(ec);
    --open;
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(net::use_ec(ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        co_await net::pause_after_accept_error(ec);
        continue;
      }
      if (open >= kMaxOpen) continue;  // dropped: s closes here
      asio::co_spawn(io, serve(std::move(s)), asio::detached);
    }
  }
};

ProbeServer::ProbeServer(IpProofs& proofs) : impl_(std::make_unique<Impl>(proofs)) {}

ProbeServer::~ProbeServer() {
  stop();
}

Result<std::string> ProbeServer::start(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return std::unexpected(probe_error("probe listener: bad host '" + host + "'"));
  tcp::endpoint ep(addr, port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return std::unexpected(Error(
        CoreErrc::io_error, fmt::format("probe listener on {}:{}: {}", host, port, ec.message())));
  }
  auto bound = impl_->acceptor.local_endpoint();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  std::string h = bound.address().to_string();
  if (bound.address().is_v6()) h = "[" + h + "]";
  return fmt::format("{}:{}", h, bound.port());
}

void ProbeServer::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    impl_->io.stop();
  });
  impl_->thread.join();
}

uint64_t ProbeServer::probes_ok() const {
  return impl_->ok;
}
uint64_t ProbeServer::probes_refused() const {
  return impl_->refused;
}

}  // namespace ipsx::api
