// Scripted market scenarios: a small line-oriented language for stories about the order book and
// the deal protocol, and the runner that plays them against a fresh OrderBook and fresh deal
// state, checking every expectation. In the spirit of Liquibook's scripted scenarios, but
// readable. One command per line; `#` starts a comment; words are separated by blanks.
//
// The book (`[...]` optional, defaults in parentheses):
//   rating P N            the rating (0..500) the book's RatingOf reports for party P (else 0)
//   rerate P N            the same, then OrderBook::rating_changed(P): P's orders re-match
//   offer O by P [country CC (DE)] [type residential|datacenter|mobile (residential)]
//       [price N (10)] [capacity N (1)] [ip IP (10.x.y.1, a /24 of its own)]
//       [protocols http,https-connect,socks5,smtp,vpn (http,socks5)]
//       [scopes crawling,streaming,email,general,vpn (crawling,general)] [bandwidth KBPS (10000)]
//       [duration MIN..MAX (5..1d)] [available FROM..UNTIL (0..0)] [expiry T (now+1h)]
//       [min-rating N (0)] [region R] [asn N] [market M] [fee BPS (0)] [nonce N]
//   request R by Q [countries CC,..|any (any)] [types T,..|any (any)] [count N (1)]
//       [max N (100)] [duration D (60)] [budget N (max x duration x count)] [scope S (crawling)]
//       [protocols ... (http)] [exclusive] [distinct-subnets] [aon] [start T|now (now)]
//       [expiry T (now+1h)] [min-rating N] [min-bandwidth KBPS] [region R] [asn N] [market M]
//       [fee BPS] [nonce N]
//   cancel O [not-found]  cancel must succeed (or, with not-found, find nothing); a bare
//                         number instead of a name is a raw OrderId
//   release O [exclusive] a deal made from offer O ended
//   expire                OrderBook::expire(now)
//   tick                  OrderBook::advance(now): offers whose window has opened re-match
//   advance D | time T    move the scenario clock forward (by D, or to T)
// The deal protocol:
//   timeouts [ready D] [connect D] [liveness D] [skew D]    (ProtocolTimeouts' defaults)
//   deal NAME from O R | deal NAME provider P requester Q
//       [start T (R's start, else now)] [duration D (R's duration, else 10m)] [opened T (now)]
//   event NAME provider|requester STATE [at T (now)] [seq N (last accepted + 1)] [wrong-deal]
//                         must be accepted (apply_event at the scenario clock)
// Expectations:
//   expect fill O R [price N] [index N]   the next fill not yet expected is exactly this one
//   expect no-fill                        every fill so far has been expected
//   expect resting X | expect not-resting X | expect offers N | expect requests N
//   expect expired N                      the count the last `expire` returned
//   expect invalid offer ... => TEXT      ledger::validate rejects the order, the message
//   expect invalid request ... => TEXT    containing TEXT (the order never reaches the book)
//   expect status NAME PHASE [REASON] [since T] [final|not-final]
//   expect deadline NAME T|none           next_deadline at the scenario clock
//   expect event-rejected NAME PARTY STATE [at T] [seq N] [wrong-deal] ERRC   (a MarketErrc name)
// At the end every fill must have been expected.
//
// Times: `+D` is D after the scenario's epoch (kScenarioEpochMs, a whole second), `now`,
// `now+D`, `now-D`, where now is the scenario clock at that line; in order fields a bare
// integer is absolute unix seconds (0 = unset). Durations: an integer with an optional unit
// ms, s, m, h, d (no unit = seconds). Order fields and deal times are whole seconds; the book
// is given the clock's whole seconds. Parties and markets are names mapped to fixed addresses
// (scenario_party); every order names the market "market" unless told otherwise.
//
// Everything is deterministic: no clock reads; the scenario clock starts at the epoch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "core/address.h"
#include "core/clock.h"
#include "core/error.h"
#include "market/deal_protocol.h"
#include "market/order_book.h"
#include "vocab/orders.h"

