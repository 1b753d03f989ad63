#include "sdk/usage_store.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/durable_file.h"
#include "crypto/eip712.h"

namespace ipsx::sdk {
namespace {

using json = nlohmann::json;

std::unexpected<Error> bad_field(const std::string& where, const char* field) {
  return fail(CoreErrc::parse_error, fmt::format("{}: {} is missing or malformed", where, field));
}

template <class T>
std::optional<T> hex_field(const json& j, const char* f) {
  if (!j.is_object() || !j.contains(f) || !j[f].is_string()) return std::nullopt;
  auto v = T::from_hex(j[f].get<std::string>());
  if (!v) return std::nullopt;
  return *v;
}

}  // namespace

Result<std::unique_ptr<UsageStore>> UsageStore::open(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return fail(CoreErrc::io_error, fmt::format("creating {}: {}", dir.string(), ec.message()));
  return std::unique_ptr<UsageStore>(new UsageStore(dir));
}

Result<void> UsageStore::append(const UsageRecord& r) {
  std::lock_guard lock(mu_);
  // Only the record the log is due next: one out of turn (an exit that lost count) would make
  // every later reading of the log fail.
  auto next = next_.find(r.deal_id);
  if (next == next_.end()) {
    auto kept = records_locked(r.deal_id);
    if (!kept) return std::unexpected(kept.error());
    // A line a crash tore (no newline) is not read back: cut it, or the next record would be
    // written onto its end and neither would read.
    std::error_code ec;
    auto file = dir_ / (r.deal_id.hex() + ".records");
    if (std::filesystem::exists(file, ec)) {
      std::ifstream in(file, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!text.empty() && text.back() != '\n') {
        std::filesystem::resize_file(file, text.rfind('\n') + 1, ec);  // npos + 1: all of it
        if (ec) return io_failure(file, "cutting a torn line of");
      }
    }
    if (next_.size() >= 100'000) next_.clear();
    next = next_.emplace(r.deal_id, kept->size()).first;
  }
  if (r.index != next->second)
    return fail(CoreErrc::invalid_argument,
                fmt::format("usage record {} of deal {} not kept: record {} is due", r.index,
                            r.deal_id.hex(), next->second));
  auto p = dir_ / (r.deal_id.hex() + ".records");
  std::FILE* f = std::fopen(p.c_str(), "ae");
  if (!f) return io_failure(p, "opening");
  std::string line = usage_record_json(r).dump() + "\n";
  bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    next_.erase(r.deal_id);  // how much reached the file: read again next time
    return io_failure(p, "appending to");
  }
  ++next->second;
  return {};
}

Result<void> UsageStore::put_receipt(const StoredReceipt& r) {
  auto kept = receipt(r.deal_id);
  if (!kept) return std::unexpected(kept.error());
  if (*kept && (*kept)->count >= r.count) return {};
  std::lock_guard lock(mu_);
  // The records it covers reach the disk before it does.
  if (auto s = sync_file(dir_ / (r.deal_id.hex() + ".records")); !s) return s;
  json j = {{"deal", r.deal_id.hex()},
            {"requester", r.requester.to_string()},
            {"domainSeparator", r.domain_separator.hex()},
            {"count", r.count},
            {"root", r.root.hex()},
            {"signature", r.signature.to_hex()}};
  return replace_file_durably(dir_ / (r.deal_id.hex() + ".receipt"), j.dump() + "\n");
}

Result<std::vector<UsageRecord>> UsageStore::records(const Hash& deal) const {
  std::lock_guard lock(mu_);
  return records_locked(deal);
}

Result<std::vector<UsageRecord>> UsageStore::records_locked(const Hash& deal) const {
  auto p = dir_ / (deal.hex() + ".records");
  std::vector<UsageRecord> out;
  std::ifstream in(p);
  if (!in) return out;  // no connection yet
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() != '\n') text.erase(text.rfind('\n') + 1);  // torn last line
  std::istringstream lines(text);
  std::string line;
  for (size_t n = 1; std::getline(lines, line); ++n) {
    std::string where = fmt::format("{}:{}", p.string(), n);
    auto j = json::parse(line, nullptr, false);
    auto r = usage_record_from_json(j, deal, where);
    if (!r) return std::unexpected(r.error());
    if (r->index != out.size())
      return fail(CoreErrc::parse_error,
                  fmt::format("{}: record {} where {} was due", where, r->index, out.size()));
    out.push_back(std::move(*r));
  }
  return out;
}

