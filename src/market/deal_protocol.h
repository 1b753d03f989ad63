// The deal protocol (R8): each side of a deal reports its own status as a signed event; the
// deal's status is a pure function of the two latest statuses and the clock,
// status = f(provider, requester, now). Timeouts close a deal that stalls (the exit never gets
// ready, the requester never connects, a side goes silent, time is up). The status decides only
// when a deal closes and the reason recorded; the money follows the best balance proof on the
// ledger. docs/protocol.md has the tables; this header is the code of them.
//
// Everything here is a pure function of its arguments: no clock reads, no I/O, no shared state,
// so any thread may call it and every node computes the same answer from the same events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/address.h"
#include "core/clock.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "ledger/ledger.h"
#include "market/market_error.h"

namespace ipsx::market {

// The two sides of a deal. The values are the `party` field of a signed status event.
enum class Party : uint8_t { provider = 1, requester = 2 };
const char* to_string(Party p);

// One side's own status. `none` is where both start and is never reported. The provider reports
// ready, closed, failed, unpaid; the requester reports connected, closed, failed. The values are
// the `status` field of a signed status event.
enum class PartyState : uint8_t {
  none = 0,
  ready = 1,      // provider: the exit is provisioned and serving (re-sent as its heartbeat)
  connected = 2,  // requester: traffic flows through the exit (re-sent as its heartbeat)
  closed = 3,     // either: ends the deal on purpose
  failed = 4,     // provider: cannot serve; requester: the exit never worked or stopped working
  unpaid = 5,     // provider: unpaid use passed the credit limit
};
const char* to_string(PartyState s);

// True iff `party` may report `s` at all (whatever its current state).
bool reportable_by(Party party, PartyState s);
// True iff `s` ends the deal (closed, failed, unpaid).
bool is_terminal(PartyState s);
// True iff a party in state `from` may next report `to`. A live state (ready, connected) may be
// re-reported: that is the heartbeat. Nothing follows a terminal state.
bool legal_transition(Party party, PartyState from, PartyState to);

// A side's latest accepted report. `at` is the time stamped in that report (for a live state, the
// last heartbeat); `live_since` is when the side first reported its live state (ready or
// connected), kept through heartbeats and into a terminal state; `seq` the last sequence number
// (0 = nothing reported yet).
struct PartyStatus {
  PartyState state = PartyState::none;
  Timestamp at{};
  uint64_t seq = 0;
  std::optional<Timestamp> live_since;

  friend bool operator==(const PartyStatus&, const PartyStatus&) = default;
};

// When the deal opened on the ledger, when the rental starts and how long it lasts.
struct DealTimes {
  Timestamp opened{};
  Timestamp start{};
  Millis duration{0};

