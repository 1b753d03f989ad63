// Settling deals on the ledger, each party from its own side, through the node (docs/sdk.md
// "Settlement"). The market's deal protocol decides when and why a deal ends; these classes act
// on that decision once it is final (a close is final `clock_skew` after it, docs/protocol.md):
//
// - ProviderSettlement: closes the deal with the best balance proof the exit received (the
//   ledger pays the provider, takes the market's commission, refunds the rest of the deposit to
//   the requester), claims the best proof now and then on long deals, and rates the requester.
// - RequesterSettlement: rates the provider once the deal is closed on the ledger; when the
//   provider never closes a deal the market closed (a failed or vanished provider), starts an
//   uncooperative close admitting what was already claimed, and settles once the challenge
//   period is over, so the deposit comes back.
//
// Both are driven by poll() from one thread (the commands' once-a-second loop); each returns
// what it did, as lines for the user. Failures are kept for the next poll (and reported once).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "ledger/ledger.h"
#include "sdk/node_client.h"
#include "sdk/signer.h"

namespace ipsx::sdk {

struct SettlementOptions {
  Millis check_every{2'000};    // how often watched deals are read at the node
  Millis claim_every{600'000};  // provider: claim the best proof of an open deal this often
  // requester: how long after the market's final close the provider has to close the deal on
  // the ledger before the requester starts an uncooperative close
  Millis provider_grace{30'000};
};

// The score a party gives the other for a deal that ended for `reason` (1..5): 5 when it went as
// agreed, 1 when the other side is to blame (the provider failed; the requester did not pay).
uint8_t provider_score_for(ledger::CloseReason reason);   // the requester's view of a provider
uint8_t requester_score_for(ledger::CloseReason reason);  // the provider's view of a requester
// "completed" -> CloseReason::completed ...; nullopt for a name docs/ledger.md does not list.
std::optional<ledger::CloseReason> close_reason_from_string(std::string_view name);

// What both sides share: the node, the wallet, the options, and the walk over the watched deals
// at most every check_every, dropping those done.
class SettlementSide {
 protected:
  SettlementSide(NodeClient& node, const Signer& signer, SettlementOptions options)
      : node_(node), signer_(signer), options_(options) {}

  template <class Deal, class Settle>
  std::vector<std::string> poll_deals(std::map<Hash, Deal>& deals, Timestamp now, Settle settle) {
    std::vector<std::string> out;
    if (now < last_check_ + options_.check_every) return out;
    last_check_ = now;
    for (auto it = deals.begin(); it != deals.end();) {
      auto lines = settle(it->first, it->second);
      out.insert(out.end(), lines.begin(), lines.end());
      it = it->second.done ? deals.erase(it) : std::next(it);
    }
    return out;
  }

  NodeClient& node_;
  const Signer& signer_;
  SettlementOptions options_;
  Timestamp last_check_{};
};

class ProviderSettlement : SettlementSide {
 public:
  ProviderSettlement(NodeClient& node, const Signer& provider, SettlementOptions options = {});

  // A deal of this provider to settle when it ends.
  void watch(const Hash& deal);
  // A balance proof the exit received; the highest per deal is kept.
  void on_payment(const Hash& deal, const U256& amount, const crypto::Signature& signature);
  // Reads the watched deals (at most every check_every) and acts: claim, close, rate.
  std::vector<std::string> poll(Timestamp now);
  // Deals watched and not yet closed and rated.
  size_t pending() const { return deals_.size(); }

 private:
  struct Deal {
    std::optional<std::pair<U256, crypto::Signature>> best;
    U256 claimed;
    Timestamp last_claim{};
    bool done = false;  // closed and rated (or unknown to the node)
    std::string last_error;
  };
  std::vector<std::string> settle(const Hash& id, Deal& d, Timestamp now);

  std::map<Hash, Deal> deals_;
};

class RequesterSettlement : SettlementSide {
 public:
  RequesterSettlement(NodeClient& node, const Signer& requester, SettlementOptions options = {});

  void watch(const Hash& deal);
  std::vector<std::string> poll(Timestamp now);
  size_t pending() const { return deals_.size(); }

 private:
  struct Deal {
    bool closing = false;  // our uncooperative close was accepted
    bool done = false;     // closed and rated (or unknown to the node)
    std::string last_error;
  };
  std::vector<std::string> settle(const Hash& id, Deal& d, Timestamp now);

  std::map<Hash, Deal> deals_;
};

}  // namespace ipsx::sdk
