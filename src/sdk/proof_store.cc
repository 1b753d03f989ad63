#include "sdk/proof_store.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/durable_file.h"

namespace ipsx::sdk {
namespace {

std::string proof_line(const Hash& deal, const StoredProof& p) {
  return fmt::format("proof {} {} {}\n", deal.hex(), p.amount.to_dec(), p.signature.to_hex());
}

}  // namespace

ProofStore::ProofStore(std::filesystem::path path, std::FILE* f, std::map<Hash, StoredProof> best)
    : path_(std::move(path)), file_(f), best_(std::move(best)) {}

ProofStore::~ProofStore() {
  if (file_) std::fclose(file_);
}

Result<std::unique_ptr<ProofStore>> ProofStore::open(const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec)
    return fail(CoreErrc::io_error,
                fmt::format("creating {}: {}", file.parent_path().string(), ec.message()));
  std::map<Hash, StoredProof> best;
  std::set<Hash> settled;
  if (std::ifstream in(file); in) {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A last line without its newline was cut by a crash mid-append: it never counted.
    if (!text.empty() && text.back() != '\n') text.erase(text.rfind('\n') + 1);
    std::istringstream lines(text);
    std::string line;
    for (size_t number = 1; std::getline(lines, line); ++number) {
      std::istringstream words(line);
      std::string kind, deal_hex, amount_text, sig_hex, extra;
      words >> kind >> deal_hex;
      auto bad = [&] {
        return fail(CoreErrc::parse_error, fmt::format("{}:{}: not a proof record: {}",
                                                       file.string(), number, ipsx::quoted(line)));
      };
      auto deal = Hash::from_hex(deal_hex);
      if (!deal) return bad();
      if (kind == "settled" && !(words >> extra)) {
        settled.insert(*deal);
        best.erase(*deal);
        continue;
      }
      if (kind != "proof" || !(words >> amount_text >> sig_hex) || (words >> extra)) return bad();
      auto amount = U256::parse(amount_text);
      auto sig = crypto::Signature::from_hex(sig_hex);
      if (!amount || !sig) return bad();
      if (settled.contains(*deal)) continue;
      auto it = best.find(*deal);
      if (it == best.end() || it->second.amount < *amount) best[*deal] = {*amount, *sig};
    }
  } else if (std::filesystem::exists(file)) {
    return io_failure(file, "reading");
  }
  std::string compact;
  for (const auto& [deal, p] : best) compact += proof_line(deal, p);
  if (auto r = replace_file_durably(file, compact); !r) return std::unexpected(r.error());
  std::FILE* f = std::fopen(file.c_str(), "ae");
  if (!f) return io_failure(file, "opening");
  return std::unique_ptr<ProofStore>(new ProofStore(file, f, std::move(best)));
}

Result<void> ProofStore::append(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0 ||
      ::fdatasync(::fileno(file_)) != 0)
    return io_failure(path_, "appending to");
  return {};
}

Result<void> ProofStore::put(const Hash& deal, const U256& amount,
                             const crypto::Signature& signature) {
  std::lock_guard lock(mu_);
  auto it = best_.find(deal);
  if (it != best_.end() && !(it->second.amount < amount)) return {};
  StoredProof p{amount, signature};
  if (auto r = append(proof_line(deal, p)); !r) return r;
  best_[deal] = p;
  return {};
}

Result<void> ProofStore::forget(const Hash& deal) {
  std::lock_guard lock(mu_);
  if (!best_.contains(deal)) return {};
  if (auto r = append(fmt::format("settled {}\n", deal.hex())); !r) return r;
  best_.erase(deal);
  return {};
}

std::map<Hash, StoredProof> ProofStore::best() const {
  std::lock_guard lock(mu_);
  return best_;
}

}  // namespace ipsx::sdk
