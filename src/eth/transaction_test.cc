#include "eth/transaction.h"

#include <gtest/gtest.h>

#include "core/keccak.h"
#include "eth/contracts.h"
#include "eth/rlp.h"
#include "eth/test_util.h"

namespace ipsx::eth {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

crypto::PrivateKey key46() {
  return crypto::PrivateKey::from_hex(
             "0x4646464646464646464646464646464646464646464646464646464646464646")
      .value();
}

// The example of EIP-155's text.
LegacyTx eip155_example() {
  LegacyTx tx;
  tx.chain_id = 1;
  tx.nonce = 9;
  tx.gas_price = U256(20'000'000'000ull);
  tx.gas_limit = 21000;
  tx.to = Address::parse("0x3535353535353535353535353535353535353535").value();
  tx.value = U256(1'000'000'000'000'000'000ull);
  return tx;
}

constexpr std::string_view kEip155Raw =
    "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a0"
    "28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb70330"
    "4b3800ccf555c9f3dc64214b297fb1966a3b6d83";

TEST(Transaction, SignsTheEip155Example) {
  Transaction tx = eip155_example();
  EXPECT_EQ(to_hex(signing_payload(tx)),
            "0xec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000"
            "80018080");
  EXPECT_EQ(signing_hash(tx).hex(),
            "0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
  auto signed_tx = sign_transaction(tx, key46()).value();
  EXPECT_EQ(signed_tx.v(), U256(37));
  EXPECT_EQ(U256::from_be_bytes(signed_tx.signature().r().bytes()).to_dec(),
            "18515461264373351373200002665853028612451056578545711640558177340181847433846");
  EXPECT_EQ(U256::from_be_bytes(signed_tx.signature().s().bytes()).to_dec(),
            "46948507304638947509940763649030358759909902576025900602547168820602576006531");
  EXPECT_EQ(to_hex(signed_tx.raw()), kEip155Raw);
  EXPECT_EQ(signed_tx.sender().to_string(), "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
  // The hash mainnet clients give this transaction (keccak256 of the raw bytes).
  EXPECT_EQ(signed_tx.hash().hex(),
            "0x33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788");
}

TEST(Transaction, DecodesTheEip155ExampleAndRecoversItsSender) {
  auto d = decode_transaction(hex(kEip155Raw));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(std::get<LegacyTx>(d->tx()), eip155_example());
  EXPECT_EQ(d->sender(), key46().address());
  EXPECT_EQ(d->v(), U256(37));
  EXPECT_EQ(to_hex(d->raw()), kEip155Raw);
}

// A type 0x02 transaction as foundry's cast built it (`cast mktx --private-key 0x4646...46
// --chain 5 --nonce 9 --gas-limit 21000 --gas-price 20000000000 --priority-gas-price 1000
// 0x3535...35 --value 1000000000000000000 "f(uint256)" 5`), pinned as a regression vector.
TEST(Transaction, SignsAnEip1559TransactionAsCastDoes) {
  DynamicFeeTx tx;
  tx.chain_id = 5;
  tx.nonce = 9;
  tx.max_priority_fee_per_gas = 1000;
  tx.max_fee_per_gas = U256(20'000'000'000ull);
  tx.gas_limit = 21000;
  tx.to = Address::parse("0x3535353535353535353535353535353535353535").value();
  tx.value = U256(1'000'000'000'000'000'000ull);
  tx.data = hex("b3de648b0000000000000000000000000000000000000000000000000000000000000005");
  auto s = sign_transaction(tx, key46()).value();
  EXPECT_EQ(to_hex(s.raw()),
            "0x02f89505098203e88504a817c800825208943535353535353535353535353535353535353535880de0"
            "b6b3a7640000a4b3de648b000000000000000000000000000000000000000000000000000000000000000"
            "5c080a0789baea927007cc99a7384aff654824c5ad60c72f4af43b338d59a181a12f7b7a040576b767a45"
            "bc87d38ac72f9ef30fac0bca7f7cd4ad5183fbd69627f7a7ba1c");
  auto d = decode_transaction(s.raw()).value();
  EXPECT_EQ(std::get<DynamicFeeTx>(d.tx()), tx);
  EXPECT_EQ(d.sender(), key46().address());
  EXPECT_EQ(d.hash(), keccak256(s.raw()));
  EXPECT_EQ(signing_payload(tx)[0], 0x02);
}

LegacyTx random_legacy(testing::Rng& rng) {
  LegacyTx tx;
  if (rng() % 5 == 0) {
    tx.chain_id.reset();
  } else {
    tx.chain_id = rng() % 2 ? 1 + rng() % 100000 : rng() >> 1;
  }
  tx.nonce = rng() % 3 ? rng() % 1000 : rng();
  tx.gas_price = testing::random_uint(rng, 256);
  tx.gas_limit = rng();
  if (rng() % 4) tx.to = Address(std::span<const uint8_t, 20>(testing::random_bytes(rng, 20)));
  tx.value = testing::random_uint(rng, 256);
  tx.data = testing::random_bytes(rng, rng() % 3 ? rng() % 100 : 0);
  return tx;
}

DynamicFeeTx random_dynamic(testing::Rng& rng) {
  DynamicFeeTx tx;
  tx.chain_id = rng() % 2 ? 1 + rng() % 100000 : rng();
  tx.nonce = rng() % 1000;
  tx.max_priority_fee_per_gas = testing::random_uint(rng, 128);
  tx.max_fee_per_gas = testing::random_uint(rng, 256);
  tx.gas_limit = rng() % 30'000'000;
  if (rng() % 4) tx.to = Address(std::span<const uint8_t, 20>(testing::random_bytes(rng, 20)));
  tx.value = testing::random_uint(rng, 256);
  tx.data = testing::random_bytes(rng, rng() % 300);
  for (size_t i = 0, n = rng() % 3; i < n; ++i) {
    AccessListEntry e;
    e.address = Address(std::span<const uint8_t, 20>(testing::random_bytes(rng, 20)));
    for (size_t j = 0, m = rng() % 3; j < m; ++j) {
      e.storage_keys.push_back(Hash(std::span<const uint8_t, 32>(testing::random_bytes(rng, 32))));
    }
    tx.access_list.push_back(std::move(e));
  }
  return tx;
}

TEST(Transaction, SignDecodeRoundTripsOnRandomTransactions) {
  testing::Rng rng(1559);
  for (int i = 0; i < 200; ++i) {
    Transaction tx;
    if (i % 2) {
      tx = random_legacy(rng);
    } else {
      tx = random_dynamic(rng);
    }
    auto key = crypto::PrivateKey::generate().value();
    auto s = sign_transaction(tx, key).value();
    auto d = decode_transaction(s.raw());
    ASSERT_TRUE(d) << d.error().message() << " " << to_hex(s.raw());
    EXPECT_EQ(d->tx(), tx);
    EXPECT_EQ(d->sender(), key.address());
    EXPECT_EQ(d->signature(), s.signature());
    EXPECT_EQ(d->hash(), s.hash());
    EXPECT_EQ(d->v(), s.v());
  }
}

TEST(Transaction, DecodingMutatedTransactionsNeverCrashes) {
  testing::Rng rng(155);
  for (int i = 0; i < 100; ++i) {
    Transaction tx;
    if (i % 2) {
      tx = random_legacy(rng);
    } else {
      tx = random_dynamic(rng);
    }
    Bytes raw = sign_transaction(tx, key46()).value().raw();
    for (int m = 0; m < 20; ++m) {
      Bytes bad = raw;
      bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
      if (rng() % 4 == 0) bad.resize(1 + rng() % bad.size());
      auto d = decode_transaction(bad);
      if (d) {
        EXPECT_EQ(d->raw(), bad);  // accepted means canonical
      }
    }
  }
}

// Decodes `raw` (legacy or typed), lets `edit` change its fields, and re-encodes.
Bytes edited(const Bytes& raw, const std::function<void(rlp::Item::List&)>& edit) {
  bool typed = raw[0] < 0x80;
  ByteView body = typed ? ByteView(raw).subspan(1) : ByteView(raw);
  rlp::Item::List fields = rlp::decode(body).value().items();
  edit(fields);
  Bytes out;
  if (typed) out.push_back(raw[0]);
  rlp::encode_to(out, rlp::Item::list(std::move(fields)));
  return out;
}

void expect_refused(const Bytes& raw, std::error_code code, std::string_view fragment) {
  auto d = decode_transaction(raw);
  ASSERT_FALSE(d) << fragment;
  EXPECT_EQ(d.error().code(), code) << d.error().message();
  EXPECT_NE(d.error().message().find(fragment), std::string::npos) << d.error().message();
}

TEST(Transaction, RefusesMalformedLegacyTransactions) {
  Bytes raw = hex(kEip155Raw);
  expect_refused({}, EthErrc::truncated, "empty");
  expect_refused(Bytes(kMaxRawTransaction + 1, 0xc0), EthErrc::too_large, "max");
  Bytes trailing = raw;
  trailing.push_back(0);
  expect_refused(trailing, EthErrc::trailing_bytes, "after the item");
  expect_refused(Bytes(raw.begin(), raw.end() - 1), EthErrc::truncated, "runs past the end");
  expect_refused(hex("8180"), EthErrc::bad_transaction, "not an RLP list");
  expect_refused(edited(raw, [](auto& f) { f.pop_back(); }), EthErrc::bad_transaction,
                 "8 fields, expected 9");
  expect_refused(edited(raw, [](auto& f) { f[0] = rlp::Item::string(hex("0009")); }),
                 EthErrc::non_canonical, "nonce: integer has a leading zero");
  expect_refused(edited(raw, [](auto& f) { f[3] = rlp::Item::string(Bytes(19, 0x35)); }),
                 EthErrc::bad_transaction, "to: 19 bytes");
  expect_refused(edited(raw, [](auto& f) { f[5] = rlp::Item::list({}); }), EthErrc::bad_transaction,
                 "data: expected a byte string");
  expect_refused(edited(raw, [](auto& f) { f[6] = rlp::Item::uint(29); }), EthErrc::bad_signature,
                 "v = 29");
  expect_refused(edited(raw, [](auto& f) { f[7] = rlp::Item::uint(0); }), EthErrc::bad_signature,
                 "r is zero");
  expect_refused(edited(raw, [](auto& f) { f[2] = rlp::Item::string(Bytes(9, 1)); }),
                 EthErrc::too_large, "gas limit");
  // A different chain id keeps the shape but recovers another (wrong) sender.
  auto other = decode_transaction(edited(raw, [](auto& f) { f[6] = rlp::Item::uint(39); }));
  ASSERT_TRUE(other);
  EXPECT_EQ(std::get<LegacyTx>(other->tx()).chain_id, 2u);
  EXPECT_NE(other->sender(), key46().address());
}

TEST(Transaction, RefusesHighSSignatures) {
  // (r, n - s) with the other parity is the same ECDSA signature; EIP-2 allows only low s.
  const U256 n =
      U256::from_hex("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();
  Bytes raw = hex(kEip155Raw);
  Bytes high = edited(raw, [&](auto& f) {
    U256 s = rlp::to_uint(f[8], "s").value();
    f[8] = rlp::Item::uint(n.wrapping_sub(s));
    f[6] = rlp::Item::uint(38);
  });
  expect_refused(high, crypto::CryptoErrc::invalid_signature, "high s");
}

TEST(Transaction, RefusesMalformedTypedTransactions) {
  testing::Rng rng(2718);
  DynamicFeeTx tx = random_dynamic(rng);
  tx.access_list = {AccessListEntry{Address(), {Hash()}}};
  Bytes raw = sign_transaction(tx, key46()).value().raw();
  ASSERT_TRUE(decode_transaction(raw));
  for (uint8_t type : {0x00, 0x01, 0x03, 0x04, 0x7f}) {
    Bytes other = raw;
    other[0] = type;
    expect_refused(other, EthErrc::unsupported_type, fmt::format("type 0x{:02x}", type));
  }
  expect_refused(hex("0280"), EthErrc::bad_transaction, "not an RLP list");
  expect_refused(hex("02"), EthErrc::truncated, "offset 0");
  expect_refused(edited(raw, [](auto& f) { f.push_back(rlp::Item()); }), EthErrc::bad_transaction,
                 "13 fields, expected 12");
  expect_refused(edited(raw, [](auto& f) { f[9] = rlp::Item::uint(2); }), EthErrc::bad_signature,
                 "y parity 2");
  expect_refused(edited(raw, [](auto& f) { f[9] = rlp::Item::string(hex("00")); }),
                 EthErrc::non_canonical, "y parity");
  expect_refused(edited(raw, [](auto& f) { f[8] = rlp::Item::list({rlp::Item::list({})}); }),
                 EthErrc::bad_transaction, "access list entry 0");
  expect_refused(edited(raw,
                        [](auto& f) {
                          f[8] = rlp::Item::list({rlp::Item::list(
                              {rlp::Item::string(Bytes(20, 1)),
                               rlp::Item::list({rlp::Item::string(Bytes(31, 1))})})});
                        }),
                 EthErrc::bad_transaction, "storage key is not 32 bytes");
  expect_refused(edited(raw, [](auto& f) { f[0] = rlp::Item::list({}); }), EthErrc::bad_transaction,
                 "chain id: expected an integer");
}

// What a wallet reads before signing a transaction built elsewhere: the fields, exactly, from
// the bytes whose hash it signs.
TEST(Transaction, SigningPayloadsDecodeToTheirFields) {
  testing::Rng rng(1559);
  for (int i = 0; i < 200; ++i) {
    DynamicFeeTx tx = random_dynamic(rng);
    Bytes payload = signing_payload(tx);
    auto back = decode_signing_payload(payload);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, tx);
  }
  DynamicFeeTx tx = random_dynamic(rng);
  Bytes payload = signing_payload(tx);
  auto refused = [](const Bytes& b, EthErrc code, std::string_view what) {
    auto r = decode_signing_payload(b);
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    EXPECT_NE(r.error().message().find(what), std::string::npos) << r.error().message();
  };
  refused(Bytes{}, EthErrc::unsupported_type, "EIP-1559");
  refused(signing_payload(eip155_example()), EthErrc::unsupported_type, "EIP-1559");
  refused(sign_transaction(tx, key46()).value().raw(), EthErrc::bad_transaction,
          "12 fields, expected 9");
  refused(Bytes(payload.begin(), payload.end() - 1), EthErrc::truncated, "signing payload");
  Bytes longer = payload;
  longer.push_back(0x80);
  EXPECT_FALSE(decode_signing_payload(longer)) << "trailing bytes";
}

// A replacement must outbid the stuck transaction by at least 1/8 on both fees (nodes refuse less:
// "replacement transaction underpriced") and offer at least what the chain asks now.
TEST(Transaction, AReplacementOutbidsTheStuckOneByAnEighthAndMeetsTheChainsFees) {
  DynamicFeeTx stuck;
  stuck.max_fee_per_gas = U256(1'000'000'000);
  stuck.max_priority_fee_per_gas = U256(8);
  Fees quiet{U256(100), U256(1)};
  Fees f = bumped_fees(stuck, quiet);
  EXPECT_EQ(f.max_fee_per_gas, U256(1'125'000'001));
  EXPECT_EQ(f.max_priority_fee_per_gas, U256(10));  // 8 + 8/8 + 1
  Fees busy{U256(21'000'000'000), U256(2'000'000'000)};
  f = bumped_fees(stuck, busy);
  EXPECT_EQ(f.max_fee_per_gas, U256(21'000'000'000));
  EXPECT_EQ(f.max_priority_fee_per_gas, U256(2'000'000'000));
  stuck.max_priority_fee_per_gas = U256(0);  // zero still moves
  EXPECT_EQ(bumped_fees(stuck, quiet).max_priority_fee_per_gas, U256(1));
  // A tip over the max fee is capped by raising the max fee with it.
  stuck.max_fee_per_gas = U256(10);
  stuck.max_priority_fee_per_gas = U256(10);
  f = bumped_fees(stuck, Fees{U256(0), U256(50)});
  EXPECT_EQ(f.max_priority_fee_per_gas, U256(50));
  EXPECT_EQ(f.max_fee_per_gas, U256(50));
}

}  // namespace
}  // namespace ipsx::eth
