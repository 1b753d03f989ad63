#include "wallet_command.h"

#include <fmt/format.h>

#include <iostream>

#include "cli_util.h"
#include "crypto/eip191.h"
#include "crypto/eip712.h"
#include "crypto/keystore.h"

namespace ipsx::cli {
namespace {

namespace fs = std::filesystem;
using crypto::KeystoreDir;
using crypto::PrivateKey;

struct WalletOptions {
  std::string keystore;
  std::string password_file;
  std::string address;
  std::string name;  // wallet new --name: the account's name (its keystore file's)
  std::string kdf = "scrypt";
  bool light = false;
  std::string text;
  bool hex = false;
  std::string typed_data_file;
  std::string message;
  std::string signature;
};

crypto::PrivateKey unlock(const WalletOptions& o) {
  return unlock_key(o.keystore, o.address, o.password_file);
}

Bytes message_bytes(const std::string& text, bool hex) {
  if (!hex) return Bytes(text.begin(), text.end());
  return unwrap(from_hex(text), "message");
}

crypto::eip712::TypedData load_typed_data(const std::string& path) {
  std::string text =
      unwrap(crypto::read_small_file(path, crypto::eip712::Limits{}.max_json_bytes), "typed data");
  return unwrap(crypto::eip712::TypedData::parse(text), path);
}

void run_new(const WalletOptions& o) {
  crypto::KeystoreOptions opts =
      o.light ? crypto::KeystoreOptions::light() : crypto::KeystoreOptions::standard();
  if (o.kdf == "pbkdf2") opts.kdf = crypto::Kdf::pbkdf2;
  const std::string dir = keystore_or_default(o.keystore);
  if (!o.name.empty() && !is_account_name(o.name))
    throw CommandError(fmt::format(
        "--name: '{}': letters, digits, '.', '_' and '-' only, not starting with '.' or 0x",
        o.name));
  if (!o.name.empty() && fs::exists(fs::path(dir) / o.name))
    throw CommandError(fmt::format("--name: an account named '{}' is in {} already", o.name, dir));
  std::string password =
      obtain_password(o.password_file, o.name.empty() ? "the new account" : o.name, true);
  PrivateKey key = unwrap(PrivateKey::generate());
  std::string json = unwrap(crypto::encrypt_keystore(key, password, opts));
  fs::path path = unwrap(KeystoreDir(dir).store(key.address(), json, o.name));
  std::cout << key.address().to_string() << "\n";
  std::cerr << "keystore: " << path.string() << "\n";
}

void run_list(const WalletOptions& o) {
  // An account made with a name is listed by it: its file's name (geth's names start "UTC--").
  for (const auto& e : unwrap(KeystoreDir(keystore_or_default(o.keystore)).list())) {
    const std::string file = e.path.filename().string();
    std::cout << (e.address ? e.address->to_string() : std::string("(address not recorded)   "))
              << "  " << (is_account_name(file) && !file.starts_with("UTC--") ? file + "  " : "")
              << e.path.string() << "\n";
  }
}

void run_sign_message(const WalletOptions& o) {
  PrivateKey key = unlock(o);
  Bytes msg = message_bytes(o.text, o.hex);
  std::cout << unwrap(crypto::sign_personal_message(key, msg)).to_hex() << "\n";
}

void run_sign_typed_data(const WalletOptions& o) {
  auto td = load_typed_data(o.typed_data_file);
  Hash digest = unwrap(td.digest(), o.typed_data_file);
  PrivateKey key = unlock(o);
  std::cout << unwrap(crypto::sign(key, digest)).to_hex() << "\n";
}

void run_hash_typed_data(const WalletOptions& o) {
  auto td = load_typed_data(o.typed_data_file);
  std::cout << "domain_separator " << unwrap(td.domain_separator()).hex() << "\n";
  if (td.primary_type() != "EIP712Domain") {
    std::cout << "message_hash     " << unwrap(td.message_hash()).hex() << "\n";
  }
  std::cout << "digest           " << unwrap(td.digest()).hex() << "\n";
}

void run_recover(const WalletOptions& o) {
  auto sig = unwrap(crypto::Signature::from_hex(o.signature), "--signature");
  Hash digest;
  if (!o.typed_data_file.empty()) {
    digest = unwrap(load_typed_data(o.typed_data_file).digest(), o.typed_data_file);
  } else {
    digest = crypto::personal_message_hash(message_bytes(o.message, o.hex));
  }
  std::cout << unwrap(crypto::recover(digest, sig)).to_string() << "\n";
}

}  // namespace

void add_wallet_command(CLI::App& app) {
  auto o = std::make_shared<WalletOptions>();
  CLI::App* wallet = app.add_subcommand("wallet", "Accounts in keystore files; sign and recover");
  wallet->require_subcommand(1);

  auto keystore_dir = [&](CLI::App* c) {
    c->add_option("--keystore", o->keystore,
                  "Keystore directory (default: $IPSX_KEYSTORE, else ~/.local/share/ipsx/keystore; "
                  "created if missing)");
  };
  auto signer = [&](CLI::App* c) {
    add_key_options(c, o->keystore, o->address, o->password_file, "the signing");
  };

  CLI::App* cmd = wallet->add_subcommand("new", "Create an account; print its address");
  keystore_dir(cmd);
  cmd->add_option("--password-file", o->password_file,
                  "File whose first line is the new wallet's password (default: "
                  "$IPSX_PASSWORD_FILE, else asked twice on a terminal)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--kdf", o->kdf, "Key derivation: scrypt (default) or pbkdf2")
      ->check(CLI::IsMember({"scrypt", "pbkdf2"}));
  cmd->add_flag("--light", o->light, "Light scrypt parameters (N=4096, p=6): fast, weaker");
  cmd->add_option("--name", o->name,
                  "The account's name, for --account NAME (its keystore file's name; default: "
                  "geth's UTC--TIME--ADDRESS)");
  cmd->callback([o] { run_new(*o); });

  cmd = wallet->add_subcommand("list", "List the accounts in a keystore directory");
  keystore_dir(cmd);
  cmd->callback([o] { run_list(*o); });

  cmd = wallet->add_subcommand("sign-message", "Sign TEXT as personal_sign (EIP-191) does");
  signer(cmd);
  cmd->add_option("TEXT", o->text, "The message")->required();
  cmd->add_flag("--hex", o->hex, "TEXT is 0x-hex bytes, not UTF-8 text");
  cmd->callback([o] { run_sign_message(*o); });

  cmd = wallet->add_subcommand("sign-typed-data",
                               "Sign an EIP-712 JSON document as eth_signTypedData_v4");
  signer(cmd);
  cmd->add_option("TYPED", o->typed_data_file, "Typed-data JSON file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->callback([o] { run_sign_typed_data(*o); });

  cmd = wallet->add_subcommand(
      "hash-typed-data", "Print an EIP-712 document's domain separator, message hash and digest");
  cmd->add_option("TYPED", o->typed_data_file, "Typed-data JSON file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->callback([o] { run_hash_typed_data(*o); });

  cmd = wallet->add_subcommand("recover", "Print the address that signed a message or typed data");
  cmd->add_option("--signature", o->signature, "65-byte 0x-hex signature (r, s, v)")->required();
  auto* msg = cmd->add_option("--message", o->message, "The signed message (EIP-191)");
  auto* typed =
      cmd->add_option("--typed-data", o->typed_data_file, "The signed typed-data JSON file")
          ->check(CLI::ExistingFile);
  msg->excludes(typed);
  cmd->add_flag("--hex", o->hex, "--message is 0x-hex bytes, not UTF-8 text");
  cmd->callback([o, msg, typed] {
    if (msg->count() == 0 && typed->count() == 0) {
      throw CommandError("give the signed data with --message or --typed-data");
    }
    run_recover(*o);
  });
}

}  // namespace ipsx::cli
