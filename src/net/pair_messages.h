// The payloads of the pair channel's control frames and of OPEN (JSON objects; docs/pair-channel.md
// has each field), and the "code + reason" payload of OPEN_FAILED, REFUSED and CUT. Parsers
// refuse (NetErrc::malformed) anything missing, mistyped or out of range, naming the field.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/amount.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "net/endpoint.h"
#include "net/parse_step.h"
#include "vocab/usage.h"

namespace ipsx::net {

// exit -> gateway, first frame: who the exit is and a fresh challenge.
struct HelloMessage {
  Address provider;
  Hash key_sha256;                  // of the exit's TLS public key
  uint64_t valid_until = 0;         // unix seconds: the key certificate's end
  crypto::Signature key_signature;  // provider's EIP-191 signature of exit_key_message
  Bytes challenge;                  // kChallengeBytes
};

// gateway -> exit: the deal, and the requester's signature of pair_auth_message.
struct AuthMessage {
  Hash deal_id;
  crypto::Signature signature;
};

// exit -> gateway: the deal is served on this channel.
struct WelcomeMessage {
  std::string proxy_username;  // per-deal credentials for the exit's SOCKS5/HTTP front
  std::string proxy_password;
  uint16_t proxy_port = 0;  // 0: the exit runs no front
  uint64_t invoice_interval_ms = 0;
  Amount credit_limit;  // unpaid base units the exit tolerates before it cuts the deal
};

// gateway -> exit, with OPEN: where the stream goes and which protocol the client speaks
// (a protocol bit (vocab/orders.h): socks5, http or https_connect).
struct OpenMessage {
  Endpoint destination;  // for a UDP stream: where the client says it sends from (port may be 0)
  uint32_t protocol = 0;
  // A UDP ASSOCIATE: the stream carries datagram records (write_datagram_record) both ways; the
  // exit sends each from the leased IP to the destination the record names.
  bool udp = false;
};

// One datagram on a UDP stream: its peer (the destination going to the exit, the source coming
// back) and payload.
struct DatagramRecord {
  Endpoint peer;
  Bytes payload;
  friend bool operator==(const DatagramRecord&, const DatagramRecord&) = default;
};

// A datagram as stream bytes: a 2-byte big-endian length, then the SOCKS5 UDP header of `peer`
// (RFC 1928 §7, FRAG 0) and the payload. Fails (invalid_argument, too_large) for a domain name
// check_domain refuses or a header and payload over 65535 bytes.
Result<Bytes> write_datagram_record(const Endpoint& peer, ByteView payload);
// The record at the front of `in` (need more until it is whole). The header is read by
// parse_udp_header: a fragment, an unknown ATYP, a truncated header are errors (final: the
// stream is out of step).
ParseResult<DatagramRecord> parse_datagram_record(ByteView in);

// exit -> gateway: what the deal owes so far (cumulative, like the balance proof answering it).
struct InvoiceMessage {
  Hash deal_id;
  Amount amount_due;
  uint64_t seconds = 0;  // billed seconds since the deal's start
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
};

// gateway -> exit: a balance proof (BalanceProof signed by the requester).
struct ProofMessage {
  Hash deal_id;
  Amount amount;
  crypto::Signature signature;
};

// exit -> gateway: records appended to the deal's usage log (vocab/usage.h), in index order
// from the first the gateway has not seen, and the log's size and root after them.
struct UsageMessage {
  Hash deal_id;
  std::vector<UsageRecord> records;  // deal_id left to the message's
  uint64_t count = 0;
  Hash root;
};
inline constexpr size_t kMaxUsageRecordsPerMessage = 200;  // fits one frame

// gateway -> exit: the requester's signature of UsageReceipt{deal, count, root}.
struct ReceiptMessage {
  Hash deal_id;
  uint64_t count = 0;
  Hash root;
  crypto::Signature signature;
};

// A WireGuard key (Curve25519, 32 bytes; base64 in text, as `wg` shows it).
using WgKey = std::array<uint8_t, 32>;

// gateway -> exit, for a deal that serves `vpn`: the requester's WireGuard public key, and its
// wallet's EIP-191 signature of vpn_key_message (pair_auth.h), so the key is bound to the
// requester however the frame reached the exit. Sent again after a reconnect: the same key gets
// the same tunnel; another key replaces the deal's peer.
struct VpnOpenMessage {
  Hash deal_id;
  WgKey public_key{};
  crypto::Signature signature;
};

// exit -> gateway: the deal's tunnel (docs/vpn.md): the exit's WireGuard key and endpoint, the
// requester's address inside the tunnel (IPv4, a /32), resolvers to use through it, the MTU.
struct VpnConfigMessage {
  Hash deal_id;
  WgKey server_key{};
  Endpoint endpoint;
  Ip address{};         // IPv4 mapped
  std::vector<Ip> dns;  // at most kMaxVpnDns
  uint16_t mtu = 1420;  // 1280..1500
};
inline constexpr size_t kMaxVpnDns = 4;

Bytes to_payload(const HelloMessage& m);
Bytes to_payload(const AuthMessage& m);
Bytes to_payload(const WelcomeMessage& m);
Bytes to_payload(const OpenMessage& m);
Bytes to_payload(const InvoiceMessage& m);
Bytes to_payload(const ProofMessage& m);
Bytes to_payload(const UsageMessage& m);
Bytes to_payload(const ReceiptMessage& m);
Bytes to_payload(const VpnOpenMessage& m);
Bytes to_payload(const VpnConfigMessage& m);

Result<HelloMessage> parse_hello(ByteView payload);
Result<AuthMessage> parse_auth(ByteView payload);
Result<WelcomeMessage> parse_welcome(ByteView payload);
Result<OpenMessage> parse_open(ByteView payload);
Result<InvoiceMessage> parse_invoice(ByteView payload);
Result<ProofMessage> parse_proof(ByteView payload);
// At most kMaxUsageRecordsPerMessage records; hosts of at most 255 bytes.
Result<UsageMessage> parse_usage(ByteView payload);
Result<ReceiptMessage> parse_receipt(ByteView payload);
Result<VpnOpenMessage> parse_vpn_open(ByteView payload);
// The endpoint a host name or an address with a port; the address IPv4.
Result<VpnConfigMessage> parse_vpn_config(ByteView payload);

// An error on the wire: one byte of NetErrc (exit_failed for codes of other layers) and the
// message. The parse never fails: an unknown or empty payload reads as exit_failed.
Bytes error_payload(const Error& e);
Error parse_error_payload(ByteView payload);

}  // namespace ipsx::net
