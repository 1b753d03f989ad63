// Ethereum keystore v3 files ("Web3 Secret Storage"): a private key encrypted with AES-128-CTR
// under a key derived from a password by scrypt or PBKDF2-HMAC-SHA256, authenticated by a
// keccak-256 MAC. Files written here open in geth, MetaMask and foundry's cast, and theirs here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.h"
#include "crypto/keys.h"

namespace ipsx::crypto {

enum class Kdf { scrypt, pbkdf2 };

// How a new keystore is encrypted.
struct KeystoreOptions {
  Kdf kdf = Kdf::scrypt;
  uint64_t scrypt_n = 1 << 18;  // geth's "standard": ~256 MiB, ~1 s
  uint32_t scrypt_r = 8;
  uint32_t scrypt_p = 1;
  uint32_t pbkdf2_iterations = 262144;

  static KeystoreOptions standard() { return {}; }
  // geth's "light" scrypt parameters (N=4096, p=6): fast, for tests and low-value keys.
  static KeystoreOptions light() {
    KeystoreOptions o;
    o.scrypt_n = 4096;
    o.scrypt_p = 6;
    return o;
  }
};

// Bounds on keystores read from outside, so that a hostile file cannot exhaust the machine.
struct KeystoreLimits {
  size_t max_file_bytes = 64 << 10;
  uint64_t max_scrypt_memory_bytes = 1ull << 30;
  uint64_t max_scrypt_work = 1ull << 25;  // N * r * p
  uint32_t max_pbkdf2_iterations = 10'000'000;
};

// Encrypts `key` under `password`; returns the keystore v3 JSON text (with a random salt, iv
// and version-4 UUID, and the lower-case address without 0x, as geth writes it).
Result<std::string> encrypt_keystore(const PrivateKey& key, std::string_view password,
                                     const KeystoreOptions& options = {});

// Decrypts a keystore v3 JSON text. Errors say which: not JSON, not a keystore (and which member
// is missing or malformed), an unsupported cipher or KDF, limits exceeded, wrong password (MAC
// mismatch, which is also what tampering gives), or an address member that does not match.
Result<PrivateKey> decrypt_keystore(std::string_view json_text, std::string_view password,
                                    const KeystoreLimits& limits = {});

// Checks that `json_text` looks like a keystore v3 file (without decrypting it) and returns the
// address it declares, or nullopt if it declares none.
Result<std::optional<Address>> inspect_keystore(std::string_view json_text);

// A directory of keystore files, one per account, named as geth names them
// (UTC--<time>--<address>). Not synchronized: one writer at a time.
class KeystoreDir {
 public:
  struct Entry {
    // The address the file declares; absent for files that do not record one (foundry's cast
    // writes none): their address is known only once unlocked.
    std::optional<Address> address;
    std::filesystem::path path;
  };

  explicit KeystoreDir(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Keystores in the directory, sorted by file name (oldest first for geth-style names).
  // Files that are not keystores are skipped.
  Result<std::vector<Entry>> list() const;
  // The keystore that declares `address`; not_found if none does.
  Result<Entry> find(const Address& address) const;
  // Writes `json_text` for `address` with mode 0600, atomically (temporary file + rename),
  // creating the directory (mode 0700) if needed, under geth's file name for it or `file_name`
  // (an account's name: io_error if a file has that name already). Returns the file's path.
  Result<std::filesystem::path> store(const Address& address, std::string_view json_text,
                                      std::string_view file_name = {}) const;
  // Reads and decrypts the key of `address`.
  Result<PrivateKey> unlock(const Address& address, std::string_view password) const;

 private:
  std::filesystem::path dir_;
};

// Reads a whole small file (at most `max_bytes`), for keystores and password files.
Result<std::string> read_small_file(const std::filesystem::path& path, size_t max_bytes);

}  // namespace ipsx::crypto