  Timestamp end() const { return start + duration; }
};

// The automatic closes ("special cases set automatically") and the clock tolerance. Defaults and
// their reasons are in docs/protocol.md.
struct ProtocolTimeouts {
  Millis ready_timeout{30'000};     // after start: provider not ready -> provider_failed
  Millis connect_timeout{60'000};   // after ready (or start): requester absent -> expired
  Millis liveness_timeout{90'000};  // while active: a side silent this long has vanished
  Millis clock_skew{5'000};         // how far ahead an event may be stamped; closes final after it
};
// Checks that every timeout is positive and the skew is not negative (invalid_argument).
Result<void> validate(const ProtocolTimeouts& t);
// How often a live side should re-send its status: a third of the liveness timeout, so that two
// lost heartbeats in a row do not close the deal.
inline Millis heartbeat_interval(const ProtocolTimeouts& t) {
  return t.liveness_timeout / 3;
}

enum class DealPhase : uint8_t { pending, ready, active, closed };
const char* to_string(DealPhase p);

// The deal's status at some instant. `since` is when the phase began (for `closed`, the close
// time); `reason` is set iff closed. A close is `final` once the clock is `clock_skew` past it:
// until then a report stamped earlier may still arrive and move or undo it, so a node acts on a
// close (submits it to the ledger) only when it is final.
struct DealStatus {
  DealPhase phase = DealPhase::pending;
  ledger::CloseReason reason = ledger::CloseReason::unspecified;
  Timestamp since{};
  bool final = false;

  friend bool operator==(const DealStatus&, const DealStatus&) = default;
};

// The status function: the deal's status at `now` from the two sides' latest statuses. Total
// over all inputs. Every way of closing gives a candidate (time, reason); the earliest wins, and
// at the same millisecond the reason earlier in close_reason_precedence() wins.
DealStatus deal_status(const DealTimes& t, const PartyStatus& provider,
                       const PartyStatus& requester, Timestamp now,
                       const ProtocolTimeouts& timeouts);

// When deal_status() could next change with no new event (a timeout, or a close becoming final),
// so a node can schedule a timer; nullopt once the deal is closed and final. Always after `now`.
std::optional<Timestamp> next_deadline(const DealTimes& t, const PartyStatus& provider,
                                       const PartyStatus& requester, Timestamp now,
                                       const ProtocolTimeouts& timeouts);

// The tie-break among closes at the same millisecond: the lower rank wins. The order is
// completed, provider_failed, unpaid, expired, requester_closed, provider_closed.
int close_reason_precedence(ledger::CloseReason r);

// ---- Status events ------------------------------------------------------------------------------
// One report by one side, EIP-712 typed data under the ledger domain:
//   DealStatusEvent(bytes32 dealId,uint8 party,uint8 status,uint64 at,uint64 seq)
// `at` is unix milliseconds (not negative); `seq` counts the party's reports from 1 and stops
// replays.
struct StatusEvent {
  Hash deal_id;
  Party party = Party::provider;
  PartyState state = PartyState::none;
  Timestamp at{};
  uint64_t seq = 0;

  static const std::string& encoded_type();
  Hash struct_hash() const;
};

struct SignedStatusEvent {
  StatusEvent event;
  crypto::Signature signature;
};

// Signs `e` with `key` under the domain `domain_separator`
// (ledger_domain(chain_id, contract).separator()). Fails only if the key cannot sign.
Result<SignedStatusEvent> sign_event(const crypto::PrivateKey& key, const StatusEvent& e,
                                     const Hash& domain_separator);
// Succeeds iff the signature over the event's EIP-712 digest is well formed, low-s, and recovers
// to `expected_signer`; else bad_signature naming the signer found.
Result<void> verify_event(const SignedStatusEvent& e, const Address& expected_signer,
                          const Hash& domain_separator);

// ---- One deal's protocol state, as a node keeps it ---------------------------------------------
struct DealProgress {
  Hash deal_id;
  Address provider;
  Address requester;
  DealTimes times;
  PartyStatus provider_status;
  PartyStatus requester_status;

  // A deal just opened on the ledger (`d.start` and `d.duration` are in seconds), at `opened`
  // (the timestamp of the block that opened it); both sides at `none`.
  static DealProgress open(const ledger::DealView& d, Timestamp opened);

  const PartyStatus& status_of(Party p) const;
  DealStatus status(Timestamp now, const ProtocolTimeouts& timeouts) const;
};

// Whether `e`, received at `now`, is acceptable for the deal; checked in this order:
//  1. e.deal_id is the deal's (wrong_deal);
//  2. e.party is a party and may report e.state at all (wrong_party; `none` is bad_transition);
//  3. e.seq is the party's last seq + 1 (bad_sequence: replayed or skipped);
//  4. opened <= e.at <= now + clock_skew, and e.at is not before the party's last report
//     (bad_time);
//  5. e.state is a legal successor of the party's state (bad_transition);
//  6. the deal is not closed (deal_closed): rejected if the close is final at `now`, or the close
//     is before e.at; a live report stamped exactly at the close is too late, a terminal one is
//     not (it takes part in the tie-break).
// Does not check the signature: verify_event() does.
Result<void> check_transition(const DealProgress& d, const StatusEvent& e, Timestamp now,
                              const ProtocolTimeouts& timeouts);

// check_transition(), then records `e` as its party's status; returns the deal's status at
// `now`. On error `d` is unchanged.
Result<DealStatus> apply_event(DealProgress& d, const StatusEvent& e, Timestamp now,
                               const ProtocolTimeouts& timeouts);

// verify_event() against the address of the party the event names, then apply_event().
Result<DealStatus> accept_event(DealProgress& d, const SignedStatusEvent& e,
                                const Hash& domain_separator, Timestamp now,
                                const ProtocolTimeouts& timeouts);

}  // namespace ipsx::market
