#include "eth/abi.h"

#include <gtest/gtest.h>

#include "core/keccak.h"
#include "eth/test_util.h"

namespace ipsx::eth::abi {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

// Concatenates 32-byte words written as 64 hex digits each, as the specification prints them.
std::string words(std::initializer_list<std::string_view> ws) {
  std::string out = "0x";
  for (auto w : ws) {
    EXPECT_EQ(w.size(), 64u) << w;
    out += w;
  }
  return out;
}

Value u(uint64_t v) {
  return Value::uint(v);
}

Value str_bytes(std::string_view s) {
  return Value::bytes(as_bytes(s));
}

std::string call(std::string_view sig, std::vector<Value> args) {
  auto f = Function::parse(sig).value();
  auto data = f.encode_call(args);
  EXPECT_TRUE(data) << data.error().message();
  if (!data) return "";
  // Every example also decodes back to its arguments.
  auto back = f.decode_call(*data);
  EXPECT_TRUE(back) << back.error().message();
  if (back) {
    EXPECT_EQ(*back, args) << sig;
  }
  return to_hex(*data);
}

// The examples of the Solidity ABI specification ("Examples" and "Use of Dynamic Types").
TEST(Abi, EncodesTheSpecificationExamples) {
  EXPECT_EQ(
      call("baz(uint32,bool)", {u(69), Value::boolean(true)}),
      "0xcdcd77c0" + words({
                               "0000000000000000000000000000000000000000000000000000000000000045",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                           })
                         .substr(2));
  EXPECT_EQ(
      call("bar(bytes3[2])", {Value::list({str_bytes("abc"), str_bytes("def")})}),
      "0xfce353f6" + words({
                               "6162630000000000000000000000000000000000000000000000000000000000",
                               "6465660000000000000000000000000000000000000000000000000000000000",
                           })
                         .substr(2));
  EXPECT_EQ(
      call("sam(bytes,bool,uint256[])",
           {str_bytes("dave"), Value::boolean(true), Value::list({u(1), u(2), u(3)})}),
      "0xa5643bf2" + words({
                               "0000000000000000000000000000000000000000000000000000000000000060",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "00000000000000000000000000000000000000000000000000000000000000a0",
                               "0000000000000000000000000000000000000000000000000000000000000004",
                               "6461766500000000000000000000000000000000000000000000000000000000",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "0000000000000000000000000000000000000000000000000000000000000002",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                           })
                         .substr(2));
  EXPECT_EQ(
      call("f(uint256,uint32[],bytes10,bytes)",
           {u(0x123), Value::list({u(0x456), u(0x789)}), str_bytes("1234567890"),
            str_bytes("Hello, world!")}),
      "0x8be65246" + words({
                               "0000000000000000000000000000000000000000000000000000000000000123",
                               "0000000000000000000000000000000000000000000000000000000000000080",
                               "3132333435363738393000000000000000000000000000000000000000000000",
                               "00000000000000000000000000000000000000000000000000000000000000e0",
                               "0000000000000000000000000000000000000000000000000000000000000002",
                               "0000000000000000000000000000000000000000000000000000000000000456",
                               "0000000000000000000000000000000000000000000000000000000000000789",
                               "000000000000000000000000000000000000000000000000000000000000000d",
                               "48656c6c6f2c20776f726c642100000000000000000000000000000000000000",
                           })
                         .substr(2));
  EXPECT_EQ(
      call("g(uint256[][],string[])",
           {Value::list({Value::list({u(1), u(2)}), Value::list({u(3)})}),
            Value::list({Value::string("one"), Value::string("two"), Value::string("three")})}),
      "0x2289b18c" + words({
                               "0000000000000000000000000000000000000000000000000000000000000040",
                               "0000000000000000000000000000000000000000000000000000000000000140",
                               "0000000000000000000000000000000000000000000000000000000000000002",
                               "0000000000000000000000000000000000000000000000000000000000000040",
                               "00000000000000000000000000000000000000000000000000000000000000a0",
                               "0000000000000000000000000000000000000000000000000000000000000002",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "0000000000000000000000000000000000000000000000000000000000000002",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                               "0000000000000000000000000000000000000000000000000000000000000060",
                               "00000000000000000000000000000000000000000000000000000000000000a0",
                               "00000000000000000000000000000000000000000000000000000000000000e0",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                               "6f6e650000000000000000000000000000000000000000000000000000000000",
                               "0000000000000000000000000000000000000000000000000000000000000003",
                               "74776f0000000000000000000000000000000000000000000000000000000000",
                               "0000000000000000000000000000000000000000000000000000000000000005",
                               "7468726565000000000000000000000000000000000000000000000000000000",
                           })
                         .substr(2));
}

TEST(Abi, SelectorsAndTopicsOfWellKnownSignatures) {
  EXPECT_EQ(to_hex(Function::parse("transfer(address,uint256)")->selector()), "0xa9059cbb");
  EXPECT_EQ(to_hex(Function::parse("balanceOf(address)(uint256)")->selector()), "0x70a08231");
  // The aliases uint and int are canonicalized before hashing.
  auto alias = Function::parse("transfer(address,uint)").value();
  EXPECT_EQ(alias.signature(), "transfer(address,uint256)");
  EXPECT_EQ(to_hex(alias.selector()), "0xa9059cbb");
  EXPECT_EQ(to_hex(selector_of("Error(string)")), "0x08c379a0");
  EXPECT_EQ(to_hex(selector_of("Panic(uint256)")), "0x4e487b71");
  EXPECT_EQ(Event::parse("Transfer(address,address,uint256)")->topic0().hex(),
            "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
  EXPECT_EQ(Event::parse("Approval(address,address,uint256)")->topic0().hex(),
            "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925");
  EXPECT_EQ(Function::parse("f()")->signature(), "f()");
  EXPECT_EQ(Function::parse("f()")->encode_call({}).value(), hex("26121ff0"));
}

TEST(Abi, ParsesAndPrintsCanonicalTypes) {
  for (std::string_view text :
       {"uint8", "int256", "address", "bool", "bytes1", "bytes32", "bytes", "string", "uint256[]",
        "bytes32[2][]", "(address,uint256,bytes)[]", "((uint8,string)[3],bool)",
        "(int24,(bytes,(address)[])[2])[][1]"}) {
    auto t = Type::parse(text);
    ASSERT_TRUE(t) << text << ": " << t.error().message();
    EXPECT_EQ(t->to_string(), text);
  }
  auto t = Type::parse("(address,uint256,bytes)[]").value();
  EXPECT_EQ(t.kind(), Type::Kind::array);
  EXPECT_TRUE(t.is_dynamic());
  ASSERT_EQ(t.element().components().size(), 3u);
  EXPECT_EQ(t.element().components()[1], Type::uint(256));
  EXPECT_EQ(Type::parse("uint").value(), Type::uint(256));
  EXPECT_EQ(Type::parse("(uint8,bool)[3]")->head_size(), 192u);
  EXPECT_FALSE(Type::parse("(uint8,bool)[3]")->is_dynamic());
  EXPECT_TRUE(Type::parse("(uint8,bytes)[3]")->is_dynamic());
  EXPECT_EQ(Type::parse_list("()")->size(), 0u);
}

TEST(Abi, RefusesBadTypeStrings) {
  for (std::string_view text :
       {"",       "uint7",    "uint264",    "uint0",           "uint08",     "int",
        "bytes0", "bytes33",  "uint256[0]", "uint256[01]",     "uint256[",   "uint256[x]",
        "()",     "(uint256", "(uint256,)", "uint256 ",        " uint256",   "fixed128x18",
        "ufixed", "function", "Uint256",    "address payable", "(uint256))", "tuple(uint256)"}) {
    auto t = Type::parse(text);
    if (text == "int") {
      EXPECT_TRUE(t);  // alias of int256
      continue;
    }
    ASSERT_FALSE(t) << "'" << text << "' parsed as " << t->to_string();
    EXPECT_NE(t.error().message().find("ABI type"), std::string::npos) << t.error().message();
  }
  EXPECT_EQ(Type::parse("uint256[100000]").error().code(), EthErrc::too_large);
  EXPECT_EQ(Type::parse("uint256[1000000000]").error().code(), EthErrc::too_large);
  std::string deep = "uint8";
  for (int i = 0; i < 20; ++i) deep = "(" + deep + ")";
  EXPECT_EQ(Type::parse(deep).error().code(), EthErrc::too_deep);
  EXPECT_EQ(Type::parse(std::string(5000, 'a')).error().code(), EthErrc::too_large);
  auto bad = Type::parse("(uint256,uint7)");
  EXPECT_NE(bad.error().message().find("at 13"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(Function::parse("(uint256)"));
  EXPECT_FALSE(Function::parse("9f(uint256)"));
  EXPECT_FALSE(Function::parse("f(uint256"));
  EXPECT_FALSE(Function::parse("f(uint256)x"));
  EXPECT_FALSE(Event::parse("E(uint256)(uint256)"));
  EXPECT_FALSE(Event::parse("E(uint8,uint8,uint8,uint8)", {true, true, true, true}));
}

TEST(Abi, EncodesSignedIntegersAsTwosComplement) {
  auto enc = encode({Type::sint(8), Type::sint(256)}, {Value::sint(-1), Value::sint(-128)});
  ASSERT_TRUE(enc);
  EXPECT_EQ(to_hex(*enc), "0x" + std::string(64, 'f') + std::string(62, 'f') + "80");
  EXPECT_EQ(I256::from_dec(
                "-57896044618658097711785492504343953926634992332820282019728792003956564819968")
                ->bits(),
            U256(1) << 255);
  EXPECT_FALSE(I256::from_dec(
      "57896044618658097711785492504343953926634992332820282019728792003956564819968"));
  EXPECT_EQ(I256(-5).to_dec(), "-5");
  EXPECT_EQ(I256::from_dec("-0")->to_dec(), "0");
  EXPECT_TRUE(I256(-128).fits(8));
  EXPECT_FALSE(I256(-129).fits(8));
  EXPECT_FALSE(I256(128).fits(8));
}

void expect_encode_error(const std::vector<Type>& types, const std::vector<Value>& values,
                         std::string_view fragment) {
  auto r = encode(types, values);
  ASSERT_FALSE(r) << fragment;
  EXPECT_EQ(r.error().code(), EthErrc::bad_value);
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

TEST(Abi, RefusesValuesThatDoNotFitTheirType) {
  expect_encode_error({Type::uint(8)}, {u(256)}, "argument 0: uint8: 256 does not fit 8 bits");
  expect_encode_error({Type::sint(8)}, {Value::sint(-129)}, "-129 does not fit");
  expect_encode_error({Type::sint(8)}, {u(1)}, "expected a signed integer");
  expect_encode_error({Type::fixed_bytes(3)}, {str_bytes("ab")}, "expected 3 bytes, got 2");
  expect_encode_error({Type::boolean(), Type::parse("uint8[2][]").value()},
                      {Value::boolean(true), Value::list({Value::list({u(1), u(300)})})},
                      "argument 1[0][1]: uint8");
  expect_encode_error({Type::parse("(bool,string)").value()},
                      {Value::list({Value::boolean(true), u(1)})}, "argument 0.1: string");
  expect_encode_error({Type::parse("uint8[2]").value()}, {Value::list({u(1)})},
                      "expected 2 values, got 1");
  expect_encode_error({Type::uint(256)}, {}, "1 types but 0 values");
}

// The parts of a word-aligned encoding, edited in place by the refusal tests.
Bytes encoded(std::vector<Type> types, std::vector<Value> values) {
  return encode(types, values).value();
}

void expect_decode_error(const std::vector<Type>& types, const Bytes& data, EthErrc code,
                         std::string_view fragment) {
  auto r = decode(types, data);
  ASSERT_FALSE(r) << fragment;
  EXPECT_EQ(r.error().code(), code) << r.error().message();
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

TEST(Abi, RefusesDirtyPadding) {
  Bytes w(32, 0);
  w[30] = 1;  // 0x100
  expect_decode_error({Type::uint(8)}, w, EthErrc::bad_padding, "bits set above the width");
  EXPECT_TRUE(decode({Type::uint(16)}, w));
  Bytes pos128(32, 0);
  pos128[31] = 0x80;
  expect_decode_error({Type::sint(8)}, pos128, EthErrc::bad_padding, "not a sign extension");
  Bytes neg128(32, 0xff);
  neg128[31] = 0x80;
  EXPECT_EQ(decode({Type::sint(8)}, neg128).value()[0], Value::sint(-128));
  Bytes addr(32, 0);
  addr[11] = 1;
  expect_decode_error({Type::address()}, addr, EthErrc::bad_padding, "before the address");
  Bytes two(32, 0);
  two[31] = 2;
  expect_decode_error({Type::boolean()}, two, EthErrc::bad_padding, "0 or 1");
  Bytes b3(32, 0);
  b3[3] = 1;
  expect_decode_error({Type::fixed_bytes(3)}, b3, EthErrc::bad_padding, "after the value");
  Bytes dyn = encoded({Type::bytes()}, {str_bytes("dave")});
  dyn[64 + 31] = 1;
  expect_decode_error({Type::bytes()}, dyn, EthErrc::bad_padding, "at offset 95");
}

TEST(Abi, RefusesOffsetsAndLengthsOutOfRange) {
  std::vector<Type> sam = Function::parse("sam(bytes,bool,uint256[])")->inputs();
  Bytes good =
      encoded(sam, {str_bytes("dave"), Value::boolean(true), Value::list({u(1), u(2), u(3)})});
  ASSERT_TRUE(decode(sam, good));
  Bytes b = good;
  b[30] = 0xff;  // offset of argument 0 past the end
  expect_decode_error(sam, b, EthErrc::bad_offset, "argument 0: at offset 0: offset 65376");
  b = good;
  b[0] = 0x80;  // an offset of 2^255
  expect_decode_error(sam, b, EthErrc::bad_offset, "offset");
  b = good;
  b[96 + 31] = 200;  // length of "dave" past the end
  expect_decode_error(sam, b, EthErrc::bad_offset, "length 200");
  b = good;
  b[160 + 30] = 0xff;  // array length far past the end
  expect_decode_error(sam, b, EthErrc::bad_offset, "array length");
  expect_decode_error(sam, Bytes(good.begin(), good.end() - 32), EthErrc::bad_offset, "argument 2");
  expect_decode_error(sam, Bytes(good.begin(), good.begin() + 40), EthErrc::truncated,
                      "3 values cannot fit in 40 bytes");
  expect_decode_error({Type::uint(), Type::uint()}, Bytes(40, 0), EthErrc::truncated,
                      "argument 1: at offset 32: word runs past the end");
  b = good;
  b.insert(b.end(), 32, 0);
  expect_decode_error(sam, b, EthErrc::trailing_bytes, "32 bytes after");
  expect_decode_error({Type::uint(256)}, Bytes(31, 0), EthErrc::truncated, "argument 0");
  EXPECT_FALSE(decode({Type::tuple({})}, {}));
}

TEST(Abi, RefusesOverlappingOffsetsThatWouldBlowUpTheOutput) {
  // uint256[][] whose 1000 elements all point at the same 1000-element array: 64 KB of input
  // that would decode to a million words.
  const size_t n = 1000;
  Bytes data;
  auto word = [&](uint64_t v) {
    auto be = U256(v).to_be_bytes();
    data.insert(data.end(), be.begin(), be.end());
  };
  word(32);                                     // offset of the outer array
  word(n);                                      // its length
  for (size_t i = 0; i < n; ++i) word(n * 32);  // every element: the same inner array
  word(n);
  for (size_t i = 0; i < n; ++i) word(i);
  expect_decode_error({Type::parse("uint256[][]").value()}, data, EthErrc::too_large,
                      "overlapping offsets");
}

TEST(Abi, DecodeOfEncodeRoundTripsOnRandomValues) {
  testing::Rng rng(20261125);
  for (int i = 0; i < 400; ++i) {
    std::vector<Type> types;
    std::vector<Value> values;
    size_t n = rng() % 4;
    for (size_t j = 0; j < n; ++j) {
      types.push_back(testing::random_type(rng, 3));
      values.push_back(testing::random_value(rng, types.back()));
    }
    auto enc = encode(types, values);
    ASSERT_TRUE(enc) << enc.error().message();
    EXPECT_EQ(enc->size() % 32, 0u);
    auto dec = decode(types, *enc);
    ASSERT_TRUE(dec) << to_string(types) << ": " << dec.error().message();
    EXPECT_EQ(*dec, values) << to_string(types);
    // The type text round-trips too.
    EXPECT_EQ(Type::parse_list(to_string(types)).value(), types);
  }
}

TEST(Abi, DecodingMutatedEncodingsNeverCrashes) {
  testing::Rng rng(99);
  for (int i = 0; i < 300; ++i) {
    std::vector<Type> types = {testing::random_type(rng, 3), testing::random_type(rng, 2)};
    std::vector<Value> values = {testing::random_value(rng, types[0]),
                                 testing::random_value(rng, types[1])};
    Bytes enc = encode(types, values).value();
    for (int m = 0; m < 8 && !enc.empty(); ++m) {
      Bytes bad = enc;
      size_t at = rng() % bad.size();
      bad[at] = static_cast<uint8_t>(rng());
      if (rng() % 4 == 0) bad.resize(rng() % bad.size());
      auto dec = decode(types, bad);
      // Offsets may legally point anywhere in range, so an accepted mutation need not be the
      // canonical encoding; but what it decodes to always fits the types.
      if (dec) {
        EXPECT_TRUE(encode(types, *dec));
      }
    }
  }
}

TEST(Abi, EncodesAndDecodesEventLogs) {
  auto transfer = Event::parse("Transfer(address,address,uint256)", {true, true}).value();
  Address from = Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").value();
  Address to = Address::parse("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359").value();
  std::vector<Value> values = {Value::address(from), Value::address(to), u(1000)};
  auto topics = transfer.topics(values).value();
  ASSERT_EQ(topics.size(), 3u);
  EXPECT_EQ(topics[0], transfer.topic0());
  EXPECT_EQ(topics[1].hex(), "0x0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
  Bytes data = encode({Type::uint()}, {u(1000)}).value();
  EXPECT_EQ(transfer.decode_log(topics, data).value(), values);
  EXPECT_EQ(transfer.decode_log(std::span(topics).first(2), data).error().code(),
            EthErrc::bad_value);
  std::vector<Hash> wrong = topics;
  wrong[0] = keccak256(std::string_view("Other()"));
  EXPECT_EQ(transfer.decode_log(wrong, data).error().code(), EthErrc::unknown_selector);

  // Indexed dynamic values are present only as hashes.
  auto named = Event::parse("Named(string,uint256[],(uint8,bytes))", {true, true, true}).value();
  std::vector<Value> dyn = {Value::string("ipsx"), Value::list({u(1), u(2)}),
                            Value::list({u(7), Value::bytes(Bytes(33, 0xab))})};
  auto dyn_topics = named.topics(dyn).value();
  EXPECT_EQ(dyn_topics[1], keccak256(std::string_view("ipsx")));
  EXPECT_EQ(dyn_topics[2], keccak256(encode({Type::uint(), Type::uint()}, {u(1), u(2)}).value()));
  Bytes in_place = encode({Type::uint(8)}, {u(7)}).value();
  Bytes padded_content(64, 0);
  std::fill(padded_content.begin(), padded_content.begin() + 33, 0xab);
  in_place.insert(in_place.end(), padded_content.begin(), padded_content.end());
  EXPECT_EQ(dyn_topics[3], keccak256(in_place));
  auto decoded = named.decode_log(dyn_topics, {}).value();
  EXPECT_EQ(decoded[0], Value::bytes(dyn_topics[1].view()));
}

TEST(Abi, DecodesRevertData) {
  // The specification's example: revert("Not enough Ether provided.").
  Bytes error =
      hex("08c379a0"
          "0000000000000000000000000000000000000000000000000000000000000020"
          "000000000000000000000000000000000000000000000000000000000000001a"
          "4e6f7420656e6f7567682045746865722070726f76696465642e000000000000");
  auto r = decode_revert(error).value();
  EXPECT_EQ(r.kind, Revert::Kind::error);
  EXPECT_EQ(r.message, "Not enough Ether provided.");
  EXPECT_EQ(r.to_string(), "reverted: Not enough Ether provided.");

  Bytes panic = hex("4e487b71" + std::string(62, '0') + "11");
  auto p = decode_revert(panic).value();
  EXPECT_EQ(p.kind, Revert::Kind::panic);
  EXPECT_EQ(p.panic_code, U256(0x11));
  EXPECT_EQ(p.to_string(), "panic 0x11: arithmetic overflow or underflow");

  EXPECT_EQ(decode_revert({}).value().kind, Revert::Kind::empty);

  std::vector<Function> errors = {Function::parse("Unauthorized()").value(),
                                  Function::parse("InsufficientBalance(uint256,uint256)").value()};
  Bytes custom = errors[1].encode_call({u(10), u(20)}).value();
  auto c = decode_revert(custom, errors).value();
  EXPECT_EQ(c.kind, Revert::Kind::custom);
  EXPECT_EQ(c.error_name, "InsufficientBalance");
  EXPECT_EQ(c.args, (std::vector<Value>{u(10), u(20)}));
  EXPECT_EQ(c.to_string(), "InsufficientBalance(10, 20)");
  EXPECT_EQ(decode_revert(errors[0].encode_call({}).value(), errors)->to_string(),
            "Unauthorized()");

  EXPECT_EQ(decode_revert(custom).error().code(), EthErrc::unknown_selector);
  EXPECT_EQ(decode_revert(hex("08c379")).error().code(), EthErrc::truncated);
  Bytes dirty = error;
  dirty.back() = 1;
  EXPECT_EQ(decode_revert(dirty).error().code(), EthErrc::bad_padding);
}

TEST(Abi, DecodesCallOutputs) {
  auto f = Function::parse("balanceOf(address)(uint256)").value();
  EXPECT_EQ(f.decode_output(encode({Type::uint()}, {u(5)}).value()).value()[0], u(5));
  EXPECT_FALSE(f.decode_output({}));
  auto other = Function::parse("totalSupply()").value();
  EXPECT_EQ(f.decode_call(other.encode_call({}).value()).error().code(), EthErrc::unknown_selector);
}

}  // namespace
}  // namespace ipsx::eth::abi
