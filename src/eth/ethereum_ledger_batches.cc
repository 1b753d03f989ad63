// The market's openDeals queued together, sent as one batch (docs/eth.md, "The Ethereum ledger"),
// and the hold on sending.
#include "eth/ethereum_ledger.h"

#include <algorithm>
#include <atomic>

namespace ipsx::eth {

namespace L = ipsx::ledger;
using L::LedgerErrc;

void EthereumLedger::hold_sends(bool held) {
  std::lock_guard lock(queue_mu_);
  held_ = held;
  queue_cv_.notify_all();
}

// The market's fills queued while the one before was being sent: one transaction's base cost
// and one cold touch of the market's wallet and the totals for all of them (docs/eth.md, "The
// Ethereum ledger"). Only openDeals, whose receipts split exactly: each emits one DealOpened, in
// order.
std::vector<EthereumLedger::Pending> EthereumLedger::take_batchable(const Pending& first) {
  std::vector<Pending> out;
  auto opens = [&](const Pending& x) {
    return x.key && x.key->address() == first.key->address() && !x.alone && x.op &&
           std::holds_alternative<L::OpenDeal>(*x.op);
  };
  const size_t most = std::min(options_.max_batch, L::kMaxBatchOps);
  if (!opens(first) || most < 2) return out;
  // Only those right behind it: nothing passes a transaction submitted before it.
  while (!incoming_.empty() && opens(incoming_.front()) && out.size() + 1 < most) {
    out.push_back(std::move(incoming_.front()));
    incoming_.pop_front();
  }
  return out;
}

void EthereumLedger::send_batch(std::vector<Pending> group) {
  struct Member {
    L::Op op;
    std::function<void(Result<L::Receipt>)> done;
  };
  auto members = std::make_shared<std::vector<Member>>();
  L::Batch batch;
  for (Pending& m : group) {
    batch.ops.push_back(*m.op);
    members->push_back({std::move(*m.op), std::move(m.done)});
  }
  auto key = group.front().key;
  // A refusal of the batch: each goes again alone, first in the queue, in order, for its own
  // answer (the batch changed nothing). Anything else (the chain gone, a timeout, the ledger
  // closing) is each one's answer as it would have been alone.
  // Once sent, only a revert is a refusal: bad_nonce then (the nonce taken, maybe by the batch
  // itself) says nothing of whether it was mined, and sending its members again could open
  // their deals twice.
  auto sent = std::make_shared<std::atomic<bool>>(false);
  auto answer = [this, members, key, sent](Result<L::Receipt> r) {
    auto refused = [&] {
      if (r || r.error().code().category() != L::ledger_category()) return false;
      for (LedgerErrc ambiguous : {LedgerErrc::shutting_down, LedgerErrc::storage})
        if (r.error().code() == L::make_error_code(ambiguous)) return false;
      if (!sent->load()) return true;
      for (LedgerErrc c :
           {LedgerErrc::bad_nonce, LedgerErrc::wrong_chain, LedgerErrc::bad_signature})
        if (r.error().code() == L::make_error_code(c)) return false;
      return true;
    };
    if (refused()) {
      // (Refused when sent, they go first again. One the chain reverted once mined, long after,
      // comes after what the sender submitted meanwhile.)
      bool closing = false;
      {
        std::lock_guard lock(queue_mu_);
        closing = stopping_;
        if (!closing) {
          for (auto it = members->rbegin(); it != members->rend(); ++it)
            incoming_.push_front(Pending{{}, std::move(it->done), key, std::move(it->op), true});
          batches_refused_.fetch_add(1);
          queue_cv_.notify_all();
        }
      }
      if (!closing) return;
      for (auto& m : *members) m.done(fail(LedgerErrc::shutting_down, "the ledger is closing"));
      return;
    }
    std::vector<Hash> opened;
    if (r) {
      for (const L::Event& e : r->events)
        if (e.kind == L::EventKind::deal_opened && e.deal) opened.push_back(*e.deal);
    }
    for (size_t i = 0; i < members->size(); ++i) {
      auto& done = (*members)[i].done;
      if (!r) {
        done(std::unexpected(r.error()));
        continue;
      }
      // The i-th openDeal's receipt: the batch's transaction, its own deal and events.
      L::Receipt own = *r;
      own.deal_id.reset();
      own.events.clear();
      if (i < opened.size()) {
        own.deal_id = opened[i];
        for (const L::Event& e : r->events)
          if (e.deal == opened[i]) own.events.push_back(e);
      }
      done(std::move(own));
    }
  };
  Pending p{{}, std::move(answer), key, L::Op(std::move(batch))};
  batches_sent_.fetch_add(1);
  batched_.fetch_add(members->size());
  if (auto signed_now = sign_in_turn(p); !signed_now) {
    p.done(std::unexpected(signed_now.error()));
    return;
  }
  auto w = check_and_send(p);
  if (!w) return;  // refused before anything was sent: answered
  sent->store(true);
  enqueue_waiting(std::move(*w));
}

void EthereumLedger::waiter_loop(bool patient) {
  std::deque<Waiting>& queue = patient ? patient_waiting_ : waiting_;
  for (;;) {
    std::optional<Waiting> w;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return !queue.empty() || (stopping_ && incoming_.empty()); });
      if (queue.empty()) return;
      w = std::move(queue.front());
      queue.pop_front();
    }
    auto r = finish(*w);
    // The chain's count rules from here: whether the transaction was mined, refused, or is
    // still somewhere the ledger cannot see (a timeout), the node's pending state says.
    done_with(w->tx.tx.from, w->tx.tx.nonce, false);
    if (r && options_.confirmations > 0 && r->chain_tx) {
      auto wait = options_.send.receipt_timeout * static_cast<int64_t>(1 + options_.confirmations);
      std::lock_guard lock(queue_mu_);
      confirming_.push_back({std::move(*r), std::move(w->done),
                             std::chrono::steady_clock::now() + wait, w->patient, w->tx.tx.from,
                             w->tx.tx.nonce});
      continue;
    }
    w->done(std::move(r));
  }
}

}  // namespace ipsx::eth
