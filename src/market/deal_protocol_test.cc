#include "market/deal_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <utility>
#include <vector>

#include "core/keccak.h"
#include "crypto/eip712.h"

namespace ipsx::market {

// So that failed expectations print the status, not its bytes.
void PrintTo(const DealStatus& s, std::ostream* os) {
  *os << to_string(s.phase) << "/" << ledger::to_string(s.reason) << " since "
      << to_unix_ms(s.since) << (s.final ? " final" : "");
}

namespace {

using ledger::CloseReason;
using PS = PartyState;

constexpr int64_t kT0 = 1'767'225'600'000;  // unix ms, a whole second
constexpr int64_t kS = 1000;                // one second in ms
const ProtocolTimeouts kTo{};               // ready 30 s, connect 60 s, liveness 90 s, skew 5 s

// Times are offsets from kT0, in ms.
Timestamp at(int64_t offset) {
  return from_unix_ms(kT0 + offset);
}

// A 10-minute rental opened at kT0 that starts `start` ms later.
DealTimes rental(int64_t start = 0, int64_t duration = 600 * kS) {
  return DealTimes{at(0), at(start), Millis(duration)};
}

PartyStatus none() {
  return {};
}
// A side live (ready / connected) since `since`, last heard from at `last` (default: since).
PartyStatus live(PS s, int64_t since, std::optional<int64_t> last = std::nullopt) {
  return PartyStatus{s, at(last.value_or(since)), 1, at(since)};
}
// A side that ended with `s` at `when`; live since `live_since` if it ever was.
PartyStatus ended(PS s, int64_t when, std::optional<int64_t> live_since = std::nullopt) {
  PartyStatus p{s, at(when), 2, std::nullopt};
  if (live_since) p.live_since = at(*live_since);
  return p;
}

DealStatus status(const PartyStatus& p, const PartyStatus& r, int64_t now,
                  const DealTimes& t = rental()) {
  return deal_status(t, p, r, at(now), kTo);
}
DealStatus open(DealPhase phase, int64_t since) {
  return {phase, CloseReason::unspecified, at(since), false};
}
DealStatus closed(CloseReason why, int64_t since, bool final = false) {
  return {DealPhase::closed, why, at(since), final};
}

template <class T>
std::error_code code_of(const Result<T>& r) {
  return r ? std::error_code() : r.error().code();
}
std::error_code code(MarketErrc e) {
  return make_error_code(e);
}

crypto::PrivateKey key(const char* seed) {
  return crypto::PrivateKey::from_bytes(keccak256(std::string_view(seed)).view()).value();
}

// ---- Party transitions -----------------------------------------------------------------------

const PS kAllStates[] = {PS::none, PS::ready, PS::connected, PS::closed, PS::failed, PS::unpaid};

TEST(PartyTransitions, ProviderGoesNoneToReadyThenClosedFailedOrUnpaidAndNeverBack) {
  const std::set<std::pair<PS, PS>> legal = {{PS::none, PS::ready},   {PS::none, PS::closed},
                                             {PS::none, PS::failed},  {PS::ready, PS::ready},
                                             {PS::ready, PS::closed}, {PS::ready, PS::failed},
                                             {PS::ready, PS::unpaid}};
  for (PS from : kAllStates) {
    for (PS to : kAllStates) {
      EXPECT_EQ(legal_transition(Party::provider, from, to), legal.contains({from, to}))
          << to_string(from) << " -> " << to_string(to);
    }
  }
}

TEST(PartyTransitions, RequesterGoesNoneToConnectedThenClosedOrFailedAndNeverBack) {
  const std::set<std::pair<PS, PS>> legal = {
      {PS::none, PS::connected},      {PS::none, PS::closed},      {PS::none, PS::failed},
      {PS::connected, PS::connected}, {PS::connected, PS::closed}, {PS::connected, PS::failed}};
  for (PS from : kAllStates) {
    for (PS to : kAllStates) {
      EXPECT_EQ(legal_transition(Party::requester, from, to), legal.contains({from, to}))
          << to_string(from) << " -> " << to_string(to);
    }
  }
}

TEST(PartyTransitions, EachPartyReportsOnlyItsOwnStatesAndNobodyReportsNone) {
  EXPECT_TRUE(reportable_by(Party::provider, PS::ready));
  EXPECT_TRUE(reportable_by(Party::provider, PS::unpaid));
  EXPECT_FALSE(reportable_by(Party::provider, PS::connected));
  EXPECT_TRUE(reportable_by(Party::requester, PS::connected));
  EXPECT_FALSE(reportable_by(Party::requester, PS::ready));
  EXPECT_FALSE(reportable_by(Party::requester, PS::unpaid));
  for (Party p : {Party::provider, Party::requester}) {
    EXPECT_FALSE(reportable_by(p, PS::none));
    EXPECT_TRUE(reportable_by(p, PS::closed));
    EXPECT_TRUE(reportable_by(p, PS::failed));
  }
  EXPECT_TRUE(is_terminal(PS::closed) && is_terminal(PS::failed) && is_terminal(PS::unpaid));
  EXPECT_FALSE(is_terminal(PS::none) || is_terminal(PS::ready) || is_terminal(PS::connected));
}

// ---- The status table: every cell --------------------------------------------------------------

// The provider is ready at 1 s, the requester connected at 2 s; terminal reports at 10 s and 20 s
// (in both orders); read at 25 s, before any timeout.
TEST(StatusTable, EveryCellGivesTheDocumentedStatusAndTheEarlierReportWins) {
  struct Cell {
    PS p, r;
    DealPhase phase;
    CloseReason provider_first, requester_first;
  };
  const auto U = CloseReason::unspecified;
  const auto C = DealPhase::closed;
  const Cell cells[] = {
      {PS::none, PS::none, DealPhase::pending, U, U},
      {PS::none, PS::connected, DealPhase::pending, U, U},
      {PS::none, PS::closed, C, CloseReason::requester_closed, CloseReason::requester_closed},
      {PS::none, PS::failed, C, CloseReason::provider_failed, CloseReason::provider_failed},
      {PS::ready, PS::none, DealPhase::ready, U, U},
      {PS::ready, PS::connected, DealPhase::active, U, U},
      {PS::ready, PS::closed, C, CloseReason::requester_closed, CloseReason::requester_closed},
      {PS::ready, PS::failed, C, CloseReason::provider_failed, CloseReason::provider_failed},
      {PS::closed, PS::none, C, CloseReason::provider_closed, CloseReason::provider_closed},
      {PS::closed, PS::connected, C, CloseReason::provider_closed, CloseReason::provider_closed},
      {PS::closed, PS::closed, C, CloseReason::provider_closed, CloseReason::requester_closed},
      {PS::closed, PS::failed, C, CloseReason::provider_closed, CloseReason::provider_failed},
      {PS::failed, PS::none, C, CloseReason::provider_failed, CloseReason::provider_failed},
      {PS::failed, PS::connected, C, CloseReason::provider_failed, CloseReason::provider_failed},
      {PS::failed, PS::closed, C, CloseReason::provider_failed, CloseReason::requester_closed},
      {PS::failed, PS::failed, C, CloseReason::provider_failed, CloseReason::provider_failed},
      {PS::unpaid, PS::none, C, CloseReason::unpaid, CloseReason::unpaid},
      {PS::unpaid, PS::connected, C, CloseReason::unpaid, CloseReason::unpaid},
      {PS::unpaid, PS::closed, C, CloseReason::unpaid, CloseReason::requester_closed},
      {PS::unpaid, PS::failed, C, CloseReason::unpaid, CloseReason::provider_failed},
  };
  auto side = [](PS s, int64_t live_at, int64_t end_at, bool was_live) {
    if (s == PS::none) return none();
    if (!is_terminal(s)) return live(s, live_at);
    return ended(s, end_at, was_live ? std::optional<int64_t>(live_at) : std::nullopt);
  };
  for (const Cell& c : cells) {
    for (bool provider_first : {true, false}) {
      for (bool was_live : {true, false}) {
        const int64_t tp = provider_first ? 10 * kS : 20 * kS;
        const int64_t tr = provider_first ? 20 * kS : 10 * kS;
        PartyStatus p = side(c.p, 1 * kS, tp, was_live);
        PartyStatus r = side(c.r, 2 * kS, tr, was_live);
        DealStatus got = status(p, r, 25 * kS);
        SCOPED_TRACE(::testing::Message() << to_string(c.p) << " x " << to_string(c.r)
                                          << (provider_first ? ", provider first" : "")
                                          << (was_live ? ", was live" : ""));
        EXPECT_EQ(got.phase, c.phase);
        EXPECT_EQ(got.reason, provider_first ? c.provider_first : c.requester_first);
        if (c.phase == C) {
          int64_t since = is_terminal(c.p) && is_terminal(c.r) ? 10 * kS
                          : is_terminal(c.p)                   ? tp
                                                               : tr;
          EXPECT_EQ(got.since, at(since));
        }
      }
    }
  }
}

TEST(StatusTable, OpenPhasesStartWhenTheirReportsDo) {
  EXPECT_EQ(status(none(), none(), 5 * kS), open(DealPhase::pending, 0));
  EXPECT_EQ(status(none(), live(PS::connected, 2 * kS), 5 * kS), open(DealPhase::pending, 0));
  EXPECT_EQ(status(live(PS::ready, 1 * kS), none(), 5 * kS), open(DealPhase::ready, 1 * kS));
  EXPECT_EQ(status(live(PS::ready, 3 * kS), live(PS::connected, 2 * kS), 5 * kS),
            open(DealPhase::active, 3 * kS));
}

// ---- Timeouts, each at its boundary ------------------------------------------------------------

TEST(ReadyTimeout, ClosesAsProviderFailedExactlyThirtySecondsAfterStart) {
  EXPECT_EQ(status(none(), none(), 30 * kS - 1), open(DealPhase::pending, 0));
  EXPECT_EQ(status(none(), none(), 30 * kS), closed(CloseReason::provider_failed, 30 * kS));
  // A connected requester does not excuse an exit that never reported ready.
  EXPECT_EQ(status(none(), live(PS::connected, 1 * kS), 30 * kS),
            closed(CloseReason::provider_failed, 30 * kS));
}

TEST(ReadyTimeout, ReadyOneMillisecondBeforeTheDeadlineIsInTimeAndAtItIsLate) {
  EXPECT_EQ(status(live(PS::ready, 30 * kS - 1), none(), 30 * kS),
            open(DealPhase::ready, 30 * kS - 1));
  EXPECT_EQ(status(live(PS::ready, 30 * kS), none(), 30 * kS),
            closed(CloseReason::provider_failed, 30 * kS));
}

TEST(ReadyTimeout, CountsFromTheScheduledStartNotFromTheOpening) {
  const DealTimes t = rental(100 * kS);
  EXPECT_EQ(status(none(), none(), 130 * kS - 1, t), open(DealPhase::pending, 0));
  EXPECT_EQ(status(none(), none(), 130 * kS, t), closed(CloseReason::provider_failed, 130 * kS));
  // Ready before the start is in time.
  EXPECT_EQ(status(live(PS::ready, 50 * kS), none(), 130 * kS, t), open(DealPhase::ready, 50 * kS));
}

TEST(ConnectTimeout, ClosesAsExpiredSixtySecondsAfterReady) {
  const PartyStatus p = live(PS::ready, 10 * kS);
  EXPECT_EQ(status(p, none(), 70 * kS - 1), open(DealPhase::ready, 10 * kS));
  EXPECT_EQ(status(p, none(), 70 * kS), closed(CloseReason::expired, 70 * kS));
  EXPECT_EQ(status(p, live(PS::connected, 70 * kS - 1), 70 * kS),
            open(DealPhase::active, 70 * kS - 1));
  EXPECT_EQ(status(p, live(PS::connected, 70 * kS), 70 * kS),
            closed(CloseReason::expired, 70 * kS));
}

TEST(ConnectTimeout, ForAnExitReadyBeforeTheStartCountsFromTheStart) {
  const DealTimes t = rental(100 * kS);
  const PartyStatus p = live(PS::ready, 50 * kS);
  EXPECT_EQ(status(p, none(), 160 * kS - 1, t), open(DealPhase::ready, 50 * kS));
  EXPECT_EQ(status(p, none(), 160 * kS, t), closed(CloseReason::expired, 160 * kS));
}

TEST(LivenessTimeout, SilentProviderClosesAsProviderFailedNinetySecondsAfterItsLastReport) {
  const PartyStatus p = live(PS::ready, 1 * kS, 50 * kS);
  const PartyStatus r = live(PS::connected, 2 * kS, 100 * kS);
  EXPECT_EQ(status(p, r, 140 * kS - 1), open(DealPhase::active, 2 * kS));
  EXPECT_EQ(status(p, r, 140 * kS), closed(CloseReason::provider_failed, 140 * kS));
}

TEST(LivenessTimeout, SilentRequesterClosesAsExpiredNinetySecondsAfterItsLastReport) {
  const PartyStatus p = live(PS::ready, 1 * kS, 100 * kS);
  const PartyStatus r = live(PS::connected, 2 * kS, 50 * kS);
  EXPECT_EQ(status(p, r, 140 * kS - 1), open(DealPhase::active, 2 * kS));
  EXPECT_EQ(status(p, r, 140 * kS), closed(CloseReason::expired, 140 * kS));
}

TEST(LivenessTimeout, CountsFromActivationWhenTheLastReportCameBeforeIt) {
  // Ready at 1 s and never refreshed; the deal becomes active at 50 s: deadline 140 s, not 91 s.
  const PartyStatus p = live(PS::ready, 1 * kS);
  const PartyStatus r = live(PS::connected, 50 * kS, 120 * kS);
  EXPECT_EQ(status(p, r, 140 * kS - 1), open(DealPhase::active, 50 * kS));
  EXPECT_EQ(status(p, r, 140 * kS), closed(CloseReason::provider_failed, 140 * kS));
}

TEST(LivenessTimeout, DoesNotApplyBeforeTheDealIsActive) {
  // Ready at 10 s, requester absent: the connect timeout (70 s) decides, not liveness.
  EXPECT_EQ(status(live(PS::ready, 10 * kS), none(), 69 * kS), open(DealPhase::ready, 10 * kS));
}

TEST(TimeUp, ClosesAsCompletedAtStartPlusDuration) {
  const PartyStatus p = live(PS::ready, 1 * kS, 590 * kS);
  const PartyStatus r = live(PS::connected, 2 * kS, 590 * kS);
  EXPECT_EQ(status(p, r, 600 * kS - 1), open(DealPhase::active, 2 * kS));
  EXPECT_EQ(status(p, r, 600 * kS), closed(CloseReason::completed, 600 * kS));
}

TEST(TimeUp, EndsAShortRentalForTheReasonItWasWaitingFor) {
  const DealTimes five_s = rental(0, 5 * kS);
  EXPECT_EQ(status(none(), none(), 5 * kS, five_s), closed(CloseReason::provider_failed, 5 * kS));
  EXPECT_EQ(status(none(), none(), 5 * kS - 1, five_s), open(DealPhase::pending, 0));
  EXPECT_EQ(status(live(PS::ready, 1 * kS), none(), 5 * kS, five_s),
            closed(CloseReason::expired, 5 * kS));
  EXPECT_EQ(status(live(PS::ready, 1 * kS), live(PS::connected, 2 * kS), 5 * kS, five_s),
            closed(CloseReason::completed, 5 * kS));
  // A report at the very end is too late to change the reason.
  EXPECT_EQ(status(live(PS::ready, 5 * kS), none(), 5 * kS, five_s),
            closed(CloseReason::provider_failed, 5 * kS));
}

TEST(TimeUp, WinsOverALivenessDeadlineAtTheSameMillisecond) {
  const PartyStatus p = live(PS::ready, 1 * kS, 510 * kS);  // deadline 600 s = end
  const PartyStatus r = live(PS::connected, 2 * kS, 590 * kS);
  EXPECT_EQ(status(p, r, 600 * kS), closed(CloseReason::completed, 600 * kS));
}

TEST(Finality, ACloseBecomesFinalExactlyOneClockSkewAfterIt) {
  const PartyStatus p = ended(PS::closed, 10 * kS, 1 * kS);
  EXPECT_EQ(status(p, none(), 10 * kS), closed(CloseReason::provider_closed, 10 * kS, false));
  EXPECT_EQ(status(p, none(), 15 * kS - 1), closed(CloseReason::provider_closed, 10 * kS, false));
  EXPECT_EQ(status(p, none(), 15 * kS), closed(CloseReason::provider_closed, 10 * kS, true));
}

// ---- Conflicting reports and the tie-break -----------------------------------------------------

TEST(TieBreak, PrecedenceIsCompletedFailedUnpaidExpiredRequesterClosedProviderClosed) {
  const CloseReason order[] = {CloseReason::completed,        CloseReason::provider_failed,
                               CloseReason::unpaid,           CloseReason::expired,
                               CloseReason::requester_closed, CloseReason::provider_closed,
                               CloseReason::unspecified};
  for (size_t i = 0; i + 1 < std::size(order); ++i) {
    EXPECT_LT(close_reason_precedence(order[i]), close_reason_precedence(order[i + 1]))
        << ledger::to_string(order[i]);
  }
}

TEST(TieBreak, ReportsAtTheSameMillisecondResolveByPrecedence) {
  struct Case {
    PS p, r;
    CloseReason want;
  } cases[] = {
      {PS::closed, PS::closed, CloseReason::requester_closed},
      {PS::closed, PS::failed, CloseReason::provider_failed},
      {PS::failed, PS::closed, CloseReason::provider_failed},
      {PS::unpaid, PS::closed, CloseReason::unpaid},
      {PS::unpaid, PS::failed, CloseReason::provider_failed},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(status(ended(c.p, 10 * kS, 1 * kS), ended(c.r, 10 * kS, 2 * kS), 11 * kS),
              closed(c.want, 10 * kS))
        << to_string(c.p) << " x " << to_string(c.r);
  }
}

TEST(TieBreak, OneMillisecondEarlierWinsWhateverTheReason) {
  EXPECT_EQ(status(ended(PS::closed, 10 * kS - 1, 1 * kS), ended(PS::failed, 10 * kS), 11 * kS),
            closed(CloseReason::provider_closed, 10 * kS - 1));
  EXPECT_EQ(status(ended(PS::unpaid, 10 * kS, 1 * kS), ended(PS::closed, 10 * kS - 1), 11 * kS),
            closed(CloseReason::requester_closed, 10 * kS - 1));
}

TEST(TieBreak, AReportAtADeadlineLosesToTheClockUnlessItOutranksIt) {
  // Never ready, closes at the ready deadline: provider_failed, not provider_closed.
  EXPECT_EQ(status(ended(PS::closed, 30 * kS), none(), 31 * kS),
            closed(CloseReason::provider_failed, 30 * kS));
  // Requester closes exactly at the end: completed.
  EXPECT_EQ(
      status(live(PS::ready, 1 * kS, 590 * kS), ended(PS::closed, 600 * kS, 2 * kS), 600 * kS),
      closed(CloseReason::completed, 600 * kS));
  // Requester closes exactly at the connect deadline: expired.
  EXPECT_EQ(status(live(PS::ready, 10 * kS), ended(PS::closed, 70 * kS), 70 * kS),
            closed(CloseReason::expired, 70 * kS));
  // Unpaid reported exactly at the silent requester's liveness deadline: unpaid explains it.
  EXPECT_EQ(
      status(ended(PS::unpaid, 140 * kS, 1 * kS), live(PS::connected, 2 * kS, 50 * kS), 141 * kS),
      closed(CloseReason::unpaid, 140 * kS));
}

TEST(TieBreak, BothSidesSilentAtTheSameMillisecondIsProviderFailed) {
  EXPECT_EQ(
      status(live(PS::ready, 1 * kS, 50 * kS), live(PS::connected, 2 * kS, 50 * kS), 140 * kS),
      closed(CloseReason::provider_failed, 140 * kS));
}

// ---- Events applied to a deal ------------------------------------------------------------------

class DealEvents : public ::testing::Test {
 protected:
  DealProgress make_deal() const {
    ledger::DealView v;
    v.id = keccak256(std::string_view("deal"));
    v.provider = provider_key_.address();
    v.requester = requester_key_.address();
    v.start = kT0 / 1000;
    v.duration = 600;
    return DealProgress::open(v, at(0));
  }
  StatusEvent event(Party p, PS s, int64_t when, std::optional<uint64_t> seq = {}) const {
    return StatusEvent{d_.deal_id, p, s, at(when), seq.value_or(d_.status_of(p).seq + 1)};
  }
  // Applies the party's next event, received at `now` (default: its own time).
  Result<DealStatus> report(Party p, PS s, int64_t when, std::optional<int64_t> now = {}) {
    return apply_event(d_, event(p, s, when), at(now.value_or(when)), kTo);
  }
  SignedStatusEvent sign(const crypto::PrivateKey& k, const StatusEvent& e) const {
    return sign_event(k, e, domain_).value();
  }

