// Base64 for Basic credentials: RFC 4648 §10's test vectors and the strict decoder's refusals.
#include "net/base64.h"

#include <gtest/gtest.h>

#include <random>

#include "net/net_error.h"

namespace ipsx::net {
namespace {

TEST(Base64, EncodesAndDecodesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded, 100).value(), plain);
  }
  EXPECT_EQ(base64_decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 100).value(), "Aladdin:open sesame");
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Base64, RefusesNonCanonicalAndOversizeText) {
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "====", "Zg==Zg==", "Zm9v!A==", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n"}) {
    auto r = base64_decode(bad, 100);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), NetErrc::bad_credentials) << bad;
    }
  }
  EXPECT_TRUE(base64_decode("Zm9vYmFy", 6));
  EXPECT_FALSE(base64_decode("Zm9vYmFy", 5));
}

TEST(Base64, RandomBytesRoundTrip) {
  std::mt19937_64 rng(4648);
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    EXPECT_EQ(base64_decode(base64_encode(bytes), 64).value(), bytes);
  }
}

}  // namespace
}  // namespace ipsx::net
