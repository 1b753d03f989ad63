// The net layer's error codes: what the gateway's protocol parsers and writers (SOCKS5, HTTP
// proxying, the proxy username grammar) refuse. Every input is untrusted, so each refusal has a
// code a program can branch on (to pick a SOCKS5 reply or an HTTP status) and a message that names
// the offending field, byte or token.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"

namespace ipsx::net {

enum class NetErrc {
  bad_version = 1,           // SOCKS VER is not 5, RFC 1929 VER is not 1, HTTP is not 1.0/1.1
  malformed,                 // a message breaks its grammar (reserved byte, zero count, bad line)
  unsupported_command,       // a SOCKS5 CMD other than CONNECT, BIND and UDP ASSOCIATE
  unsupported_address_type,  // a SOCKS5 ATYP other than IPv4, DOMAINNAME and IPv6
  bad_address,               // a host, domain name or port that is not valid
  fragmented,                // a SOCKS5 UDP datagram with FRAG != 0 (fragments are unsupported)
  too_large,                 // a size limit: head bytes, line length, header count, datagram
  bad_target,                // an HTTP request-target a proxy refuses (origin-form, *, scheme)
  bad_header,                // HTTP header syntax, obs-fold, conflicting or unsafe framing
  bad_credentials,           // Proxy-Authorization that is not valid Basic user:pass
  unknown_key,               // proxy username: a token in key position that is no key
  duplicate_key,             // proxy username: the same key twice
  bad_value,                 // proxy username: a key's value out of its grammar or range
  missing_session,           // proxy username: ttl without session
  empty_token,               // proxy username: "--", or a leading or trailing '-'
  invalid_argument,          // a writer was given a value it cannot encode
  // The data plane (exit, gateway, pair channel):
  forbidden_destination,  // the exit's policy refuses the destination (private, denied range)
  not_permitted,          // the deal does not allow it (protocol, scope, mail port)
  unauthorized,           // wrong password, credentials, signature, or no such live deal
  unpaid,                 // the exit stopped serving: unpaid use passed the credit limit
  deal_ended,             // the deal is over, cut, or not yet started
  no_lease,               // the gateway has no leased IP that fits and the market found none
  exit_failed,            // the exit could not be reached or could not connect
  timed_out,              // a connect, handshake, read or write deadline passed
  channel_closed,         // the pair channel or the stream went away
  tls,                    // a TLS or certificate failure
  overloaded,             // a bound on connections, streams or queued bytes
};

const std::error_category& net_category();
inline std::error_code make_error_code(NetErrc e) {
  return {static_cast<int>(e), net_category()};
}

}  // namespace ipsx::net

template <>
struct std::is_error_code_enum<ipsx::net::NetErrc> : std::true_type {};