  crypto::PrivateKey provider_key_ = key("provider");
  crypto::PrivateKey requester_key_ = key("requester");
  Hash domain_ = ledger_domain(1337, Address()).separator();
  DealProgress d_ = make_deal();
};

TEST_F(DealEvents, OpenTakesTheLedgerDealsSecondsAsMilliseconds) {
  EXPECT_EQ(d_.times.opened, at(0));
  EXPECT_EQ(d_.times.start, at(0));
  EXPECT_EQ(d_.times.end(), at(600 * kS));
  EXPECT_EQ(d_.provider_status, PartyStatus{});
  EXPECT_EQ(d_.status(at(1), kTo), open(DealPhase::pending, 0));
}

TEST_F(DealEvents, EveryLegalTransitionIsAcceptedAndEveryOtherRejectedWithItsCode) {
  const std::vector<PS> provider_from = {PS::none, PS::ready, PS::closed, PS::failed, PS::unpaid};
  const std::vector<PS> requester_from = {PS::none, PS::connected, PS::closed, PS::failed};
  for (Party party : {Party::provider, Party::requester}) {
    for (PS from : party == Party::provider ? provider_from : requester_from) {
      for (PS to : kAllStates) {
        d_ = make_deal();
        PartyStatus& s = party == Party::provider ? d_.provider_status : d_.requester_status;
        if (from != PS::none) {
          s = is_terminal(from) ? ended(from, 1 * kS) : live(from, 1 * kS);
        }
        auto r = check_transition(d_, event(party, to, 2 * kS), at(2 * kS), kTo);
        SCOPED_TRACE(::testing::Message()
                     << to_string(party) << " " << to_string(from) << " -> " << to_string(to));
        if (to == PS::none) {
          EXPECT_EQ(code_of(r), code(MarketErrc::bad_transition));
        } else if (!reportable_by(party, to)) {
          EXPECT_EQ(code_of(r), code(MarketErrc::wrong_party));
        } else if (legal_transition(party, from, to)) {
          EXPECT_TRUE(r) << r.error().message();
        } else {
          EXPECT_EQ(code_of(r), code(MarketErrc::bad_transition));
        }
      }
    }
  }
}

TEST_F(DealEvents, HappyPathRunsPendingReadyActiveCompleted) {
  EXPECT_EQ(report(Party::provider, PS::ready, 3 * kS).value(), open(DealPhase::ready, 3 * kS));
  EXPECT_EQ(report(Party::requester, PS::connected, 5 * kS).value(),
            open(DealPhase::active, 5 * kS));
  // Both sides refresh every 30 s (the heartbeat interval) until time is up.
  for (int64_t t = 35 * kS; t < 600 * kS; t += 30 * kS) {
    ASSERT_TRUE(report(Party::provider, PS::ready, t));
    ASSERT_TRUE(report(Party::requester, PS::connected, t));
  }
  EXPECT_EQ(d_.provider_status.live_since, at(3 * kS));
  EXPECT_EQ(d_.status(at(600 * kS - 1), kTo), open(DealPhase::active, 5 * kS));
  EXPECT_EQ(d_.status(at(600 * kS), kTo), closed(CloseReason::completed, 600 * kS));
}

TEST_F(DealEvents, ProviderReadyAfterRequesterClosedIsRejected) {
  ASSERT_TRUE(report(Party::requester, PS::closed, 5 * kS));
  auto r = report(Party::provider, PS::ready, 6 * kS);
  EXPECT_EQ(code_of(r), code(MarketErrc::deal_closed));
  EXPECT_EQ(d_.status(at(6 * kS), kTo), closed(CloseReason::requester_closed, 5 * kS));
}

TEST_F(DealEvents, ConflictingClosesGiveTheSameAnswerInEitherArrivalOrder) {
  ASSERT_TRUE(report(Party::provider, PS::ready, 1 * kS));
  const DealProgress base = d_;
  // The requester's close (stamped 20 s) arrives first, the provider's (18 s) a second later.
  ASSERT_TRUE(report(Party::requester, PS::closed, 20 * kS, 21 * kS));
  ASSERT_TRUE(report(Party::provider, PS::closed, 18 * kS, 22 * kS));
  const DealStatus one = d_.status(at(30 * kS), kTo);
  d_ = base;
  ASSERT_TRUE(report(Party::provider, PS::closed, 18 * kS, 21 * kS));
  // The requester's close now comes after a close: refused, and the answer is the same.
  EXPECT_EQ(code_of(report(Party::requester, PS::closed, 20 * kS, 22 * kS)),
            code(MarketErrc::deal_closed));
  const DealStatus other = d_.status(at(30 * kS), kTo);
  EXPECT_EQ(one, closed(CloseReason::provider_closed, 18 * kS, true));
  EXPECT_EQ(other, one);
}

TEST_F(DealEvents, TerminalReportStampedAtTheCloseIsAcceptedAndTieBroken) {
  ASSERT_TRUE(report(Party::provider, PS::ready, 1 * kS));
  ASSERT_TRUE(report(Party::requester, PS::closed, 20 * kS));
  auto r = report(Party::provider, PS::unpaid, 20 * kS, 21 * kS);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, closed(CloseReason::unpaid, 20 * kS));
}

TEST_F(DealEvents, LiveReportStampedAtTheCloseIsTooLate) {
  auto r = report(Party::provider, PS::ready, 30 * kS);  // the ready deadline
  EXPECT_EQ(code_of(r), code(MarketErrc::deal_closed));
  EXPECT_TRUE(report(Party::provider, PS::ready, 30 * kS - 1, 30 * kS));
}

TEST_F(DealEvents, DelayedHeartbeatStampedBeforeTheDeadlineKeepsTheDealAliveUntilFinal) {
  ASSERT_TRUE(report(Party::provider, PS::ready, 1 * kS));
  ASSERT_TRUE(report(Party::requester, PS::connected, 2 * kS));
  ASSERT_TRUE(report(Party::requester, PS::connected, 80 * kS));
  // The provider's deadline is 2 s + 90 s = 92 s; at 93 s the deal is closed, not yet final.
  EXPECT_EQ(d_.status(at(93 * kS), kTo), closed(CloseReason::provider_failed, 92 * kS));
  DealProgress before = d_;
  auto r = report(Party::provider, PS::ready, 91 * kS, 93 * kS);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, open(DealPhase::active, 2 * kS));
  // The same heartbeat arriving once the close is final (92 s + 5 s) is refused.
  d_ = before;
  EXPECT_EQ(code_of(report(Party::provider, PS::ready, 91 * kS, 97 * kS)),
            code(MarketErrc::deal_closed));
  EXPECT_EQ(code_of(report(Party::provider, PS::closed, 91 * kS, 97 * kS)),
            code(MarketErrc::deal_closed));
  EXPECT_TRUE(report(Party::provider, PS::closed, 91 * kS, 97 * kS - 1));
}

