#include "market/deal_protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include "crypto/eip712.h"

namespace ipsx::market {
namespace {

using ledger::CloseReason;

// One way the deal could close: when, and the reason it would record.
struct Close {
  Timestamp at;
  CloseReason reason;
};

bool is_live(PartyState s) {
  return s == PartyState::ready || s == PartyState::connected;
}

// The reason a side's terminal report records. A requester's `failed` blames the exit.
CloseReason reason_of(Party party, PartyState s) {
  switch (s) {
    case PartyState::closed:
      return party == Party::provider ? CloseReason::provider_closed
                                      : CloseReason::requester_closed;
    case PartyState::failed:
      return CloseReason::provider_failed;
    case PartyState::unpaid:
      return CloseReason::unpaid;
    default:
      return CloseReason::unspecified;
  }
}

std::string ms(Timestamp t) {
  return std::to_string(to_unix_ms(t));
}

// The earliest of every candidate close; there is always one (time up at the latest).
Close earliest_close(const DealTimes& t, const PartyStatus& p, const PartyStatus& r,
                     const ProtocolTimeouts& to) {
  std::optional<Close> best;
  auto consider = [&](Timestamp at, CloseReason why) {
    if (!best || at < best->at ||
        (at == best->at && close_reason_precedence(why) < close_reason_precedence(best->reason))) {
      best = Close{at, why};
    }
  };
  if (is_terminal(p.state)) consider(p.at, reason_of(Party::provider, p.state));
  if (is_terminal(r.state)) consider(r.at, reason_of(Party::requester, r.state));

  // Each deadline is capped by the end of the rental: a deal still waiting when time is up
  // closes for the reason it was waiting, not as completed.
  const Timestamp end = t.end();
  const Timestamp ready_by = std::min(t.start + to.ready_timeout, end);
  if (!p.live_since || *p.live_since >= ready_by) {
    consider(ready_by, CloseReason::provider_failed);
    return *best;
  }
  const Timestamp connect_by = std::min(std::max(*p.live_since, t.start) + to.connect_timeout, end);
  if (!r.live_since || *r.live_since >= connect_by) {
    consider(connect_by, CloseReason::expired);
    return *best;
  }
  // Active from `act`: time up completes it; a live side must be heard from within the
  // liveness timeout of its last report (or of the deal becoming active, if later).
  const Timestamp act = std::max(*p.live_since, *r.live_since);
  consider(end, CloseReason::completed);
  if (is_live(p.state)) {
    consider(std::max(p.at, act) + to.liveness_timeout, CloseReason::provider_failed);
  }
  if (is_live(r.state)) {
    consider(std::max(r.at, act) + to.liveness_timeout, CloseReason::expired);
  }
  return *best;
}

}  // namespace

const char* to_string(Party p) {
  switch (p) {
    case Party::provider:
      return "provider";
    case Party::requester:
      return "requester";
  }
  return "unknown";
}

const char* to_string(PartyState s) {
  switch (s) {
    case PartyState::none:
      return "none";
    case PartyState::ready:
      return "ready";
    case PartyState::connected:
      return "connected";
    case PartyState::closed:
      return "closed";
    case PartyState::failed:
      return "failed";
    case PartyState::unpaid:
      return "unpaid";
  }
  return "unknown";
}

const char* to_string(DealPhase p) {
  switch (p) {
    case DealPhase::pending:
      return "pending";
    case DealPhase::ready:
      return "ready";
    case DealPhase::active:
      return "active";
    case DealPhase::closed:
      return "closed";
  }
  return "unknown";
}

bool reportable_by(Party party, PartyState s) {
  switch (s) {
    case PartyState::ready:
    case PartyState::unpaid:
      return party == Party::provider;
    case PartyState::connected:
      return party == Party::requester;
    case PartyState::closed:
    case PartyState::failed:
      return party == Party::provider || party == Party::requester;
    default:
      return false;
  }
}

bool is_terminal(PartyState s) {
  return s == PartyState::closed || s == PartyState::failed || s == PartyState::unpaid;
}

bool legal_transition(Party party, PartyState from, PartyState to) {
  if (!reportable_by(party, to)) return false;
  switch (from) {
    case PartyState::none:
      return to != PartyState::unpaid;  // nothing served yet, so nothing unpaid
    case PartyState::ready:
      return party == Party::provider;  // heartbeat, closed, failed, unpaid
    case PartyState::connected:
      return party == Party::requester;  // heartbeat, closed, failed
    default:
      return false;  // terminal (or not a state): nothing follows
  }
}

Result<void> validate(const ProtocolTimeouts& t) {
  if (t.ready_timeout <= Millis(0) || t.connect_timeout <= Millis(0) ||
      t.liveness_timeout <= Millis(0)) {
    return fail(MarketErrc::invalid_argument, "deal protocol timeouts must be positive");
  }
  if (t.clock_skew < Millis(0)) {
    return fail(MarketErrc::invalid_argument, "deal protocol clock skew must not be negative");
  }
  return {};
}

int close_reason_precedence(CloseReason r) {
  switch (r) {
    case CloseReason::completed:
      return 0;
    case CloseReason::provider_failed:
      return 1;
    case CloseReason::unpaid:
      return 2;
    case CloseReason::expired:
      return 3;
    case CloseReason::requester_closed:
      return 4;
    case CloseReason::provider_closed:
      return 5;
    case CloseReason::unspecified:
      break;
  }
  return 6;
}

DealStatus deal_status(const DealTimes& t, const PartyStatus& provider,
                       const PartyStatus& requester, Timestamp now,
                       const ProtocolTimeouts& timeouts) {
  const Close c = earliest_close(t, provider, requester, timeouts);
  if (c.at <= now) {
    return {DealPhase::closed, c.reason, c.at, now >= c.at + timeouts.clock_skew};
  }
  // Open: no candidate close has come. A side counts as live from its first live report, which
  // (being before every deadline that has not yet passed) was in time.
  const bool p_live = provider.live_since && *provider.live_since <= now;
  const bool r_live = requester.live_since && *requester.live_since <= now;
  if (p_live && r_live) {
    return {DealPhase::active, CloseReason::unspecified,
            std::max(*provider.live_since, *requester.live_since), false};
  }
  if (p_live) return {DealPhase::ready, CloseReason::unspecified, *provider.live_since, false};
  return {DealPhase::pending, CloseReason::unspecified, t.opened, false};
}

std::optional<Timestamp> next_deadline(const DealTimes& t, const PartyStatus& provider,
                                       const PartyStatus& requester, Timestamp now,
                                       const ProtocolTimeouts& timeouts) {
  const Close c = earliest_close(t, provider, requester, timeouts);
  if (c.at <= now) {
    const Timestamp final_at = c.at + timeouts.clock_skew;
    if (final_at > now) return final_at;
    return std::nullopt;
  }
  // Reports stamped ahead of `now` (within the skew) change the phase when their time comes.
  Timestamp next = c.at;
  auto consider = [&](Timestamp at) {
    if (at > now) next = std::min(next, at);
  };
  if (provider.live_since) consider(*provider.live_since);
  if (provider.live_since && requester.live_since) {
    consider(std::max(*provider.live_since, *requester.live_since));
  }
  return next;
}

const std::string& StatusEvent::encoded_type() {
  static const std::string t =
      "DealStatusEvent(bytes32 dealId,uint8 party,uint8 status,uint64 at,uint64 seq)";
  return t;
}

Hash StatusEvent::struct_hash() const {
  static const Hash th = crypto::eip712::type_hash(encoded_type());
  return crypto::eip712::StructHasher(th)
      .add_word(deal_id)
      .add_uint(static_cast<uint64_t>(party))
      .add_uint(static_cast<uint64_t>(state))
      .add_uint(static_cast<uint64_t>(to_unix_ms(at)))
      .add_uint(seq)
      .finish();
}

Result<SignedStatusEvent> sign_event(const crypto::PrivateKey& key, const StatusEvent& e,
                                     const Hash& domain_separator) {
  auto sig = crypto::sign(key, crypto::eip712::digest(domain_separator, e.struct_hash()));
  if (!sig) return std::unexpected(sig.error());
  return SignedStatusEvent{e, *sig};
}

Result<void> verify_event(const SignedStatusEvent& e, const Address& expected_signer,
                          const Hash& domain_separator) {
  const Hash digest = crypto::eip712::digest(domain_separator, e.event.struct_hash());
  auto signer = crypto::recover(digest, e.signature);
  if (!signer) {
    return fail(MarketErrc::bad_signature,
                fmt::format("status event signature: {}", signer.error().message()));
  }
  if (*signer != expected_signer) {
    return fail(MarketErrc::bad_signature,
                fmt::format("status event signed by {}, expected the {} {}", signer->to_string(),
                            to_string(e.event.party), expected_signer.to_string()));
  }
  return {};
}

DealProgress DealProgress::open(const ledger::DealView& d, Timestamp opened) {
  DealProgress p;
  p.deal_id = d.id;
  p.provider = d.provider;
  p.requester = d.requester;
  p.times.opened = opened;
  p.times.start = from_unix_ms(static_cast<int64_t>(d.start) * 1000);
  p.times.duration = Millis(static_cast<int64_t>(d.duration) * 1000);
  return p;
}

const PartyStatus& DealProgress::status_of(Party p) const {
  return p == Party::provider ? provider_status : requester_status;
}

DealStatus DealProgress::status(Timestamp now, const ProtocolTimeouts& timeouts) const {
  return deal_status(times, provider_status, requester_status, now, timeouts);
}

Result<void> check_transition(const DealProgress& d, const StatusEvent& e, Timestamp now,
                              const ProtocolTimeouts& timeouts) {
  if (e.deal_id != d.deal_id) {
    return fail(MarketErrc::wrong_deal,
                fmt::format("event for deal {}, not {}", e.deal_id.hex(), d.deal_id.hex()));
  }
  if (e.party != Party::provider && e.party != Party::requester) {
    return fail(MarketErrc::wrong_party,
                fmt::format("party {} is neither provider (1) nor requester (2)",
                            static_cast<int>(e.party)));
  }
  if (e.state == PartyState::none) {
    return fail(MarketErrc::bad_transition, "status none is never reported");
  }
  if (!reportable_by(e.party, e.state)) {
    return fail(MarketErrc::wrong_party,
                fmt::format("the {} cannot report status {} ({})", to_string(e.party),
                            to_string(e.state), static_cast<int>(e.state)));
  }
  const PartyStatus& cur = d.status_of(e.party);
  if (e.seq != cur.seq + 1) {
    return fail(MarketErrc::bad_sequence,
                fmt::format("{} event seq {} {}: expected {}", to_string(e.party), e.seq,
                            e.seq <= cur.seq ? "replayed" : "skips ahead", cur.seq + 1));
  }
  if (e.at < d.times.opened) {
    return fail(MarketErrc::bad_time, fmt::format("event at {} is before the deal opened at {}",
                                                  ms(e.at), ms(d.times.opened)));
  }
  if (e.at > now + timeouts.clock_skew) {
    return fail(MarketErrc::bad_time,
                fmt::format("event at {} is more than {} ms ahead of now ({})", ms(e.at),
                            timeouts.clock_skew.count(), ms(now)));
  }
  if (cur.seq > 0 && e.at < cur.at) {
    return fail(MarketErrc::bad_time,
                fmt::format("{} event at {} is before its previous report at {}",
                            to_string(e.party), ms(e.at), ms(cur.at)));
  }
  if (!legal_transition(e.party, cur.state, e.state)) {
    return fail(MarketErrc::bad_transition,
                fmt::format("the {} cannot go from {} to {}", to_string(e.party),
                            to_string(cur.state), to_string(e.state)));
  }
  const Close c = earliest_close(d.times, d.provider_status, d.requester_status, timeouts);
  if (now >= c.at + timeouts.clock_skew) {
    return fail(MarketErrc::deal_closed,
                fmt::format("deal closed ({}) at {}, final since {}", ledger::to_string(c.reason),
                            ms(c.at), ms(c.at + timeouts.clock_skew)));
  }
  const bool late = is_terminal(e.state) ? e.at > c.at : e.at >= c.at;
  if (late) {
    return fail(MarketErrc::deal_closed,
                fmt::format("event at {} is not before the deal closed ({}) at {}", ms(e.at),
                            ledger::to_string(c.reason), ms(c.at)));
  }
  return {};
}

Result<DealStatus> apply_event(DealProgress& d, const StatusEvent& e, Timestamp now,
                               const ProtocolTimeouts& timeouts) {
  if (auto ok = check_transition(d, e, now, timeouts); !ok) return std::unexpected(ok.error());
  PartyStatus& s = e.party == Party::provider ? d.provider_status : d.requester_status;
  s.state = e.state;
  s.at = e.at;
  s.seq = e.seq;
  if (!s.live_since && is_live(e.state)) s.live_since = e.at;
  return d.status(now, timeouts);
}

Result<DealStatus> accept_event(DealProgress& d, const SignedStatusEvent& e,
                                const Hash& domain_separator, Timestamp now,
                                const ProtocolTimeouts& timeouts) {
  const Party p = e.event.party;
  if (p != Party::provider && p != Party::requester) {
    return fail(MarketErrc::wrong_party,
                fmt::format("party {} is neither provider nor requester", static_cast<int>(p)));
  }
  const Address& signer = p == Party::provider ? d.provider : d.requester;
  if (auto ok = verify_event(e, signer, domain_separator); !ok) {
    return std::unexpected(ok.error());
  }
  return apply_event(d, e.event, now, timeouts);
}

}  // namespace ipsx::market
