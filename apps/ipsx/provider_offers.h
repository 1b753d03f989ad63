// The provider's offers (`ipsx provide`): one per IP, signed here, placed at the node, renewed
// before they expire, withdrawn from an earlier run, and changed or paused while the agent runs
// (the provider's console, docs/web.md).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/node_client.h"
#include "client/signer.h"
#include "core/hash.h"
#include "node_session.h"
#include "provide_config.h"

namespace ipsx::cli {

// What an earlier run's offers leave of each IP: until when its running deals hold it, and
// those deals (once all are closed on the ledger, the IP is free again, whatever their planned
// end).
struct EarlierDeals {
  std::vector<uint64_t> busy_until;
  std::vector<std::set<Hash>> deals;
};

// Takes an earlier run's offers for these IPs off the book (a resting one by the market's signed
// cancel, a filled one on the ledger), and says what their deals still hold.
EarlierDeals withdraw_earlier_offers(sdk::NodeClient& node, const sdk::Signer& signer,
                                     const std::vector<Offer>& offers);

// New terms for an IP's offer (unset: unchanged).
struct OfferChange {
  std::optional<U256> price_per_second;
  std::optional<uint32_t> scopes;
  std::optional<uint32_t> protocols;
  std::optional<bool> paused;
  std::optional<std::string> hours;  // the daily hours on offer, "HH:MM-HH:MM" UTC; "": always
};

// A daily window of hours, in minutes of the UTC day: [start, end), across midnight when end <
// start.
struct DailyHours {
  uint32_t start = 0, end = 0;
};
// "22:00-06:00" (UTC; start and end differ); "" is none (always). Fails naming what is wrong.
Result<std::optional<DailyHours>> parse_hours(std::string_view text);
// The first window of `h` that ends after `t` (unix seconds): its start (maybe before t) and end.
std::pair<uint64_t, uint64_t> next_window(uint64_t t, const DailyHours& h);

// What the console shows of one IP.
struct OfferView {
  std::string ip, country, type;
  U256 price_per_second;
  uint32_t protocols = 0, scopes = 0, capacity = 0;
  bool paused = false;
  std::string hours;             // "" always
  std::optional<Hash> offer;     // the last offer placed
  uint64_t from = 0, until = 0;  // its window (unix seconds)
  std::string checked;           // the node's checks at the last placement, or why it refused
};

// The provider's offers: one per IP, signed here, placed at the node. Each sells only the time
// until its own expiry (available_until), and its successor, placed ahead of time, sells from
// there on, so the IP is always on offer and never sold twice for the same moment. If the node
// checks IP ownership, the exit's machine first proves it can send from the IP.
class ProviderOffers {
 public:
  ProviderOffers(NodeSession& s, const sdk::Signer& signer, ProvideConfig& c, uint16_t fee_bps);

  // What an earlier run's offers leave: each IP sells only from its running deals' end.
  void resume(EarlierDeals earlier);
  // Places the first offers (`first`: a failure throws), the successors due (renew_ahead_ before
  // the last one's end), or IP `only`'s at once. A paused IP gets none.
  // `why`: what the log line says of a placement for `only`.
  void place(bool first, std::optional<size_t> only = std::nullopt, const char* why = "");
  // A deal ended on the ledger: an IP an earlier run's deals held, the last of them now closed
  // (or closing) before its planned end, is offered again at the next place_freed().
  void ended(const Hash& deal);
  void place_freed();

  // New terms for IP `i`. Its offer, if nothing was sold on it, is withdrawn and a new one with
  // the new terms placed for the same window at once; an offer with deals keeps its terms (they
  // were sold), and its successor has the new ones. Pausing withdraws an unsold offer and places
  // no more until resumed (the running deals go on); resuming places one at once. Says what it
  // did, or why it could not (the node's answer).
  Result<std::string> change(size_t i, const OfferChange& change);
  // The same terms set before the first placement (a restart resuming the console's changes).
  void preset(size_t i, const OfferChange& change);
  std::vector<OfferView> view() const;

 private:
  // The offer of IP i replaced by one for sale from now: the waiting one is cancelled first (if
  // it was sold meanwhile, it stays, and so does its window).
  void again(size_t i);
  // Withdraws offer `h` (the market's signed cancel) if it is on the book with no deal; true when
  // it went with nothing sold on it, so that its window may be sold again (it is read again
  // after the cancel: a deal opened meanwhile holds the window). Fails with the node's reason.
  Result<bool> withdraw_unsold(const Hash& h);

  NodeSession& s_;
  const sdk::Signer& signer_;
  ProvideConfig& c_;
  const uint16_t fee_bps_;
  uint64_t nonce_;
  std::vector<uint64_t> until_;  // the end of each IP's last offer
  // Each IP's last offer: its hash and the start of its window (later than now while an earlier
  // run's deals hold the IP), and those deals, not yet closed on the ledger.
  std::vector<std::optional<Hash>> last_offer_;
  std::vector<uint64_t> last_from_;
  // The offer the last one follows, still on sale until its end (the successor is placed up to
  // renew_ahead_ before it), and its window's start.
  std::vector<std::optional<Hash>> prev_offer_;
  std::vector<uint64_t> prev_from_;
  // Where each of the two could have started before the daily hours shifted it (what a
  // withdrawal gives back).
  std::vector<uint64_t> last_base_, prev_base_;
  std::vector<std::set<Hash>> held_by_;
  std::vector<bool> paused_;
  std::vector<std::optional<DailyHours>> hours_;
  std::vector<std::string> hours_text_;
  std::vector<std::string> checked_;
  std::set<size_t> freed_;
  const uint64_t renew_ahead_;
};

}  // namespace ipsx::cli