TEST_F(DealEvents, EventsAfterTheCloseAreRejected) {
  ASSERT_TRUE(report(Party::requester, PS::closed, 10 * kS));
  EXPECT_EQ(code_of(report(Party::provider, PS::closed, 10 * kS + 1)),
            code(MarketErrc::deal_closed));
  EXPECT_EQ(code_of(report(Party::provider, PS::failed, 11 * kS)), code(MarketErrc::deal_closed));
}

TEST_F(DealEvents, WrongPartyIsRejected) {
  EXPECT_EQ(code_of(report(Party::requester, PS::ready, 1 * kS)), code(MarketErrc::wrong_party));
  EXPECT_EQ(code_of(report(Party::requester, PS::unpaid, 1 * kS)), code(MarketErrc::wrong_party));
  EXPECT_EQ(code_of(report(Party::provider, PS::connected, 1 * kS)), code(MarketErrc::wrong_party));
  StatusEvent e = event(Party::provider, PS::ready, 1 * kS);
  e.party = static_cast<Party>(9);
  EXPECT_EQ(code_of(apply_event(d_, e, at(1 * kS), kTo)), code(MarketErrc::wrong_party));
  EXPECT_EQ(code_of(report(Party::provider, PS::none, 1 * kS)), code(MarketErrc::bad_transition));
}

