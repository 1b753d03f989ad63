#include "net/pair_auth.h"

#include <fmt/format.h>

namespace ipsx::net {

std::string exit_key_message(const Address& provider, const Hash& key_sha256,
                             uint64_t valid_until) {
  return fmt::format("IPSX exit key\nprovider: {}\nkey: {}\nvalid until: {}", provider.to_string(),
                     to_hex(key_sha256.view(), false), valid_until);
}

std::string pair_auth_message(const Hash& deal_id, ByteView challenge, ByteView channel_binding) {
  return fmt::format("IPSX pair\ndeal: {}\nchallenge: {}\nchannel: {}", deal_id.hex(),
                     to_hex(challenge, false), to_hex(channel_binding, false));
}

std::string vpn_key_message(const Hash& deal_id, std::string_view wg_public_key_base64) {
  return fmt::format("IPSX VPN key\ndeal: {}\nkey: {}", deal_id.hex(), wg_public_key_base64);
}

}  // namespace ipsx::net
