#include "crypto/eip712.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "crypto/keys.h"
#include "crypto/keystore.h"

namespace ipsx::crypto::eip712 {
namespace {

using json = nlohmann::json;

std::string testdata(const char* name) {
  return read_small_file(std::string(IPSX_CRYPTO_TESTDATA) + "/" + name, 1 << 20).value();
}

PrivateKey cow() {
  return PrivateKey::from_bytes(keccak256(std::string_view("cow")).view()).value();
}

// The example of the EIP-712 specification, every intermediate value.
TEST(Eip712, SpecificationMailExample) {
  TypedData td = TypedData::parse(testdata("mail.json")).value();
  EXPECT_EQ(td.encode_type("Mail").value(),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
  EXPECT_EQ(type_hash(td.encode_type("Mail").value()).hex(),
            "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2");
  EXPECT_EQ(td.domain_separator()->hex(),
            "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
  EXPECT_EQ(td.message_hash()->hex(),
            "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
  EXPECT_EQ(td.digest()->hex(),
            "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
  Signature sig = sign(cow(), td.digest().value()).value();
  EXPECT_EQ(sig.v(), 28);
  EXPECT_EQ(sig.r().hex(), "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
  EXPECT_EQ(sig.s().hex(), "0x07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");
}

// Every atomic type, negative ints at their minimum, fixed and dynamic arrays, arrays of
// structs and nested arrays: the signature foundry's cast gives for the same file and key
// (`cast wallet sign --private-key $(cast keccak cow) --data --from-file complex.json`).
TEST(Eip712, ComplexDocumentMatchesFoundryCast) {
  TypedData td = TypedData::parse(testdata("complex.json")).value();
  EXPECT_EQ(sign(cow(), td.digest().value())->to_hex(),
            "0xd707e14c10bc4b1eebc3cbe787ca17db09b355e0be02d048bf68d4fbae0e0adc7028330fca2abef50b"
            "acaa23b05551ec10f89a305d884689518095f4c7620eec1c");
}

TEST(Eip712, StructHasherAndDomainAgreeWithTheJsonPath) {
  TypedData td = TypedData::parse(testdata("mail.json")).value();
  Domain d{"Ether Mail", "1", U256(1),
           Address::parse("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC").value(), std::nullopt};
  EXPECT_EQ(d.separator(), td.domain_separator().value());
  Hash person = type_hash("Person(string name,address wallet)");
  auto person_hash = [&](const char* name, const char* wallet) {
    return StructHasher(person)
        .add_string(name)
        .add_address(Address::parse(wallet).value())
        .finish();
  };
  Hash mail = StructHasher(type_hash(td.encode_type("Mail").value()))
                  .add_word(person_hash("Cow", "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"))
                  .add_word(person_hash("Bob", "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"))
                  .add_string("Hello, Bob!")
                  .finish();
  EXPECT_EQ(mail, td.message_hash().value());
  EXPECT_EQ(digest(d.separator(), mail), td.digest().value());
}

TEST(Eip712, StructHasherEncodesNegativeIntsAsTwosComplement) {
  Hash th = type_hash("T(int64 v)");
  EXPECT_EQ(StructHasher(th).add_int(-1).finish(), StructHasher(th).add_uint(U256::max()).finish());
  EXPECT_EQ(StructHasher(th).add_int(INT64_MIN).finish(),
            StructHasher(th).add_uint(U256(1ull << 63).wrapping_neg()).finish());
}

json mail_doc() {
  return json::parse(testdata("mail.json"));
}

TEST(Eip712, RecursiveTypesEncodeEachTypeOnce) {
  json doc = mail_doc();
  doc["types"]["Tree"] = json::array({{{"name", "label"}, {"type", "string"}},
                                      {{"name", "kids"}, {"type", "Tree[]"}},
                                      {{"name", "owner"}, {"type", "Person"}}});
  doc["primaryType"] = "Tree";
  doc["message"] = {{"label", "a"},
                    {"kids", json::array({{{"label", "b"}, {"kids", json::array()}}})},
                    {"owner", nullptr}};
  TypedData td = TypedData::from_json(doc).value();
  EXPECT_EQ(td.encode_type("Tree").value(),
            "Tree(string label,Tree[] kids,Person owner)Person(string name,address wallet)");
  EXPECT_TRUE(td.digest());  // a missing or null struct encodes as zero, as in v4
}

TEST(Eip712, PrimaryTypeDomainSignsTheDomainAlone) {
  json doc = mail_doc();
  doc["primaryType"] = "EIP712Domain";
  TypedData td = TypedData::from_json(doc).value();
  std::array<uint8_t, 34> buf{0x19, 0x01};
  auto sep = td.domain_separator().value();
  std::copy(sep.bytes().begin(), sep.bytes().end(), buf.begin() + 2);
  EXPECT_EQ(td.digest().value(), keccak256(ByteView(buf)));
}

struct BadCase {
  const char* what;
  std::function<void(json&)> mutate;
  const char* message_part;
};

TEST(Eip712, MalformedDocumentsGiveErrorsThatNameTheProblem) {
  std::vector<BadCase> cases = {
      {"missing types", [](json& d) { d.erase("types"); }, "'types'"},
      {"no domain type", [](json& d) { d["types"].erase("EIP712Domain"); }, "EIP712Domain"},
      {"unknown field type", [](json& d) { d["types"]["Mail"][2]["type"] = "Strng"; },
       "unknown type 'Strng'"},
      {"unknown primary", [](json& d) { d["primaryType"] = "Letter"; }, "Letter"},
      {"duplicate field", [](json& d) { d["types"]["Person"][1]["name"] = "name"; },
       "declared twice"},
      {"bad type name", [](json& d) { d["types"]["9x"] = json::array(); }, "not a valid type name"},
      {"field not object", [](json& d) { d["types"]["Person"][0] = "string name"; },
       "types.Person[0]"},
      {"bad array dim", [](json& d) { d["types"]["Mail"][2]["type"] = "string[x]"; },
       "array dimension"},
      {"uint without width", [](json& d) { d["types"]["Mail"][2]["type"] = "uint"; },
       "unknown type 'uint'"},
      {"domain not object", [](json& d) { d["domain"] = 5; }, "'domain'"},
  };
  for (const auto& c : cases) {
    json doc = mail_doc();
    c.mutate(doc);
    auto td = TypedData::from_json(doc);
    ASSERT_FALSE(td) << c.what;
    EXPECT_NE(td.error().message().find(c.message_part), std::string::npos)
        << c.what << ": " << td.error().message();
  }
  EXPECT_NE(TypedData::parse("{\"types\": ").error().message().find("not valid JSON"),
            std::string::npos);
}

json typed(const char* type, json value) {
  json doc = mail_doc();
  doc["types"]["V"] = json::array({{{"name", "v"}, {"type", type}}});
  doc["primaryType"] = "V";
  doc["message"] = {{"v", value}};
  return doc;
}

TEST(Eip712, ValuesAreCheckedAgainstTheirTypes) {
  struct {
    const char* type;
    json value;
    bool ok;
  } cases[] = {
      {"uint8", 255, true},
      {"uint8", 256, false},
      {"uint8", -1, false},
      {"uint8", "0x100", false},
      {"uint256", "0x" + std::string(64, 'f'), true},
      {"int8", -128, true},
      {"int8", -129, false},
      {"int8", 127, true},
      {"int8", 128, false},
      {"int256", "-0x8000000000000000000000000000000000000000000000000000000000000000", true},
      {"int256", "-0x8000000000000000000000000000000000000000000000000000000000000001", false},
      {"uint64", 1.5, false},
      {"uint64", 1e300, false},
      {"uint64", "12abc", false},
      {"uint64", true, false},
      {"bool", true, true},
      {"bool", 1, false},
      {"address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
      {"address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", false},
      {"address", 12, false},
      {"bytes4", "0xdeadbeef", true},
      {"bytes4", "0xdead", false},
      {"bytes4", "deadbeef", false},
      {"bytes", "0x", true},
      {"bytes", "not hex", true},
      {"string", 5, false},
      {"string[2]", json::array({"a", "b"}), true},
      {"string[2]", json::array({"a"}), false},
      {"string[]", "a", false},
      {"uint8[][]", json::array({json::array({1, 2}), json::array()}), true},
  };
  for (const auto& c : cases) {
    auto td = TypedData::from_json(typed(c.type, c.value));
    ASSERT_TRUE(td) << td.error().message();
    auto d = td->digest();
    EXPECT_EQ(static_cast<bool>(d), c.ok) << c.type << " " << c.value.dump();
    if (!d) {
      EXPECT_NE(d.error().message().find("message.v"), std::string::npos) << d.error().message();
    }
  }
  json missing = typed("uint8", 1);
  missing["message"].erase("v");
  auto r = TypedData::from_json(missing)->digest();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("missing value"), std::string::npos);
}

TEST(Eip712, LimitsStopHugeAndDeepDocuments) {
  Limits small;
  small.max_json_bytes = 100;
  EXPECT_EQ(TypedData::parse(testdata("mail.json"), small).error().code(),
            CryptoErrc::limit_exceeded);

  json deep = json::array();
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  std::string type = "uint8";
  for (int i = 0; i < 101; ++i) type += "[]";
  auto td = TypedData::from_json(typed(type.c_str(), deep));
  ASSERT_TRUE(td);
  EXPECT_EQ(td->digest().error().code(), CryptoErrc::limit_exceeded);

  Limits few;
  few.max_values = 1000;
  auto big = TypedData::from_json(typed("uint8[]", json(std::vector<int>(5000, 1))), few);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->digest().error().code(), CryptoErrc::limit_exceeded);
}

}  // namespace
}  // namespace ipsx::crypto::eip712