TEST_F(DealEvents, EventForAnotherDealIsRejected) {
  StatusEvent e = event(Party::provider, PS::ready, 1 * kS);
  e.deal_id = keccak256(std::string_view("other deal"));
  EXPECT_EQ(code_of(apply_event(d_, e, at(1 * kS), kTo)), code(MarketErrc::wrong_deal));
}

TEST_F(DealEvents, ReplayedAndSkippedSequenceNumbersAreRejected) {
  StatusEvent first = event(Party::provider, PS::ready, 1 * kS);
  EXPECT_EQ(code_of(apply_event(d_, event(Party::provider, PS::ready, 1 * kS, 0), at(1 * kS), kTo)),
            code(MarketErrc::bad_sequence));
  ASSERT_TRUE(apply_event(d_, first, at(1 * kS), kTo));
  // The very same event again, and an old one after newer ones.
  EXPECT_EQ(code_of(apply_event(d_, first, at(2 * kS), kTo)), code(MarketErrc::bad_sequence));
  ASSERT_TRUE(report(Party::provider, PS::ready, 3 * kS));
  EXPECT_EQ(code_of(apply_event(d_, first, at(4 * kS), kTo)), code(MarketErrc::bad_sequence));
  EXPECT_EQ(code_of(apply_event(d_, event(Party::provider, PS::ready, 4 * kS, 4), at(4 * kS), kTo)),
            code(MarketErrc::bad_sequence));
  // Each party counts its own sequence.
  EXPECT_TRUE(apply_event(d_, event(Party::requester, PS::connected, 4 * kS, 1), at(4 * kS), kTo));
}

