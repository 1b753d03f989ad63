#include "market/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/keccak.h"

namespace ipsx::market {
namespace {

using namespace scenario;
using ledger::CloseReason;

class ScenarioCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.market.scenario"; }
  std::string message(int c) const override {
    switch (static_cast<ScenarioErrc>(c)) {
      case ScenarioErrc::parse_error:
        return "scenario parse error";
      case ScenarioErrc::expectation_failed:
        return "scenario expectation failed";
      case ScenarioErrc::io_error:
        return "scenario file unreadable";
    }
    return "unknown scenario error";
  }
};

std::unexpected<Error> bad(std::string message) {
  return fail(ScenarioErrc::parse_error, std::move(message));
}
std::unexpected<Error> differs(const std::string& expected, const std::string& found) {
  return fail(ScenarioErrc::expectation_failed,
              fmt::format("expected {}, found {}", expected, found));
}

// ---- Names of things ----------------------------------------------------------------------

template <class E>
struct Named {
  const char* name;
  E value;
};
constexpr Named<IpType> kTypes[] = {{"residential", IpType::residential},
                                    {"datacenter", IpType::datacenter},
                                    {"mobile", IpType::mobile}};
constexpr Named<Party> kParties[] = {{"provider", Party::provider},
                                     {"requester", Party::requester}};
constexpr Named<PartyState> kStates[] = {
    {"none", PartyState::none},           {"ready", PartyState::ready},
    {"connected", PartyState::connected}, {"closed", PartyState::closed},
    {"failed", PartyState::failed},       {"unpaid", PartyState::unpaid}};
constexpr Named<DealPhase> kPhases[] = {{"pending", DealPhase::pending},
                                        {"ready", DealPhase::ready},
                                        {"active", DealPhase::active},
                                        {"closed", DealPhase::closed}};
constexpr Named<CloseReason> kReasons[] = {{"completed", CloseReason::completed},
                                           {"requester_closed", CloseReason::requester_closed},
                                           {"provider_closed", CloseReason::provider_closed},
                                           {"provider_failed", CloseReason::provider_failed},
                                           {"unpaid", CloseReason::unpaid},
                                           {"expired", CloseReason::expired}};
constexpr Named<MarketErrc> kErrors[] = {{"wrong_party", MarketErrc::wrong_party},
                                         {"bad_transition", MarketErrc::bad_transition},
                                         {"deal_closed", MarketErrc::deal_closed},
                                         {"bad_time", MarketErrc::bad_time},
                                         {"bad_signature", MarketErrc::bad_signature},
                                         {"bad_sequence", MarketErrc::bad_sequence},
                                         {"wrong_deal", MarketErrc::wrong_deal},
                                         {"invalid_argument", MarketErrc::invalid_argument}};

template <class E, size_t N>
std::optional<E> lookup(const Named<E> (&table)[N], std::string_view word) {
  for (const auto& n : table) {
    if (word == n.name) return n.value;
  }
  return std::nullopt;
}
template <class E, size_t N>
std::string name_of(const Named<E> (&table)[N], E value) {
  for (const auto& n : table) {
    if (n.value == value) return n.name;
  }
  return "?";
}
template <class E, size_t N>
Result<E> named(const Named<E> (&table)[N], std::string_view word, std::string_view what) {
  if (auto v = lookup(table, word)) return *v;
  std::string known;
  for (const auto& n : table) known += fmt::format("{}{}", known.empty() ? "" : ", ", n.name);
  return bad(fmt::format("unknown {} '{}' (known: {})", what, word, known));
}

// "+31s" / "-2s" / "+30999ms": a time relative to the scenario's epoch.
std::string rel(Timestamp t) {
  int64_t d = to_unix_ms(t) - kScenarioEpochMs;
  return d % 1000 == 0 ? fmt::format("{:+}s", d / 1000) : fmt::format("{:+}ms", d);
}

std::string describe(const DealStatus& s) {
  std::string out = to_string(s.phase);
  if (s.phase == DealPhase::closed) out += fmt::format(" {}", ledger::to_string(s.reason));
  return out + fmt::format(" since {}{}", rel(s.since), s.final ? " final" : " not-final");
}

std::string error_name(const std::error_code& code) {
  if (code.category() == market_category()) {
    return name_of(kErrors, static_cast<MarketErrc>(code.value()));
  }
  return code.message();
}

// ---- The parser ----------------------------------------------------------------------------

// The words of one line, consumed left to right.
class Words {
 public:
  explicit Words(std::vector<std::string_view> w) : w_(std::move(w)) {}
  bool done() const { return i_ >= w_.size(); }
  std::string_view peek() const { return done() ? std::string_view() : w_[i_]; }
  Result<std::string_view> next(std::string_view what) {
    if (done()) return bad(fmt::format("missing {}", what));
    return w_[i_++];
  }
  // Consumes `word` if it comes next.
  bool accept(std::string_view word) {
    if (done() || w_[i_] != word) return false;
    ++i_;
    return true;
  }
  Result<void> end() const {
    if (!done()) return bad(fmt::format("unexpected '{}'", w_[i_]));
    return {};
  }

