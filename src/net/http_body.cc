// Where an HTTP/1.1 message body ends (RFC 9112 §6, §7.1), for relaying bodies as they are
// (declared in http_proxy.h).
#include <fmt/format.h>

#include "net/http_proxy.h"
#include "net/http_text.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Visible text and HTAB/SP: what extensions and trailer lines may hold (obs-text included).
bool is_text(uint8_t c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

}  // namespace

HttpBodyScanner::HttpBodyScanner(Kind kind, uint64_t length)
    : kind_(kind),
      state_(kind == Kind::chunked  ? State::size
             : kind == Kind::length ? (length == 0 ? State::done : State::data)
                                    : State::data),
      remaining_(length) {}

HttpBodyScanner HttpBodyScanner::for_request(const HttpRequestHead& head) {
  switch (head.framing) {
    case BodyFraming::content_length:
      return length(head.content_length);
    case BodyFraming::chunked:
      return chunked();
    case BodyFraming::none:
      break;
  }
  return none();  // a request without Content-Length or chunked has no body (RFC 9112 §6.3)
}

HttpBodyScanner HttpBodyScanner::for_response(const HttpResponseHead& head) {
  switch (head.framing) {
    case ResponseFraming::content_length:
      return length(head.content_length);
    case ResponseFraming::chunked:
      return chunked();
    case ResponseFraming::close_delimited:
      return until_close();
    case ResponseFraming::none:
      break;
  }
  return none();
}

Result<size_t> HttpBodyScanner::scan(ByteView in) {
  if (state_ == State::failed) return fail(NetErrc::malformed, "the body was already refused");
  if (kind_ == Kind::until_close) {
    scanned_ += in.size();
    return in.size();
  }
  auto refuse = [&](NetErrc code, std::string why) -> Result<size_t> {
    state_ = State::failed;
    return fail(code, fmt::format("chunked body at byte {}: {}", scanned_, why));
  };
  size_t i = 0;
  while (i < in.size() && state_ != State::done) {
    uint8_t c = in[i];
    switch (state_) {
      case State::data: {
        uint64_t n = std::min<uint64_t>(remaining_, in.size() - i);
        remaining_ -= n;
        i += static_cast<size_t>(n);
        scanned_ += n;
        if (remaining_ == 0) state_ = kind_ == Kind::length ? State::done : State::data_cr;
        continue;
      }
      case State::size: {
        int v = hex_value(c);
        if (v >= 0) {
          if (digits_ == 16) return refuse(NetErrc::too_large, "a chunk size over 16 hex digits");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
          ++digits_;
        } else if (digits_ == 0) {
          return refuse(NetErrc::malformed, fmt::format("byte 0x{:02x} is not a chunk size", c));
        } else if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::extension;
        } else {
          return refuse(NetErrc::malformed, fmt::format("byte 0x{:02x} after the chunk size", c));
        }
        break;
      }
      case State::extension:
        if (c == '\r') {
          state_ = State::size_lf;
        } else if (!is_text(c)) {
          return refuse(NetErrc::malformed,
                        fmt::format("control byte 0x{:02x} in a chunk extension", c));
        }
        break;
      case State::size_lf:
        if (c != '\n') return refuse(NetErrc::malformed, "bare CR in a chunk size line");
        digits_ = 0;
        line_bytes_ = 0;
        state_ = remaining_ == 0 ? State::trailer : State::data;
        break;
      case State::data_cr:
        if (c != '\r') return refuse(NetErrc::malformed, "chunk data not followed by CRLF");
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') return refuse(NetErrc::malformed, "chunk data not followed by CRLF");
        state_ = State::size;
        break;
      case State::trailer:
        if (c == '\r') {
          state_ = State::final_lf;
        } else if (c == ' ' || c == '\t' || c == ':' || !is_text(c)) {
          return refuse(NetErrc::malformed,
                        fmt::format("byte 0x{:02x} cannot start a trailer line", c));
        } else {
          state_ = State::trailer_line;
        }
        break;
      case State::trailer_line:
        if (c == '\r') {
          state_ = State::trailer_lf;
        } else if (!is_text(c)) {
          return refuse(NetErrc::malformed,
                        fmt::format("control byte 0x{:02x} in a trailer line", c));
        }
        break;
      case State::trailer_lf:
        if (c != '\n') return refuse(NetErrc::malformed, "bare CR in a trailer line");
        state_ = State::trailer;
        break;
      case State::final_lf:
        if (c != '\n') return refuse(NetErrc::malformed, "bare CR after the trailers");
        state_ = State::done;
        break;
      case State::done:
      case State::failed:
        break;
    }
    ++i;
    ++scanned_;
    if (state_ == State::size || state_ == State::extension || state_ == State::size_lf) {
      if (++line_bytes_ > kMaxChunkLineBytes)
        return refuse(NetErrc::too_large,
                      fmt::format("a chunk size line over {} bytes", kMaxChunkLineBytes));
    }
    if (state_ == State::trailer_line || state_ == State::trailer_lf || state_ == State::trailer ||
        state_ == State::final_lf || state_ == State::done) {
      if (++trailer_bytes_ > kMaxTrailerBytes)
        return refuse(NetErrc::too_large, fmt::format("trailers over {} bytes", kMaxTrailerBytes));
    }
  }
  return i;
}

}  // namespace ipsx::net