TEST_F(DealEvents, OutOfOrderEventsOfOnePartyWaitForTheirPredecessor) {
  StatusEvent ready = event(Party::provider, PS::ready, 1 * kS, 1);
  StatusEvent close = event(Party::provider, PS::closed, 2 * kS, 2);
  EXPECT_EQ(code_of(apply_event(d_, close, at(3 * kS), kTo)), code(MarketErrc::bad_sequence));
  ASSERT_TRUE(apply_event(d_, ready, at(3 * kS), kTo));
  auto r = apply_event(d_, close, at(3 * kS), kTo);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, closed(CloseReason::provider_closed, 2 * kS));
}

TEST_F(DealEvents, EventTimesOutsideTheAllowedWindowAreRejected) {
  d_.times.opened = at(1);
  EXPECT_EQ(code_of(report(Party::provider, PS::ready, 0, 1 * kS)), code(MarketErrc::bad_time));
  EXPECT_EQ(code_of(report(Party::provider, PS::ready, 6 * kS + 1, 1 * kS)),
            code(MarketErrc::bad_time));
  ASSERT_TRUE(report(Party::provider, PS::ready, 6 * kS, 1 * kS));  // exactly the skew ahead
  EXPECT_EQ(code_of(report(Party::provider, PS::ready, 6 * kS - 1, 7 * kS)),
            code(MarketErrc::bad_time));                            // before its previous report
  EXPECT_TRUE(report(Party::provider, PS::ready, 6 * kS, 7 * kS));  // same ms is fine
}

