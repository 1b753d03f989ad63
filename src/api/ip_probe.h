// The IP-ownership probe: before the node accepts an offer for an IP, it must have seen a
// connection arrive from that IP for that provider (the exit proves it can egress from it).
//
//   1. The provider asks: POST /v1/probes {"provider": "0x..", "ip": "203.0.113.7"}; the node
//      answers a fresh random `challenge` and the `endpoint` of its probe listener.
//   2. The provider's machine connects to that endpoint with its socket bound to the IP and sends
//      one line, "IPSX-PROBE 0x<challenge>\n". The listener compares the connection's source
//      address with the IP the challenge was issued for and answers "OK <ip>\n" or
//      "ERR <reason>\n".
//   3. For `proof_ttl` (a day by default) the node accepts that provider's offers for that IP.
//
// A challenge is single-use and expires after `challenge_ttl`. Nobody can prove an address they
// cannot send from: on the internet the TCP handshake needs the node's answers to reach it. The
// request need not be signed: proving an IP for someone else's wallet only lets that wallet offer
// an IP it cannot serve, which its deals would then fail.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/address.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "vocab/ip.h"

namespace ipsx::api {

struct ProbeOptions {
  Millis challenge_ttl{60'000};
  Millis proof_ttl{24 * 3600 * 1000};
  Millis read_timeout{5'000};       // a probe connection that sends no line in time is dropped
  size_t max_challenges = 100'000;  // outstanding; the oldest are dropped beyond it
  size_t max_proofs = 1'000'000;
};

// The challenges issued and the proofs seen. Thread-safe (the routes and the probe listener run
// on different threads).
class IpProofs {
 public:
  IpProofs(ProbeOptions options, const Clock& clock);

  // A fresh random challenge for `provider` to prove `ip` with.
  Hash issue(const Address& provider, const Ip& ip);
  // A probe connection from `remote` presented `challenge`. Consumes the challenge. Errors
  // (CoreErrc::invalid_argument): unknown or expired challenge, or `remote` is not its IP.
  Result<Ip> present(const Hash& challenge, const Ip& remote);
  // Whether a probe proved `ip` for `provider` within proof_ttl.
  bool proven(const Address& provider, const Ip& ip) const;
  const ProbeOptions& options() const { return options_; }

 private:
  struct Challenge {
    Address provider;
    Ip ip;
    Timestamp expires;
  };
  void prune(Timestamp now);

  ProbeOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<Hash, Challenge> challenges_;
  std::multimap<Timestamp, Hash> challenge_order_;
  std::map<std::pair<Address, Ip>, Timestamp> proofs_;  // expiry
  std::multimap<Timestamp, std::pair<Address, Ip>> proof_order_;
};

// The probe listener: a TCP acceptor on its own thread, one line in, one line out per connection.
class ProbeServer {
 public:
  explicit ProbeServer(IpProofs& proofs);
  ~ProbeServer();  // stops
  ProbeServer(const ProbeServer&) = delete;
  ProbeServer& operator=(const ProbeServer&) = delete;

  // Binds `host:port` (0: any free port), starts serving, and returns the bound "host:port"
  // ("[v6]:port" for IPv6).
  Result<std::string> start(const std::string& host, uint16_t port);
  void stop();
  uint64_t probes_ok() const;
  uint64_t probes_refused() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The line a probe client sends for `challenge`, and the parse of the listener's answer.
std::string probe_line(const Hash& challenge);

}  // namespace ipsx::api
