#include "ledger/genesis.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <fstream>
#include <sstream>

#include "core/keccak.h"
#include "ledger/ledger.h"

namespace ipsx::ledger {
namespace {

std::unexpected<Error> bad(std::string msg) {
  return fail(LedgerErrc::invalid_argument, "genesis: " + std::move(msg));
}

}  // namespace

Result<void> GenesisConfig::validate() const {
  const Address* holders[] = {&early_adopters, &bounty, &team};
  const char* names[] = {"allocations.early_adopters", "allocations.bounty", "allocations.team"};
  for (int i = 0; i < 3; ++i) {
    if (holders[i]->is_zero()) return bad(fmt::format("{} must be set", names[i]));
    for (int j = 0; j < i; ++j) {
      if (*holders[i] == *holders[j])
        return bad(fmt::format("{} and {} are the same", names[j], names[i]));
    }
  }
  if (sale.rate.is_zero()) return bad("sale.rate must be positive");
  if (sale.hard_cap.is_zero()) return bad("sale.hard_cap must be positive");
  auto tokens = sale.hard_cap.mul(sale.rate);
  if (!tokens || *tokens > *Amount::from_tokens(kSaleTokens)) {
    return bad("sale.hard_cap * sale.rate exceeds the 900,000,000 IPSX sale pool");
  }
  if (sale.soft_cap > sale.hard_cap) {
    return bad(fmt::format("sale.soft_cap ({}) is above sale.hard_cap ({})",
                           sale.soft_cap.to_string(), sale.hard_cap.to_string()));
  }
  if (sale.end <= sale.start) return bad("sale.end must be after sale.start");
  if (sale.treasury.is_zero()) return bad("sale.treasury must be set");
  if (challenge_period < kMinChallengePeriod || challenge_period > kMaxChallengePeriod) {
    return bad(fmt::format("challenge_period_ms must be {} .. {} (60 s .. 30 days), not {}",
                           kMinChallengePeriod.count(), kMaxChallengePeriod.count(),
                           challenge_period.count()));
  }
  if (challenge_period.count() % 1000 != 0) {
    return bad(
        fmt::format("challenge_period_ms must be whole seconds, not {}", challenge_period.count()));
  }
  return {};
}

Result<GenesisConfig> GenesisConfig::from_toml(std::string_view text) {
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " at line " << e.source().begin.line;
    return bad("not valid TOML: " + msg.str());
  }
  GenesisConfig g;
  auto integer = [&](const toml::node_view<toml::node>& n, const char* key,
                     auto& out) -> Result<void> {
    auto v = n.value<int64_t>();
    if (!v || *v < 0) return bad(fmt::format("{} must be a non-negative integer", key));
    out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
    return {};
  };
  auto address = [&](const toml::node_view<toml::node>& n, const char* key,
                     Address& out) -> Result<void> {
    auto v = n.value<std::string>();
    if (!v) return bad(fmt::format("{} must be an address string", key));
    auto a = Address::parse(*v);
    if (!a) return bad(fmt::format("{}: {}", key, a.error().message()));
    out = *a;
    return {};
  };
  auto amount = [&](const toml::node_view<toml::node>& n, const char* key,
                    Amount& out) -> Result<void> {
    auto v = n.value<std::string>();
    if (!v) return bad(fmt::format("{} must be a decimal string such as \"1000.5\"", key));
    auto a = Amount::parse(*v);
    if (!a) return bad(fmt::format("{}: {}", key, a.error().message()));
    out = *a;
    return {};
  };
#define IPSX_G(expr) \
  if (auto r = (expr); !r) return std::unexpected(r.error())
  uint64_t chain = 0;
  IPSX_G(integer(t["chain_id"], "chain_id", chain));
  g.chain_id = chain;
  int64_t time = 0, start = 0, end = 0, challenge = 3'600'000;
  IPSX_G(integer(t["time"], "time", time));
  g.time = from_unix_ms(time);
  if (t.contains("challenge_period_ms"))
    IPSX_G(integer(t["challenge_period_ms"], "challenge_period_ms", challenge));
  g.challenge_period = Millis(challenge);
  IPSX_G(
      address(t["allocations"]["early_adopters"], "allocations.early_adopters", g.early_adopters));
  IPSX_G(address(t["allocations"]["bounty"], "allocations.bounty", g.bounty));
  IPSX_G(address(t["allocations"]["team"], "allocations.team", g.team));
  auto rate = t["sale"]["rate"].value<std::string>();
  if (!rate) return bad("sale.rate must be a decimal string of base units per native base unit");
  auto r = U256::from_dec(*rate);
  if (!r) return bad("sale.rate: " + r.error().message());
  g.sale.rate = *r;
  IPSX_G(amount(t["sale"]["hard_cap"], "sale.hard_cap", g.sale.hard_cap));
  if (t["sale"]["soft_cap"]) {
    IPSX_G(amount(t["sale"]["soft_cap"], "sale.soft_cap", g.sale.soft_cap));
  }
  IPSX_G(integer(t["sale"]["start"], "sale.start", start));
  IPSX_G(integer(t["sale"]["end"], "sale.end", end));
  g.sale.start = from_unix_ms(start);
  g.sale.end = from_unix_ms(end);
  IPSX_G(address(t["sale"]["treasury"], "sale.treasury", g.sale.treasury));
  if (auto* native = t["native"].as_array()) {
    for (size_t i = 0; i < native->size(); ++i) {
      toml::node_view<toml::node> e{(*native)[i]};
      std::string where = fmt::format("native[{}]", i);
      Address a;
      Amount m;
      IPSX_G(address(e["address"], (where + ".address").c_str(), a));
      IPSX_G(amount(e["amount"], (where + ".amount").c_str(), m));
      g.native.emplace_back(a, m);
    }
  } else if (t.contains("native")) {
    return bad("native must be an array of tables ([[native]])");
  }
#undef IPSX_G
  if (auto v = g.validate(); !v) return std::unexpected(v.error());
  return g;
}

