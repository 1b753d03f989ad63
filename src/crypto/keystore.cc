#include "crypto/keystore.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "crypto/kdf.h"
#include "crypto/secure.h"

namespace ipsx::crypto {
namespace {

using json = nlohmann::json;

std::unexpected<Error> bad(std::string msg) {
  return fail(CryptoErrc::bad_keystore, "not a valid keystore: " + std::move(msg));
}

Result<const json*> member(const json& obj, const char* key, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end()) return bad(fmt::format("{} lacks '{}'", where, key));
  return &*it;
}

Result<Bytes> hex_member(const json& obj, const char* key, const char* where, size_t max_bytes) {
  auto m = member(obj, key, where);
  if (!m) return std::unexpected(m.error());
  if (!(*m)->is_string()) return bad(fmt::format("{}.{} must be a hex string", where, key));
  auto b = from_hex((*m)->get_ref<const std::string&>(), max_bytes);
  if (!b) return bad(fmt::format("{}.{}: {}", where, key, b.error().message()));
  return b;
}

Result<uint64_t> uint_member(const json& obj, const char* key, const char* where) {
  auto m = member(obj, key, where);
  if (!m) return std::unexpected(m.error());
  if (!(*m)->is_number_unsigned()) {
    return bad(fmt::format("{}.{} must be a non-negative integer", where, key));
  }
  return (*m)->get<uint64_t>();
}

Hash mac_of(const SecretBytes& dk, ByteView ciphertext) {
  Keccak256 k;
  k.update(ByteView(dk.data() + 16, 16)).update(ciphertext);
  return k.finish();
}

Result<json> parse_json(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return bad("the file is not JSON");
  if (!doc.is_object()) return bad("the file is not a JSON object");
  return doc;
}

std::string uuid_v4() {
  std::array<uint8_t, 16> b{};
  (void)random_bytes(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string h = to_hex(b, false);
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                     h.substr(16, 4), h.substr(20));
}

}  // namespace

Result<std::string> encrypt_keystore(const PrivateKey& key, std::string_view password,
                                     const KeystoreOptions& options) {
  std::array<uint8_t, 32> salt;
  std::array<uint8_t, 16> iv;
  if (auto r = random_bytes(salt); !r) return std::unexpected(r.error());
  if (auto r = random_bytes(iv); !r) return std::unexpected(r.error());
  json kdfparams;
  Result<SecretBytes> dk = std::unexpected(Error({}, ""));
  if (options.kdf == Kdf::scrypt) {
    dk = scrypt(password, salt, options.scrypt_n, options.scrypt_r, options.scrypt_p, 32);
    kdfparams = {{"dklen", 32},
                 {"n", options.scrypt_n},
                 {"p", options.scrypt_p},
                 {"r", options.scrypt_r},
                 {"salt", to_hex(salt, false)}};
  } else {
    dk = pbkdf2_sha256(password, salt, options.pbkdf2_iterations, 32);
    kdfparams = {{"c", options.pbkdf2_iterations},
                 {"dklen", 32},
                 {"prf", "hmac-sha256"},
                 {"salt", to_hex(salt, false)}};
  }
  if (!dk) return std::unexpected(dk.error());
  std::array<uint8_t, 32> ciphertext;
  if (auto r = aes128_ctr(ByteView(dk->data(), 16), iv, key.secret(), ciphertext); !r) {
    return std::unexpected(r.error());
  }
  json doc = {
      {"address", key.address().to_lower_hex().substr(2)},
      {"crypto",
       {{"cipher", "aes-128-ctr"},
        {"cipherparams", {{"iv", to_hex(iv, false)}}},
        {"ciphertext", to_hex(ciphertext, false)},
        {"kdf", options.kdf == Kdf::scrypt ? "scrypt" : "pbkdf2"},
        {"kdfparams", kdfparams},
        {"mac", to_hex(mac_of(*dk, ciphertext).bytes(), false)}}},
      {"id", uuid_v4()},
      {"version", 3},
  };
  return doc.dump();
}

