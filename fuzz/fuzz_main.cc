// ipsx-fuzz: time-bounded mutation fuzzing of every parser that takes outside input. Each target
// starts from valid seeds, mutates them, and checks properties (no crash; a round trip returns
// what was parsed; a keystore that opens holds the original key). Built under ASan/UBSan by
// `make fuzz`. On a crash, the input being parsed is written to ipsx-fuzz-crash.bin.
//   usage: ipsx-fuzz [--seconds N] [--seed S] (--all | TARGET...)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/address.h"
#include "core/amount.h"
#include "core/hex.h"
#include "crypto/eip712.h"
#include "crypto/keystore.h"
#include "ledger/genesis.h"
#include "ledger/record_codec.h"
#include "ledger/tx_codec.h"
#include "mutator.h"
#include "net/fuzz_targets.h"

namespace {

using namespace ipsx;

const std::string* g_current = nullptr;

void on_crash(int sig) {
  if (g_current != nullptr) {
    int fd = ::open("ipsx-fuzz-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
      (void)ignored;
      ::close(fd);
    }
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

[[noreturn]] void property_failed(const std::string& target, const std::string& what,
                                  const std::string& input) {
  std::cerr << "PROPERTY FAILED in " << target << ": " << what
            << "\ninput: " << to_hex(as_bytes(input)) << "\n";
  std::exit(1);
}

struct Target {
  std::vector<std::string> seeds;
  int max_rounds;
  std::function<void(const std::string&)> check;  // calls property_failed on a violation
};

std::map<std::string, Target> targets() {
  std::map<std::string, Target> t;
  t["amount"] = {{"1.5", "0.000000000000000001", "1800000000", "0", "123456789.987654321"},
                 3,
                 [](const std::string& in) {
                   auto a = Amount::parse(in);
                   if (a && Amount::parse(a->to_string()) != a) {
                     property_failed("amount", "format/parse round trip differs", in);
                   }
                 }};
  t["address"] = {
      {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xde709f2102306220921060314715629080e2fb77"},
      2,
      [](const std::string& in) {
        auto a = Address::parse(in);
        if (a && Address::parse(a->to_string()) != a) {
          property_failed("address", "checksum round trip differs", in);
        }
      }};
  t["hex"] = {{"0x00ff", "abcdef0123456789", "0x"}, 3, [](const std::string& in) {
                auto b = from_hex(in);
                if (b && from_hex(to_hex(*b)) != b)
                  property_failed("hex", "round trip differs", in);
              }};
  t["u256"] = {
      {"0", "115792089237316195423570985008687907853269984665640564039457584007913129639935",
       "0xff", "0x" + std::string(64, 'f')},
      3,
      [](const std::string& in) {
        auto v = U256::parse(in);
        if (v && (U256::from_dec(v->to_dec()) != v || U256::from_hex(v->to_hex()) != v)) {
          property_failed("u256", "round trip differs", in);
        }
      }};
  const char* mail =
      R"({"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"},{"name":"tags","type":"bytes4[]"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person[2]"},{"name":"amount","type":"int64"},{"name":"body","type":"bytes"}]},"primaryType":"Mail","domain":{"name":"x","chainId":1},"message":{"from":{"name":"a","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826","tags":["0x01020304"]},"to":[{"name":"b","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826","tags":[]},null],"amount":"-5","body":"0x00"}})";
  t["typed_data"] = {{mail}, 8, [](const std::string& in) {
                       auto td = crypto::eip712::TypedData::parse(in);
                       if (td) (void)td->digest();
                     }};
  static auto key = crypto::PrivateKey::generate().value();
  crypto::KeystoreOptions o;
  o.kdf = crypto::Kdf::pbkdf2;
  o.pbkdf2_iterations = 2;
  t["keystore"] = {{crypto::encrypt_keystore(key, "pw", o).value()}, 4, [](const std::string& in) {
                     crypto::KeystoreLimits limits;
                     limits.max_scrypt_work = 1 << 12;
                     limits.max_pbkdf2_iterations = 1 << 12;
                     auto k = crypto::decrypt_keystore(in, "pw", limits);
                     // The format's MAC does not cover the IV, so a changed IV opens to another
                     // key; only the address member catches that. With it present, the key
                     // must be the original.
                     if (k && k->secret() != key.secret() &&
                         crypto::inspect_keystore(in).value_or(std::nullopt)) {
                       property_failed("keystore", "opened to a different key", in);
                     }
                   }};
  // Ledger transactions as the store, the CLI and the API take them.
  t["ledger_tx"] = {
      {R"({"chainId":1337,"from":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","nonce":3,"op":{"op":"transfer","to":"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359","amount":"1500000000000000000"},"signature":"0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c"})",
       R"({"chainId":1,"from":"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed","nonce":0,"op":{"op":"closeDeal","dealId":"0x0101010101010101010101010101010101010101010101010101010101010101","amount":"7","requesterSignature":"","reason":1},"signature":"0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c"})"},
      6,
      [](const std::string& in) {
        static const Hash sep = ledger_domain(1337, Address()).separator();
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded()) return;
        auto tx = ledger::signed_tx_from_json(j, sep);
        if (!tx) return;
        // What parses must serialize and parse back to the same transaction.
        auto again = ledger::signed_tx_from_json(ledger::to_json(*tx), sep);
        if (!again || again->id() != tx->id())
          property_failed("ledger_tx", "JSON round trip differs", in);
      }};
  // The same transactions in the store's binary form (ledger/record_codec.h): a damaged row
  // must be an error, and what decodes must encode and decode back to the same transaction.
  {
    std::vector<std::string> seeds;
    static const Hash sep = ledger_domain(1337, Address()).separator();
    for (const std::string& js : t["ledger_tx"].seeds) {
      if (auto tx = ledger::signed_tx_from_json(nlohmann::json::parse(js), sep))
        seeds.push_back(ledger::encode_tx(*tx));
    }
    t["ledger_record"] = {seeds, 6, [](const std::string& in) {
                            auto tx = ledger::decode_tx(in, sep);
                            if (!tx) return;
                            auto again = ledger::decode_tx(ledger::encode_tx(*tx), sep);
                            if (!again || again->id() != tx->id())
                              property_failed("ledger_record", "binary round trip differs", in);
                          }};
  }
  t["genesis"] = {
      {"chain_id = 1337\ntime = 1000\nchallenge_period_ms = 60000\n[allocations]\n"
       "early_adopters = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n"
       "bounty = \"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\"\n"
       "team = \"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB\"\n[sale]\nrate = \"10000\"\n"
       "hard_cap = \"1000\"\nstart = 1000\nend = 2000\n"
       "treasury = \"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb\"\n"},
      4,
      [](const std::string& in) {
        auto g = ledger::GenesisConfig::from_toml(in);
        if (g && !ledger::GenesisConfig::from_toml(g->to_toml())) {
          property_failed("genesis", "a valid genesis does not round trip", in);
        }
      }};
  // The proxy protocols (SOCKS5, HTTP proxying, the gateway's username grammar).
  t["socks5"] = {net::socks5_fuzz_seeds(), 4, [](const std::string& in) {
                   net::fuzz_socks5(in, [&](std::string_view w) {
                     property_failed("socks5", std::string(w), in);
                   });
                 }};
  t["http"] = {net::http_fuzz_seeds(), 4, [](const std::string& in) {
                 net::fuzz_http(
                     in, [&](std::string_view w) { property_failed("http", std::string(w), in); });
               }};
  t["username"] = {net::username_fuzz_seeds(), 4, [](const std::string& in) {
                     net::fuzz_username(in, [&](std::string_view w) {
                       property_failed("username", std::string(w), in);
                     });
                   }};
  // The pair channel between a gateway and an exit (frames, control messages), and ranges.
  t["pair"] = {net::pair_fuzz_seeds(), 4, [](const std::string& in) {
                 net::fuzz_pair(
                     in, [&](std::string_view w) { property_failed("pair", std::string(w), in); });
               }};
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  uint64_t seed = std::random_device{}();
  std::vector<std::string> chosen;
  auto all = targets();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (a == "--all") {
      for (const auto& [name, _] : all) chosen.push_back(name);
    } else if (all.contains(a)) {
      chosen.push_back(a);
    } else {
      std::cerr << "usage: ipsx-fuzz [--seconds N] [--seed S] (--all | TARGET...)\ntargets:";
      for (const auto& [name, _] : all) std::cerr << " " << name;
      std::cerr << "\n";
      return 2;
    }
  }
  if (chosen.empty()) chosen.push_back("typed_data");
  for (int sig : {SIGSEGV, SIGABRT, SIGFPE, SIGBUS, SIGILL}) std::signal(sig, on_crash);

  std::cout << "seed " << seed << ", " << seconds << " s per target\n";
  for (const std::string& name : chosen) {
    const Target& t = all.at(name);
    std::mt19937_64 rng(seed);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    uint64_t runs = 0;
    std::string input;
    g_current = &input;
    while (std::chrono::steady_clock::now() < deadline) {
      for (int batch = 0; batch < 64; ++batch, ++runs) {
        input = fuzz::mutate_many(t.seeds[rng() % t.seeds.size()], rng, t.max_rounds);
        t.check(input);
      }
    }
    g_current = nullptr;
    std::cout << name << ": " << runs << " inputs, no failure\n";
  }
  return 0;
}
