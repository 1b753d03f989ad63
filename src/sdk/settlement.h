// Settling deals on the ledger, each party from its own side, through the node (docs/sdk.md
// "Settlement"). The market's deal protocol decides when and why a deal ends; these classes act
// on that decision once it is final (a close is final `clock_skew` after it, docs/protocol.md):
//
// - ProviderSettlement: the provider's watchtower. It follows each of its deals on the ledger:
//   it claims the best balance proof the exit received often enough that little is ever
//   unclaimed (at most `max_unclaimed_seconds` of the deal's price, or all of it every
//   `claim_every`); when the requester starts an uncooperative close it answers within the
//   challenge period with its best proof, and settles once the period is over; when the ledger
//   marks a deal closing or closed it tells the exit to cut it (on_ended). Once the market's
//   close is final it closes the deal with its best proof (the ledger pays the provider, takes
//   the market's commission, refunds the rest of the deposit to the requester) and rates the
//   requester. With a ProofStore, the deals of its stored proofs are watched from the start, so
//   a restarted provider resumes where it stopped.
// - RequesterSettlement: rates the provider once the deal is closed on the ledger; when the
//   provider never closes a deal the market closed (a failed or vanished provider), starts an
//   uncooperative close admitting what was already claimed, and settles once the challenge
//   period is over, so the deposit comes back.
//
// Both are driven by poll() from one thread (the commands' once-a-second loop); each returns
// what it did, as lines for the user. Failures are kept for the next poll (and reported once).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/node_client.h"
#include "client/signer.h"
#include "core/clock.h"
#include "core/uint256.h"
#include "crypto/keys.h"
#include "ledger/ledger.h"
#include "sdk/proof_store.h"
#include "vocab/usage.h"

namespace ipsx::sdk {

struct SettlementOptions {
  Millis check_every{1'000};    // how often watched deals are read at the node
  Millis claim_every{600'000};  // provider: claim the best proof of an open deal this often
  // provider: claim at once when the best proof is this many seconds of the deal's price above
  // what is claimed (so a provider offline for a challenge period loses at most this much)
  uint64_t max_unclaimed_seconds = 60;
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
    // Deals done are dropped by the caller after flush(): what a deal queued refers to it.
    for (auto& [id, deal] : deals) {
      auto lines = settle(id, deal);
      out.insert(out.end(), lines.begin(), lines.end());
    }
    return out;
  }

  // A transaction a poll decided on, sent with the others at its end (flush): `ok` with its own
  // part of the receipt (its deal's events), `failed` with its own error.
  struct Queued {
    Hash deal;
    ledger::Op op;
    std::function<void(const nlohmann::json& receipt, std::vector<std::string>& out)> ok;
    std::function<void(const Error& e, std::vector<std::string>& out)> failed;
  };
  void send(Queued q) { queued_.push_back(std::move(q)); }
  // Sends what this poll queued: two or more as batches (one transaction's base cost for all of
  // them: on Ethereum a claim or close costs about 40 % less in a batch of ten), and if the
  // ledger refuses a batch, each of it alone for its own outcome; one alone.
  void flush(std::vector<std::string>& out);

  NodeClient& node_;
  const Signer& signer_;
  SettlementOptions options_;
  Timestamp last_check_{};
  std::vector<Queued> queued_;
};

class ProviderSettlement : SettlementSide {
 public:
  // `store`, if given, outlives this object: its proofs are loaded (their deals watched), and a
  // deal's proofs are forgotten once it is closed on the ledger. The store itself is written by
  // whoever receives the proofs (the exit's on_payment), before they count.
  ProviderSettlement(NodeClient& node, const Signer& provider, SettlementOptions options = {},
                     ProofStore* store = nullptr);

  // A deal of this provider to follow until it is closed and rated.
  void watch(const Hash& deal);
  // A balance proof the exit received; the highest per deal is kept.
  void on_payment(const Hash& deal, const U256& amount, const crypto::Signature& signature);
  // Reads the watched deals (at most every check_every) and acts: claim, answer a close, settle,
  // close, rate.
  std::vector<std::string> poll(Timestamp now);
  // Deals watched and not yet closed and rated.
  size_t pending() const { return deals_.size(); }

  // Called from poll() once for each deal the ledger marks closing or closed, with the reason
  // for the exit's log: the exit cuts it (Exit::end_deal).
  std::function<void(const Hash& deal, const std::string& why)> on_ended;
  // The requester's best signed usage receipt of a deal, if any (the provider's UsageStore).
  // When the deal closes (closing or closed on the ledger, or its close final at the market),
  // a receipt covering more records than the ledger holds is put on the ledger (RecordUsage).
  std::function<std::optional<std::pair<UsageReceipt, crypto::Signature>>(const Hash&)>
      usage_receipt;

 private:
  struct Deal {
    std::optional<std::pair<U256, crypto::Signature>> best;
    U256 claimed;
    Timestamp last_claim{};
    bool ended = false;       // on_ended was called
    bool done = false;        // closed and rated (or unknown to the node)
    uint64_t usage_sent = 0;  // records of the last receipt put on the ledger
    std::string last_error;
  };
  void record_usage(const Hash& id, Deal& d, const nlohmann::json& ledger_view);
  void answer_close(const Hash& id, Deal& d, const nlohmann::json& ledger_view, Timestamp now);
  void claim(const Hash& id, Deal& d, Timestamp now, std::string what);
  std::vector<std::string> settle(const Hash& id, Deal& d, Timestamp now);

  ProofStore* store_;
  std::map<Hash, Deal> deals_;
};

class RequesterSettlement : SettlementSide {
 public:
  RequesterSettlement(NodeClient& node, const Signer& requester, SettlementOptions options = {});

  void watch(const Hash& deal);
  std::vector<std::string> poll(Timestamp now);
  size_t pending() const { return deals_.size(); }

  // Called from poll() once for each deal the ledger marks closing or closed: the requester's
  // gateway stops using it (Gateway::end_lease), whoever closed it.
  std::function<void(const Hash& deal, const std::string& why)> on_ended;

 private:
  struct Deal {
    bool ended = false;    // on_ended was called
    bool closing = false;  // our uncooperative close was accepted
    bool done = false;     // closed and rated (or unknown to the node)
    std::string last_error;
  };
  std::vector<std::string> settle(const Hash& id, Deal& d, Timestamp now);

  std::map<Hash, Deal> deals_;
};

}  // namespace ipsx::sdk