Result<std::optional<StoredReceipt>> UsageStore::receipt(const Hash& deal) const {
  std::lock_guard lock(mu_);
  auto p = dir_ / (deal.hex() + ".receipt");
  std::ifstream in(p);
  if (!in) return std::optional<StoredReceipt>();
  json j = json::parse(in, nullptr, false);
  StoredReceipt r;
  auto d = hex_field<Hash>(j, "deal");
  auto req = j.is_object() && j.contains("requester") && j["requester"].is_string()
                 ? Address::parse(j["requester"].get<std::string>())
                 : fail(CoreErrc::parse_error, "requester");
  auto ds = hex_field<Hash>(j, "domainSeparator");
  auto root = hex_field<Hash>(j, "root");
  auto sig = hex_field<crypto::Signature>(j, "signature");
  if (!d || !req || !ds || !root || !sig || !j.contains("count") ||
      !j["count"].is_number_unsigned())
    return fail(CoreErrc::parse_error, fmt::format("{}: not a usage receipt", p.string()));
  return StoredReceipt{*d, *req, *ds, j["count"].get<uint64_t>(), *root, *sig};
}

Result<json> usage_proof(const UsageStore& store, const Hash& deal, uint64_t index) {
  auto records = store.records(deal);
  if (!records) return std::unexpected(records.error());
  auto receipt = store.receipt(deal);
  if (!receipt) return std::unexpected(receipt.error());
  if (index >= records->size())
    return fail(CoreErrc::invalid_argument,
                fmt::format("deal {} has {} connection record(s); there is no record {}",
                            deal.hex(), records->size(), index));
  if (!*receipt || (*receipt)->count <= index)
    return fail(CoreErrc::invalid_argument,
                fmt::format("record {} is not covered by a receipt yet: the requester signed for "
                            "the first {} record(s)",
                            index, *receipt ? (*receipt)->count : 0));
  const StoredReceipt& r = **receipt;
  if (r.count > records->size())
    return fail(CoreErrc::parse_error, fmt::format("the receipt covers {} records; {} are kept",
                                                   r.count, records->size()));
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < r.count; ++i) leaves.push_back(usage_leaf((*records)[i]));
  if (usage_root(leaves) != r.root)
    return fail(CoreErrc::parse_error, "the kept records do not have the receipt's root");
  json path = json::array();
  for (const Hash& h : usage_path(leaves, index)) path.push_back(h.hex());
  return json{{"deal", deal.hex()},
              {"requester", r.requester.to_string()},
              {"domainSeparator", r.domain_separator.hex()},
              {"record", usage_record_json((*records)[index])},
              {"path", path},
              {"receipt",
               {{"count", r.count}, {"root", r.root.hex()}, {"signature", r.signature.to_hex()}}}};
}

Result<VerifiedUsage> verify_usage_proof(const json& proof) {
  auto deal = hex_field<Hash>(proof, "deal");
  if (!deal) return bad_field("proof", "deal");
  if (!proof.contains("requester") || !proof["requester"].is_string())
    return bad_field("proof", "requester");
  auto requester = Address::parse(proof["requester"].get<std::string>());
  if (!requester) return bad_field("proof", "requester");
  auto domain = hex_field<Hash>(proof, "domainSeparator");
  if (!domain) return bad_field("proof", "domainSeparator");
  if (!proof.contains("record")) return bad_field("proof", "record");
  auto record = usage_record_from_json(proof["record"], *deal, "proof.record");
  if (!record) return std::unexpected(record.error());
  const json& receipt = proof.value("receipt", json());
  auto root = hex_field<Hash>(receipt, "root");
  auto sig = hex_field<crypto::Signature>(receipt, "signature");
  if (!root) return bad_field("proof.receipt", "root");
  if (!sig) return bad_field("proof.receipt", "signature");
  if (!receipt.contains("count") || !receipt["count"].is_number_unsigned())
    return bad_field("proof.receipt", "count");
  uint64_t count = receipt["count"].get<uint64_t>();
  if (!proof.contains("path") || !proof["path"].is_array() || proof["path"].size() > 64)
    return bad_field("proof", "path");
  std::vector<Hash> path;
  for (const json& h : proof["path"]) {
    if (!h.is_string()) return bad_field("proof", "path");
    auto v = Hash::from_hex(h.get<std::string>());
    if (!v) return bad_field("proof", "path");
    path.push_back(*v);
  }
  if (!verify_usage_path(usage_leaf(*record), record->index, count, path, *root))
    return fail(CoreErrc::invalid_argument,
                fmt::format("record {} is not in the log of {} records whose root the receipt "
                            "names (the record or the path was changed)",
                            record->index, count));
  UsageReceipt r{*deal, count, *root};
  auto signer = crypto::recover(crypto::eip712::digest(*domain, r.struct_hash()), *sig);
  if (!signer || *signer != *requester)
    return fail(
        CoreErrc::invalid_argument,
        fmt::format("the receipt is signed by {}, not by the requester {}",
                    signer ? signer->to_string() : std::string("nobody"), requester->to_string()));
  return VerifiedUsage{*record, *requester, *domain, count, *root};
}

}  // namespace ipsx::sdk
