// Helpers for the net layer's tests: exact-size copies (so AddressSanitizer sees a read one byte
// past a span) and a deterministic, protocol-aware mutator for the fuzz tests.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/hex.h"

namespace ipsx::net::test_util {

// A heap copy of exactly `text.size()` bytes: reading past its end is a sanitizer error, which a
// view into a larger string would hide.
class ExactCopy {
 public:
  explicit ExactCopy(std::string_view text)
      : size_(text.size()), data_(std::make_unique<char[]>(text.size())) {
    std::copy(text.begin(), text.end(), data_.get());
  }
  std::string_view text() const { return {data_.get(), size_}; }
  ByteView bytes() const { return {reinterpret_cast<const uint8_t*>(data_.get()), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> data_;
};

inline Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// One random edit of `s`: flip a bit, set a byte, insert a random byte or one of `tokens`,
// delete a run, duplicate a run, or truncate.
inline std::string mutate(std::string s, std::mt19937_64& rng,
                          const std::vector<std::string>& tokens) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  switch (rng() % 7) {
    case 0:
      if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << (rng() % 8));
      break;
    case 1:
      if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
      break;
    case 2:
      s.insert(pick(s.size() + 1), 1, static_cast<char>(rng()));
      break;
    case 3:
      if (!tokens.empty()) s.insert(pick(s.size() + 1), tokens[pick(tokens.size())]);
      break;
    case 4:
      if (!s.empty()) {
        size_t at = pick(s.size());
        s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
      }
      break;
    case 5:
      if (!s.empty()) {
        size_t at = pick(s.size());
        s.insert(pick(s.size() + 1), s.substr(at, 1 + pick(32)));
      }
      break;
    default:
      s.resize(pick(s.size() + 1));
  }
  return s;
}

// 1..rounds edits.
inline std::string mutate_many(std::string s, std::mt19937_64& rng, int rounds,
                               const std::vector<std::string>& tokens) {
  int n = 1 + static_cast<int>(rng() % static_cast<uint64_t>(rounds));
  for (int i = 0; i < n; ++i) s = mutate(std::move(s), rng, tokens);
  return s;
}

}  // namespace ipsx::net::test_util