TEST_F(DealEvents, RejectedEventLeavesTheDealUnchanged) {
  ASSERT_TRUE(report(Party::provider, PS::ready, 1 * kS));
  const DealProgress before = d_;
  EXPECT_FALSE(report(Party::provider, PS::connected, 2 * kS));
  EXPECT_FALSE(report(Party::requester, PS::connected, 99 * kS, 2 * kS));
  EXPECT_EQ(d_.provider_status, before.provider_status);
  EXPECT_EQ(d_.requester_status, before.requester_status);
}

// ---- Signed events -----------------------------------------------------------------------------

TEST_F(DealEvents, EncodedTypeIsTheDocumentedOne) {
  EXPECT_EQ(StatusEvent::encoded_type(),
            "DealStatusEvent(bytes32 dealId,uint8 party,uint8 status,uint64 at,uint64 seq)");
}

// A wallet signing with eth_signTypedData_v4 must produce the digest we verify.
TEST_F(DealEvents, StructHashMatchesTheGenericTypedDataPath) {
  using json = nlohmann::json;
  const StatusEvent e = event(Party::requester, PS::connected, 2 * kS, 3);
  json doc = {{"types",
               {{"EIP712Domain",
                 {{{"name", "name"}, {"type", "string"}},
                  {{"name", "version"}, {"type", "string"}},
                  {{"name", "chainId"}, {"type", "uint256"}},
                  {{"name", "verifyingContract"}, {"type", "address"}}}},
                {"DealStatusEvent",
                 {{{"name", "dealId"}, {"type", "bytes32"}},
                  {{"name", "party"}, {"type", "uint8"}},
                  {{"name", "status"}, {"type", "uint8"}},
                  {{"name", "at"}, {"type", "uint64"}},
                  {{"name", "seq"}, {"type", "uint64"}}}}}},
              {"primaryType", "DealStatusEvent"},
              {"domain",
               {{"name", "IPSX"},
                {"version", "1"},
                {"chainId", 1337},
                {"verifyingContract", "0x0000000000000000000000000000000000000000"}}},
              {"message",
               {{"dealId", e.deal_id.hex()},
                {"party", 2},
                {"status", 2},
                {"at", kT0 + 2 * kS},
                {"seq", 3}}}};
  auto td = crypto::eip712::TypedData::from_json(doc);
  ASSERT_TRUE(td) << td.error().message();
  EXPECT_EQ(td->message_hash().value(), e.struct_hash());
  EXPECT_EQ(td->digest().value(), crypto::eip712::digest(domain_, e.struct_hash()));
}

