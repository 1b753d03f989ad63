// crypto benchmarks: our wrappers against libsecp256k1 called directly, in the same run.
//   crypto.sign_per_s / crypto.raw_sign_per_s       recoverable ECDSA sign of a 32-byte digest
//                                                   (measured in alternating rounds)
//   crypto.recover_per_s / crypto.raw_recover_per_s recover the signer (ours up to the address)
//   crypto.keccak_1k_per_s                          keccak-256 of 1 KiB
//   crypto.eip712_order_hash_per_s                  EIP-712 digest of an 18-field order struct
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <chrono>

#include "bench_main.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "crypto/keys.h"

namespace {

using namespace ipsx;
using namespace ipsx::crypto;

PrivateKey bench_key() {
  return PrivateKey::from_bytes(keccak256(std::string_view("bench")).view()).value();
}

Hash digest_for(uint64_t i) {
  Hash h = keccak256(std::string_view("digest"));
  h.bytes()[0] ^= static_cast<uint8_t>(i);
  h.bytes()[1] ^= static_cast<uint8_t>(i >> 8);
  return h;
}

secp256k1_context* raw_context() {
  static secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  return ctx;
}

std::vector<std::pair<Hash, Signature>> signed_digests() {
  PrivateKey key = bench_key();
  std::vector<std::pair<Hash, Signature>> v;
  for (uint64_t i = 0; i < 256; ++i)
    v.emplace_back(digest_for(i), sign(key, digest_for(i)).value());
  return v;
}

void keccak_1k(benchmark::State& state) {
  std::vector<uint8_t> data(1024, 0xab);
  for (auto _ : state) {
    data[0]++;
    auto h = keccak256(ByteView(data));
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}

// An order-sized struct (18 fields, the shape of a market offer), hashed the way the market
// hashes its own types: type hash precomputed, fields appended, then the EIP-712 digest.
void eip712_order_hash(benchmark::State& state) {
  const Hash type = eip712::type_hash(
      "Offer(address provider,bytes16 ip,bytes2 country,uint32 asn,uint8 ipType,uint32 protocols,"
      "uint32 scopes,uint64 bandwidth,uint32 capacity,uint64 availableFrom,uint64 availableUntil,"
      "uint64 minDuration,uint64 maxDuration,uint256 pricePerSecond,address market,uint16 feeBps,"
      "uint64 expiry,uint64 nonce)");
  eip712::Domain domain{"IPSX", "1", U256(1337), bench_key().address(), std::nullopt};
  const Hash separator = domain.separator();
  const Address provider = bench_key().address();
  Hash ip;
  uint64_t nonce = 0;
  for (auto _ : state) {
    Hash h = eip712::StructHasher(type)
                 .add_address(provider)
                 .add_word(ip)
                 .add_word(ip)
                 .add_uint(13335)
                 .add_uint(1)
                 .add_uint(0b111)
                 .add_uint(0b11)
                 .add_uint(100'000'000)
                 .add_uint(1)
                 .add_uint(1'700'000'000)
                 .add_uint(1'800'000'000)
                 .add_uint(5)
                 .add_uint(2'592'000)
                 .add_uint(U256(1'000'000'000'000ull))
                 .add_address(provider)
                 .add_uint(250)
                 .add_uint(1'800'000'000)
                 .add_uint(nonce++)
                 .finish();
    auto d = eip712::digest(separator, h);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

// Our wrapper and the raw library call measured in alternating rounds of the same benchmark,
// so that both rates come from the same moments of the run: on a shared 2-core machine the
// speed drifts by tens of percent between benchmarks run seconds apart, which would swamp a
// comparison made from two separate benchmarks.
template <class Ours, class Raw>
void paired(benchmark::State& state, Ours ours, Raw raw) {
  using Clock = std::chrono::steady_clock;
  constexpr int kRound = 200;
  Clock::duration t_ours{}, t_raw{};
  int64_t rounds = 0;
  for (auto _ : state) {
    for (int side = 0; side < 2; ++side) {
      bool ours_now = (side == 0) == (rounds % 2 == 0);  // alternate which goes first
      auto t0 = Clock::now();
      for (int i = 0; i < kRound; ++i) ours_now ? ours(i) : raw(i);
      (ours_now ? t_ours : t_raw) += Clock::now() - t0;
    }
    ++rounds;
  }
  auto rate = [&](Clock::duration d) {
    return static_cast<double>(rounds * kRound) / std::chrono::duration<double>(d).count();
  };
  state.counters["ours_per_s"] = rate(t_ours);
  state.counters["raw_per_s"] = rate(t_raw);
}

void sign_pair(benchmark::State& state) {
  PrivateKey key = bench_key();
  uint64_t n = 0;
  paired(
      state,
      [&](int) {
        auto sig = sign(key, digest_for(n++));
        benchmark::DoNotOptimize(sig);
      },
      [&](int) {
        Hash d = digest_for(n++);
        secp256k1_ecdsa_recoverable_signature sig;
        unsigned char out[64];
        int recid;
        if (!secp256k1_ecdsa_sign_recoverable(raw_context(), &sig, d.data(), key.secret().data(),
                                              nullptr, nullptr)) {
          state.SkipWithError("sign failed");
        }
        secp256k1_ecdsa_recoverable_signature_serialize_compact(raw_context(), out, &recid, &sig);
        benchmark::DoNotOptimize(out);
      });
}

void recover_pair(benchmark::State& state) {
  auto sigs = signed_digests();
  size_t n = 0;
  paired(
      state,
      [&](int) {
        const auto& [d, s] = sigs[n++ % sigs.size()];
        auto a = recover(d, s);
        benchmark::DoNotOptimize(a);
      },
      [&](int) {
        const auto& [d, s] = sigs[n++ % sigs.size()];
        unsigned char compact[64];
        std::copy(s.r().bytes().begin(), s.r().bytes().end(), compact);
        std::copy(s.s().bytes().begin(), s.s().bytes().end(), compact + 32);
        secp256k1_ecdsa_recoverable_signature rs;
        secp256k1_pubkey pk;
        if (!secp256k1_ecdsa_recoverable_signature_parse_compact(raw_context(), &rs, compact,
                                                                 s.recovery_id()) ||
            !secp256k1_ecdsa_recover(raw_context(), &pk, &rs, d.data())) {
          state.SkipWithError("recover failed");
        }
        benchmark::DoNotOptimize(pk);
      });
}

std::optional<double> ratio(const std::map<std::string, double>& m, const char* a, const char* b) {
  auto x = m.find(a), y = m.find(b);
  if (x == m.end() || y == m.end() || y->second == 0) return std::nullopt;
  return x->second / y->second;
}

}  // namespace

int main(int argc, char** argv) {
  return ipsx::bench::run(
      argc, argv,
      {{"crypto.sign_pair",
        sign_pair,
        1,
        {{"ours_per_s", "crypto.sign_per_s"}, {"raw_per_s", "crypto.raw_sign_per_s"}}},
       {"crypto.recover_pair",
        recover_pair,
        1,
        {{"ours_per_s", "crypto.recover_per_s"}, {"raw_per_s", "crypto.raw_recover_per_s"}}},
       {"crypto.keccak_1k_per_s", keccak_1k},
       {"crypto.eip712_order_hash_per_s", eip712_order_hash}},
      {{"crypto.sign_ratio",
        [](const auto& m) { return ratio(m, "crypto.sign_per_s", "crypto.raw_sign_per_s"); }},
       {"crypto.recover_ratio", [](const auto& m) {
          return ratio(m, "crypto.recover_per_s", "crypto.raw_recover_per_s");
        }}});
}