 private:
  std::vector<std::string_view> w_;
  size_t i_ = 0;
};

Result<uint64_t> number(std::string_view s, std::string_view what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return bad(fmt::format("bad number '{}' for {}", s, what));
  }
  return v;
}

Result<U256> big(std::string_view s, std::string_view what) {
  auto v = U256::from_dec(s);
  if (!v) return bad(fmt::format("bad number '{}' for {}", s, what));
  return *v;
}

// "90", "90s", "500ms", "2m", "1h", "1d" -> milliseconds.
Result<int64_t> duration_ms(std::string_view s, std::string_view what) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  std::string_view unit = s.substr(digits);
  int64_t scale = unit == "ms"                  ? 1
                  : unit.empty() || unit == "s" ? 1000
                  : unit == "m"                 ? 60'000
                  : unit == "h"                 ? 3'600'000
                  : unit == "d"                 ? 86'400'000
                                                : 0;
  if (digits == 0 || scale == 0) return bad(fmt::format("bad duration '{}' for {}", s, what));
  auto n = number(s.substr(0, digits), what);
  if (!n) return std::unexpected(n.error());
  return static_cast<int64_t>(*n) * scale;
}

Result<uint64_t> whole_seconds(int64_t ms, std::string_view what) {
  if (ms < 0 || ms % 1000 != 0) return bad(fmt::format("{} must be whole seconds", what));
  return static_cast<uint64_t>(ms / 1000);
}

// An integer field of an order, by its scenario key.
struct NumberField {
  std::string_view key;
  std::variant<uint16_t*, uint32_t*, uint64_t*> field;
};
// If `key` names one of `fields`, parses `v` into it (checking that it fits) and returns the
// outcome; nullopt if the key is none of them.
std::optional<Result<void>> numeric(std::string_view key, std::string_view v,
                                    std::initializer_list<NumberField> fields) {
  for (const auto& f : fields) {
    if (f.key != key) continue;
    auto n = number(v, key);
    if (!n) return Result<void>(std::unexpected(n.error()));
    return std::visit(
        [&](auto* field) -> Result<void> {
          using T = std::remove_pointer_t<decltype(field)>;
          if (*n > std::numeric_limits<T>::max()) {
            return bad(fmt::format("{} {} is out of range", key, v));
          }
          *field = static_cast<T>(*n);
          return {};
        },
        f.field);
  }
  return std::nullopt;
}

bool is_name(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

class Parser {
 public:
  Result<Action> line(Words& w);

 private:
  Result<Timestamp> time(std::string_view s, std::string_view what, bool bare_seconds = false);
  Result<uint64_t> seconds_at(std::string_view s, std::string_view what);
  Result<std::string> new_name(Words& w, std::string_view what, const std::set<std::string>& used);
  Result<OrderRef> order(std::string_view s, bool offers_only = false);
  Result<std::string> deal(std::string_view s);
  Result<Action> offer(Words& w, bool invalid);
  Result<Action> request(Words& w, bool invalid);
  Result<Action> open_deal(Words& w);
  Result<SendEvent> event(Words& w, bool rejected);
  Result<Action> expect(Words& w);

  Timestamp now_ = from_unix_ms(kScenarioEpochMs);
  std::map<std::string, Offer> offers_;
  std::map<std::string, Request> requests_;
  std::set<std::string> order_names_, deal_names_;
  uint32_t offers_made_ = 0;
  uint64_t nonce_ = 0;
};

Result<Timestamp> Parser::time(std::string_view s, std::string_view what, bool bare_seconds) {
  Timestamp base = from_unix_ms(kScenarioEpochMs);
  if (s.starts_with("now")) {
    base = now_;
    s.remove_prefix(3);
    if (s.empty()) return base;
  }
  if (s.starts_with('+') || s.starts_with('-')) {
    auto d = duration_ms(s.substr(1), what);
    if (!d) return std::unexpected(d.error());
    return base + Millis(s[0] == '+' ? *d : -*d);
  }
  if (bare_seconds && !s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
    auto n = number(s, what);
    if (!n) return std::unexpected(n.error());
    return from_unix_ms(static_cast<int64_t>(*n) * 1000);
  }
  return bad(fmt::format("bad time '{}' for {} (write +D, now, now+D or now-D)", s, what));
}

// An order's time field: unix seconds, 0 for an empty side.
Result<uint64_t> Parser::seconds_at(std::string_view s, std::string_view what) {
  if (s.empty()) return 0;
  auto t = time(s, what, true);
  if (!t) return std::unexpected(t.error());
  return whole_seconds(to_unix_ms(*t), what);
}

Result<std::string> Parser::new_name(Words& w, std::string_view what,
                                     const std::set<std::string>& used) {
  auto n = w.next(fmt::format("{} name", what));
  if (!n) return std::unexpected(n.error());
  if (!is_name(*n))
    return bad(fmt::format("'{}' is not a name (a letter, then letters, digits, _ - .)", *n));
  if (used.contains(std::string(*n)))
    return bad(fmt::format("{} '{}' is already defined", what, *n));
  return std::string(*n);
}

Result<OrderRef> Parser::order(std::string_view s, bool offers_only) {
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
    auto id = number(s, "an order id");
    if (!id) return std::unexpected(id.error());
    return OrderRef{"", *id};
  }
  std::string n(s);
  if (offers_only && requests_.contains(n))
    return bad(fmt::format("'{}' is a request, not an offer", s));
  if (!order_names_.contains(n)) return bad(fmt::format("unknown order '{}'", s));
  return OrderRef{n, 0};
}

