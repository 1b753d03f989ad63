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

// Parses `input` as a proxy username. When it parses, to_string succeeds and parses back equal.
bool fuzz_username(std::string_view input, const FuzzViolation& on_violation = {});

// Parses `input` as pair-channel bytes: every frame parse_frame accepts writes back to exactly
// the bytes it consumed, and shorter prefixes ask for more; each frame's payload is run through
// the message parser of its type (hello, auth, welcome, open, invoice, proof, error payloads),
// and a message that parses writes back to a payload that parses equal. The same input is also
// read as an address range (parse_cidr), which must print back to a range that parses equal.
bool fuzz_pair(std::string_view input, const FuzzViolation& on_violation = {});

// Valid inputs to start mutating from, one list per target.
std::vector<std::string> socks5_fuzz_seeds();
std::vector<std::string> http_fuzz_seeds();
std::vector<std::string> username_fuzz_seeds();
std::vector<std::string> pair_fuzz_seeds();

}  // namespace ipsx::net
