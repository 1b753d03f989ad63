// A small structure-unaware mutator for parser robustness tests and the `make fuzz` runner:
// bit flips, random insertions and deletions, span duplication and splicing of JSON-ish tokens.
// Deterministic for a given generator state.
#pragma once

#include <algorithm>
#include <iterator>
#include <random>
#include <string>

namespace ipsx::fuzz {

inline std::string mutate(std::string s, std::mt19937_64& rng) {
  static const char* tokens[] = {"{",
                                 "}",
                                 "[",
                                 "]",
                                 "\"",
                                 ",",
                                 ":",
                                 "null",
                                 "-1",
                                 "0x",
                                 "1e999",
                                 "[]",
                                 "\"uint256[]\"",
                                 "\"Mail\"",
                                 "\\u0000",
                                 "99999999999999999999",
                                 "\"bytes\"",
                                 "\"int8\"",
                                 "true",
                                 "{}",
                                 ".",
                                 "0"};
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  switch (rng() % 5) {
    case 0:
      if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << (rng() % 8));
      break;
    case 1:
      s.insert(pick(s.size() + 1), 1, static_cast<char>(rng() % 256));
      break;
    case 2:
      if (!s.empty()) {
        size_t at = pick(s.size());
        s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
      }
      break;
    case 3:
      if (!s.empty()) {
        size_t at = pick(s.size());
        s.insert(pick(s.size()), s.substr(at, 1 + pick(32)));
      }
      break;
    default:
      s.insert(pick(s.size() + 1), tokens[pick(std::size(tokens))]);
  }
  return s;
}

// Applies 1..max_rounds mutations.
inline std::string mutate_many(std::string s, std::mt19937_64& rng, int max_rounds) {
  int rounds = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_rounds));
  for (int k = 0; k < rounds; ++k) s = mutate(std::move(s), rng);
  return s;
}

}  // namespace ipsx::fuzz