Result<std::string> Parser::deal(std::string_view s) {
  if (!deal_names_.contains(std::string(s))) return bad(fmt::format("unknown deal '{}'", s));
  return std::string(s);
}

#define TRY(var, expr)                                   \
  auto var##_r = (expr);                                 \
  if (!var##_r) return std::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)

Result<Action> Parser::offer(Words& w, bool invalid) {
  TRY(name, new_name(w, "order", order_names_));
  if (!w.accept("by")) return bad("expected 'by PARTY' after the offer's name");
  TRY(party, w.next("party"));
  Offer o;
  o.provider = scenario_party(party);
  ++offers_made_;
  o.ip = *parse_ip(fmt::format("10.{}.{}.1", offers_made_ >> 8, offers_made_ & 255));
  o.country = {'D', 'E'};
  o.protocols = protocol::http | protocol::socks5;
  o.scopes = scope::crawling | scope::general;
  o.bandwidth_kbps = 10'000;
  o.max_duration = 86'400;
  o.price_per_second = U256(10);
  o.market = scenario_party("market");
  o.expiry = static_cast<uint64_t>(to_unix_seconds(now_)) + 3600;
  o.nonce = ++nonce_;
  std::optional<std::string> expect_invalid;
  while (!w.done()) {
    TRY(key, w.next("key"));
    if (invalid && key == "=>") {
      TRY(text, w.next("the expected error text"));
      expect_invalid = std::string(text);
      break;
    }
    TRY(v, w.next(fmt::format("a value for '{}'", key)));
    if (key == "country") {
      auto c = parse_country(v);
      if (!c) return bad(c.error().message());
      o.country = *c;
    } else if (key == "type") {
      TRY(t, named(kTypes, v, "IP type"));
      o.ip_type = t;
    } else if (key == "price") {
      TRY(p, big(v, key));
      o.price_per_second = p;
    } else if (auto set = numeric(key, v,
                                  {{"capacity", &o.capacity},
                                   {"bandwidth", &o.bandwidth_kbps},
                                   {"asn", &o.asn},
                                   {"fee", &o.fee_bps},
                                   {"min-rating", &o.min_requester_rating},
                                   {"nonce", &o.nonce}})) {
      if (!*set) return std::unexpected(set->error());
    } else if (key == "ip") {
      auto ip = parse_ip(v);
      if (!ip) return bad(ip.error().message());
      o.ip = *ip;
    } else if (key == "protocols") {
      TRY(b, parse_protocols(v));
      o.protocols = b;
    } else if (key == "scopes") {
      TRY(b, parse_scopes(v));
      o.scopes = b;
    } else if (key == "duration" || key == "available") {
      size_t dots = v.find("..");
      if (dots == std::string_view::npos) return bad(fmt::format("'{}' takes FROM..TO", key));
      std::string_view lo = v.substr(0, dots), hi = v.substr(dots + 2);
      if (key == "duration") {
        TRY(a, duration_ms(lo, "the minimum duration"));
        TRY(b, duration_ms(hi, "the maximum duration"));
        TRY(sa, whole_seconds(a, "the minimum duration"));
        TRY(sb, whole_seconds(b, "the maximum duration"));
        o.min_duration = sa;
        o.max_duration = sb;
      } else {
        TRY(a, seconds_at(lo, "available from"));
        TRY(b, seconds_at(hi, "available until"));
        o.available_from = a;
        o.available_until = b;
      }
    } else if (key == "expiry") {
      TRY(e, seconds_at(v, key));
      o.expiry = e;
    } else if (key == "region") {
      o.region = std::string(v);
    } else if (key == "market") {
      o.market = scenario_party(v);
    } else {
      return bad(fmt::format("unknown offer key '{}'", key));
    }
  }
  if (invalid && !expect_invalid) return bad("expected '=> TEXT' naming the validation error");
  if (!invalid) {
    order_names_.insert(name);
    offers_[name] = o;
  }
  return PlaceOffer{name, o, expect_invalid};
}

Result<Action> Parser::request(Words& w, bool invalid) {
  TRY(name, new_name(w, "order", order_names_));
  if (!w.accept("by")) return bad("expected 'by PARTY' after the request's name");
  TRY(party, w.next("party"));
  Request r;
  r.requester = scenario_party(party);
  r.protocols = protocol::http;
  r.scope = scope::crawling;
  r.duration = 60;
  r.max_price_per_second = U256(100);
  r.market = scenario_party("market");
  r.expiry = static_cast<uint64_t>(to_unix_seconds(now_)) + 3600;
  r.nonce = ++nonce_;
  bool budget_set = false;
  std::optional<std::string> expect_invalid;
  while (!w.done()) {
    TRY(key, w.next("key"));
    if (invalid && key == "=>") {
      TRY(text, w.next("the expected error text"));
      expect_invalid = std::string(text);
      break;
    }
    if (key == "exclusive" || key == "distinct-subnets" || key == "aon") {
      (key == "exclusive" ? r.exclusive : key == "aon" ? r.all_or_none : r.distinct_subnets) = true;
      continue;
    }
    TRY(v, w.next(fmt::format("a value for '{}'", key)));
    if (key == "countries") {
      r.countries.clear();
      for (size_t pos = 0; v != "any" && pos <= v.size();) {
        size_t comma = std::min(v.find(',', pos), v.size());
        auto c = parse_country(v.substr(pos, comma - pos));
        if (!c) return bad(c.error().message());
        r.countries.push_back(*c);
        pos = comma + 1;
      }
    } else if (key == "types") {
      r.ip_types = 0;
      for (size_t pos = 0; v != "any" && pos <= v.size();) {
        size_t comma = std::min(v.find(',', pos), v.size());
        TRY(t, named(kTypes, v.substr(pos, comma - pos), "IP type"));
        r.ip_types |= static_cast<uint8_t>(1u << static_cast<uint8_t>(t));
        pos = comma + 1;
      }
    } else if (key == "max" || key == "budget") {
      TRY(p, big(v, key));
      (key == "max" ? r.max_price_per_second : r.budget) = p;
      budget_set = budget_set || key == "budget";
    } else if (auto set = numeric(key, v,
                                  {{"count", &r.count},
                                   {"min-bandwidth", &r.min_bandwidth_kbps},
                                   {"asn", &r.asn},
                                   {"fee", &r.fee_bps},
                                   {"min-rating", &r.min_provider_rating},
                                   {"nonce", &r.nonce}})) {
      if (!*set) return std::unexpected(set->error());
    } else if (key == "duration") {
      TRY(d, duration_ms(v, key));
      TRY(s, whole_seconds(d, key));
      r.duration = s;
    } else if (key == "scope") {
      TRY(b, parse_scopes(v));
      r.scope = b;
    } else if (key == "protocols") {
      TRY(b, parse_protocols(v));
      r.protocols = b;
    } else if (key == "start" || key == "expiry") {
      TRY(t, v == "now" && key == "start" ? Result<uint64_t>(0) : seconds_at(v, key));
      (key == "start" ? r.start : r.expiry) = t;
    } else if (key == "region") {
      r.region = std::string(v);
    } else if (key == "market") {
      r.market = scenario_party(v);
    } else {
      return bad(fmt::format("unknown request key '{}'", key));
    }
  }
  if (invalid && !expect_invalid) return bad("expected '=> TEXT' naming the validation error");
  if (!budget_set) {
    auto per_ip = r.max_price_per_second.checked_mul(r.duration);
    auto all = per_ip ? per_ip->checked_mul(r.count) : std::nullopt;
    r.budget = all.value_or(U256::max());
  }
  if (!invalid) {
    order_names_.insert(name);
    requests_[name] = r;
  }
  return PlaceRequest{name, r, expect_invalid};
}

Result<Action> Parser::open_deal(Words& w) {
  TRY(name, new_name(w, "deal", deal_names_));
  OpenDeal d;
  d.name = name;
  d.opened = now_;
  d.start = static_cast<uint64_t>(to_unix_seconds(now_));
  d.duration = 600;
  if (w.accept("from")) {
    TRY(o, w.next("the deal's offer"));
    TRY(r, w.next("the deal's request"));
    if (!offers_.contains(std::string(o))) return bad(fmt::format("unknown offer '{}'", o));
    if (!requests_.contains(std::string(r))) return bad(fmt::format("unknown request '{}'", r));
    const auto& req = requests_[std::string(r)];
    d.provider = offers_[std::string(o)].provider;
    d.requester = req.requester;
    d.duration = req.duration;
    if (req.start != 0) d.start = req.start;
  } else {
    if (!w.accept("provider"))
      return bad("expected 'from OFFER REQUEST' or 'provider P requester Q'");
    TRY(p, w.next("the provider"));
    if (!w.accept("requester")) return bad("expected 'requester Q'");
    TRY(q, w.next("the requester"));
    d.provider = scenario_party(p);
    d.requester = scenario_party(q);
  }
  while (!w.done()) {
    TRY(key, w.next("key"));
    TRY(v, w.next(fmt::format("a value for '{}'", key)));
    if (key == "start") {
      TRY(s, seconds_at(v, key));
      d.start = s;
    } else if (key == "duration") {
      TRY(ms, duration_ms(v, key));
      TRY(s, whole_seconds(ms, key));
      d.duration = s;
    } else if (key == "opened") {
      TRY(t, time(v, key));
      d.opened = t;
    } else {
      return bad(fmt::format("unknown deal key '{}'", key));
    }
  }
  deal_names_.insert(name);
  return d;
}

Result<SendEvent> Parser::event(Words& w, bool rejected) {
  SendEvent e;
  TRY(d, w.next("deal name"));
  TRY(name, deal(d));
  TRY(p, w.next("party"));
  TRY(party, named(kParties, p, "party"));
  TRY(s, w.next("status"));
  TRY(state, named(kStates, s, "status"));
  e.deal = name;
  e.party = party;
  e.state = state;
  e.at = now_;
  while (!w.done()) {
    TRY(key, w.next("key"));
    if (key == "wrong-deal") {
      e.wrong_deal = true;
    } else if (key == "at") {
      TRY(v, w.next("a time after 'at'"));
      TRY(t, time(v, "at"));
      e.at = t;
    } else if (key == "seq") {
      TRY(v, w.next("a number after 'seq'"));
      TRY(n, number(v, "seq"));
      e.seq = n;
    } else if (auto code = lookup(kErrors, key); rejected && code) {
      e.expect_error = *code;
    } else {
      return bad(fmt::format("unknown event key '{}'", key));
    }
  }
  if (rejected && !e.expect_error)
    return bad("expected the rejection's error name, e.g. wrong_party");
  return e;
}

Result<Action> Parser::expect(Words& w) {
  TRY(what, w.next("what to expect"));
  if (what == "fill") {
    ExpectFill f;
    TRY(o, w.next("the fill's offer"));
    TRY(r, w.next("the fill's request"));
    if (!offers_.contains(std::string(o))) return bad(fmt::format("unknown offer '{}'", o));
    if (!requests_.contains(std::string(r))) return bad(fmt::format("unknown request '{}'", r));
    f.offer = o;
    f.request = r;
    while (!w.done()) {
      TRY(key, w.next("key"));
      TRY(v, w.next(fmt::format("a value for '{}'", key)));
      if (key == "price") {
        TRY(p, big(v, key));
        f.price = p;
      } else if (key == "index") {
        TRY(n, number(v, key));
        f.index = n;
      } else {
        return bad(fmt::format("unknown fill key '{}'", key));
      }
    }
    return f;
  }
  if (what == "no-fill") return ExpectNoFill{};
  if (what == "resting" || what == "not-resting") {
    TRY(s, w.next("an order"));
    TRY(ref, order(s));
    return ExpectResting{ref, what == "resting"};
  }
  if (what == "offers" || what == "requests" || what == "expired") {
    TRY(v, w.next("a count"));
    TRY(n, number(v, what));
    if (what == "expired") return ExpectExpired{n};
    return ExpectCount{what == "offers", n};
  }
  if (what == "invalid") {
    TRY(kind, w.next("'offer' or 'request'"));
    if (kind == "offer") return offer(w, true);
    if (kind == "request") return request(w, true);
    return bad(fmt::format("expected 'offer' or 'request' after 'invalid', found '{}'", kind));
  }
  if (what == "status") {
    ExpectStatus s;
    TRY(d, w.next("deal name"));
    TRY(name, deal(d));
    TRY(p, w.next("phase"));
    TRY(phase, named(kPhases, p, "phase"));
    s.deal = name;
    s.phase = phase;
    const std::string_view after = w.peek();
    if (phase == DealPhase::closed && !w.done() && after != "since" && after != "final" &&
        after != "not-final") {
      TRY(reason, named(kReasons, *w.next("reason"), "close reason"));
      s.reason = reason;
    }
    while (!w.done()) {
      TRY(key, w.next("key"));
      if (key == "final" || key == "not-final") {
        s.final = key == "final";
      } else if (key == "since") {
        TRY(v, w.next("a time after 'since'"));
        TRY(t, time(v, "since"));
        s.since = t;
      } else {
        return bad(fmt::format("unknown status key '{}'", key));
      }
    }
    return s;
  }
  if (what == "deadline") {
    TRY(d, w.next("deal name"));
    TRY(name, deal(d));
    TRY(v, w.next("a time or 'none'"));
    if (v == "none") return ExpectDeadline{name, std::nullopt};
    TRY(t, time(v, "the deadline"));
    return ExpectDeadline{name, t};
  }
  if (what == "event-rejected") return event(w, true);
  return bad(fmt::format("unknown expectation '{}'", what));
}

Result<Action> Parser::line(Words& w) {
  TRY(cmd, w.next("command"));
  if (cmd == "offer") return offer(w, false);
  if (cmd == "request") return request(w, false);
  if (cmd == "expect") return expect(w);
  if (cmd == "rating" || cmd == "rerate") {
    TRY(p, w.next("party"));
    TRY(v, w.next("rating"));
    TRY(n, number(v, "rating"));
    if (n > kMaxRating) return bad(fmt::format("rating {} is above 500", n));
    return SetRating{scenario_party(p), static_cast<uint16_t>(n), cmd == "rerate"};
  }
  if (cmd == "cancel" || cmd == "release") {
    TRY(s, w.next("an order"));
    TRY(ref, order(s, cmd == "release"));
    if (cmd == "release") return Release{ref, w.accept("exclusive")};
    return Cancel{ref, !w.accept("not-found")};
  }
  if (cmd == "advance" || cmd == "time") {
    TRY(v, w.next(cmd == "advance" ? "a duration" : "a time"));
    Timestamp to = now_;
    if (cmd == "advance") {
      TRY(d, duration_ms(v, "advance"));
      to += Millis(d);
    } else {
      TRY(t, time(v, "time"));
      if (t < now_) return bad(fmt::format("the clock cannot go back from {} to {}", rel(now_), v));
      to = t;
    }
    now_ = to;
    return SetClock{to};
  }
  if (cmd == "expire") return Expire{};
  if (cmd == "tick") return Tick{};
  if (cmd == "timeouts") {
    ProtocolTimeouts t;
    while (!w.done()) {
      TRY(key, w.next("key"));
      TRY(v, w.next(fmt::format("a value for '{}'", key)));
      TRY(d, duration_ms(v, key));
      Millis* field = key == "ready"      ? &t.ready_timeout
                      : key == "connect"  ? &t.connect_timeout
                      : key == "liveness" ? &t.liveness_timeout
                      : key == "skew"     ? &t.clock_skew
                                          : nullptr;
      if (!field) return bad(fmt::format("unknown timeout '{}'", key));
      *field = Millis(d);
    }
    if (auto ok = validate(t); !ok) return bad(ok.error().message());
    return SetTimeouts{t};
  }
  if (cmd == "deal") return open_deal(w);
  if (cmd == "event") {
    TRY(e, event(w, false));
    return e;
  }
  return bad(fmt::format(
      "unknown command '{}' (known: offer, request, cancel, release, expire, tick, advance, "
      "time, rating, rerate, timeouts, deal, event, expect)",
      cmd));
}

// ---- The runner ----------------------------------------------------------------------------

class Runner {
 public:
  Runner()
      : book_([this](const Address& a) -> uint16_t {
          auto it = ratings_.find(a);
          return it == ratings_.end() ? 0 : it->second;
        }) {}
  Runner(const Runner&) = delete;  // the book's rating function points back here
  Runner& operator=(const Runner&) = delete;

  Result<void> operator()(const SetRating& c) {
    ratings_[c.party] = c.rating;
    if (c.notify) book_.rating_changed(c.party, seconds(), &fills_);
    return {};
  }
  Result<void> operator()(const Tick&) {
    book_.advance(seconds(), &fills_);
    return {};
  }
  Result<void> operator()(const PlaceOffer& c) { return place(c.name, c.offer, c.expect_invalid); }
  Result<void> operator()(const PlaceRequest& c) {
    return place(c.name, c.request, c.expect_invalid);
  }
  Result<void> operator()(const Cancel& c) {
    bool found = book_.cancel(id(c.order));
    if (found != c.expect_found) {
      return differs(c.expect_found ? "the order cancelled" : "no such order in the book",
                     found ? "it was cancelled" : "it is not in the book");
    }
    return {};
  }
  Result<void> operator()(const SetClock& c) {
    now_ = c.to;
    return {};
  }
  Result<void> operator()(const Expire&) {
    expired_ = book_.expire(seconds());
    return {};
  }
  Result<void> operator()(const Release& c) {
    book_.release(id(c.order), c.exclusive, seconds(), &fills_);
    return {};
  }
  Result<void> operator()(const SetTimeouts& c) {
    timeouts_ = c.timeouts;
    return {};
  }
  Result<void> operator()(const OpenDeal& c) {
    ledger::DealView v;
    v.id = keccak256("ipsx-scenario-deal:" + c.name);
    v.provider = c.provider;
    v.requester = c.requester;
    v.start = c.start;
    v.duration = c.duration;
    deals_[c.name] = DealProgress::open(v, c.opened);
    return {};
  }
  Result<void> operator()(const SendEvent& c) {
    DealProgress& d = deals_.at(c.deal);
    StatusEvent e{d.deal_id, c.party, c.state, c.at, c.seq.value_or(d.status_of(c.party).seq + 1)};
    if (c.wrong_deal) e.deal_id = keccak256("ipsx-scenario-deal:another");
    auto r = apply_event(d, e, now_, timeouts_);
    std::string event =
        fmt::format("{} {} at {} seq {}", to_string(c.party), to_string(c.state), rel(c.at), e.seq);
    if (!c.expect_error) {
      if (!r)
        return differs(event + " accepted",
                       fmt::format("{}: {}", error_name(r.error().code()), r.error().message()));
      return {};
    }
    std::string want = fmt::format("{} rejected as {}", event, name_of(kErrors, *c.expect_error));
    if (r) return differs(want, fmt::format("it accepted (deal {})", describe(*r)));
    if (r.error().code() != make_error_code(*c.expect_error)) {
      return differs(want,
                     fmt::format("{}: {}", error_name(r.error().code()), r.error().message()));
    }
    return {};
  }
  Result<void> operator()(const ExpectFill& c) {
    std::string want = fmt::format("fill {} -> {}", c.offer, c.request);
    if (c.price) want += " at price " + c.price->to_dec();
    if (c.index) want += fmt::format(" index {}", *c.index);
    if (next_fill_ >= fills_.size()) return differs(want, "no more fills");
    const Fill& f = fills_[next_fill_++];
    if (f.offer != ids_.at(c.offer) || f.request != ids_.at(c.request) ||
        (c.price && f.price_per_second != *c.price) || (c.index && f.fill_index != *c.index)) {
      return differs(want, describe_fill(f));
    }
    return {};
  }
  Result<void> operator()(const ExpectNoFill&) {
    if (next_fill_ < fills_.size())
      return differs("no more fills", describe_fill(fills_[next_fill_]));
    return {};
  }
  Result<void> operator()(const ExpectResting& c) {
    bool in = book_.contains(id(c.order));
    if (in != c.resting) {
      return differs(c.resting ? "resting" : "not resting", in ? "resting" : "not resting");
    }
    return {};
  }
  Result<void> operator()(const ExpectCount& c) {
    size_t n = c.offers ? book_.offers() : book_.requests();
    const char* what = c.offers ? "live offers" : "live requests";
    if (n != c.count) return differs(fmt::format("{} {}", c.count, what), fmt::format("{}", n));
    return {};
  }
  Result<void> operator()(const ExpectExpired& c) {
    if (expired_ != c.count) {
      return differs(fmt::format("{} orders expired", c.count), fmt::format("{}", expired_));
    }
    return {};
  }
  Result<void> operator()(const ExpectStatus& c) {
    DealStatus s = deals_.at(c.deal).status(now_, timeouts_);
    bool ok = s.phase == c.phase && (!c.reason || s.reason == *c.reason) &&
              (!c.since || s.since == *c.since) && (!c.final || s.final == *c.final);
    if (ok) return {};
    std::string want = to_string(c.phase);
    if (c.reason) want += fmt::format(" {}", ledger::to_string(*c.reason));
    if (c.since) want += " since " + rel(*c.since);
    if (c.final) want += *c.final ? " final" : " not-final";
    return differs(want, describe(s));
  }
  Result<void> operator()(const ExpectDeadline& c) {
    const DealProgress& d = deals_.at(c.deal);
    auto got = next_deadline(d.times, d.provider_status, d.requester_status, now_, timeouts_);
    if (got != c.at) {
      return differs(fmt::format("deadline {}", c.at ? rel(*c.at) : "none"),
                     got ? rel(*got) : "none");
    }
    return {};
  }

  // Fills never expected, as a failure.
  Result<void> finish() const {
    if (next_fill_ == fills_.size()) return {};
    std::string all;
    for (size_t i = next_fill_; i < fills_.size(); ++i) all += "; " + describe_fill(fills_[i]);
    return fail(ScenarioErrc::expectation_failed,
                fmt::format("{} fills never expected{}", fills_.size() - next_fill_, all));
  }

 private:
  uint64_t seconds() const { return static_cast<uint64_t>(to_unix_ms(now_) / 1000); }
  OrderId id(const OrderRef& r) const { return r.name.empty() ? r.raw : ids_.at(r.name); }
  std::string describe_fill(const Fill& f) const {
    auto name = [&](OrderId i) {
      auto it = names_.find(i);
      return it == names_.end() ? fmt::format("#{}", i) : it->second;
    };
    return fmt::format("fill {} -> {} at price {} index {}", name(f.offer), name(f.request),
                       f.price_per_second.to_dec(), f.fill_index);
  }
  template <class Order>
  Result<void> place(const std::string& name, const Order& order,
                     const std::optional<std::string>& expect_invalid) {
    auto valid = ledger::validate(order);
    if (expect_invalid) {
      if (valid) return differs(fmt::format("invalid ({})", *expect_invalid), "a valid order");
      if (valid.error().message().find(*expect_invalid) == std::string::npos) {
        return differs(fmt::format("invalid ({})", *expect_invalid), valid.error().message());
      }
      return {};
    }
    if (!valid) return differs("a valid order", valid.error().message());
    OrderId i;
    if constexpr (std::is_same_v<Order, Offer>) {
      i = book_.place_offer(order, seconds(), &fills_);
    } else {
      i = book_.place_request(order, seconds(), &fills_);
    }
    ids_[name] = i;
    names_[i] = name;
    return {};
  }

  std::map<Address, uint16_t> ratings_;
  OrderBook book_;
  Timestamp now_ = from_unix_ms(kScenarioEpochMs);
  ProtocolTimeouts timeouts_;
  std::vector<Fill> fills_;
  size_t next_fill_ = 0;
  size_t expired_ = 0;
  std::map<std::string, OrderId> ids_;
  std::map<OrderId, std::string> names_;
  std::map<std::string, DealProgress> deals_;
};

#undef TRY

}  // namespace

