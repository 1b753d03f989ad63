// Usage receipts' log: the tree hash, audit paths and the growing log agree with each other for
// every size and index, a changed record or a wrong index fails, and a record's struct hash is
// the one any EIP-712 implementation computes from its typed data.
#include "vocab/usage.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "crypto/eip712.h"

namespace ipsx {
namespace {

UsageRecord record(uint64_t i) {
  UsageRecord r;
  r.deal_id = keccak256("deal");
  r.index = i;
  r.opened_ms = 1'700'000'000'000 + static_cast<int64_t>(i) * 10;
  r.closed_ms = r.opened_ms + 5;
  r.host = "example.com";
  r.port = static_cast<uint16_t>(80 + i);
  r.stream = static_cast<uint32_t>(2 * i + 1);
  r.bytes_up = 100 * i;
  r.bytes_down = 1000 * i;
  return r;
}

TEST(UsageLog, EveryPathOfEveryTreeVerifiesAndTheGrowingLogHasTheSameRoot) {
  std::vector<Hash> leaves;
  UsageLog log;
  EXPECT_EQ(log.root(), usage_root(leaves));
  for (uint64_t n = 1; n <= 70; ++n) {
    leaves.push_back(usage_leaf(record(n - 1)));
    log.append(leaves.back());
    Hash root = usage_root(leaves);
    ASSERT_EQ(log.root(), root) << "size " << n;
    ASSERT_EQ(log.size(), n);
    for (uint64_t i = 0; i < n; ++i) {
      auto path = usage_path(leaves, i);
      ASSERT_TRUE(verify_usage_path(leaves[i], i, n, path, root)) << n << " " << i;
      // Another record, another index or another size does not verify.
      EXPECT_FALSE(verify_usage_path(usage_leaf(record(n + 5)), i, n, path, root));
      if (n > 1) {
        EXPECT_FALSE(verify_usage_path(leaves[i], (i + 1) % n, n, path, root));
      }
      // (The size is bound to the root by the receipt that signs both, not by the path.)
    }
  }
}

TEST(UsageLog, ALeafIsNotAnInnerNode) {
  // RFC 6962's prefixes: two leaves' node hash is not a leaf hash of anything that looks alike.
  std::vector<Hash> two = {usage_leaf(record(0)), usage_leaf(record(1))};
  std::vector<Hash> one = {usage_root(two)};
  EXPECT_NE(usage_root(one), usage_leaf(record(0)));
  EXPECT_FALSE(verify_usage_path(usage_root(two), 0, 1, {}, usage_root(two)) &&
               verify_usage_path(two[0], 0, 1, {}, usage_root(two)));
}

TEST(UsageRecord, StructHashIsTheTypedDataHashOfItsFields) {
  UsageRecord r = record(7);
  nlohmann::json doc = {{"types",
                         {{"EIP712Domain", nlohmann::json::array()},
                          {"UsageRecord",
                           {{{"name", "dealId"}, {"type", "bytes32"}},
                            {{"name", "index"}, {"type", "uint64"}},
                            {{"name", "openedMs"}, {"type", "int64"}},
                            {{"name", "closedMs"}, {"type", "int64"}},
                            {{"name", "host"}, {"type", "string"}},
                            {{"name", "port"}, {"type", "uint16"}},
                            {{"name", "stream"}, {"type", "uint32"}},
                            {{"name", "bytesUp"}, {"type", "uint64"}},
                            {{"name", "bytesDown"}, {"type", "uint64"}}}}}},
                        {"primaryType", "UsageRecord"},
                        {"domain", nlohmann::json::object()},
                        {"message",
                         {{"dealId", r.deal_id.hex()},
                          {"index", r.index},
                          {"openedMs", r.opened_ms},
                          {"closedMs", r.closed_ms},
                          {"host", r.host},
                          {"port", r.port},
                          {"stream", r.stream},
                          {"bytesUp", r.bytes_up},
                          {"bytesDown", r.bytes_down}}}};
  auto td = crypto::eip712::TypedData::from_json(doc);
  ASSERT_TRUE(td) << td.error().message();
  EXPECT_EQ(td->message_hash().value(), r.struct_hash());
  EXPECT_EQ(td->encode_type("UsageRecord").value(), UsageRecord::encoded_type());
}

TEST(UsageRecord, JsonRoundTripsAndRefusesWhatNoExitWrites) {
  UsageRecord r = record(3);
  auto back = usage_record_from_json(usage_record_json(r), r.deal_id, "here");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, r);
  auto refused = [&](const char* field, nlohmann::json value) {
    nlohmann::json j = usage_record_json(r);
    j[field] = std::move(value);
    auto e = usage_record_from_json(j, r.deal_id, "here");
    return !e && e.error().message() == std::string("here: ") + field + " is missing or malformed";
  };
  EXPECT_TRUE(refused("port", 70'000));
  EXPECT_TRUE(refused("stream", -1));
  EXPECT_TRUE(refused("closedMs", r.opened_ms - 1));  // closed before it opened
  EXPECT_TRUE(refused("host", std::string(256, 'a')));
  EXPECT_TRUE(refused("bytesUp", "12"));
  EXPECT_FALSE(usage_record_from_json(nlohmann::json::array(), r.deal_id, "here"));
}

}  // namespace
}  // namespace ipsx