Result<PrivateKey> decrypt_keystore(std::string_view json_text, std::string_view password,
                                    const KeystoreLimits& limits) {
  if (json_text.size() > limits.max_file_bytes) {
    return fail(CryptoErrc::limit_exceeded, fmt::format("keystore is {} bytes, more than {}",
                                                        json_text.size(), limits.max_file_bytes));
  }
  auto parsed = parse_json(json_text);
  if (!parsed) return std::unexpected(parsed.error());
  const json& doc = *parsed;
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || version->get<int64_t>() != 3) {
    return bad("'version' must be 3");
  }
  // MyEtherWallet and some exports spell it "Crypto".
  auto cit = doc.find("crypto");
  if (cit == doc.end()) cit = doc.find("Crypto");
  if (cit == doc.end() || !cit->is_object()) return bad("no 'crypto' object");
  const json& c = *cit;

  auto cipher = member(c, "cipher", "crypto");
  if (!cipher) return std::unexpected(cipher.error());
  if (**cipher != "aes-128-ctr") {
    return fail(CryptoErrc::bad_keystore,
                fmt::format("unsupported cipher {} (only aes-128-ctr)", (*cipher)->dump()));
  }
  auto params = member(c, "cipherparams", "crypto");
  if (!params) return std::unexpected(params.error());
  if (!(*params)->is_object()) return bad("crypto.cipherparams must be an object");
  auto iv = hex_member(**params, "iv", "crypto.cipherparams", 16);
  if (!iv) return std::unexpected(iv.error());
  if (iv->size() != 16) return bad("crypto.cipherparams.iv must be 16 bytes");
  auto ciphertext = hex_member(c, "ciphertext", "crypto", 32);
  if (!ciphertext) return std::unexpected(ciphertext.error());
  if (ciphertext->size() != 32) return bad("crypto.ciphertext must be 32 bytes");
  auto mac = hex_member(c, "mac", "crypto", 32);
  if (!mac) return std::unexpected(mac.error());
  if (mac->size() != 32) return bad("crypto.mac must be 32 bytes");

  auto kdf = member(c, "kdf", "crypto");
  if (!kdf) return std::unexpected(kdf.error());
  auto kp_it = c.find("kdfparams");
  if (kp_it == c.end() || !kp_it->is_object()) return bad("crypto.kdfparams must be an object");
  const json& kp = *kp_it;
  auto dklen = uint_member(kp, "dklen", "crypto.kdfparams");
  if (!dklen) return std::unexpected(dklen.error());
  if (*dklen < 32 || *dklen > 64) return bad("crypto.kdfparams.dklen must be 32..64");
  auto salt = hex_member(kp, "salt", "crypto.kdfparams", 1024);
  if (!salt) return std::unexpected(salt.error());

  Result<SecretBytes> dk = std::unexpected(Error({}, ""));
  if (**kdf == "scrypt") {
    auto n = uint_member(kp, "n", "crypto.kdfparams");
    auto r = uint_member(kp, "r", "crypto.kdfparams");
    auto p = uint_member(kp, "p", "crypto.kdfparams");
    if (!n) return std::unexpected(n.error());
    if (!r) return std::unexpected(r.error());
    if (!p) return std::unexpected(p.error());
    if (*r == 0 || *p == 0 || *r > 1024 || *p > 1024 || *n > (1ull << 40)) {
      return bad("crypto.kdfparams r, p or n out of range");
    }
    if (*n > limits.max_scrypt_work / (*r * *p)) {
      return fail(CryptoErrc::limit_exceeded,
                  fmt::format("scrypt work N*r*p = {}*{}*{} exceeds the limit of {}", *n, *r, *p,
                              limits.max_scrypt_work));
    }
    dk = scrypt(password, *salt, *n, static_cast<uint32_t>(*r), static_cast<uint32_t>(*p), *dklen,
                limits.max_scrypt_memory_bytes);
  } else if (**kdf == "pbkdf2") {
    auto prf = member(kp, "prf", "crypto.kdfparams");
    if (!prf) return std::unexpected(prf.error());
    if (**prf != "hmac-sha256") {
      return fail(CryptoErrc::bad_keystore,
                  fmt::format("unsupported pbkdf2 prf {} (only hmac-sha256)", (*prf)->dump()));
    }
    auto iterations = uint_member(kp, "c", "crypto.kdfparams");
    if (!iterations) return std::unexpected(iterations.error());
    if (*iterations == 0 || *iterations > limits.max_pbkdf2_iterations) {
      return fail(CryptoErrc::limit_exceeded,
                  fmt::format("pbkdf2 iteration count {} is outside 1..{}", *iterations,
                              limits.max_pbkdf2_iterations));
    }
    dk = pbkdf2_sha256(password, *salt, static_cast<uint32_t>(*iterations), *dklen);
  } else {
    return fail(CryptoErrc::bad_keystore,
                fmt::format("unsupported kdf {} (scrypt or pbkdf2)", (*kdf)->dump()));
  }
  if (!dk) return std::unexpected(dk.error());

  Hash expected = mac_of(*dk, *ciphertext);
  if (!constant_time_equal(expected.bytes(), *mac)) {
    return fail(CryptoErrc::wrong_password,
                "wrong password, or the keystore was altered (MAC mismatch)");
  }
  SecretBytes secret(32);
  if (auto r = aes128_ctr(ByteView(dk->data(), 16), *iv, *ciphertext, secret.span()); !r) {
    return std::unexpected(r.error());
  }
  auto key = PrivateKey::from_bytes(secret.span());
  if (!key) return bad("the decrypted key is not a valid secp256k1 key");
  auto declared = doc.find("address");
  if (declared != doc.end() && declared->is_string()) {
    std::string a = declared->get<std::string>();
    if (!a.starts_with("0x") && !a.starts_with("0X")) a = "0x" + a;
    auto addr = Address::parse(a);
    if (!addr || *addr != key->address()) {
      return fail(CryptoErrc::address_mismatch,
                  fmt::format("keystore declares address {} but its key is {}", a,
                              key->address().to_string()));
    }
  }
  return key;
}

