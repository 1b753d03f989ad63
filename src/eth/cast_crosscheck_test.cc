// Cross-checks the eth layer byte for byte against foundry's cast, an independent implementation
// (installed by the project with `npm ci`): RLP, ABI encoding and calldata, keccak-256 and
// selectors, and signed legacy and EIP-1559 transactions. Each run draws fresh random vectors
// from a printed seed; set IPSX_ETH_SEED to replay one. Cast runs offline: every command gets all
// it needs on its command line, and ETH_RPC_URL points at a closed local port in case it asks.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "core/keccak.h"
#include "eth/test_util.h"
#include "eth/transaction.h"

namespace ipsx::eth {
namespace {

constexpr int kVectors = 30;

std::string cast_path() {
  if (const char* env = std::getenv("IPSX_CAST")) return env;
  return IPSX_CAST;
}

uint64_t seed() {
  static const uint64_t s = [] {
    if (const char* env = std::getenv("IPSX_ETH_SEED")) {
      return static_cast<uint64_t>(std::strtoull(env, nullptr, 10));
    }
    std::random_device rd;
    return uint64_t{rd()} << 32 | uint64_t{rd()};
  }();
  return s;
}

std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct CastRun {
  int status = -1;
  std::string out;  // stdout and stderr, trailing newline removed
};

CastRun cast(const std::vector<std::string>& args) {
  std::string cmd = shell_quote(cast_path());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  CastRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r;
}

class CastCrossCheck : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Keep any RPC cast might attempt on this machine, on a port where nothing listens.
    setenv("ETH_RPC_URL", "http://127.0.0.1:9", 1);
    std::cout << "[ cast cross-check ] seed " << seed() << " (IPSX_ETH_SEED=" << seed()
              << " replays it), " << kVectors << " vectors per test, cast at " << cast_path()
              << std::endl;
  }
  void SetUp() override {
    // The project installs cast (`npm ci`, run by `make test`); its absence is a failure, not a
    // reason to skip the oracle silently.
    ASSERT_EQ(access(cast_path().c_str(), X_OK), 0)
        << "foundry's cast is missing at " << cast_path()
        << ": run `npm ci` in the project root (or `make test`, which does), or set IPSX_CAST";
    CastRun v = cast({"--version"});
    ASSERT_EQ(v.status, 0) << "cast --version failed: " << v.out;
  }
  // One generator per test, so that each test's vectors depend only on the seed.
  testing::Rng rng_{seed() ^ std::hash<std::string>{}(
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name())};
};

TEST_F(CastCrossCheck, RlpEncodingMatchesCastToRlp) {
  for (int i = 0; i < kVectors; ++i) {
    rlp::Item item = testing::random_item(rng_, 3);
    std::string arg = testing::cast_rlp_arg(item);
    CastRun r = cast({"to-rlp", arg});
    ASSERT_EQ(r.status, 0) << arg << ": " << r.out;
    Bytes ours = rlp::encode(item);
    EXPECT_EQ(to_hex(ours), r.out) << "seed " << seed() << " vector " << i << ": " << arg;
    auto theirs = from_hex(r.out);
    ASSERT_TRUE(theirs) << r.out;
    auto back = rlp::decode(*theirs);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, item);
  }
}

TEST_F(CastCrossCheck, AbiEncodingAndCalldataMatchCast) {
  for (int i = 0; i < kVectors; ++i) {
    std::vector<abi::Type> types;
    std::vector<abi::Value> values;
    size_t n = 1 + rng_() % 4;
    for (size_t j = 0; j < n; ++j) {
      types.push_back(testing::random_type(rng_, 3));
      values.push_back(testing::random_value(rng_, types.back()));
    }
    std::string sig = "f" + std::to_string(rng_() % 1000) + abi::to_string(types);
    std::vector<std::string> args = {"abi-encode", sig, "--"};
    for (size_t j = 0; j < n; ++j) args.push_back(testing::cast_abi_arg(types[j], values[j]));
    std::string what = fmt::format("seed {} vector {}: {}", seed(), i, sig);
    for (size_t j = 3; j < args.size(); ++j) what += " " + args[j];

    auto ours = abi::encode(types, values);
    ASSERT_TRUE(ours) << what << ": " << ours.error().message();
    CastRun r = cast(args);
    ASSERT_EQ(r.status, 0) << what << ": " << r.out;
    EXPECT_EQ(to_hex(*ours), r.out) << what;
    auto back = abi::decode(types, from_hex(r.out).value());
    ASSERT_TRUE(back) << what << ": " << back.error().message();
    EXPECT_EQ(*back, values) << what;

    args[0] = "calldata";
    auto f = abi::Function::parse(sig).value();
    CastRun c = cast(args);
    ASSERT_EQ(c.status, 0) << what << ": " << c.out;
    EXPECT_EQ(to_hex(f.encode_call(values).value()), c.out) << what;
  }
}

TEST_F(CastCrossCheck, KeccakAndSelectorsMatchCast) {
  for (int i = 0; i < kVectors; ++i) {
    Bytes data = testing::random_bytes(rng_, rng_() % 3 == 0 ? rng_() % 300 : rng_() % 40);
    CastRun r = cast({"keccak", to_hex(data)});
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(keccak256(data).hex(), r.out) << "seed " << seed() << " vector " << i;

    std::vector<abi::Type> types = {testing::random_type(rng_, 2), testing::random_type(rng_, 1)};
    std::string sig = "g" + std::to_string(i) + abi::to_string(types);
    CastRun s = cast({"sig", sig});
    ASSERT_EQ(s.status, 0) << sig << ": " << s.out;
    EXPECT_EQ(to_hex(abi::Function::parse(sig).value().selector()), s.out) << sig;
  }
}

