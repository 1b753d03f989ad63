#include "crypto/keystore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace ipsx::crypto {
namespace {

using json = nlohmann::json;

// The test vectors of the Web3 Secret Storage definition: password "testpassword".
constexpr const char* kPbkdf2Vector = R"({
  "crypto": {
    "cipher": "aes-128-ctr",
    "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
    "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
    "kdf": "pbkdf2",
    "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                  "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
    "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
  },
  "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  "version": 3
})";

constexpr const char* kScryptVector = R"({
  "crypto": {
    "cipher": "aes-128-ctr",
    "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
    "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
    "kdf": "scrypt",
    "kdfparams": {"dklen": 32, "n": 262144, "p": 8, "r": 1,
                  "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
    "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
  },
  "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
  "version": 3
})";

constexpr const char* kVectorKey =
    "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

std::string testdata(const char* name) {
  return read_small_file(std::string(IPSX_CRYPTO_TESTDATA) + "/" + name, 1 << 20).value();
}

TEST(Keystore, Web3SecretStoragePbkdf2Vector) {
  auto key = decrypt_keystore(kPbkdf2Vector, "testpassword");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(to_hex(key->secret()), kVectorKey);
}

TEST(Keystore, Web3SecretStorageScryptVector) {
  auto key = decrypt_keystore(kScryptVector, "testpassword");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(to_hex(key->secret()), kVectorKey);
}

TEST(Keystore, OpensAKeystoreWrittenByFoundryCast) {
  // `cast wallet new DIR --unsafe-password cast-pass`; cast records no address member.
  std::string text = testdata("cast_keystore.json");
  EXPECT_FALSE(inspect_keystore(text).value().has_value());
  auto key = decrypt_keystore(text, "cast-pass");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(key->address().to_string(), "0x5525EE2ECcc71346c979ecAa309538F05209Bc81");
}

TEST(Keystore, WrongPasswordIsReportedAsSuch) {
  auto r = decrypt_keystore(kPbkdf2Vector, "wrong");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), CryptoErrc::wrong_password);
  EXPECT_NE(r.error().message().find("wrong password"), std::string::npos);
}

TEST(Keystore, TamperedMacOrCiphertextIsRejected) {
  json doc = json::parse(kPbkdf2Vector);
  doc["crypto"]["mac"] = "617ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2";
  EXPECT_EQ(decrypt_keystore(doc.dump(), "testpassword").error().code(),
            CryptoErrc::wrong_password);
  doc = json::parse(kPbkdf2Vector);
  doc["crypto"]["ciphertext"] = "6318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46";
  EXPECT_EQ(decrypt_keystore(doc.dump(), "testpassword").error().code(),
            CryptoErrc::wrong_password);
}

TEST(Keystore, TruncatedOrMalformedFilesSayWhatIsWrong) {
  std::string full = kPbkdf2Vector;
  auto truncated = decrypt_keystore(full.substr(0, full.size() / 2), "testpassword");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code(), CryptoErrc::bad_keystore);
  EXPECT_NE(truncated.error().message().find("not JSON"), std::string::npos);

  struct {
    std::function<void(json&)> mutate;
    const char* part;
  } cases[] = {
      {[](json& d) { d.erase("version"); }, "'version'"},
      {[](json& d) { d.erase("crypto"); }, "'crypto'"},
      {[](json& d) { d["crypto"]["cipher"] = "aes-256-gcm"; }, "unsupported cipher"},
      {[](json& d) { d["crypto"]["kdf"] = "argon2"; }, "unsupported kdf"},
      {[](json& d) { d["crypto"]["kdfparams"]["prf"] = "hmac-sha1"; }, "unsupported pbkdf2 prf"},
      {[](json& d) { d["crypto"]["kdfparams"]["c"] = 4000000000u; }, "iteration count"},
      {[](json& d) { d["crypto"]["cipherparams"]["iv"] = "abc"; }, "odd"},
      {[](json& d) { d["crypto"]["cipherparams"]["iv"] = "abcd"; }, "16 bytes"},
      {[](json& d) { d["crypto"]["ciphertext"] = "zz"; }, "crypto.ciphertext"},
      {[](json& d) { d["crypto"]["kdfparams"].erase("salt"); }, "lacks 'salt'"},
      {[](json& d) { d["crypto"]["kdfparams"]["dklen"] = -1; }, "dklen"},
  };
  for (const auto& c : cases) {
    json doc = json::parse(kPbkdf2Vector);
    c.mutate(doc);
    auto r = decrypt_keystore(doc.dump(), "testpassword");
    ASSERT_FALSE(r) << doc.dump();
    EXPECT_NE(r.error().message().find(c.part), std::string::npos) << r.error().message();
  }
}

