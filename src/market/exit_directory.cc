#include "market/exit_directory.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "crypto/eip712.h"
#include "market/market_error.h"

namespace ipsx::market {

const std::string& ExitAnnouncement::encoded_type() {
  static const std::string t =
      "ExitAnnouncement(address provider,string endpoint,uint64 expiry,uint64 seq)";
  return t;
}

Hash ExitAnnouncement::struct_hash() const {
  static const Hash th = crypto::eip712::type_hash(encoded_type());
  return crypto::eip712::StructHasher(th)
      .add_address(provider)
      .add_string(endpoint)
      .add_uint(expiry)
      .add_uint(seq)
      .finish();
}

Result<void> validate_endpoint(std::string_view endpoint) {
  auto bad = [&](std::string_view why) {
    return std::unexpected(Error(
        make_error_code(MarketErrc::invalid_argument),
        fmt::format("endpoint {}: {} (want HOST:PORT or relay:HOST:PORT)", quoted(endpoint), why),
        "endpoint"));
  };
  // An exit served through a relay (behind a NAT) is announced at the relay's address.
  if (endpoint.starts_with("relay:")) endpoint.remove_prefix(6);
  size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = endpoint.substr(0, colon);
  std::string_view port = endpoint.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
      return bad("bad IPv6 address");
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address must be in brackets");
  } else if (host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-") != std::string_view::npos) {
    return bad("bad host");
  }
  if (host.empty()) return bad("no host");
  if (host.size() > 255) return bad("host over 255 bytes");
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
    return bad("bad port");
  return {};
}

Result<void> ExitDirectory::announce(const SignedExitAnnouncement& a, uint64_t now) {
  const ExitAnnouncement& x = a.announcement;
  auto signer = crypto::recover(crypto::eip712::digest(domain_, x.struct_hash()), a.signature);
  if (!signer) {
    return fail(MarketErrc::bad_signature,
                fmt::format("exit announcement signature: {}", signer.error().message()));
  }
  if (*signer != x.provider) {
    return fail(MarketErrc::bad_signature,
                fmt::format("exit announcement of {} signed by {}", x.provider.to_string(),
                            signer->to_string()));
  }
  if (auto v = validate_endpoint(x.endpoint); !v) return v;
  if (x.expiry <= now)
    return fail_at(MarketErrc::invalid_argument, "expiry",
                   fmt::format("{} is not after now ({})", x.expiry, now));
  if (x.expiry > now + kMaxAnnouncementSeconds)
    return fail_at(MarketErrc::invalid_argument, "expiry",
                   fmt::format("more than {} s ahead", kMaxAnnouncementSeconds));
  auto it = exits_.find(x.provider);
  if (it != exits_.end() && x.seq <= it->second.announcement.seq) {
    return fail_at(MarketErrc::bad_sequence, "seq",
                   fmt::format("{} is not above the last announcement's {}", x.seq,
                               it->second.announcement.seq));
  }
  if (exits_.size() >= prune_at_) {
    std::erase_if(exits_, [now](const auto& e) { return e.second.announcement.expiry <= now; });
    prune_at_ = std::max<size_t>(1024, 2 * exits_.size());
  }
  exits_[x.provider] = a;
  return {};
}

const SignedExitAnnouncement* ExitDirectory::find(const Address& provider, uint64_t now) const {
  auto it = exits_.find(provider);
  if (it == exits_.end() || it->second.announcement.expiry <= now) return nullptr;
  return &it->second;
}

}  // namespace ipsx::market