Result<GenesisConfig> GenesisConfig::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return fail(LedgerErrc::invalid_argument, "cannot read genesis file " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto g = from_toml(ss.str());
  if (!g) return std::unexpected(g.error().with_context(path.string()));
  return g;
}

std::string GenesisConfig::to_toml() const {
  std::string out = fmt::format(
      "chain_id = {}\ntime = {}\nchallenge_period_ms = {}\n\n[allocations]\n"
      "early_adopters = \"{}\"\nbounty = \"{}\"\nteam = \"{}\"\n\n[sale]\nrate = \"{}\"\n"
      "hard_cap = \"{}\"\nstart = {}\nend = {}\ntreasury = \"{}\"\n",
      chain_id, to_unix_ms(time), challenge_period.count(), early_adopters.to_string(),
      bounty.to_string(), team.to_string(), sale.rate.to_dec(), sale.hard_cap.to_string(),
      to_unix_ms(sale.start), to_unix_ms(sale.end), sale.treasury.to_string());
  // Only when set: a genesis without a soft cap keeps the canonical form (and hash) it had.
  if (!sale.soft_cap.is_zero())
    out += fmt::format("soft_cap = \"{}\"\n", sale.soft_cap.to_string());
  for (const auto& [a, m] : native) {
    out += fmt::format("\n[[native]]\naddress = \"{}\"\namount = \"{}\"\n", a.to_string(),
                       m.to_string());
  }
  return out;
}

Hash GenesisConfig::hash() const {
  return keccak256(std::string_view(to_toml()));
}

Address embedded_verifying_contract(const Hash& genesis_hash) {
  std::string tag = "IPSX embedded ledger";
  std::vector<uint8_t> buf(tag.begin(), tag.end());
  buf.insert(buf.end(), genesis_hash.data(), genesis_hash.data() + 32);
  Hash h = keccak256(ByteView(buf));
  FixedBytes<20> a;
  std::copy(h.data() + 12, h.data() + 32, a.data());
  return Address(a);
}

}  // namespace ipsx::ledger
