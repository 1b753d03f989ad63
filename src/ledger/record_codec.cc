// Layouts (binary_io.h's primitives):
//   transaction: version 1, chainId u64, from, nonce u64, signature (65 bytes, r s v), operation
//   operation:   tag u8 (its place in ledger::Op), then its fields in declaration order (an
//                offer's and a request's as vocab/order_records.h orders them); a batch is a
//                count u8 and its operations, none a batch
//   events:      version 1, count u16, then each: kind u8, deal (flag, hash), chainTx (flag, hash),
//                accounts (count u8, addresses), fields (count u8, name and value as text)
#include "ledger/record_codec.h"

#include <fmt/format.h>

#include "ledger/binary_io.h"
#include "ledger/tx_codec.h"
#include "vocab/order_records.h"

namespace ipsx::ledger {
namespace {

using binary::Bad;
using binary::Reader;
using binary::Writer;

constexpr uint8_t kTxVersion = 1;
constexpr uint8_t kEventsVersion = 1;
// The tag of an operation is its place in ledger::Op: a new operation goes at the end.
static_assert(std::variant_size_v<Op> == 19, "a new operation needs its layout here");

// ---- Writing ------------------------------------------------------------------------------

void put_sig(Writer& w, const crypto::Signature& s) {
  w.bytes(s.to_bytes());
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

void put_op(Writer& w, const Op& op) {
  w.u8(static_cast<uint8_t>(op.index()));
  std::visit(Overloaded{
                 [&](const Transfer& o) {
                   w.addr(o.to);
                   w.amount(o.amount);
                 },
                 [&](const Approve& o) {
                   w.addr(o.spender);
                   w.amount(o.amount);
                 },
                 [&](const TransferFrom& o) {
                   w.addr(o.owner);
                   w.addr(o.to);
                   w.amount(o.amount);
                 },
                 [&](const Buy& o) { w.amount(o.value); },
                 [&](const FinalizeSale&) {},
                 [&](const ClaimUnsold&) {},
                 [&](const Refund&) {},
                 [&](const Deposit& o) { w.amount(o.amount); },
                 [&](const Withdraw& o) { w.amount(o.amount); },
                 [&](const CancelOrder& o) { w.hash(o.order_hash); },
                 [&](const OpenDeal& o) {
                   order_records::write_offer(w, o.offer);
                   put_sig(w, o.offer_signature);
                   order_records::write_request(w, o.request);
                   put_sig(w, o.request_signature);
                   w.u256(o.price_per_second);
                 },
                 [&](const Claim& o) {
                   w.hash(o.deal_id);
                   w.amount(o.amount);
                   put_sig(w, o.requester_signature);
                 },
                 [&](const CloseDeal& o) {
                   w.hash(o.deal_id);
                   w.amount(o.amount);
                   w.flag(o.requester_signature.has_value());
                   if (o.requester_signature) put_sig(w, *o.requester_signature);
                   w.u8(static_cast<uint8_t>(o.reason));
                 },
                 [&](const CooperativeClose& o) {
                   w.hash(o.deal_id);
                   w.amount(o.amount);
                   put_sig(w, o.requester_signature);
                   put_sig(w, o.provider_signature);
                   w.u8(static_cast<uint8_t>(o.reason));
                 },
                 [&](const UncooperativeClose& o) {
                   w.hash(o.deal_id);
                   w.amount(o.amount);
                   w.u8(static_cast<uint8_t>(o.reason));
                 },
                 [&](const Settle& o) { w.hash(o.deal_id); },
                 [&](const Rate& o) {
                   w.hash(o.deal_id);
                   w.u8(o.score);
                 },
                 [&](const RecordUsage& o) {
                   w.hash(o.deal_id);
                   w.u64(o.count);
                   w.hash(o.root);
                   put_sig(w, o.requester_signature);
                 },
                 [&](const Batch& b) {
                   w.u8(static_cast<uint8_t>(b.ops.size()));
                   for (const Op& inner : b.ops) put_op(w, inner);
                 },
             },
             op);
}

// ---- Reading ------------------------------------------------------------------------------

crypto::Signature get_sig(Reader& r) {
  std::array<uint8_t, 65> b;
  r.bytes(b);
  auto s = crypto::Signature::from_bytes(ByteView(b));
  if (!s) throw Bad("a signature is malformed");
  return *s;
}

CloseReason get_reason(Reader& r) {
  uint8_t v = r.u8();
  if (v > static_cast<uint8_t>(kMaxCloseReason)) throw Bad("a close reason is unknown");
  return static_cast<CloseReason>(v);
}

Op get_op(Reader& r, bool in_batch);

Batch get_batch(Reader& r) {
  Batch b;
  uint8_t n = r.u8();
  if (n > kMaxBatchOps) throw Bad("a batch has more operations than a batch may");
  for (uint8_t i = 0; i < n; ++i) b.ops.push_back(get_op(r, true));
  return b;
}

Op get_op(Reader& r, bool in_batch) {
  uint8_t tag = r.u8();
  Op op;
  switch (tag) {
    case 0: {
      Address to = r.addr();
      op = Transfer{to, r.amount()};
      break;
    }
    case 1: {
      Address spender = r.addr();
      op = Approve{spender, r.amount()};
      break;
    }
    case 2: {
      Address owner = r.addr();
      Address to = r.addr();
      op = TransferFrom{owner, to, r.amount()};
      break;
    }
    case 3:
      op = Buy{r.amount()};
      break;
    case 4:
      op = FinalizeSale{};
      break;
    case 5:
      op = ClaimUnsold{};
      break;
    case 6:
      op = Refund{};
      break;
    case 7:
      op = Deposit{r.amount()};
      break;
    case 8:
      op = Withdraw{r.amount()};
      break;
    case 9:
      op = CancelOrder{r.hash()};
      break;
    case 10: {
      OpenDeal d;
      d.offer = order_records::read_offer(r);
      d.offer_signature = get_sig(r);
      d.request = order_records::read_request(r);
      d.request_signature = get_sig(r);
      d.price_per_second = r.u256();
      op = std::move(d);
      break;
    }
    case 11: {
      Claim c;
      c.deal_id = r.hash();
      c.amount = r.amount();
      c.requester_signature = get_sig(r);
      op = c;
      break;
    }
    case 12: {
      CloseDeal c;
      c.deal_id = r.hash();
      c.amount = r.amount();
      if (r.flag()) c.requester_signature = get_sig(r);
      c.reason = get_reason(r);
      op = c;
      break;
    }
    case 13: {
      CooperativeClose c;
      c.deal_id = r.hash();
      c.amount = r.amount();
      c.requester_signature = get_sig(r);
      c.provider_signature = get_sig(r);
      c.reason = get_reason(r);
      op = c;
      break;
    }
    case 14: {
      UncooperativeClose c;
      c.deal_id = r.hash();
      c.amount = r.amount();
      c.reason = get_reason(r);
      op = c;
      break;
    }
    case 15:
      op = Settle{r.hash()};
      break;
    case 16: {
      Hash deal = r.hash();
      op = Rate{deal, r.u8()};
      break;
    }
    case 17: {
      RecordUsage u;
      u.deal_id = r.hash();
      u.count = r.u64();
      u.root = r.hash();
      u.requester_signature = get_sig(r);
      op = u;
      break;
    }
    case 18:
      op = get_batch(r);
      break;
    default:
      throw Bad(fmt::format("operation tag {} is unknown", tag));
  }
  if (in_batch && !batchable(op))
    throw Bad(fmt::format("a batch holds {}, which cannot be batched", op_name(op)));
  return op;
}

template <class F>
auto decoding(std::string_view what, F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const Bad& e) {
    return fail(LedgerErrc::storage, fmt::format("stored {}: {}", what, e.what()));
  }
}

}  // namespace

std::string encode_tx(const SignedTx& tx) {
  Writer w;
  w.reserve(160);
  w.u8(kTxVersion);
  w.u64(tx.tx.chain_id);
  w.addr(tx.tx.from);
  w.u64(tx.tx.nonce);
  put_sig(w, tx.signature);
  put_op(w, tx.tx.op);
  return w.take();
}

Result<SignedTx> decode_tx(std::string_view bytes, const Hash& domain_separator) {
  return decoding("transaction", [&] {
    Reader r(bytes);
    if (r.u8() != kTxVersion) throw Bad("not of this version");
    SignedTx tx;
    tx.tx.chain_id = r.u64();
    tx.tx.from = r.addr();
    tx.tx.nonce = r.u64();
    tx.signature = get_sig(r);
    tx.tx.op = get_op(r, false);
    if (!r.done()) throw Bad("bytes after the operation");
    tx.tx.digest = tx_digest(domain_separator, tx.tx.nonce, tx.tx.op);
    return tx;
  });
}

std::string encode_events(std::span<const Event> events) {
  Writer w;
  w.reserve(64 + 128 * events.size());
  w.u8(kEventsVersion);
  w.u16(static_cast<uint16_t>(events.size()));  // a batch of 32 operations makes ~100 at most
  for (const Event& e : events) {
    w.u8(static_cast<uint8_t>(e.kind));
    w.flag(e.deal.has_value());
    if (e.deal) w.hash(*e.deal);
    w.flag(e.chain_tx.has_value());
    if (e.chain_tx) w.hash(*e.chain_tx);
    w.u8(static_cast<uint8_t>(e.accounts.size()));
    for (const Address& a : e.accounts) w.addr(a);
    w.u8(static_cast<uint8_t>(e.fields.size()));
    for (const auto& [k, v] : e.fields) {
      w.str(k);
      w.str(v);
    }
  }
  return w.take();
}

Result<std::vector<Event>> decode_events(std::string_view bytes, uint64_t block, uint32_t tx_index,
                                         const Hash& tx_id) {
  return decoding("events", [&] {
    Reader r(bytes);
    if (r.u8() != kEventsVersion) throw Bad("not of this version");
    std::vector<Event> out(r.count16(5));
    for (Event& e : out) {
      uint8_t kind = r.u8();
      if (kind > static_cast<uint8_t>(EventKind::refunded))  // the last kind
        throw Bad("an event's kind is unknown");
      e.kind = static_cast<EventKind>(kind);
      e.block = block;
      e.tx_index = tx_index;
      e.tx_id = tx_id;
      if (r.flag()) e.deal = r.hash();
      if (r.flag()) e.chain_tx = r.hash();
      e.accounts.resize(r.u8());
      for (Address& a : e.accounts) a = r.addr();
      e.fields.resize(r.u8());
      for (auto& [k, v] : e.fields) {
        k = r.str();
        v = r.str();
      }
    }
    if (!r.done()) throw Bad("bytes after the last event");
    return out;
  });
}

}  // namespace ipsx::ledger