namespace ipsx::market {

enum class ScenarioErrc {
  parse_error = 1,     // the text is not a valid scenario
  expectation_failed,  // a command ran but found something other than expected
  io_error,            // the file could not be read
};
const std::error_category& scenario_category();
inline std::error_code make_error_code(ScenarioErrc e) {
  return {static_cast<int>(e), scenario_category()};
}

// Where every scenario's clock starts: 2027-01-15T08:00:00Z, in unix ms.
inline constexpr int64_t kScenarioEpochMs = 1'800'000'000'000;

// The fixed address of a scenario party or market name (the first 20 bytes of
// keccak256("ipsx-scenario:" + name)).
Address scenario_party(std::string_view name);

// ---- Commands, as parsed: every name is resolved and every time is absolute ----------------
namespace scenario {

// An order is named in the scenario, or a raw id the book never issued (`cancel 999`).
struct OrderRef {
  std::string name;  // empty for a raw id
  OrderId raw = 0;
};

struct SetRating {
  Address party;
  uint16_t rating = 0;
  bool notify = false;  // `rerate`: tell the book
};
struct Tick {};
// `expect_invalid` set: ledger::validate must reject the order with a message containing it.
struct PlaceOffer {
  std::string name;
  Offer offer;
  std::optional<std::string> expect_invalid;
};
struct PlaceRequest {
  std::string name;
  Request request;
  std::optional<std::string> expect_invalid;
};
struct Cancel {
  OrderRef order;
  bool expect_found = true;
};
struct SetClock {
  Timestamp to{};
};
struct Expire {};
struct Release {
  OrderRef order;
  bool exclusive = false;
};
struct SetTimeouts {
  ProtocolTimeouts timeouts;
};
struct OpenDeal {
  std::string name;
  Address provider, requester;
  uint64_t start = 0, duration = 0;  // unix seconds, seconds
  Timestamp opened{};
};
// Without `seq`, the event carries the party's last accepted seq + 1.
// `expect_error` set: the event must be rejected with exactly that code.
struct SendEvent {
  std::string deal;
  Party party = Party::provider;
  PartyState state = PartyState::none;
  Timestamp at{};
  std::optional<uint64_t> seq;
  bool wrong_deal = false;
  std::optional<MarketErrc> expect_error;
};
struct ExpectFill {
  std::string offer, request;
  std::optional<U256> price;
  std::optional<uint64_t> index;
};
struct ExpectNoFill {};
struct ExpectResting {
  OrderRef order;
  bool resting = true;
};
struct ExpectCount {
  bool offers = true;  // else requests
  size_t count = 0;
};
struct ExpectExpired {
  size_t count = 0;
};
struct ExpectStatus {
  std::string deal;
  DealPhase phase = DealPhase::pending;
  std::optional<ledger::CloseReason> reason;
  std::optional<Timestamp> since;
  std::optional<bool> final;
};
struct ExpectDeadline {
  std::string deal;
  std::optional<Timestamp> at;  // nullopt: no deadline
};

using Action =
    std::variant<SetRating, Tick, PlaceOffer, PlaceRequest, Cancel, SetClock, Expire, Release,
                 SetTimeouts, OpenDeal, SendEvent, ExpectFill, ExpectNoFill, ExpectResting,
                 ExpectCount, ExpectExpired, ExpectStatus, ExpectDeadline>;

struct Command {
  size_t line = 0;   // 1-based
  std::string text;  // the line as written, comment and outer blanks removed
  Action action;
};

}  // namespace scenario

struct Scenario {
  std::string name;  // for messages: usually the file name
  std::vector<scenario::Command> commands;
};

// Parses a scenario. Fails with parse_error on the first bad line; the message reads
// "NAME:LINE: `TEXT`: what is wrong" (unknown command or key, bad number, time or list, an
// order or deal name used before it is defined or defined twice, the clock going backwards).
Result<Scenario> parse_scenario(std::string_view text, std::string_view name);

// Runs `s` against a fresh OrderBook and fresh deal state. Fails with expectation_failed on the
// first command whose result differs from what the scenario says, as
// "NAME:LINE: `TEXT`: expected ..., found ...". Fills the scenario never expected are a failure
// at the end ("NAME: N fills never expected").
Result<void> run_scenario(const Scenario& s);

// Reads, parses and runs the file; the scenario's name is the file name.
Result<void> run_scenario_file(const std::filesystem::path& path);

}  // namespace ipsx::market

template <>
struct std::is_error_code_enum<ipsx::market::ScenarioErrc> : std::true_type {};