Result<std::optional<Address>> inspect_keystore(std::string_view json_text) {
  auto parsed = parse_json(json_text);
  if (!parsed) return std::unexpected(parsed.error());
  auto version = parsed->find("version");
  if (version == parsed->end() || *version != 3) return bad("'version' must be 3");
  auto c = parsed->find("crypto");
  if (c == parsed->end()) c = parsed->find("Crypto");
  if (c == parsed->end() || !c->is_object()) return bad("no 'crypto' object");
  auto it = parsed->find("address");
  if (it == parsed->end()) return std::optional<Address>();
  if (!it->is_string()) return bad("'address' must be a string");
  std::string a = it->get<std::string>();
  if (!a.starts_with("0x") && !a.starts_with("0X")) a = "0x" + a;
  auto addr = Address::parse(a);
  if (!addr) return bad("'address': " + addr.error().message());
  return std::optional<Address>(*addr);
}

Result<std::string> read_small_file(const std::filesystem::path& path, size_t max_bytes) {
  // Reads up to one byte past the limit, so pipes and process substitutions (which have no size)
  // work as well as regular files.
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(CryptoErrc::io_error,
                fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  std::string data;
  char buf[4096];
  while (data.size() <= max_bytes && in.read(buf, sizeof buf).gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return fail(CryptoErrc::io_error, fmt::format("cannot read {}", path.string()));
  if (data.size() > max_bytes) {
    return fail(CryptoErrc::limit_exceeded,
                fmt::format("{} is more than the limit of {} bytes", path.string(), max_bytes));
  }
  return data;
}

Result<std::vector<KeystoreDir::Entry>> KeystoreDir::list() const {
  std::error_code ec;
  std::vector<Entry> out;
  if (!std::filesystem::exists(dir_, ec)) return out;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) {
    return fail(CryptoErrc::io_error,
                fmt::format("cannot list keystore directory {}: {}", dir_.string(), ec.message()));
  }
  for (const auto& e : it) {
    if (!e.is_regular_file(ec) || e.path().filename().string().starts_with(".")) continue;
    auto text = read_small_file(e.path(), KeystoreLimits{}.max_file_bytes);
    if (!text) continue;
    auto addr = inspect_keystore(*text);
    if (!addr) continue;
    out.push_back({*addr, e.path()});
  }
  std::sort(out.begin(), out.end(),
            [](const Entry& a, const Entry& b) { return a.path.filename() < b.path.filename(); });
  return out;
}

Result<KeystoreDir::Entry> KeystoreDir::find(const Address& address) const {
  auto all = list();
  if (!all) return std::unexpected(all.error());
  size_t anonymous = 0;
  for (const Entry& e : *all) {
    if (e.address == address) return e;
    if (!e.address) ++anonymous;
  }
  std::string hint = anonymous == 0 ? ""
                                    : fmt::format(
                                          " ({} keystore file(s) there record no address; "
                                          "name the file itself to use one)",
                                          anonymous);
  return fail(CryptoErrc::not_found,
              fmt::format("no keystore for {} in {}{}", address.to_string(), dir_.string(), hint));
}

Result<std::filesystem::path> KeystoreDir::store(const Address& address, std::string_view json_text,
                                                 std::string_view file_name) const {
  std::error_code ec;
  if (std::filesystem::create_directories(dir_, ec) && !ec)  // a new directory: its owner's only
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  if (ec) {
    return fail(CryptoErrc::io_error,
                fmt::format("cannot create {}: {}", dir_.string(), ec.message()));
  }
  auto now = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::string name =
      !file_name.empty()
          ? std::string(file_name)
          : fmt::format("UTC--{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:09}Z--{}", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        ns % 1'000'000'000, address.to_lower_hex().substr(2));
  std::filesystem::path final_path = dir_ / name;
  // (the temporary's name is this write's own: one a crash left behind never blocks the next)
  std::filesystem::path tmp =
      dir_ / fmt::format(".{}.{}-{}.tmp", name, ::getpid(), static_cast<uint64_t>(ns));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(CryptoErrc::io_error,
                fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  }
  const char* p = json_text.data();
  size_t left = json_text.size();
  bool ok = true;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  // A named file never replaces another (link fails if the name is taken); a generated name is
  // new by construction.
  if (ok && !file_name.empty()) {
    // renameat2(RENAME_NOREPLACE) is atomic and refuses a taken name; a file system without it
    // (EINVAL) gets link(), which refuses one too.
    int moved = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
    if (moved != 0 && errno == EINVAL && ::link(tmp.c_str(), final_path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      moved = 0;
    }
    if (moved != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      if (err == EEXIST)
        return fail(CryptoErrc::io_error, fmt::format("{} exists: an account of that name is there",
                                                      final_path.string()));
      return fail(CryptoErrc::io_error,
                  fmt::format("cannot write {}: {}", final_path.string(), std::strerror(err)));
    }
    return final_path;
  }
  if (!ok || std::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail(CryptoErrc::io_error,
                fmt::format("cannot write {}: {}", final_path.string(), std::strerror(err)));
  }
  return final_path;
}

Result<PrivateKey> KeystoreDir::unlock(const Address& address, std::string_view password) const {
  auto entry = find(address);
  if (!entry) return std::unexpected(entry.error());
  auto text = read_small_file(entry->path, KeystoreLimits{}.max_file_bytes);
  if (!text) return std::unexpected(text.error());
  auto key = decrypt_keystore(*text, password);
  if (!key) return std::unexpected(key.error().with_context(entry->path.string()));
  return key;
}

}  // namespace ipsx::crypto
