// Fuzz targets for the net layer's parsers, for the project's fuzz runner (fuzz/fuzz_main.cc)
// and the mutation tests. Each parses arbitrary bytes; where parsing succeeds it writes the
// message back and checks a round-trip property. A violated property is reported through
// `on_violation` (which may abort) and makes the target return false. Crashes and out-of-bounds
// reads are the sanitizers' to catch. Deterministic, no I/O.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ipsx::net {

// Receives a description of the violated property, e.g. "socks5 request: write(parse(x)) != x".
using FuzzViolation = std::function<void(std::string_view what)>;

// Runs every SOCKS5 parser (greeting, userpass, request, reply, UDP header) on `input`. For each
// message parsed: writing it back gives exactly the bytes consumed (the encoding is canonical);
// every shorter prefix of those bytes asks for more, and never for more than the rest.
bool fuzz_socks5(std::string_view input, const FuzzViolation& on_violation = {});

// Parses `input` as a proxy request head. When it parses: write_proxy_request_head parses back
// equal; a truncated head asks for more; the forwarded head parses (origin-form) with the same
// method, path, target and framing and without hop-by-hop headers; Basic credentials re-encode
// to the same credentials. When it fails, the error has a message.
bool fuzz_http(std::string_view input, const FuzzViolation& on_violation = {});

// Parses `input` as an origin's response head (answering GET, and HEAD) with the body after it,
// and reads `input` itself as a chunked body. A parsed head: every shorter prefix asks for more;
// the head written for the client (write_response_head) parses back with the same status,
// reason, framing and length, the persistence asked for, no hop-by-hop header and no header the
// origin did not send. Body scanning: any split of the same bytes gives the same count, end and
// error as scanning them whole. fuzz_http runs this too, on `input` and on `input` behind a
// status line, so the http target of the fuzz runner covers responses.
bool fuzz_http_response(std::string_view input, const FuzzViolation& on_violation = {});

// Parses `input` as a proxy username. When it parses, to_string succeeds and parses back equal.
bool fuzz_username(std::string_view input, const FuzzViolation& on_violation = {});

// Parses `input` as pair-channel bytes: every frame parse_frame accepts writes back to exactly
// the bytes it consumed, and shorter prefixes ask for more; each frame's payload is run through
// the message parser of its type (hello, auth, welcome, open, invoice, proof, error payloads),
// and a message that parses writes back to a payload that parses equal. The same input is also
// read as an address range (parse_prefix), which must print back to a range that parses equal, and
// as a UDP stream's datagram records, which must write back to the bytes they took.
bool fuzz_pair(std::string_view input, const FuzzViolation& on_violation = {});

// Valid inputs to start mutating from, one list per target.
std::vector<std::string> socks5_fuzz_seeds();
std::vector<std::string> http_fuzz_seeds();
std::vector<std::string> http_response_fuzz_seeds();
std::vector<std::string> username_fuzz_seeds();
std::vector<std::string> pair_fuzz_seeds();

}  // namespace ipsx::net
