// The pair channel's frames: how a gateway and an exit talk inside their TLS 1.3 connection.
// Many client connections (streams) share one channel; stream 0 carries the control messages
// (hello, auth, invoices, balance proofs). Pure functions over bytes, fuzzable;
// docs/pair-channel.md has the whole protocol.
//
// A frame is an 8-byte header and a payload:
//   type (1) | flags (1, zero) | payload length (2, big-endian) | stream id (4, big-endian)
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/hex.h"
#include "net/parse_step.h"

namespace ipsx::net {

inline constexpr size_t kFrameHeaderBytes = 8;
// The largest DATA payload a sender puts in one frame, and the largest payload of any frame.
inline constexpr size_t kMaxDataPayload = 16 * 1024;
inline constexpr size_t kMaxFramePayload = 65535;

enum class FrameType : uint8_t {
  hello = 1,         // exit -> gateway, stream 0: provider, key certificate, challenge (JSON)
  auth = 2,          // gateway -> exit, stream 0: deal id and the requester's signature (JSON)
  welcome = 3,       // exit -> gateway, stream 0: accepted; proxy credentials, billing terms (JSON)
  refused = 4,       // exit -> gateway, stream 0: not accepted, why (JSON); the exit then closes
  open = 10,         // gateway -> exit: open stream N to a destination (JSON)
  opened = 11,       // exit -> gateway: stream N is connected
  open_failed = 12,  // exit -> gateway: stream N could not open (JSON: code and reason)
  data = 13,         // either way: bytes of stream N
  fin = 14,          // either way: the sender will send no more data on stream N
  reset = 15,        // either way: stream N is aborted
  credit = 16,       // either way: the receiver may send 4-byte big-endian more bytes on stream N
  invoice = 20,      // exit -> gateway, stream 0: what the deal owes so far (JSON)
  proof = 21,        // gateway -> exit, stream 0: a signed balance proof (JSON)
  cut = 22,          // exit -> gateway, stream 0: the exit stops serving the deal, why (JSON)
  usage = 23,        // exit -> gateway, stream 0: new records of the deal's usage log (JSON)
  receipt = 24,      // gateway -> exit, stream 0: the requester's signed usage receipt (JSON)
  vpn_open = 25,     // gateway -> exit, stream 0: the requester's WireGuard key, signed (JSON)
  vpn_config = 26,   // exit -> gateway, stream 0: the deal's tunnel: key, endpoint, address (JSON)
  vpn_refused = 27,  // exit -> gateway, stream 0: no tunnel for the deal, why (code + reason)
  ping = 30,         // either way, stream 0: payload echoed by pong
  pong = 31,
};

const char* to_string(FrameType type);

struct Frame {
  FrameType type = FrameType::ping;
  uint32_t stream = 0;
  Bytes payload;
  friend bool operator==(const Frame&, const Frame&) = default;
};

// Parses one frame from the front of `in`. Refuses (NetErrc::malformed) an unknown type, a
// non-zero flags byte, a DATA payload over kMaxDataPayload, a control type on a stream other than
// 0, a stream type on stream 0, and a CREDIT frame whose payload is not 4 bytes.
ParseResult<Frame> parse_frame(ByteView in);

// Appends the frame's bytes to `out`. Fails (invalid_argument) for what parse_frame refuses.
Result<void> write_frame(const Frame& frame, Bytes& out);
// The same from a payload the caller holds (no Frame to build: one copy, into `out`).
Result<void> write_frame(FrameType type, uint32_t stream, ByteView payload, Bytes& out);
Result<Bytes> write_frame(const Frame& frame);

// True iff frames of `type` travel on stream 0.
bool is_control(FrameType type);

}  // namespace ipsx::net
