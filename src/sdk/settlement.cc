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
  auto out = poll_deals(deals_, now, [&](const Hash& id, Deal& d) { return settle(id, d, now); });
  flush(out);
  std::erase_if(deals_, [](const auto& kv) { return kv.second.done; });  // done by what it sent
  return out;
}

namespace {
// Whether the ledger decided against a transaction (so it changed nothing), as opposed to a node
// or chain that did not answer, or answered in a way that says nothing of it (it may still be
// mined): only those are kept from being sent again alone.
bool refused_by_ledger(const Error& e) {
  if (e.code().category() != sdk_category()) return false;  // the node not reached
  for (SdkErrc c : {SdkErrc::ledger_unavailable, SdkErrc::storage_unavailable, SdkErrc::internal,
                    SdkErrc::rate_limited, SdkErrc::bad_response, SdkErrc::other_api_error})
    if (e.code() == make_error_code(c)) return false;
  return true;
}

// A batch's receipt as one of its operations': the deal's own events only.
json part_of(const json& receipt, const Hash& deal) {
  json own = receipt;
  json events = json::array();
  for (const json& e : receipt.value("events", json::array()))
    if (e.value("deal", "") == deal.hex()) events.push_back(e);
  own["events"] = std::move(events);
  return own;
}
}  // namespace

void SettlementSide::flush(std::vector<std::string>& out) {
  std::vector<Queued> queued = std::move(queued_);
  queued_.clear();
  auto alone = [&](Queued& q) {
    auto r = send_transaction(node_, signer_, q.op);
    if (r) {
      q.ok(*r, out);
    } else {
      q.failed(r.error(), out);
    }
  };
  for (size_t at = 0; at < queued.size(); at += ledger::kMaxBatchOps) {
    const size_t n = std::min(ledger::kMaxBatchOps, queued.size() - at);
    if (n == 1) {
      alone(queued[at]);
      continue;
    }
    ledger::Batch batch;
    for (size_t i = at; i < at + n; ++i) batch.ops.push_back(queued[i].op);
    auto r = send_transaction(node_, signer_, batch);
    const bool refused = !r && refused_by_ledger(r.error());
    for (size_t i = at; i < at + n; ++i) {
      if (r) {
        queued[i].ok(part_of(*r, queued[i].deal), out);
      } else if (refused) {
        alone(queued[i]);  // the batch changed nothing: each for its own outcome
      } else {
        // The node or the chain did not answer (the batch may still be mined): each is told,
        // and the next poll reads the deals again.
        queued[i].failed(r.error(), out);
      }
    }
  }
}

void ProviderSettlement::claim(const Hash& id, Deal& d, Timestamp now, std::string what) {
  const auto best = *d.best;
  send({id, ledger::Claim{id, Amount::from_base(best.first), best.second},
        [this, id, &d, now, best, what](const json& r, std::vector<std::string>& out) {
          d.claimed = best.first;
          d.last_claim = now;
          if (what.empty()) {
            out.push_back(fmt::format("deal {}: claimed {} IPSX on the ledger ({})", short_id(id),
                                      Amount::from_base(best.first).to_string(), where(r)));
          } else {
            out.push_back(fmt::format(
                "deal {}: the requester is closing it admitting {} IPSX; claimed our balance "
                "proof of {} IPSX within the challenge period ({})",
                short_id(id), what, Amount::from_base(best.first).to_string(), where(r)));
          }
        },
        [id, &d, what](const Error& e, std::vector<std::string>& out) {
          const char* doing =
              what.empty() ? "claiming" : "answering the requester's close with our proof";
          note_error(out, d.last_error,
                     fmt::format("deal {}: {}: {}", short_id(id), doing, e.message()));
        }});
}

// The requester started an uncooperative close (a close this provider did not start): answer
// with the best proof while the challenge period runs, then settle once it is over.
void ProviderSettlement::answer_close(const Hash& id, Deal& d, const json& ledger_view,
                                      Timestamp now) {
  const U256 admitted = amount_of(ledger_view, "admitted");
  const int64_t ends_ms = ledger_view.value("challengeEndsMs", int64_t{0});
  if (to_unix_ms(now) < ends_ms) {
    if (d.best && d.claimed < d.best->first && admitted < d.best->first)
      claim(id, d, now, Amount::from_base(admitted).to_string());
    return;
  }
  send({id, ledger::Settle{id},
        [id](const json& r, std::vector<std::string>& out) {
          out.push_back(fmt::format("deal {}: settled after the challenge period: {} ({})",
                                    short_id(id), close_summary(r), where(r)));
        },  // rated at the next poll, once closed
        [id, &d](const Error& e, std::vector<std::string>& out) {
          note_error(out, d.last_error,
                     fmt::format("deal {}: settling after the challenge period: {}", short_id(id),
                                 e.message()));
        }});
}

void ProviderSettlement::record_usage(const Hash& id, Deal& d, const json& ledger_view) {
  if (!usage_receipt) return;
  auto r = usage_receipt(id);
  if (!r) return;
  const uint64_t count = r->first.count;
  if (count <= ledger_view.value("usageCount", uint64_t{0}) || count <= d.usage_sent) return;
  send({id, ledger::RecordUsage{id, count, r->first.root, r->second},
        [id, &d, count](const json& sent, std::vector<std::string>& out) {
          d.usage_sent = count;
          out.push_back(fmt::format(
              "deal {}: the root of its usage log ({} records, signed by the requester) is on "
              "the ledger ({})",
              short_id(id), count, where(sent)));
        },
        [id, &d](const Error& e, std::vector<std::string>& out) {
          note_error(out, d.last_error,
                     fmt::format("deal {}: putting its usage root on the ledger: {}", short_id(id),
                                 e.message()));
        }});
}

