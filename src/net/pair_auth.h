// What the two ends of a pair channel sign, so each knows who is on the other side:
//
// - The exit's TLS key is certified by the provider's wallet: an EIP-191 signature over the
//   SHA-256 of the key (its DER SubjectPublicKeyInfo) and a validity end. The provider's signed
//   offers name that wallet, so a gateway that checks the certificate knows that the TLS key it
//   talks to is one the offer's provider stands behind. (A certificate rather than a key hash
//   inside each offer: an exit can rotate its key without re-signing every resting offer.)
// - The requester proves it is the deal's requester by signing, with its wallet, the deal id,
//   the exit's fresh challenge and the TLS channel binding (an RFC 5705 exporter value), so the
//   signature is good for this one TLS session and cannot be replayed or relayed.
//
// - For a VPN deal, the requester signs its WireGuard public key with its wallet.
//
// All three messages are readable text, so a hardware wallet shows what it signs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/hash.h"
#include "core/hex.h"

namespace ipsx::net {

// The RFC 5705 exporter label and length both ends use for the channel binding.
inline constexpr const char* kPairExporterLabel = "EXPORTER-ipsx-pair-v1";
inline constexpr size_t kPairBindingBytes = 32;
inline constexpr size_t kChallengeBytes = 32;

// "IPSX exit key\nprovider: 0x...\nkey: <sha256 hex>\nvalid until: <unix seconds>"
std::string exit_key_message(const Address& provider, const Hash& key_sha256, uint64_t valid_until);

// "IPSX pair\ndeal: 0x...\nchallenge: <hex>\nchannel: <hex>"
std::string pair_auth_message(const Hash& deal_id, ByteView challenge, ByteView channel_binding);

// "IPSX VPN key\ndeal: 0x...\nkey: <base64>": the requester binds its WireGuard public key (as
// `wg` prints it) to the deal. Not tied to one TLS session: the same key is sent again after a
// reconnect, and whoever replays it only asks for the tunnel the requester already holds.
std::string vpn_key_message(const Hash& deal_id, std::string_view wg_public_key_base64);

}  // namespace ipsx::net
