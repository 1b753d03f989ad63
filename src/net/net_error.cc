#include "net/net_error.h"

#include <fmt/format.h>

namespace ipsx::net {
namespace {

class NetCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.net"; }
  std::string message(int c) const override {
    switch (static_cast<NetErrc>(c)) {
      case NetErrc::bad_version:
        return "unsupported protocol version";
      case NetErrc::malformed:
        return "malformed message";
      case NetErrc::unsupported_command:
        return "command not supported";
      case NetErrc::unsupported_address_type:
        return "address type not supported";
      case NetErrc::bad_address:
        return "bad address";
      case NetErrc::fragmented:
        return "fragmented datagram";
      case NetErrc::too_large:
        return "message too large";
      case NetErrc::bad_target:
        return "bad request target";
      case NetErrc::bad_header:
        return "bad header";
      case NetErrc::bad_credentials:
        return "bad credentials";
      case NetErrc::unknown_key:
        return "unknown username key";
      case NetErrc::duplicate_key:
        return "duplicate username key";
      case NetErrc::bad_value:
        return "bad username value";
      case NetErrc::missing_session:
        return "ttl without session";
      case NetErrc::empty_token:
        return "empty username token";
      case NetErrc::forbidden_destination:
        return "destination forbidden";
      case NetErrc::not_permitted:
        return "not permitted by the deal";
      case NetErrc::unauthorized:
        return "unauthorized";
      case NetErrc::unpaid:
        return "unpaid";
      case NetErrc::deal_ended:
        return "deal not live";
      case NetErrc::no_lease:
        return "no leased IP fits";
      case NetErrc::exit_failed:
        return "exit failed";
      case NetErrc::timed_out:
        return "timed out";
      case NetErrc::channel_closed:
        return "channel closed";
      case NetErrc::tls:
        return "TLS failure";
      case NetErrc::overloaded:
        return "overloaded";
      case NetErrc::invalid_argument:
        return "invalid argument";
    }
    return "unknown net error";
  }
};

}  // namespace

const std::error_category& net_category() {
  static const NetCategory category;
  return category;
}

}  // namespace ipsx::net
