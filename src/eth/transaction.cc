#include "eth/transaction.h"

#include <fmt/format.h>
#include <type_traits>

#include "core/keccak.h"
#include "eth/rlp.h"

namespace ipsx::eth {
namespace {

constexpr uint8_t kDynamicFeeType = 0x02;

void append_to(Bytes& out, const std::optional<Address>& to) {
  if (to) {
    rlp::append_string(out, to->view());
  } else {
    rlp::append_string(out, {});
  }
}

void append_access_list(Bytes& out, const std::vector<AccessListEntry>& list) {
  Bytes entries;
  for (const AccessListEntry& e : list) {
    Bytes keys;
    for (const Hash& k : e.storage_keys) rlp::append_string(keys, k.view());
    Bytes entry;
    rlp::append_string(entry, e.address.view());
    rlp::append_list_header(entry, keys.size());
    entry.insert(entry.end(), keys.begin(), keys.end());
    rlp::append_list_header(entries, entry.size());
    entries.insert(entries.end(), entry.begin(), entry.end());
  }
  rlp::append_list_header(out, entries.size());
  out.insert(out.end(), entries.begin(), entries.end());
}

// The fields every signature covers, in order, without a list header.
Bytes unsigned_fields(const LegacyTx& tx) {
  Bytes f;
  rlp::append_uint(f, tx.nonce);
  rlp::append_uint(f, tx.gas_price);
  rlp::append_uint(f, tx.gas_limit);
  append_to(f, tx.to);
  rlp::append_uint(f, tx.value);
  rlp::append_string(f, tx.data);
  return f;
}

Bytes unsigned_fields(const DynamicFeeTx& tx) {
  Bytes f;
  rlp::append_uint(f, tx.chain_id);
  rlp::append_uint(f, tx.nonce);
  rlp::append_uint(f, tx.max_priority_fee_per_gas);
  rlp::append_uint(f, tx.max_fee_per_gas);
  rlp::append_uint(f, tx.gas_limit);
  append_to(f, tx.to);
  rlp::append_uint(f, tx.value);
  rlp::append_string(f, tx.data);
  append_access_list(f, tx.access_list);
  return f;
}

U256 legacy_v(const LegacyTx& tx, uint8_t recid) {
  if (!tx.chain_id) return U256(27u + recid);
  // 2 * chain_id + 35 + y; chain_id < 2^64, so this cannot overflow 256 bits.
  return (U256(*tx.chain_id) << 1).wrapping_add(U256(35u + recid));
}

Bytes encode_signed(const Transaction& tx, const crypto::Signature& sig) {
  Bytes fields;
  U256 v;
  if (auto* legacy = std::get_if<LegacyTx>(&tx)) {
    fields = unsigned_fields(*legacy);
    v = legacy_v(*legacy, sig.recovery_id());
  } else {
    fields = unsigned_fields(std::get<DynamicFeeTx>(tx));
    v = U256(sig.recovery_id());
  }
  rlp::append_uint(fields, v);
  rlp::append_uint(fields, U256::from_be_bytes(sig.r().bytes()));
  rlp::append_uint(fields, U256::from_be_bytes(sig.s().bytes()));
  Bytes out;
  if (std::holds_alternative<DynamicFeeTx>(tx)) out.push_back(kDynamicFeeType);
  rlp::append_list_header(out, fields.size());
  out.insert(out.end(), fields.begin(), fields.end());
  return out;
}

std::unexpected<Error> bad(std::string_view what) {
  return fail(EthErrc::bad_transaction, fmt::format("transaction: {}", what));
}

Result<Bytes> read_string(const rlp::Item& item, std::string_view what) {
  if (item.is_list()) return bad(fmt::format("{}: expected a byte string, got a list", what));
  return item.bytes();
}

Result<std::optional<Address>> read_to(const rlp::Item& item) {
  auto b = read_string(item, "to");
  if (!b) return std::unexpected(b.error());
  if (b->empty()) return std::optional<Address>();
  if (b->size() != 20) return bad(fmt::format("to: {} bytes, expected 20 or none", b->size()));
  return std::optional<Address>(Address(std::span<const uint8_t, 20>(b->data(), 20)));
}

Result<Hash> read_scalar(const rlp::Item& item, std::string_view what) {
  auto v = rlp::to_uint(item, what);
  if (!v) return std::unexpected(v.error().with_context("transaction"));
  if (v->is_zero())
    return fail(EthErrc::bad_signature, fmt::format("transaction: {} is zero", what));
  return Hash(v->to_be_bytes());
}

Result<std::vector<AccessListEntry>> read_access_list(const rlp::Item& item) {
  if (!item.is_list()) return bad("access list: expected a list");
  std::vector<AccessListEntry> out;
  for (size_t i = 0; i < item.items().size(); ++i) {
    const rlp::Item& e = item.items()[i];
    if (!e.is_list() || e.items().size() != 2) {
      return bad(fmt::format("access list entry {}: expected [address, storage keys]", i));
    }
    const rlp::Item& addr = e.items()[0];
    const rlp::Item& keys = e.items()[1];
    if (addr.is_list() || addr.bytes().size() != 20) {
      return bad(fmt::format("access list entry {}: address is not 20 bytes", i));
    }
    if (!keys.is_list()) return bad(fmt::format("access list entry {}: keys not a list", i));
    AccessListEntry entry;
    entry.address = Address(std::span<const uint8_t, 20>(addr.bytes().data(), 20));
    for (const rlp::Item& k : keys.items()) {
      if (k.is_list() || k.bytes().size() != 32) {
        return bad(fmt::format("access list entry {}: storage key is not 32 bytes", i));
      }
      entry.storage_keys.push_back(Hash(std::span<const uint8_t, 32>(k.bytes().data(), 32)));
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// Reads an integer field into `out`, returning false (and setting `err`) on failure.
template <class T>
bool read_int(const rlp::Item& item, std::string_view what, T& out, std::optional<Error>& err) {
  if constexpr (std::is_same_v<T, U256>) {
    auto v = rlp::to_uint(item, what);
    if (!v) {
      err = v.error().with_context("transaction");
      return false;
    }
    out = *v;
  } else {
    auto v = rlp::to_u64(item, what);
    if (!v) {
      err = v.error().with_context("transaction");
      return false;
    }
    out = *v;
  }
  return true;
}

Result<Transaction> read_legacy(const rlp::Item::List& f, uint8_t* recid) {
  if (f.size() != 9)
    return bad(fmt::format("legacy transaction has {} fields, expected 9", f.size()));
  LegacyTx tx;
  std::optional<Error> err;
  if (!read_int(f[0], "nonce", tx.nonce, err) || !read_int(f[1], "gas price", tx.gas_price, err) ||
      !read_int(f[2], "gas limit", tx.gas_limit, err) || !read_int(f[4], "value", tx.value, err)) {
    return std::unexpected(*err);
  }
  auto to = read_to(f[3]);
  if (!to) return std::unexpected(to.error());
  tx.to = *to;
  auto data = read_string(f[5], "data");
  if (!data) return std::unexpected(data.error());
  tx.data = std::move(*data);
  U256 v;
  if (!read_int(f[6], "v", v, err)) return std::unexpected(*err);
  if (v == U256(27) || v == U256(28)) {
    tx.chain_id.reset();
    *recid = static_cast<uint8_t>(v.low64() - 27);
  } else {
    // v = 2 * chain_id + 35 + y with chain_id >= 1.
    if (v < U256(37)) {
      return fail(EthErrc::bad_signature,
                  fmt::format("transaction: v = {} is invalid", v.to_dec()));
    }
    U256 rest = v.wrapping_sub(35);
    U256 chain = rest >> 1;
    if (!chain.fits_u64()) {
      return fail(EthErrc::bad_signature,
                  fmt::format("transaction: v = {} implies a chain id over 64 bits", v.to_dec()));
    }
    tx.chain_id = chain.low64();
    *recid = static_cast<uint8_t>(rest.low64() & 1);
  }
  return tx;
}

// The fields of an EIP-1559 transaction: the 9 it signs, then (with `recid`) the signature's 3.
Result<DynamicFeeTx> read_dynamic_fee(const rlp::Item::List& f, uint8_t* recid) {
  const size_t fields = recid ? 12 : 9;
  if (f.size() != fields) {
    return bad(fmt::format("EIP-1559 transaction has {} fields, expected {}", f.size(), fields));
  }
  DynamicFeeTx tx;
  std::optional<Error> err;
  U256 parity;
  if (!read_int(f[0], "chain id", tx.chain_id, err) || !read_int(f[1], "nonce", tx.nonce, err) ||
      !read_int(f[2], "max priority fee per gas", tx.max_priority_fee_per_gas, err) ||
      !read_int(f[3], "max fee per gas", tx.max_fee_per_gas, err) ||
      !read_int(f[4], "gas limit", tx.gas_limit, err) || !read_int(f[6], "value", tx.value, err) ||
      (recid && !read_int(f[9], "y parity", parity, err))) {
    return std::unexpected(*err);
  }
  auto to = read_to(f[5]);
  if (!to) return std::unexpected(to.error());
  tx.to = *to;
  auto data = read_string(f[7], "data");
  if (!data) return std::unexpected(data.error());
  tx.data = std::move(*data);
  auto access = read_access_list(f[8]);
  if (!access) return std::unexpected(access.error());
  tx.access_list = std::move(*access);
  if (!recid) return tx;
  if (parity > U256(1)) {
    return fail(EthErrc::bad_signature,
                fmt::format("transaction: y parity {} is not 0 or 1", parity.to_dec()));
  }
  *recid = static_cast<uint8_t>(parity.low64());
  return tx;
}

}  // namespace

Bytes signing_payload(const Transaction& tx) {
  Bytes out;
  if (auto* legacy = std::get_if<LegacyTx>(&tx)) {
    Bytes f = unsigned_fields(*legacy);
    if (legacy->chain_id) {
      rlp::append_uint(f, *legacy->chain_id);
      rlp::append_uint(f, 0);
      rlp::append_uint(f, 0);
    }
    rlp::append_list_header(out, f.size());
    out.insert(out.end(), f.begin(), f.end());
    return out;
  }
  Bytes f = unsigned_fields(std::get<DynamicFeeTx>(tx));
  out.push_back(kDynamicFeeType);
  rlp::append_list_header(out, f.size());
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

Hash signing_hash(const Transaction& tx) {
  return keccak256(signing_payload(tx));
}

SignedTransaction::SignedTransaction(Transaction tx, crypto::Signature sig, Address sender)
    : tx_(std::move(tx)), sig_(sig), sender_(sender), raw_(encode_signed(tx_, sig_)) {}

Hash SignedTransaction::hash() const {
  return keccak256(raw_);
}

U256 SignedTransaction::v() const {
  if (auto* legacy = std::get_if<LegacyTx>(&tx_)) return legacy_v(*legacy, sig_.recovery_id());
  return U256(sig_.recovery_id());
}

Result<SignedTransaction> sign_transaction(const Transaction& tx, const crypto::PrivateKey& key) {
  auto sig = crypto::sign(key, signing_hash(tx));
  if (!sig) return std::unexpected(sig.error());
  return SignedTransaction(tx, *sig, key.address());
}

Result<SignedTransaction> attach_signature(const Transaction& tx, const crypto::Signature& sig) {
  if (!sig.is_low_s()) return fail(EthErrc::bad_signature, "transaction: s is not low (EIP-2)");
  auto decoded = decode_transaction(encode_signed(tx, sig));
  if (!decoded) return std::unexpected(decoded.error());
  return decoded;
}

Result<SignedTransaction> decode_transaction(ByteView raw) {
  if (raw.empty()) return fail(EthErrc::truncated, "transaction: empty input");
  if (raw.size() > kMaxRawTransaction) {
    return fail(EthErrc::too_large,
                fmt::format("transaction: {} bytes (max {})", raw.size(), kMaxRawTransaction));
  }
  bool typed = raw[0] < 0x80;
  if (typed && raw[0] != kDynamicFeeType) {
    return fail(
        EthErrc::unsupported_type,
        fmt::format("transaction: type 0x{:02x} is not supported (only legacy and 0x02)", raw[0]));
  }
  if (!typed && raw[0] < 0xc0) return bad("legacy transaction is not an RLP list");
  ByteView body = typed ? raw.subspan(1) : raw;
  auto item = rlp::decode(body, 4);
  if (!item) return std::unexpected(item.error().with_context("transaction"));
  if (!item->is_list()) return bad("typed transaction payload is not an RLP list");
  const rlp::Item::List& f = item->items();
  uint8_t recid = 0;
  auto tx = typed ? Result<Transaction>(read_dynamic_fee(f, &recid)) : read_legacy(f, &recid);
  if (!tx) return std::unexpected(tx.error());
  auto r = read_scalar(f[f.size() - 2], "r");
  if (!r) return std::unexpected(r.error());
  auto s = read_scalar(f[f.size() - 1], "s");
  if (!s) return std::unexpected(s.error());
  crypto::Signature sig(*r, *s, recid);
  auto sender = crypto::recover(signing_hash(*tx), sig);
  if (!sender) return std::unexpected(sender.error().with_context("transaction signature"));
  SignedTransaction out(std::move(*tx), sig, *sender);
  // Canonical RLP makes the re-encoding equal the input; check it rather than assume it.
  if (out.raw() != Bytes(raw.begin(), raw.end())) {
    return fail(EthErrc::non_canonical, "transaction: raw bytes are not the canonical encoding");
  }
  return out;
}

Result<DynamicFeeTx> decode_signing_payload(ByteView payload) {
  if (payload.empty() || payload[0] != kDynamicFeeType)
    return fail(EthErrc::unsupported_type, "signing payload: not an EIP-1559 (0x02) transaction");
  if (payload.size() > kMaxRawTransaction) {
    return fail(EthErrc::too_large, fmt::format("signing payload: {} bytes (max {})",
                                                payload.size(), kMaxRawTransaction));
  }
  auto item = rlp::decode(payload.subspan(1), 4);
  if (!item) return std::unexpected(item.error().with_context("signing payload"));
  if (!item->is_list()) return bad("signing payload is not an RLP list");
  auto tx = read_dynamic_fee(item->items(), nullptr);
  if (!tx) return tx;
  if (signing_payload(*tx) != Bytes(payload.begin(), payload.end()))
    return fail(EthErrc::non_canonical, "signing payload: not the canonical encoding");
  return tx;
}

}  // namespace ipsx::eth
