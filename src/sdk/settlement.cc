#include "sdk/settlement.h"

#include <fmt/format.h>

#include "core/amount.h"
#include "sdk/dataplane.h"

namespace ipsx::sdk {
namespace {

using json = nlohmann::json;

std::string short_id(const Hash& id) {
  return id.hex().substr(0, 18) + "...";
}

// Where a transaction the node answered for went: "block N", and on a chain with its own
// transaction hashes ", transaction 0x..." (what a user pastes into `cast tx` or an explorer).
std::string where(const json& receipt) {
  std::string out = fmt::format("block {}", receipt.value("block", uint64_t{0}));
  if (auto h = receipt.find("chainTx"); h != receipt.end() && h->is_string())
    out += ", transaction " + h->get<std::string>();
  return out;
}

// An amount field of the ledger's JSON (IPSX, "1.5"), zero if absent.
U256 amount_of(const json& j, const char* name) {
  if (!j.is_object() || !j.contains(name) || !j[name].is_string()) return U256();
  auto a = Amount::parse(j[name].get<std::string>());
  return a ? a->base() : U256();
}

// The value of `name` in a recorded event's fields ([[name, value], ...]), "" if absent.
std::string event_field(const json& e, std::string_view name) {
  if (!e.contains("fields") || !e["fields"].is_array()) return "";
  for (const json& f : e["fields"])
    if (f.is_array() && f.size() == 2 && f[0] == name && f[1].is_string()) return f[1];
  return "";
}

// An amount recorded in base units, shown in IPSX.
std::string ipsx_text(const std::string& base_units) {
  auto v = U256::parse(base_units);
  return v ? Amount::from_base(*v).to_string() : base_units;
}

// "paid P IPSX (commission C), refunded R" from a close's receipt.
std::string close_summary(const json& receipt) {
  U256 fee;
  std::string paid, refunded;
  for (const json& e : receipt.value("events", json::array())) {
    if (e.value("kind", "") == "claimed") {
      if (auto f = U256::parse(event_field(e, "fee"))) {
        if (auto sum = fee.checked_add(*f)) fee = *sum;
      }
    } else if (e.value("kind", "") == "deal_closed") {
      paid = event_field(e, "paid");
      refunded = event_field(e, "refunded");
    }
  }
  return fmt::format(
      "paid {} IPSX in all (the market's commission on this payment {}), refunded {} IPSX",
      ipsx_text(paid), Amount::from_base(fee).to_string(), ipsx_text(refunded));
}

// The deal at the node; `gone` when the node does not know it.
struct DealRead {
  json deal;
  bool gone = false;
};

Result<DealRead> read_deal(NodeClient& node, const Hash& id) {
  auto j = node.get("/v1/deals/" + id.hex());
  if (!j) {
    if (j.error().code() == make_error_code(SdkErrc::unknown_deal)) return DealRead{{}, true};
    return std::unexpected(j.error());
  }
  return DealRead{std::move(*j), false};
}

// The market's verdict, once final: the reason the deal closed.
std::optional<ledger::CloseReason> final_close(const json& deal) {
  const json& st = deal.value("status", json::object());
  if (st.value("phase", "") != "closed" || !st.value("final", false)) return std::nullopt;
  return close_reason_from_string(st.value("reason", ""))
      .value_or(ledger::CloseReason::unspecified);
}

// Keeps the first report of a failure that repeats, so a broken node does not flood the output.
void note_error(std::vector<std::string>& out, std::string& last, const std::string& what) {
  if (what != last) out.push_back(what);
  last = what;
}

}  // namespace

uint8_t provider_score_for(ledger::CloseReason reason) {
  switch (reason) {
    case ledger::CloseReason::provider_failed:
      return 1;
    case ledger::CloseReason::provider_closed:
      return 3;  // ended early, but said so
    default:
      return 5;
  }
}

uint8_t requester_score_for(ledger::CloseReason reason) {
  switch (reason) {
    case ledger::CloseReason::unpaid:
      return 1;
    case ledger::CloseReason::expired:
      return 3;  // ordered and never came
    default:
      return 5;
  }
}

std::optional<ledger::CloseReason> close_reason_from_string(std::string_view name) {
  for (uint8_t r = 0; r <= static_cast<uint8_t>(ledger::CloseReason::expired); ++r) {
    auto reason = static_cast<ledger::CloseReason>(r);
    if (name == ledger::to_string(reason)) return reason;
  }
  return std::nullopt;
}

// ---- ProviderSettlement -----------------------------------------------------------------------

ProviderSettlement::ProviderSettlement(NodeClient& node, const Signer& provider,
                                       SettlementOptions options, ProofStore* store)
    : SettlementSide(node, provider, options), store_(store) {
  if (!store_) return;
  for (const auto& [deal, p] : store_->best()) on_payment(deal, p.amount, p.signature);
}

void ProviderSettlement::watch(const Hash& deal) {
  deals_.try_emplace(deal);
}

void ProviderSettlement::on_payment(const Hash& deal, const U256& amount,
                                    const crypto::Signature& signature) {
  Deal& d = deals_[deal];
  if (!d.best || d.best->first < amount) d.best = {amount, signature};
}

std::vector<std::string> ProviderSettlement::poll(Timestamp now) {
  return poll_deals(deals_, now, [&](const Hash& id, Deal& d) { return settle(id, d, now); });
}

Result<json> ProviderSettlement::claim(const Hash& id, Deal& d, Timestamp now) {
  auto r = send_transaction(node_, signer_,
                            ledger::Claim{id, Amount::from_base(d.best->first), d.best->second});
  if (r) {
    d.claimed = d.best->first;
    d.last_claim = now;
  }
  return r;
}

// The requester started an uncooperative close (a close this provider did not start): answer
// with the best proof while the challenge period runs, then settle once it is over.
std::vector<std::string> ProviderSettlement::answer_close(const Hash& id, Deal& d,
                                                          const json& ledger_view, Timestamp now) {
  std::vector<std::string> out;
  const U256 admitted = amount_of(ledger_view, "admitted");
  const int64_t ends_ms = ledger_view.value("challengeEndsMs", int64_t{0});
  if (to_unix_ms(now) < ends_ms) {
    if (d.best && d.claimed < d.best->first && admitted < d.best->first) {
      auto r = claim(id, d, now);
      if (!r) {
        note_error(out, d.last_error,
                   fmt::format("deal {}: answering the requester's close with our proof: {}",
                               short_id(id), r.error().message()));
        return out;
      }
      out.push_back(fmt::format(
          "deal {}: the requester is closing it admitting {} IPSX; claimed our balance proof of "
          "{} IPSX within the challenge period ({})",
          short_id(id), Amount::from_base(admitted).to_string(),
          Amount::from_base(d.claimed).to_string(), where(*r)));
    }
    return out;
  }
  auto r = send_transaction(node_, signer_, ledger::Settle{id});
  if (!r) {
    note_error(out, d.last_error,
               fmt::format("deal {}: settling after the challenge period: {}", short_id(id),
                           r.error().message()));
    return out;
  }
  out.push_back(fmt::format("deal {}: settled after the challenge period: {} ({})", short_id(id),
                            close_summary(*r), where(*r)));
  return out;  // rated at the next poll, once closed
}

void ProviderSettlement::record_usage(const Hash& id, Deal& d, const json& ledger_view,
                                      std::vector<std::string>& out) {
  if (!usage_receipt) return;
  auto r = usage_receipt(id);
  if (!r) return;
  const uint64_t count = r->first.count;
  if (count <= ledger_view.value("usageCount", uint64_t{0}) || count <= d.usage_sent) return;
  auto sent =
      send_transaction(node_, signer_, ledger::RecordUsage{id, count, r->first.root, r->second});
  if (!sent) {
    note_error(out, d.last_error,
               fmt::format("deal {}: putting its usage root on the ledger: {}", short_id(id),
                           sent.error().message()));
    return;
  }
  d.usage_sent = count;
  out.push_back(fmt::format(
      "deal {}: the root of its usage log ({} records, signed by the requester) is on the ledger "
      "({})",
      short_id(id), count, where(*sent)));
}

std::vector<std::string> ProviderSettlement::settle(const Hash& id, Deal& d, Timestamp now) {
  std::vector<std::string> out;
  auto read = read_deal(node_, id);
  if (!read) {
    note_error(out, d.last_error,
               fmt::format("deal {}: reading it: {}", short_id(id), read.error().message()));
    return out;
  }
  if (read->gone) {
    d.done = true;
    return out;
  }
  const json& ledger_view = read->deal.value("ledger", json::object());
  const std::string state = ledger_view.value("state", "");
  d.claimed = amount_of(ledger_view, "claimed");
  if (d.last_claim == Timestamp{}) d.last_claim = now;
  if ((state == "closing" || state == "closed") && !d.ended) {
    d.ended = true;
    if (on_ended)
      on_ended(id, state == "closing" ? "the requester closed it on the ledger"
                                      : "it is closed on the ledger");
  }
  if (state == "closing" || state == "closed" || final_close(read->deal))
    record_usage(id, d, ledger_view, out);
  if (state == "closing") {
    auto answered = answer_close(id, d, ledger_view, now);
    out.insert(out.end(), answered.begin(), answered.end());
    return out;
  }
  auto proof = [&]() -> std::optional<std::pair<U256, crypto::Signature>> {
    if (d.best && d.claimed < d.best->first) return d.best;
    return std::nullopt;
  };

  auto reason = final_close(read->deal);
  if (!reason && state == "closed")  // closed on the ledger before the market said so
    reason = close_reason_from_string(ledger_view.value("reason", ""));
  if (!reason) {
    // Still running: claim the best proof often enough that little is ever at the requester's
    // mercy: once it is max_unclaimed_seconds of the price above the claimed, or every
    // claim_every.
    auto p = proof();
    if (state != "open" || !p) return out;
    auto price = U256::parse(ledger_view.value("pricePerSecond", "0"));
    auto limit = price ? price->checked_mul(U256(options_.max_unclaimed_seconds)) : std::nullopt;
    bool over = limit && *p->first.checked_sub(d.claimed) >= *limit;
    if (!over && now < d.last_claim + options_.claim_every) return out;
    auto r = claim(id, d, now);
    if (!r) {
      note_error(out, d.last_error,
                 fmt::format("deal {}: claiming: {}", short_id(id), r.error().message()));
      return out;
    }
    out.push_back(fmt::format("deal {}: claimed {} IPSX on the ledger ({})", short_id(id),
                              Amount::from_base(p->first).to_string(), where(*r)));
    return out;
  }

  if (state != "closed") {
    auto p = proof();
    ledger::CloseDeal close{id, Amount::from_base(p ? p->first : d.claimed),
                            p ? std::optional(p->second) : std::nullopt, *reason};
    auto r = send_transaction(node_, signer_, close);
    if (!r) {
      note_error(
          out, d.last_error,
          fmt::format("deal {}: closing it on the ledger: {}", short_id(id), r.error().message()));
      return out;
    }
    out.push_back(fmt::format("deal {} settled on the ledger ({}): {} ({})", short_id(id),
                              ledger::to_string(*reason), close_summary(*r), where(*r)));
    if (!d.ended && on_ended) on_ended(id, "it is closed on the ledger");
    d.ended = true;
  }
  if (!ledger_view.value("ratedByProvider", false)) {
    uint8_t score = requester_score_for(*reason);
    auto r = send_transaction(node_, signer_, ledger::Rate{id, score});
    if (!r && r.error().code() != make_error_code(SdkErrc::already_rated)) {
      note_error(
          out, d.last_error,
          fmt::format("deal {}: rating the requester: {}", short_id(id), r.error().message()));
      return out;
    }
    if (r) {
      out.push_back(
          fmt::format("deal {}: rated the requester {}/5 ({})", short_id(id), score, where(*r)));
    }
  }
  if (store_) {
    if (auto f = store_->forget(id); !f) {
      note_error(out, d.last_error, fmt::format("deal {}: {}", short_id(id), f.error().message()));
      return out;
    }
  }
  d.done = true;
  return out;
}

// ---- RequesterSettlement ----------------------------------------------------------------------

RequesterSettlement::RequesterSettlement(NodeClient& node, const Signer& requester,
                                         SettlementOptions options)
    : SettlementSide(node, requester, options) {}

void RequesterSettlement::watch(const Hash& deal) {
  deals_.try_emplace(deal);
}

std::vector<std::string> RequesterSettlement::poll(Timestamp now) {
  return poll_deals(deals_, now, [&](const Hash& id, Deal& d) { return settle(id, d, now); });
}

std::vector<std::string> RequesterSettlement::settle(const Hash& id, Deal& d, Timestamp now) {
  std::vector<std::string> out;
  auto fail = [&](const char* doing, const Error& e) {
    note_error(out, d.last_error, fmt::format("deal {}: {}: {}", short_id(id), doing, e.message()));
    return out;
  };
  auto read = read_deal(node_, id);
  if (!read) return fail("reading it", read.error());
  if (read->gone) {
    d.done = true;
    return out;
  }
  const json& l = read->deal.value("ledger", json::object());
  const std::string state = l.value("state", "");
  if ((state == "closing" || state == "closed") && !d.ended) {
    d.ended = true;
    if (on_ended) on_ended(id, "the deal is " + state + " on the ledger");
  }
  if (state == "closed") {
    if (!l.value("ratedByRequester", false)) {
      auto reason = close_reason_from_string(l.value("reason", ""))
                        .value_or(ledger::CloseReason::unspecified);
      uint8_t score = provider_score_for(reason);
      auto r = send_transaction(node_, signer_, ledger::Rate{id, score});
      if (!r && r.error().code() != make_error_code(SdkErrc::already_rated))
        return fail("rating the provider", r.error());
      out.push_back(fmt::format("deal {} closed ({}): rated the provider {}/5{}", short_id(id),
                                ledger::to_string(reason), score,
                                r ? " (" + where(*r) + ")" : std::string()));
    }
    d.done = true;
    return out;
  }
  if (state == "closing") {
    if (to_unix_ms(now) < l.value("challengeEndsMs", int64_t{0})) return out;
    auto r = send_transaction(node_, signer_, ledger::Settle{id});
    if (!r) return fail("settling", r.error());
    out.push_back(fmt::format("deal {}: settled after the challenge period: {}", short_id(id),
                              close_summary(*r)));
    return out;  // rated at the next poll, once closed
  }
  // Open on the ledger: if the market closed it a while ago and the provider has not closed it
  // (it failed or vanished), start the uncooperative close so the deposit can come back.
  auto reason = final_close(read->deal);
  if (!reason || d.closing) return out;
  int64_t closed_ms = read->deal["status"].value("sinceMs", int64_t{0});
  if (to_unix_ms(now) < closed_ms + options_.provider_grace.count()) return out;
  Amount admitted = Amount::from_base(amount_of(l, "claimed"));
  auto r = send_transaction(node_, signer_, ledger::UncooperativeClose{id, admitted, *reason});
  if (!r) return fail("starting an uncooperative close", r.error());
  d.closing = true;
  out.push_back(fmt::format(
      "deal {}: the provider did not close it ({}); uncooperative close started, admitting the "
      "{} IPSX already claimed",
      short_id(id), ledger::to_string(*reason), admitted.to_string()));
  return out;
}

}  // namespace ipsx::sdk
