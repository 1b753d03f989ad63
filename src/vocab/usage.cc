#include "vocab/usage.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "crypto/eip712.h"

namespace ipsx {
namespace {

using crypto::eip712::StructHasher;
using crypto::eip712::type_hash;

Hash node_hash(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.view().begin(), left.view().end(), buf + 1);
  std::copy(right.view().begin(), right.view().end(), buf + 33);
  return keccak256(ByteView(buf, sizeof buf));
}

// The largest power of two strictly below n (n >= 2).
uint64_t split_point(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hash subtree_root(const Hash* leaves, uint64_t n) {
  if (n == 1) return leaves[0];
  uint64_t k = split_point(n);
  return node_hash(subtree_root(leaves, k), subtree_root(leaves + k, n - k));
}

void subtree_path(const Hash* leaves, uint64_t n, uint64_t m, std::vector<Hash>& out) {
  if (n <= 1) return;
  uint64_t k = split_point(n);
  if (m < k) {
    subtree_path(leaves, k, m, out);
    out.push_back(subtree_root(leaves + k, n - k));
  } else {
    subtree_path(leaves + k, n - k, m - k, out);
    out.push_back(subtree_root(leaves, k));
  }
}

}  // namespace

const std::string& UsageRecord::encoded_type() {
  static const std::string t =
      "UsageRecord(bytes32 dealId,uint64 index,int64 openedMs,int64 closedMs,string host,"
      "uint16 port,uint32 stream,uint64 bytesUp,uint64 bytesDown)";
  return t;
}

Hash UsageRecord::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th)
      .add_word(deal_id)
      .add_uint(U256(index))
      .add_int(opened_ms)
      .add_int(closed_ms)
      .add_string(host)
      .add_uint(U256(port))
      .add_uint(U256(stream))
      .add_uint(U256(bytes_up))
      .add_uint(U256(bytes_down))
      .finish();
}

const std::string& UsageReceipt::encoded_type() {
  static const std::string t = "UsageReceipt(bytes32 dealId,uint64 count,bytes32 root)";
  return t;
}

Hash UsageReceipt::struct_hash() const {
  static const Hash th = type_hash(encoded_type());
  return StructHasher(th).add_word(deal_id).add_uint(U256(count)).add_word(root).finish();
}

nlohmann::json usage_record_json(const UsageRecord& r) {
  return {{"index", r.index},      {"openedMs", r.opened_ms},  {"closedMs", r.closed_ms},
          {"host", r.host},        {"port", r.port},           {"stream", r.stream},
          {"bytesUp", r.bytes_up}, {"bytesDown", r.bytes_down}};
}

Result<UsageRecord> usage_record_from_json(const nlohmann::json& j, const Hash& deal,
                                           std::string_view where) {
  auto bad = [&](std::string_view field) {
    return fail(CoreErrc::parse_error, fmt::format("{}: {} is missing or malformed", where, field));
  };
  auto u64 = [&](const char* f, uint64_t max, uint64_t& out) {
    auto it = j.find(f);
    // A non-negative integer, however it is held (parsed text is unsigned, built JSON may not be).
    if (it == j.end() || !it->is_number_integer() ||
        (!it->is_number_unsigned() && it->get<int64_t>() < 0) || it->get<uint64_t>() > max)
      return false;
    out = it->get<uint64_t>();
    return true;
  };
  if (!j.is_object()) return bad("the record");
  UsageRecord r;
  r.deal_id = deal;
  uint64_t opened = 0, closed = 0, port = 0, stream = 0;
  if (!u64("index", UINT64_MAX, r.index)) return bad("index");
  if (!u64("openedMs", INT64_MAX, opened)) return bad("openedMs");
  if (!u64("closedMs", INT64_MAX, closed) || closed < opened) return bad("closedMs");
  if (!u64("port", 65535, port)) return bad("port");
  if (!u64("stream", UINT32_MAX, stream)) return bad("stream");
  if (!u64("bytesUp", UINT64_MAX, r.bytes_up)) return bad("bytesUp");
  if (!u64("bytesDown", UINT64_MAX, r.bytes_down)) return bad("bytesDown");
  auto host = j.find("host");
  if (host == j.end() || !host->is_string() || host->get<std::string>().size() > 255)
    return bad("host");
  r.host = host->get<std::string>();
  r.opened_ms = static_cast<int64_t>(opened);
  r.closed_ms = static_cast<int64_t>(closed);
  r.port = static_cast<uint16_t>(port);
  r.stream = static_cast<uint32_t>(stream);
  return r;
}

Hash usage_leaf(const UsageRecord& r) {
  Hash h = r.struct_hash();
  uint8_t buf[33];
  buf[0] = 0x00;
  std::copy(h.view().begin(), h.view().end(), buf + 1);
  return keccak256(ByteView(buf, sizeof buf));
}

Hash usage_root(const std::vector<Hash>& leaves) {
  if (leaves.empty()) return keccak256(ByteView());
  return subtree_root(leaves.data(), leaves.size());
}

std::vector<Hash> usage_path(const std::vector<Hash>& leaves, uint64_t index) {
  std::vector<Hash> out;
  if (index < leaves.size()) subtree_path(leaves.data(), leaves.size(), index, out);
  return out;
}

bool verify_usage_path(const Hash& leaf, uint64_t index, uint64_t count,
                       const std::vector<Hash>& path, const Hash& root) {
  // RFC 9162 2.1.3.2: walk up from the leaf, the path's hashes from the bottom.
  if (index >= count) return false;
  uint64_t fn = index, sn = count - 1;
  Hash r = leaf;
  for (const Hash& p : path) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1)) {
          fn >>= 1;
          sn >>= 1;
        }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

void UsageLog::append(const Hash& leaf) {
  // Like a binary counter: each trailing one bit of the old size is a peak that merges.
  Hash carry = leaf;
  for (uint64_t s = size_; s & 1; s >>= 1) {
    carry = node_hash(peaks_.back(), carry);
    peaks_.pop_back();
  }
  peaks_.push_back(carry);
  ++size_;
}

Hash UsageLog::root() const {
  if (peaks_.empty()) return keccak256(ByteView());
  Hash r = peaks_.back();
  for (size_t i = peaks_.size() - 1; i-- > 0;) r = node_hash(peaks_[i], r);
  return r;
}

}  // namespace ipsx