const std::error_category& scenario_category() {
  static const ScenarioCategory category;
  return category;
}

Address scenario_party(std::string_view name) {
  Hash h = keccak256("ipsx-scenario:" + std::string(name));
  Address a;
  std::copy(h.bytes().begin(), h.bytes().begin() + 20, a.bytes().begin());
  return a;
}

Result<Scenario> parse_scenario(std::string_view text, std::string_view name) {
  Scenario s{std::string(name), {}};
  Parser parser;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    line = line.substr(0, std::min(line.find('#'), line.size()));
    std::vector<std::string_view> words;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      size_t j = i;
      while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) words.push_back(line.substr(i, j - i));
      i = j;
    }
    if (words.empty()) continue;
    std::string shown(words.front().data(), words.back().data() + words.back().size());
    Words w(std::move(words));
    auto action = parser.line(w);
    if (action) {
      if (auto end = w.end(); !end) action = std::unexpected(end.error());
    }
    if (!action) {
      return bad(fmt::format("{}:{}: `{}`: {}", name, line_no, shown, action.error().message()));
    }
    s.commands.push_back({line_no, std::move(shown), std::move(*action)});
  }
  return s;
}

Result<void> run_scenario(const Scenario& s) {
  Runner runner;
  for (const Command& c : s.commands) {
    if (auto r = std::visit(runner, c.action); !r) {
      return fail(ScenarioErrc::expectation_failed,
                  fmt::format("{}:{}: `{}`: {}", s.name, c.line, c.text, r.error().message()));
    }
  }
  if (auto r = runner.finish(); !r) {
    return fail(ScenarioErrc::expectation_failed,
                fmt::format("{}: {}", s.name, r.error().message()));
  }
  return {};
}

Result<void> run_scenario_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ScenarioErrc::io_error, fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  auto s = parse_scenario(text.str(), path.filename().string());
  if (!s) return std::unexpected(s.error());
  return run_scenario(*s);
}

}  // namespace ipsx::market