TEST(Keystore, HostileScryptParametersAreRefusedBeforeWork) {
  json doc = json::parse(kScryptVector);
  doc["crypto"]["kdfparams"]["n"] = 1ull << 30;
  auto r = decrypt_keystore(doc.dump(), "testpassword");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), CryptoErrc::limit_exceeded);
  doc["crypto"]["kdfparams"]["n"] = 1000;  // not a power of two
  EXPECT_FALSE(decrypt_keystore(doc.dump(), "testpassword"));
}

TEST(Keystore, RoundTripsWithBothKdfs) {
  auto key = PrivateKey::generate().value();
  KeystoreOptions pbkdf2;
  pbkdf2.kdf = Kdf::pbkdf2;
  pbkdf2.pbkdf2_iterations = 1000;
  for (const KeystoreOptions& o : {KeystoreOptions::light(), pbkdf2}) {
    std::string text = encrypt_keystore(key, "pw \xe2\x9c\x93", o).value();
    EXPECT_EQ(inspect_keystore(text).value(), key.address());
    auto back = decrypt_keystore(text, "pw \xe2\x9c\x93");
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->secret(), key.secret());
    json doc = json::parse(text);
    EXPECT_EQ(doc["version"], 3);
    EXPECT_EQ(doc["address"].get<std::string>().size(), 40u);
    EXPECT_EQ(doc["id"].get<std::string>()[14], '4');  // UUID version 4
  }
}

TEST(Keystore, AddressMemberMustMatchTheKey) {
  auto key = PrivateKey::generate().value();
  json doc = json::parse(encrypt_keystore(key, "pw", KeystoreOptions::light()).value());
  doc["address"] = "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
  EXPECT_EQ(decrypt_keystore(doc.dump(), "pw").error().code(), CryptoErrc::address_mismatch);
}

TEST(KeystoreDir, StoresListsFindsAndUnlocks) {
  auto dir = std::filesystem::temp_directory_path() /
             ("ipsx-ks-" + std::to_string(::getpid()) + "-" + std::to_string(::time(nullptr)));
  KeystoreDir ks(dir);
  EXPECT_TRUE(ks.list().value().empty());
  auto a = PrivateKey::generate().value();
  auto b = PrivateKey::generate().value();
  auto pa = ks.store(a.address(), encrypt_keystore(a, "pa", KeystoreOptions::light()).value());
  ASSERT_TRUE(pa) << pa.error().message();
  ASSERT_TRUE(ks.store(b.address(), encrypt_keystore(b, "pb", KeystoreOptions::light()).value()));
  std::filesystem::copy_file(std::string(IPSX_CRYPTO_TESTDATA) + "/cast_keystore.json",
                             dir / "cast-made");
  std::ofstream(dir / "notes.txt") << "not a keystore";

  struct stat st {};
  ASSERT_EQ(::stat(pa->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(pa->filename().string().starts_with("UTC--"));

  auto all = ks.list().value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(ks.find(b.address())->address, b.address());
  EXPECT_EQ(ks.unlock(a.address(), "pa")->address(), a.address());
  EXPECT_EQ(ks.unlock(a.address(), "pb").error().code(), CryptoErrc::wrong_password);
  auto missing = ks.find(PrivateKey::generate()->address());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), CryptoErrc::not_found);
  EXPECT_NE(missing.error().message().find("record no address"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A named account's file (wallet new --name): mode 0600 in a directory made 0700, never written
// over, and not blocked by a temporary a crashed earlier write left behind.
TEST(KeystoreDir, ANamedFileIsNeverReplaced) {
  auto dir =
      std::filesystem::temp_directory_path() /
      ("ipsx-ks-named-" + std::to_string(::getpid()) + "-" + std::to_string(::time(nullptr)));
  KeystoreDir ks(dir);
  auto a = PrivateKey::generate().value();
  auto b = PrivateKey::generate().value();
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  std::ofstream(dir / ".alice.tmp") << "left by a crash";
  auto pa =
      ks.store(a.address(), encrypt_keystore(a, "pa", KeystoreOptions::light()).value(), "alice");
  ASSERT_TRUE(pa) << pa.error().message();
  EXPECT_EQ(pa->filename(), "alice");
  auto again =
      ks.store(b.address(), encrypt_keystore(b, "pb", KeystoreOptions::light()).value(), "alice");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("an account of that name is there"), std::string::npos);
  EXPECT_EQ(ks.find(a.address())->path.filename(), "alice");  // still a's
  EXPECT_FALSE(ks.find(b.address()));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ipsx::crypto