// One deal's turn in a poll: reads it at the node and queues what it needs (flush() sends).
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
    record_usage(id, d, ledger_view);
  if (state == "closing") {
    answer_close(id, d, ledger_view, now);
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
    claim(id, d, now, "");
    return out;
  }

  if (state != "closed") {
    // Closed with the best proof; rated at the next poll, once the ledger has it closed.
    auto p = proof();
    ledger::CloseDeal close{id, Amount::from_base(p ? p->first : d.claimed),
                            p ? std::optional(p->second) : std::nullopt, *reason};
    send({id, close,
          [this, id, &d, why = *reason](const json& r, std::vector<std::string>& out) {
            out.push_back(fmt::format("deal {} settled on the ledger ({}): {} ({})", short_id(id),
                                      ledger::to_string(why), close_summary(r), where(r)));
            if (!d.ended && on_ended) on_ended(id, "it is closed on the ledger");
            d.ended = true;
          },
          [id, &d](const Error& e, std::vector<std::string>& out) {
            note_error(
                out, d.last_error,
                fmt::format("deal {}: closing it on the ledger: {}", short_id(id), e.message()));
          }});
    return out;
  }
  auto finished = [this, id, &d](std::vector<std::string>& out) {
    if (store_) {
      if (auto f = store_->forget(id); !f) {
        note_error(out, d.last_error,
                   fmt::format("deal {}: {}", short_id(id), f.error().message()));
        return;
      }
    }
    d.done = true;
  };
  if (ledger_view.value("ratedByProvider", false)) {
    finished(out);
    return out;
  }
  uint8_t score = requester_score_for(*reason);
  send({id, ledger::Rate{id, score},
        [id, score, finished](const json& r, std::vector<std::string>& out) {
          out.push_back(
              fmt::format("deal {}: rated the requester {}/5 ({})", short_id(id), score, where(r)));
          finished(out);
        },
        [id, &d, finished](const Error& e, std::vector<std::string>& out) {
          if (e.code() == make_error_code(SdkErrc::already_rated)) return finished(out);
          note_error(out, d.last_error,
                     fmt::format("deal {}: rating the requester: {}", short_id(id), e.message()));
        }});
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
  auto out = poll_deals(deals_, now, [&](const Hash& id, Deal& d) { return settle(id, d, now); });
  flush(out);
  std::erase_if(deals_, [](const auto& kv) { return kv.second.done; });  // done by what it sent
  return out;
}

// One deal's turn in a poll: reads it at the node and queues what it needs (flush() sends).
std::vector<std::string> RequesterSettlement::settle(const Hash& id, Deal& d, Timestamp now) {
  std::vector<std::string> out;
  auto failed = [id, &d](const char* doing) {
    return [id, &d, doing](const Error& e, std::vector<std::string>& out) {
      note_error(out, d.last_error,
                 fmt::format("deal {}: {}: {}", short_id(id), doing, e.message()));
    };
  };
  auto read = read_deal(node_, id);
  if (!read) {
    failed("reading it")(read.error(), out);
    return out;
  }
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
    if (l.value("ratedByRequester", false)) {
      d.done = true;
      return out;
    }
    auto reason =
        close_reason_from_string(l.value("reason", "")).value_or(ledger::CloseReason::unspecified);
    uint8_t score = provider_score_for(reason);
    auto said = [id, &d, reason, score](std::string where_text, std::vector<std::string>& out) {
      out.push_back(fmt::format("deal {} closed ({}): rated the provider {}/5{}", short_id(id),
                                ledger::to_string(reason), score, where_text));
      d.done = true;
    };
    send(
        {id, ledger::Rate{id, score},
         [said](const json& r, std::vector<std::string>& out) { said(" (" + where(r) + ")", out); },
         [said, rating = failed("rating the provider")](const Error& e,
                                                        std::vector<std::string>& out) {
           if (e.code() == make_error_code(SdkErrc::already_rated)) return said("", out);
           rating(e, out);
         }});
    return out;
  }
  if (state == "closing") {
    if (to_unix_ms(now) < l.value("challengeEndsMs", int64_t{0})) return out;
    send({id, ledger::Settle{id},
          [id](const json& r, std::vector<std::string>& out) {
            out.push_back(fmt::format("deal {}: settled after the challenge period: {}",
                                      short_id(id), close_summary(r)));
          },  // rated at the next poll, once closed
          failed("settling")});
    return out;
  }
  // Open on the ledger: if the market closed it a while ago and the provider has not closed it
  // (it failed or vanished), start the uncooperative close so the deposit can come back.
  auto reason = final_close(read->deal);
  if (!reason || d.closing) return out;
  int64_t closed_ms = read->deal["status"].value("sinceMs", int64_t{0});
  if (to_unix_ms(now) < closed_ms + options_.provider_grace.count()) return out;
  Amount admitted = Amount::from_base(amount_of(l, "claimed"));
  send({id, ledger::UncooperativeClose{id, admitted, *reason},
        [id, &d, why = *reason, admitted](const json&, std::vector<std::string>& out) {
          d.closing = true;
          out.push_back(fmt::format(
              "deal {}: the provider did not close it ({}); uncooperative close started, "
              "admitting the {} IPSX already claimed",
              short_id(id), ledger::to_string(why), admitted.to_string()));
        },
        failed("starting an uncooperative close")});
  return out;
}

}  // namespace ipsx::sdk
