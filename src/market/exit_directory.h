// Where requesters find a provider's exit. A provider announces the address its exit's pair
// channel listens on, signed by its wallet (EIP-712 under the ledger domain):
//   ExitAnnouncement(address provider,string endpoint,uint64 expiry,uint64 seq)
// The node keeps the latest announcement per provider and serves it to the requesters of that
// provider's deals. A provider re-announces well before `expiry`, so a provider that moves is
// current again within one announcement interval; the node also keeps the announcements in a
// file and reloads them at start (api/node_routes.h, NodeContext::exits_file), so a restart does
// not leave a provider unreachable until its next announcement.
//
// The announcement only says where to connect: the pair channel itself proves the exit speaks
// for the provider (the provider's wallet certifies the exit's TLS key, docs/data-plane.md), so
// a stale or forged endpoint can make a connection fail but never hand a deal to someone else.
#pragma once

#include <string>
#include <unordered_map>

#include "core/address.h"
#include "core/clock.h"
#include "core/hash.h"
#include "crypto/keys.h"

namespace ipsx::market {

// Announcements may live at most this long (providers renew them every minute or so).
inline constexpr uint64_t kMaxAnnouncementSeconds = 86'400;

struct ExitAnnouncement {
  Address provider;
  std::string endpoint;  // HOST:PORT of the exit's pair channel; [v6]:PORT for IPv6
  uint64_t expiry = 0;   // unix seconds
  uint64_t seq = 0;      // grows with each announcement of the provider: stops replays

  static const std::string& encoded_type();
  Hash struct_hash() const;
};

struct SignedExitAnnouncement {
  ExitAnnouncement announcement;
  crypto::Signature signature;
};

// Checks the endpoint's form: HOST:PORT with a non-empty host of at most 255 bytes (name,
// IPv4 or [IPv6]) and a port 1..65535. The error names the problem.
Result<void> validate_endpoint(std::string_view endpoint);

class ExitDirectory {
 public:
  explicit ExitDirectory(const Hash& domain_separator) : domain_(domain_separator) {}

  // Accepts `a` if its signature recovers to its provider (bad_signature), its endpoint is well
  // formed and its expiry is in (now, now + kMaxAnnouncementSeconds] (invalid_order naming the
  // field: invalid_argument), and its seq is above the provider's last (bad_sequence). Replaces the
  // last.
  Result<void> announce(const SignedExitAnnouncement& a, uint64_t now);
  // The provider's live announcement, or nullptr (none, or expired at `now`).
  const SignedExitAnnouncement* find(const Address& provider, uint64_t now) const;
  size_t size() const { return exits_.size(); }

 private:
  Hash domain_;
  size_t prune_at_ = 1024;  // expired entries are dropped when the map reaches this size
  std::unordered_map<Address, SignedExitAnnouncement> exits_;
};

}  // namespace ipsx::market