TEST_F(DealEvents, EventSignedByTheExpectedPartyVerifies) {
  const SignedStatusEvent s = sign(provider_key_, event(Party::provider, PS::ready, 1 * kS));
  EXPECT_TRUE(verify_event(s, provider_key_.address(), domain_));
}

TEST_F(DealEvents, EventSignedByAnotherKeyFailsVerification) {
  const SignedStatusEvent s = sign(requester_key_, event(Party::provider, PS::ready, 1 * kS));
  auto r = verify_event(s, provider_key_.address(), domain_);
  EXPECT_EQ(code_of(r), code(MarketErrc::bad_signature));
  EXPECT_NE(r.error().message().find(requester_key_.address().to_string()), std::string::npos);
}

TEST_F(DealEvents, TamperingWithAnyFieldOrTheDomainBreaksTheSignature) {
  const SignedStatusEvent good = sign(provider_key_, event(Party::provider, PS::ready, 1 * kS));
  std::vector<SignedStatusEvent> tampered(5, good);
  tampered[0].event.deal_id = keccak256(std::string_view("other deal"));
  tampered[1].event.party = Party::requester;
  tampered[2].event.state = PS::closed;
  tampered[3].event.at = at(1 * kS + 1);
  tampered[4].event.seq = 2;
  for (size_t i = 0; i < tampered.size(); ++i) {
    EXPECT_EQ(code_of(verify_event(tampered[i], provider_key_.address(), domain_)),
              code(MarketErrc::bad_signature))
        << "field " << i;
  }
  const Hash other_chain = ledger_domain(1, Address()).separator();
  EXPECT_EQ(code_of(verify_event(good, provider_key_.address(), other_chain)),
            code(MarketErrc::bad_signature));
  SignedStatusEvent malformed = good;
  malformed.signature = crypto::Signature(Hash(), good.signature.s(), 0);  // r = 0
  EXPECT_EQ(code_of(verify_event(malformed, provider_key_.address(), domain_)),
            code(MarketErrc::bad_signature));
}

