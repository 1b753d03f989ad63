// Usage receipts (R6's liability, R10's "every connection recorded"; docs/usage-receipts.md):
// the exit logs each connection of a deal as a UsageRecord, the records form an append-only
// Merkle log (RFC 6962's tree hash over the records' EIP-712 struct hashes), and the requester
// signs a UsageReceipt over the log's size and root beside its balance proofs. With a record, its
// audit path and a receipt, a provider proves to anyone that the deal's requester acknowledged
// that connection, while the log itself stays with the provider.
//
// Pure: no I/O. UsageLog is not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"
#include "core/hash.h"

namespace ipsx {

// One connection of a deal, as the exit served it. `stream` is the pair channel's stream id
// the gateway opened it on, 0 for a connection to the exit's front (per-deal credentials).
struct UsageRecord {
  Hash deal_id;
  uint64_t index = 0;     // 0, 1, 2, ... in the deal's log
  int64_t opened_ms = 0;  // unix ms, the exit's clock
  int64_t closed_ms = 0;
  std::string host;  // as the client named it (a domain name or an address)
  uint16_t port = 0;
  uint32_t stream = 0;
  uint64_t bytes_up = 0;    // client -> destination
  uint64_t bytes_down = 0;  // destination -> client

  static const std::string& encoded_type();
  Hash struct_hash() const;  // the record's leaf in the log
  friend bool operator==(const UsageRecord&, const UsageRecord&) = default;
};

// What the requester signs (EIP-712, the ledger's domain): the first `count` records of the
// deal's log have this root.
struct UsageReceipt {
  Hash deal_id;
  uint64_t count = 0;
  Hash root;
  static const std::string& encoded_type();
  Hash struct_hash() const;
};

// A record's JSON form (the pair channel's USAGE frame, the provider's log, a usage proof):
// {index, openedMs, closedMs, host, port, stream, bytesUp, bytesDown}, its deal given apart.
nlohmann::json usage_record_json(const UsageRecord& r);
// The record in `j`, of deal `deal`. Errors: parse_error "WHERE: FIELD is missing or malformed"
// (a host over 255 bytes, a port over 65535, a close before the opening are malformed too).
Result<UsageRecord> usage_record_from_json(const nlohmann::json& j, const Hash& deal,
                                           std::string_view where);

// RFC 6962 (2.1) over leaf hashes: a leaf is keccak256(0x00 || struct hash), an inner node
// keccak256(0x01 || left || right); the root of no leaves is keccak256 of nothing.
Hash usage_leaf(const UsageRecord& r);
Hash usage_root(const std::vector<Hash>& leaves);
// The audit path of leaf `index` in the tree of `leaves` (index < size).
std::vector<Hash> usage_path(const std::vector<Hash>& leaves, uint64_t index);
// Whether `leaf` at `index` of a tree of `count` leaves with `path` has root `root`.
bool verify_usage_path(const Hash& leaf, uint64_t index, uint64_t count,
                       const std::vector<Hash>& path, const Hash& root);

// The log as it grows: the roots of its perfect subtrees, so that appending and the root cost
// O(log n) and the log needs no memory for its records.
class UsageLog {
 public:
  void append(const Hash& leaf);
  uint64_t size() const { return size_; }
  Hash root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> peaks_;  // the perfect subtrees, largest first (one per bit of size_)
};

}  // namespace ipsx
