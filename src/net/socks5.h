// SOCKS version 5 (RFC 1928) and its username/password authentication (RFC 1929), as pure
// functions over bytes: parsers take whatever has been read so far and answer "need more",
// "message + bytes consumed" or an error; writers return the exact bytes to send. No sockets, no
// clock, no resolver: the gateway (server side) and tests (client side) drive them.
//
// A session: client greeting -> write_method_selection -> (parse_userpass -> write_userpass_status)
// -> parse_request -> write_reply. UDP ASSOCIATE relays datagrams with the §7 header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/hex.h"
#include "net/endpoint.h"
#include "net/parse_step.h"

namespace ipsx::net {

// VER of every SOCKS5 message.
inline constexpr uint8_t kSocks5Version = 0x05;
inline constexpr uint8_t kUserPassVersion = 0x01;  // RFC 1929's sub-negotiation version
// The largest UDP payload an IPv4/IPv6 datagram can carry; bounds UDP header parse and write.
inline constexpr size_t kMaxUdpDatagramBytes = 65535;

// Authentication METHOD values (RFC 1928 §3).
namespace socks5_method {
inline constexpr uint8_t no_auth = 0x00, gssapi = 0x01, username_password = 0x02,
                         no_acceptable = 0xff;
}  // namespace socks5_method

// The CMD of a request (RFC 1928 §4).
enum class Socks5Command : uint8_t { connect = 0x01, bind = 0x02, udp_associate = 0x03 };

// The REP field of a reply (RFC 1928 §6), under the RFC's names.
enum class Socks5Reply : uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,  // "general SOCKS server failure"
  not_allowed = 0x02,      // "connection not allowed by ruleset"
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

// The RFC's text for `reply` ("succeeded", "connection refused", ...); "unassigned" otherwise.
const char* to_string(Socks5Reply reply);

// The reply a server sends when parse_request fails with `error`: command_not_supported,
// address_type_not_supported, or general_failure for anything else (RFC 1928 §6).
Socks5Reply reply_for(const Error& error);

// The client's first message: the authentication methods it offers (1..255 of them).
struct Socks5Greeting {
  std::vector<uint8_t> methods;

  // True iff the client offered `method`.
  bool offers(uint8_t method) const;
  friend bool operator==(const Socks5Greeting&, const Socks5Greeting&) = default;
};

// RFC 1929 credentials: opaque bytes, username 1..255, password 0..255 (RFC 1929 says 1..255;
// an empty password is taken because common clients send one, and left to authentication).
struct Socks5UserPass {
  std::string username;
  std::string password;
  friend bool operator==(const Socks5UserPass&, const Socks5UserPass&) = default;
};

// A client request (RFC 1928 §4). For UDP ASSOCIATE the destination is where the client will
// send from, often 0.0.0.0:0. Port 0 is accepted here; whether it is allowed is the caller's call.
struct Socks5Request {
  Socks5Command command = Socks5Command::connect;
  Endpoint destination;
  friend bool operator==(const Socks5Request&, const Socks5Request&) = default;
};

// A server reply (RFC 1928 §6): the outcome and the bound address.
struct Socks5Response {
  Socks5Reply reply = Socks5Reply::succeeded;
  Endpoint bound;
  friend bool operator==(const Socks5Response&, const Socks5Response&) = default;
};

// The header of a relayed UDP datagram (RFC 1928 §7). The payload is
// datagram.subspan(header_size).
struct Socks5UdpHeader {
  Endpoint destination;
  size_t header_size = 0;
  friend bool operator==(const Socks5UdpHeader&, const Socks5UdpHeader&) = default;
};

// --- Server side: parse what the client sends, write the answers. ---

// VER NMETHODS METHODS. Refuses VER != 5 (bad_version; checked on the first byte, so a client
// speaking another protocol is refused at once) and NMETHODS = 0 (malformed).
ParseResult<Socks5Greeting> parse_greeting(ByteView in);

// VER ULEN UNAME PLEN PASSWD (RFC 1929). Refuses VER != 1 (bad_version) and ULEN = 0 (malformed).
ParseResult<Socks5UserPass> parse_userpass(ByteView in);

// VER CMD RSV ATYP DST.ADDR DST.PORT. Refuses VER != 5 (bad_version), RSV != 0 (malformed), an
// unknown CMD (unsupported_command), an unknown ATYP (unsupported_address_type) and a domain
// name that fails check_domain (bad_address). Each field is checked as soon as it has arrived.
ParseResult<Socks5Request> parse_request(ByteView in);

// The server's METHOD selection: VER METHOD (2 bytes).
Bytes write_method_selection(uint8_t method);

// The RFC 1929 status: VER 0x01 and STATUS 0x00 on success, 0x01 on failure (after which the
// server closes the connection).
Bytes write_userpass_status(bool success);

// VER REP RSV ATYP BND.ADDR BND.PORT with any address type. Fails (invalid_argument) only for a
// domain name that check_domain refuses.
Result<Bytes> write_reply(Socks5Reply reply, const Endpoint& bound);

// A reply with bound address 0.0.0.0:0, as failures carry.
Bytes write_reply(Socks5Reply reply);

// Parses the header of one whole UDP datagram: RSV(2) FRAG ATYP DST.ADDR DST.PORT. Refuses
// RSV != 0 (malformed), FRAG != 0 (fragmented: this relay does not reassemble, and RFC 1928 lets
// it drop them), a truncated header (malformed: a datagram never grows), an unknown ATYP and a
// datagram over kMaxUdpDatagramBytes (too_large).
Result<Socks5UdpHeader> parse_udp_header(ByteView datagram);

// The §7 header for a datagram to or from `destination` (FRAG 0); the payload follows it.
// Fails (invalid_argument) for a domain name that check_domain refuses.
Result<Bytes> write_udp_header(const Endpoint& destination);

// --- Client side: for tests, round trips and chaining to an upstream SOCKS5 server. ---

// Fails (invalid_argument) unless 1..255 methods.
Result<Bytes> write_greeting(const Socks5Greeting& greeting);
// Fails (invalid_argument) unless a username of 1..255 bytes and a password of 0..255.
Result<Bytes> write_userpass(const Socks5UserPass& credentials);
// Fails (invalid_argument) for a domain name that check_domain refuses.
Result<Bytes> write_request(const Socks5Request& request);
// A server reply, parsed with the same rules as parse_request (an unassigned REP is malformed).
ParseResult<Socks5Response> parse_reply(ByteView in);

}  // namespace ipsx::net