TEST_F(DealEvents, AcceptEventVerifiesAgainstTheNamedPartyThenApplies) {
  const SignedStatusEvent forged = sign(requester_key_, event(Party::provider, PS::closed, 1 * kS));
  EXPECT_EQ(code_of(accept_event(d_, forged, domain_, at(1 * kS), kTo)),
            code(MarketErrc::bad_signature));
  EXPECT_EQ(d_.provider_status, PartyStatus{});
  const SignedStatusEvent real = sign(provider_key_, event(Party::provider, PS::ready, 1 * kS));
  auto r = accept_event(d_, real, domain_, at(1 * kS), kTo);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, open(DealPhase::ready, 1 * kS));
  // The same signed event again is a replay.
  EXPECT_EQ(code_of(accept_event(d_, real, domain_, at(2 * kS), kTo)),
            code(MarketErrc::bad_sequence));
}

// ---- next_deadline -----------------------------------------------------------------------------

std::optional<Timestamp> next(const PartyStatus& p, const PartyStatus& r, int64_t now,
                              const DealTimes& t = rental()) {
  return next_deadline(t, p, r, at(now), kTo);
}

TEST(NextDeadline, IsTheTimeoutOfTheCurrentPhase) {
  EXPECT_EQ(next(none(), none(), 0), at(30 * kS));
  EXPECT_EQ(next(live(PS::ready, 10 * kS), none(), 10 * kS), at(70 * kS));
  EXPECT_EQ(next(live(PS::ready, 1 * kS, 40 * kS), live(PS::connected, 2 * kS, 50 * kS), 50 * kS),
            at(130 * kS));
  EXPECT_EQ(
      next(live(PS::ready, 1 * kS, 580 * kS), live(PS::connected, 2 * kS, 590 * kS), 590 * kS),
      at(600 * kS));
}

TEST(NextDeadline, AfterACloseIsWhenItBecomesFinalThenNothing) {
  const PartyStatus p = ended(PS::closed, 10 * kS, 1 * kS);
  EXPECT_EQ(next(p, none(), 10 * kS), at(15 * kS));
  EXPECT_EQ(next(p, none(), 15 * kS - 1), at(15 * kS));
  EXPECT_EQ(next(p, none(), 15 * kS), std::nullopt);
}

TEST(NextDeadline, IncludesReportsStampedAheadOfNow) {
  EXPECT_EQ(next(live(PS::ready, 12 * kS), none(), 10 * kS), at(12 * kS));
  EXPECT_EQ(next(live(PS::ready, 5 * kS), live(PS::connected, 13 * kS), 10 * kS), at(13 * kS));
  EXPECT_EQ(next(ended(PS::closed, 14 * kS, 1 * kS), none(), 10 * kS), at(14 * kS));
}

// The promise a node's timer relies on: nothing changes before the deadline, something at it.
TEST(NextDeadline, StatusIsConstantUntilTheDeadlineAndChangesAtIt) {
  struct Scenario {
    PartyStatus p, r;
    DealTimes t;
  } scenarios[] = {
      {none(), none(), rental()},
      {none(), none(), rental(100 * kS)},
      {live(PS::ready, 10 * kS), none(), rental()},
      {live(PS::ready, 1 * kS, 40 * kS), live(PS::connected, 2 * kS, 70 * kS), rental()},
      {live(PS::ready, 1 * kS, 590 * kS), live(PS::connected, 2 * kS, 590 * kS), rental()},
      {ended(PS::unpaid, 20 * kS, 1 * kS), live(PS::connected, 2 * kS), rental()},
      {live(PS::ready, 1 * kS), none(), rental(0, 5 * kS)},
  };
  for (const Scenario& s : scenarios) {
    int64_t now = 0;
    for (int steps = 0; steps < 10; ++steps) {
      auto n = next_deadline(s.t, s.p, s.r, at(now), kTo);
      if (!n) break;
      const int64_t d = to_unix_ms(*n) - kT0;
      ASSERT_GT(d, now);
      const DealStatus before = status(s.p, s.r, now, s.t);
      EXPECT_EQ(status(s.p, s.r, d - 1, s.t), before) << "at " << d - 1;
      EXPECT_NE(status(s.p, s.r, d, s.t), before) << "at " << d;
      now = d;
    }
    EXPECT_EQ(next_deadline(s.t, s.p, s.r, at(now), kTo), std::nullopt);
    EXPECT_TRUE(status(s.p, s.r, now, s.t).final);
  }
}

// ---- Timeouts ----------------------------------------------------------------------------------

TEST(Timeouts, DefaultsAreValidAndNonPositiveOnesAreRejected) {
  EXPECT_TRUE(validate(ProtocolTimeouts{}));
  EXPECT_EQ(heartbeat_interval(ProtocolTimeouts{}), Millis(30'000));
  ProtocolTimeouts t;
  t.connect_timeout = Millis(0);
  EXPECT_EQ(code_of(validate(t)), code(MarketErrc::invalid_argument));
  t = {};
  t.clock_skew = Millis(-1);
  EXPECT_EQ(code_of(validate(t)), code(MarketErrc::invalid_argument));
  t.clock_skew = Millis(0);
  EXPECT_TRUE(validate(t));
}

}  // namespace
}  // namespace ipsx::market
