// Random and mutated inputs for the parsers that take untrusted text: the typed-data parser and
// hasher, and the keystore reader. Each must return a value or an error, never crash, hang or
// leak (the sanitizer build runs this too). Deterministic: a fixed seed per case.
#include <gtest/gtest.h>

#include <random>

#include "crypto/eip712.h"
#include "crypto/keystore.h"

namespace ipsx::crypto {
namespace {

std::string testdata(const char* name) {
  return read_small_file(std::string(IPSX_CRYPTO_TESTDATA) + "/" + name, 1 << 20).value();
}

// One mutation: flip, insert, delete, duplicate a span, or splice a JSON-ish token.
std::string mutate(std::string s, std::mt19937_64& rng) {
  static const char* tokens[] = {"{", "}", "[", "]", "\"", ",", ":", "null", "-1", "0x", "1e999",
                                 "[]", "\"uint256[]\"", "\"Mail\"", "\\u0000", "99999999999999999999"};
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

TEST(FuzzInputs, TypedDataParserSurvivesMutations) {
  std::mt19937_64 rng(712);
  std::vector<std::string> seeds = {testdata("mail.json"), testdata("complex.json")};
  size_t parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string input = seeds[i % seeds.size()];
    int rounds = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < rounds; ++k) input = mutate(input, rng);
    auto td = eip712::TypedData::parse(input);
    if (td) {
      ++parsed;
      (void)td->digest();
    } else {
      EXPECT_FALSE(td.error().message().empty());
    }
  }
  // The mutations must leave a share of documents valid enough to reach the hasher.
  EXPECT_GT(parsed, 100u);
}

TEST(FuzzInputs, TypedDataParserSurvivesRandomBytes) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string input(rng() % 512, '\0');
    for (char& c : input) c = static_cast<char>(rng());
    auto td = eip712::TypedData::parse(input);
    EXPECT_FALSE(td);
  }
}

TEST(FuzzInputs, KeystoreReaderSurvivesMutations) {
  std::mt19937_64 rng(3);
  auto key = PrivateKey::generate().value();
  KeystoreOptions o;
  o.kdf = Kdf::pbkdf2;
  o.pbkdf2_iterations = 2;  // the KDF's cost is not what is under test
  std::string seed = encrypt_keystore(key, "pw", o).value();
  KeystoreLimits limits;
  limits.max_scrypt_work = 1 << 12;
  limits.max_pbkdf2_iterations = 1 << 12;
  for (int i = 0; i < 3000; ++i) {
    std::string input = seed;
    int rounds = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < rounds; ++k) input = mutate(input, rng);
    auto r = decrypt_keystore(input, "pw", limits);
    // A mutation may leave the file intact in meaning (e.g. whitespace); then the key must be
    // exactly the original one.
    if (r) {
      EXPECT_EQ(r->secret(), key.secret());
    } else {
      EXPECT_FALSE(r.error().message().empty());
    }
  }
}

}  // namespace
}  // namespace ipsx::crypto
