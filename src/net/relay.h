// The relay: how a gateway reaches the exit of a provider that nothing can connect to (behind a
// NAT it does not control, such as a carrier's). The provider keeps a control connection open to
// the relay; a gateway asks the relay for that provider; the relay tells the provider, which opens
// a data connection back; the relay joins the two and copies bytes. What it carries is the pair
// channel, TLS from the gateway to the exit: the relay sees only ciphertext, and the gateway still
// checks that the exit speaks for the deal's provider (docs/network.md, "The relay").
//
// The protocol is lines of ASCII, then raw bytes:
//   provider -> relay:  IPSX-RELAY/1 SERVE <provider> <unix seconds> <signature>
//                       (personal_sign of relay_serve_message(provider, seconds) by the
//                       provider's wallet; within clock_skew of the relay's clock, and newer than
//                       the provider's last accepted SERVE: a replay is refused)
//   relay -> provider:  OK | ERR <reason>, then, on the same connection, DIAL <token> <gateway
//                       IP> per gateway and PING every ping_every (which keeps NAT mappings
//                       alive)
//   provider -> relay:  ALIVE every 5 s on the control connection (ignored: a NAT that lost its
//                       mapping makes the relay answer it with a reset, and the provider
//                       reconnects at once)
//   provider -> relay:  IPSX-RELAY/1 ACCEPT <provider> <token>   (a new connection; then bytes)
//   gateway -> relay:   IPSX-RELAY/1 CONNECT <provider>
//   relay -> gateway:   OK (then bytes, joined to the provider's) | ERR <reason>
// and, for a hole punched through both NATs (net/punch.h), on connections that end after it:
//   gateway -> relay:   IPSX-RELAY/1 PUNCH <provider>
//   relay -> provider:  PUNCH <token> <gateway IP> <port>   (on the control connection: where
//                       the gateway's NAT put its PUNCH connection, as the relay saw it)
//   provider -> relay:  IPSX-RELAY/1 PUNCHING <provider> <token>   (a new connection)
//   relay -> gateway:   PEER <provider IP> <port> (where the provider's NAT put its PUNCHING
//                       connection) | ERR <reason>;   relay -> provider: GO
// then each connects to the other's endpoint from its own connection's local port, at once.
// A newer SERVE for a provider replaces the older control connection.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/address.h"
#include "core/clock.h"
#include "core/error.h"
#include "crypto/keys.h"
#include "net/asio.h"

namespace ipsx::net {

struct RelayConfig {
  tcp::endpoint listen{asio::ip::make_address("127.0.0.1"), 0};
  size_t max_connections_per_provider = 64;  // relayed connections open at once
  size_t max_connections_per_source = 16;    // relayed connections open at once per gateway address
  uint64_t max_bytes_per_provider = 0;       // carried over the relay's life; 0: no limit
  size_t max_providers = 10'000;             // control connections at once
  size_t max_connections = 20'000;           // sockets at once, of every kind
  Millis handshake_timeout{10'000};          // a first line; a provider's dial back
  Millis idle_timeout{300'000};              // a relayed connection with nothing moving
  Millis ping_every{20'000};
  int64_t clock_skew_seconds = 300;  // a SERVE's time against the relay's clock
};

// What the relay did for one provider.
struct RelayProviderStats {
  bool serving = false;      // a control connection is open
  size_t open = 0;           // relayed connections now
  uint64_t connections = 0;  // relayed connections, in all
  uint64_t refused = 0;      // CONNECTs refused (limits, no dial back)
  uint64_t bytes = 0;        // carried both ways, in all
  uint64_t punches = 0;      // PUNCHes answered by the provider (whether the punch then worked)
};

// The text a provider signs (EIP-191 personal_sign) to serve through a relay.
std::string relay_serve_message(const Address& provider, int64_t unix_seconds);

class Relay {
 public:
  Relay(asio::io_context& io, RelayConfig config, const Clock& clock);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Binds and listens; the port bound. Errors name the address.
  Result<uint16_t> start();
  // Closes the listener and every connection. Call on the io_context's thread, or once it is
  // stopped.
  void stop();
  // By provider. Thread-safe.
  std::map<Address, RelayProviderStats> stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The provider's side: a control connection to the relay at `relay`, signed by `key`, kept open
// (reconnecting every `retry` after a failure); for each gateway the relay announces, a data
// connection whose socket goes to `accept` (the exit serves it as its pair channel). `log` (may
// be empty) hears each change of state. `accept` also gets the gateway's address as the relay
// saw it ("" if the relay did not say). Runs on `io`'s thread; stop() there or after it.
class RelayClient {
 public:
  RelayClient(asio::io_context& io, tcp::endpoint relay, crypto::PrivateKey key, const Clock& clock,
              std::function<void(tcp::socket, std::string)> accept,
              std::function<void(const std::string&)> log = {}, Millis retry = Millis(2'000));
  ~RelayClient();
  RelayClient(const RelayClient&) = delete;
  RelayClient& operator=(const RelayClient&) = delete;
  void start();
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The gateway's side: a connection to `provider`'s exit through the relay at `relay`, ready for
// the pair channel's TLS. Errors: the relay's refusal with its reason (exit_failed), timed_out.
awaitable<Result<tcp::socket>> relay_connect(asio::any_io_executor ex, tcp::endpoint relay,
                                             const Address& provider, Millis timeout);

// The gateway's side of a punch: PUNCH at the relay, then the punch itself to the endpoint the
// relay gives (within `timeout` each). The connection is the exit's pair channel, as a relayed
// one would be; `peer` is where it goes. Errors: the relay's refusal (exit_failed), timed_out
// (no punched path: a symmetric NAT on the way, or a firewall).
struct RelayPunch {
  tcp::socket socket;
  tcp::endpoint peer;
};
awaitable<Result<RelayPunch>> relay_punch(asio::any_io_executor ex, tcp::endpoint relay,
                                          const Address& provider, Millis timeout);

}  // namespace ipsx::net
