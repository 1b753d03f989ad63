#include "net/base64.h"

#include <array>

#include <fmt/format.h>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kTable = make_table();

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (size_t left = bytes.size() - i; left > 0) {
    uint32_t v = at(i) << 16 | (left == 2 ? at(i + 1) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text, size_t max_bytes) {
  if (text.size() % 4 != 0) {
    return fail(NetErrc::bad_credentials,
                fmt::format("base64 length {} is not a multiple of 4", text.size()));
  }
  size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
  size_t decoded = text.size() / 4 * 3 - pad;
  if (decoded > max_bytes) {
    return fail(NetErrc::bad_credentials,
                fmt::format("base64 decodes to {} bytes, more than {}", decoded, max_bytes));
  }
  std::string out;
  out.reserve(decoded);
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      size_t pos = i + k;
      bool in_pad = pos >= text.size() - pad;
      int8_t d = in_pad ? 0 : kTable[static_cast<uint8_t>(text[pos])];
      if (d < 0) {
        return fail(NetErrc::bad_credentials,
                    fmt::format("base64 has {} at offset {}", quoted(text.substr(pos, 1)), pos));
      }
      v = v << 6 | static_cast<uint32_t>(d);
    }
    out += static_cast<char>(v >> 16);
    if (i + 4 < text.size() || pad < 2) out += static_cast<char>(v >> 8);
    if (i + 4 < text.size() || pad < 1) out += static_cast<char>(v);
  }
  if (pad > 0) {
    // The bits under the padding must be zero, or two texts would decode to the same bytes.
    auto last = static_cast<uint32_t>(kTable[static_cast<uint8_t>(text[text.size() - pad - 1])]);
    if ((pad == 1 && (last & 3) != 0) || (pad == 2 && (last & 15) != 0)) {
      return fail(NetErrc::bad_credentials, "base64 has non-zero bits under its padding");
    }
  }
  return out;
}

}  // namespace ipsx::net
