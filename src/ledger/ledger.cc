#include "ledger/ledger.h"

#include <fmt/format.h>

#include "core/keccak.h"

namespace ipsx::ledger {

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::unspecified:
      return "unspecified";
    case CloseReason::completed:
      return "completed";
    case CloseReason::requester_closed:
      return "requester_closed";
    case CloseReason::provider_closed:
      return "provider_closed";
    case CloseReason::provider_failed:
      return "provider_failed";
    case CloseReason::unpaid:
      return "unpaid";
    case CloseReason::expired:
      return "expired";
  }
  return "unknown";
}

const char* to_string(EventKind k) {
  switch (k) {
    case EventKind::transfer:
      return "transfer";
    case EventKind::approval:
      return "approval";
    case EventKind::purchase:
      return "purchase";
    case EventKind::sale_finalized:
      return "sale_finalized";
    case EventKind::unsold_claimed:
      return "unsold_claimed";
    case EventKind::refunded:
      return "refunded";
    case EventKind::deposit:
      return "deposit";
    case EventKind::withdrawal:
      return "withdrawal";
    case EventKind::order_cancelled:
      return "order_cancelled";
    case EventKind::deal_opened:
      return "deal_opened";
    case EventKind::claimed:
      return "claimed";
    case EventKind::deal_closing:
      return "deal_closing";
    case EventKind::deal_closed:
      return "deal_closed";
    case EventKind::rated:
      return "rated";
    case EventKind::usage_recorded:
      return "usage_recorded";
  }
  return "unknown";
}

const char* to_string(DealState s) {
  switch (s) {
    case DealState::open:
      return "open";
    case DealState::closing:
      return "closing";
    case DealState::closed:
      return "closed";
  }
  return "unknown";
}

std::optional<Hash> deal_of(const Op& op) {
  return std::visit(
      [](const auto& o) -> std::optional<Hash> {
        if constexpr (requires { o.deal_id; }) {
          return o.deal_id;
        } else {
          return std::nullopt;
        }
      },
      op);
}

const char* op_name(const Op& op) {
  static constexpr const char* kNames[] = {"transfer",
                                           "approve",
                                           "transferFrom",
                                           "buy",
                                           "finalizeSale",
                                           "claimUnsold",
                                           "refund",
                                           "deposit",
                                           "withdraw",
                                           "cancelOrder",
                                           "openDeal",
                                           "claim",
                                           "closeDeal",
                                           "cooperativeClose",
                                           "uncooperativeClose",
                                           "settle",
                                           "rate",
                                           "recordUsage",
                                           "batch"};
  static_assert(std::size(kNames) == std::variant_size_v<Op>);
  return kNames[op.index()];
}

bool batchable(const Op& op) {
  return std::holds_alternative<Deposit>(op) || std::holds_alternative<Withdraw>(op) ||
         std::holds_alternative<CancelOrder>(op) || std::holds_alternative<OpenDeal>(op) ||
         std::holds_alternative<Claim>(op) || std::holds_alternative<CloseDeal>(op) ||
         std::holds_alternative<CooperativeClose>(op) ||
         std::holds_alternative<UncooperativeClose>(op) || std::holds_alternative<Settle>(op) ||
         std::holds_alternative<Rate>(op) || std::holds_alternative<RecordUsage>(op);
}

Hash SignedTx::id() const {
  std::array<uint8_t, 97> buf;
  std::copy(tx.digest.bytes().begin(), tx.digest.bytes().end(), buf.begin());
  auto sig = signature.to_bytes();
  std::copy(sig.begin(), sig.end(), buf.begin() + 32);
  return keccak256(ByteView(buf));
}

std::string Event::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return "";
}

std::string Event::to_string() const {
  std::string out = fmt::format("#{}.{} {}", block, tx_index, ledger::to_string(kind));
  if (deal) out += " deal=" + deal->hex();
  for (const auto& [k, v] : fields) out += fmt::format(" {}={}", k, v);
  return out;
}

bool SupplyView::conserved() const {
  if (!holdings_match) return false;
  auto sum = accounts.add(wallet_balances);
  for (const Amount* part : {&wallet_reserved, &sale_pool, &unclaimed}) {
    if (!sum) return false;
    sum = sum->add(*part);
  }
  return sum && *sum == total;
}

Hash deal_id_for(const Hash& offer_hash, const Hash& request_hash, uint64_t fill) {
  std::array<uint8_t, 96> buf{};
  std::copy(offer_hash.bytes().begin(), offer_hash.bytes().end(), buf.begin());
  std::copy(request_hash.bytes().begin(), request_hash.bytes().end(), buf.begin() + 32);
  U256(fill).write_be(std::span<uint8_t, 32>(buf.data() + 64, 32));
  return keccak256(ByteView(buf));
}

}  // namespace ipsx::ledger
