#include "market/exit_directory.h"

#include <gtest/gtest.h>

#include "core/keccak.h"
#include "crypto/eip712.h"
#include "market/market_error.h"
#include "vocab/orders.h"

namespace ipsx::market {
namespace {

crypto::PrivateKey key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

class ExitDirectoryTest : public ::testing::Test {
 protected:
  SignedExitAnnouncement signed_by(const crypto::PrivateKey& k, ExitAnnouncement a) {
    auto sig = crypto::sign(k, crypto::eip712::digest(domain_, a.struct_hash())).value();
    return {a, sig};
  }
  ExitAnnouncement announcement(std::string endpoint, uint64_t seq = 1) {
    return {provider_.address(), std::move(endpoint), now_ + 300, seq};
  }
  Hash domain_ = ledger_domain(1337, Address()).separator();
  crypto::PrivateKey provider_ = key("provider");
  uint64_t now_ = 1'700'000'000;
  ExitDirectory dir_{domain_};
};

TEST_F(ExitDirectoryTest, KeepsTheLatestLiveAnnouncement) {
  ASSERT_TRUE(dir_.announce(signed_by(provider_, announcement("127.0.0.2:4443")), now_));
  ASSERT_TRUE(dir_.announce(signed_by(provider_, announcement("[::1]:4444", 2)), now_));
  const auto* found = dir_.find(provider_.address(), now_);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->announcement.endpoint, "[::1]:4444");
  EXPECT_EQ(dir_.find(provider_.address(), now_ + 300), nullptr);  // expired
  EXPECT_EQ(dir_.find(key("other").address(), now_), nullptr);
}

TEST_F(ExitDirectoryTest, RefusesEachBadAnnouncementWithItsOwnError) {
  auto code = [&](const SignedExitAnnouncement& a) {
    auto r = dir_.announce(a, now_);
    return r ? std::error_code() : r.error().code();
  };
  // Signed by someone else for this provider.
  EXPECT_EQ(code(signed_by(key("mallory"), announcement("127.0.0.2:1"))),
            MarketErrc::bad_signature);
  for (const char* bad : {"127.0.0.2", "127.0.0.2:0", "127.0.0.2:70000", ":80", "::1:80",
                          "host name:80", "[::1x]:80"}) {
    EXPECT_EQ(code(signed_by(provider_, announcement(bad))), MarketErrc::invalid_argument) << bad;
  }
  auto late = announcement("127.0.0.2:1");
  late.expiry = now_;
  EXPECT_EQ(code(signed_by(provider_, late)), MarketErrc::invalid_argument);
  late.expiry = now_ + kMaxAnnouncementSeconds + 1;
  EXPECT_EQ(code(signed_by(provider_, late)), MarketErrc::invalid_argument);
  // A replayed (or older) announcement cannot take back the endpoint.
  ASSERT_TRUE(dir_.announce(signed_by(provider_, announcement("127.0.0.2:1", 5)), now_));
  EXPECT_EQ(code(signed_by(provider_, announcement("127.0.0.9:1", 5))), MarketErrc::bad_sequence);
  EXPECT_EQ(dir_.find(provider_.address(), now_)->announcement.endpoint, "127.0.0.2:1");
}

}  // namespace
}  // namespace ipsx::market