// The fields of `cast decode-transaction`'s JSON (cast prints it as a JSON string).
nlohmann::json decoded_by_cast(const Bytes& raw) {
  CastRun r = cast({"decode-transaction", to_hex(raw)});
  EXPECT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_string()) j = nlohmann::json::parse(j.get<std::string>(), nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.out;
  return j;
}

TEST_F(CastCrossCheck, SignedTransactionsMatchCastMktx) {
  for (int i = 0; i < kVectors; ++i) {
    auto key = crypto::PrivateKey::from_bytes(testing::random_bytes(rng_, 32)).value();
    std::string key_hex = to_hex(key.secret());
    bool legacy = i % 2 == 0;
    uint64_t chain = rng_() % 3 ? 1 + rng_() % 100000 : rng_() >> 2;
    uint64_t nonce = rng_() % 2 ? rng_() % 1000 : rng_() >> 1;
    uint64_t gas = 21000 + rng_() % 10'000'000;
    // cast takes fee fields as 128-bit integers; the value may use all 256 bits.
    U256 fee = testing::random_uint(rng_, 128);
    U256 tip = testing::random_uint(rng_, 64);
    if (tip > fee) std::swap(tip, fee);
    U256 value = testing::random_uint(rng_, 256);
    std::optional<Address> to;
    if (rng_() % 5) to = Address(std::span<const uint8_t, 20>(testing::random_bytes(rng_, 20)));
    Bytes data = testing::random_bytes(rng_, rng_() % 3 ? rng_() % 200 : 0);
    if (!to && data.empty()) data = {0x60, 0x80};

    std::vector<std::string> args = {"mktx",
                                     "--private-key",
                                     key_hex,
                                     "--chain",
                                     std::to_string(chain),
                                     "--nonce",
                                     std::to_string(nonce),
                                     "--gas-limit",
                                     std::to_string(gas),
                                     "--value",
                                     value.to_dec()};
    Transaction tx;
    if (legacy) {
      LegacyTx t;
      t.chain_id = chain;
      t.nonce = nonce;
      t.gas_price = fee;
      t.gas_limit = gas;
      t.to = to;
      t.value = value;
      t.data = data;
      tx = t;
      args.insert(args.end(), {"--legacy", "--gas-price", fee.to_dec()});
    } else {
      DynamicFeeTx t;
      t.chain_id = chain;
      t.nonce = nonce;
      t.max_priority_fee_per_gas = tip;
      t.max_fee_per_gas = fee;
      t.gas_limit = gas;
      t.to = to;
      t.value = value;
      t.data = data;
      nlohmann::json access = nlohmann::json::array();
      for (size_t k = 0, m = rng_() % 3; k < m; ++k) {
        AccessListEntry e;
        e.address = Address(std::span<const uint8_t, 20>(testing::random_bytes(rng_, 20)));
        nlohmann::json keys = nlohmann::json::array();
        for (size_t j = 0, q = rng_() % 3; j < q; ++j) {
          e.storage_keys.push_back(
              Hash(std::span<const uint8_t, 32>(testing::random_bytes(rng_, 32))));
          keys.push_back(e.storage_keys.back().hex());
        }
        access.push_back({{"address", e.address.to_lower_hex()}, {"storageKeys", keys}});
        t.access_list.push_back(std::move(e));
      }
      tx = t;
      args.insert(args.end(), {"--gas-price", fee.to_dec(), "--priority-gas-price", tip.to_dec()});
      if (!access.empty()) args.insert(args.end(), {"--access-list", access.dump()});
    }
    if (to) {
      args.push_back(to->to_lower_hex());
      if (!data.empty()) args.push_back(to_hex(data));
    } else {
      args.insert(args.end(), {"--create", to_hex(data)});
    }
    std::string what = fmt::format("seed {} vector {} ({})", seed(), i, legacy ? "legacy" : "1559");

    auto ours = sign_transaction(tx, key);
    ASSERT_TRUE(ours) << what << ": " << ours.error().message();
    CastRun r = cast(args);
    ASSERT_EQ(r.status, 0) << what << ": " << r.out;
    // cast builds a legacy transaction for the chains it knows to lack EIP-1559 (Rootstock,
    // chain 30, among others), whatever the fee flags say: its policy, not an encoding to compare.
    if (!legacy && !r.out.starts_with("0x02")) {
      auto theirs = decode_transaction(from_hex(r.out).value());
      ASSERT_TRUE(theirs && std::holds_alternative<LegacyTx>(theirs->tx()))
          << what << ": " << r.out;
      EXPECT_EQ(std::get<LegacyTx>(theirs->tx()).chain_id, chain) << what;
      continue;
    }
    EXPECT_EQ(to_hex(ours->raw()), r.out) << what;

    // Our decoder reads cast's bytes back to the same transaction and sender.
    Bytes raw = from_hex(r.out).value();
    auto back = decode_transaction(raw);
    ASSERT_TRUE(back) << what << ": " << back.error().message();
    EXPECT_EQ(back->tx(), tx) << what;
    EXPECT_EQ(back->sender(), key.address()) << what;

    // Cast's decoder agrees on the signer and the hash, and cast keccak on the hash.
    nlohmann::json j = decoded_by_cast(raw);
    ASSERT_TRUE(j.is_object()) << what;
    EXPECT_EQ(j.value("signer", ""), key.address().to_lower_hex()) << what;
    EXPECT_EQ(j.value("hash", ""), ours->hash().hex()) << what;
    EXPECT_EQ(j.value("nonce", ""), U256(nonce).to_hex()) << what;
    CastRun h = cast({"keccak", r.out});
    EXPECT_EQ(h.out, ours->hash().hex()) << what;
  }
}

}  // namespace
}  // namespace ipsx::eth
