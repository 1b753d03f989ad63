#include "net/pair_frame.h"

#include <fmt/format.h>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

bool known(uint8_t t) {
  switch (static_cast<FrameType>(t)) {
    case FrameType::hello:
    case FrameType::auth:
    case FrameType::welcome:
    case FrameType::refused:
    case FrameType::open:
    case FrameType::opened:
    case FrameType::open_failed:
    case FrameType::data:
    case FrameType::fin:
    case FrameType::reset:
    case FrameType::credit:
    case FrameType::invoice:
    case FrameType::proof:
    case FrameType::cut:
    case FrameType::usage:
    case FrameType::receipt:
    case FrameType::vpn_open:
    case FrameType::vpn_config:
    case FrameType::vpn_refused:
    case FrameType::ping:
    case FrameType::pong:
      return true;
  }
  return false;
}

Result<void> check(FrameType type, uint32_t stream, size_t payload_size, NetErrc code) {
  if (payload_size > kMaxFramePayload)
    return fail(
        code, fmt::format("frame payload of {} bytes is over {}", payload_size, kMaxFramePayload));
  if (type == FrameType::data && payload_size > kMaxDataPayload)
    return fail(code,
                fmt::format("data frame of {} bytes is over {}", payload_size, kMaxDataPayload));
  if (is_control(type) && stream != 0)
    return fail(code, fmt::format("{} frame on stream {} (control frames use stream 0)",
                                  to_string(type), stream));
  if (!is_control(type) && stream == 0)
    return fail(code, fmt::format("{} frame on stream 0", to_string(type)));
  if (type == FrameType::credit && payload_size != 4)
    return fail(code, fmt::format("credit frame of {} bytes (needs 4)", payload_size));
  return {};
}

}  // namespace

const char* to_string(FrameType type) {
  switch (type) {
    case FrameType::hello:
      return "hello";
    case FrameType::auth:
      return "auth";
    case FrameType::welcome:
      return "welcome";
    case FrameType::refused:
      return "refused";
    case FrameType::open:
      return "open";
    case FrameType::opened:
      return "opened";
    case FrameType::open_failed:
      return "open_failed";
    case FrameType::data:
      return "data";
    case FrameType::fin:
      return "fin";
    case FrameType::reset:
      return "reset";
    case FrameType::credit:
      return "credit";
    case FrameType::invoice:
      return "invoice";
    case FrameType::proof:
      return "proof";
    case FrameType::cut:
      return "cut";
    case FrameType::usage:
      return "usage";
    case FrameType::receipt:
      return "receipt";
    case FrameType::vpn_open:
      return "vpn_open";
    case FrameType::vpn_config:
      return "vpn_config";
    case FrameType::vpn_refused:
      return "vpn_refused";
    case FrameType::ping:
      return "ping";
    case FrameType::pong:
      return "pong";
  }
  return "unknown";
}

bool is_control(FrameType type) {
  switch (type) {
    case FrameType::open:
    case FrameType::opened:
    case FrameType::open_failed:
    case FrameType::data:
    case FrameType::fin:
    case FrameType::reset:
    case FrameType::credit:
      return false;
    default:
      return true;
  }
}

ParseResult<Frame> parse_frame(ByteView in) {
  if (in.empty()) return ParseStep<Frame>::more(kFrameHeaderBytes);
  if (!known(in[0])) return fail(NetErrc::malformed, fmt::format("unknown frame type {}", in[0]));
  if (in.size() >= 2 && in[1] != 0)
    return fail(NetErrc::malformed, fmt::format("frame flags {} (must be 0)", in[1]));
  if (in.size() < kFrameHeaderBytes) return ParseStep<Frame>::more(kFrameHeaderBytes - in.size());
  Frame f;
  f.type = static_cast<FrameType>(in[0]);
  size_t len = (size_t{in[2]} << 8) | in[3];
  f.stream = (uint32_t{in[4]} << 24) | (uint32_t{in[5]} << 16) | (uint32_t{in[6]} << 8) | in[7];
  if (auto ok = check(f.type, f.stream, len, NetErrc::malformed); !ok)
    return std::unexpected(ok.error());
  if (in.size() < kFrameHeaderBytes + len)
    return ParseStep<Frame>::more(kFrameHeaderBytes + len - in.size());
  f.payload.assign(in.begin() + kFrameHeaderBytes, in.begin() + kFrameHeaderBytes + len);
  return ParseStep<Frame>::done(std::move(f), kFrameHeaderBytes + len);
}

Result<void> write_frame(FrameType type, uint32_t stream, ByteView payload, Bytes& out) {
  if (!known(static_cast<uint8_t>(type)))
    return fail(NetErrc::invalid_argument, "unknown frame type");
  if (auto ok = check(type, stream, payload.size(), NetErrc::invalid_argument); !ok) return ok;
  size_t len = payload.size();
  uint8_t head[kFrameHeaderBytes] = {
      static_cast<uint8_t>(type),         0,
      static_cast<uint8_t>(len >> 8),     static_cast<uint8_t>(len),
      static_cast<uint8_t>(stream >> 24), static_cast<uint8_t>(stream >> 16),
      static_cast<uint8_t>(stream >> 8),  static_cast<uint8_t>(stream)};
  out.insert(out.end(), head, head + kFrameHeaderBytes);
  out.insert(out.end(), payload.begin(), payload.end());
  return {};
}

Result<void> write_frame(const Frame& f, Bytes& out) {
  return write_frame(f.type, f.stream, f.payload, out);
}

Result<Bytes> write_frame(const Frame& frame) {
  Bytes out;
  if (auto ok = write_frame(frame, out); !ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace ipsx::net
