// The exit's accounts (exit_impl.h): what a deal owes, the credit limit and the cut, invoices and
// balance proofs, the usage log, its records and receipts.
#include "net/exit_impl.h"

namespace ipsx::net {

Amount Exit::Impl::owed(const Session& s) const {
  uint64_t t = std::min(now_s(), s.deal.end);
  uint64_t secs = t > s.deal.start ? t - s.deal.start : 0;
  // Never above the deposit; a product too large for 256 bits is above any deposit.
  auto v = Amount::from_base(s.deal.price_per_second).mul(U256(secs));
  return v && *v < s.deal.max_amount ? *v : s.deal.max_amount;
}

Amount Exit::Impl::credit_limit(const Session& s) const {
  // The ledger refuses an offer whose price for 30 days overflows, so this product fits; were it
  // not to, no credit beyond the deposit means anything.
  auto v = Amount::from_base(s.deal.price_per_second).mul(U256(cfg.credit_seconds));
  return v ? *v : s.deal.max_amount;
}

void Exit::Impl::cut(Session& s, const Error& why) {
  if (s.cut) return;
  s.cut = true;
  with_stats(s.deal.id, [&](ExitDealStats& st) { st.cut_reason = why.message(); });
  if (on_cut) on_cut(s.deal.id, why);
  for (auto& w : s.channels)
    if (auto ch = w.lock()) {
      ch->send_control(FrameType::cut, error_payload(why));
      // Let the CUT frame leave before the channel goes.
      auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
      t->async_wait([t, ch, why](const boost::system::error_code&) { ch->close(why); });
    }
  for (auto& w : s.front)
    if (auto c = w.lock())
      if (c->abort) c->abort();
  remove_vpn_peer(s);
  s.channels.clear();
  s.front.clear();
}

awaitable<void> Exit::Impl::billing() {
  auto self = shared_from_this();
  while (!stopping) {
    invoice_timer.expires_after(cfg.invoice_interval);
    boost::system::error_code ec;
    co_await invoice_timer.async_wait(use_ec(ec));
    if (stopping) break;
    meter_vpn();
    std::vector<Hash> over;
    for (auto& [id, s] : sessions) {
      if (now_s() >= s->deal.end + kForgetAfterEndSeconds) {
        over.push_back(id);
        continue;
      }
      if (s->cut) continue;
      Amount due = owed(*s);
      ExitDealStats st;
      with_stats(id, [&](ExitDealStats& x) {
        x.owed = due;
        st = x;
      });
      Amount unpaid = due > st.paid ? due.sub(st.paid).value() : Amount::zero();
      if (unpaid > credit_limit(*s)) {
        cut(*s, Error(NetErrc::unpaid,
                      fmt::format("unpaid: owes {}, paid {}, credit limit {}", due.base().to_dec(),
                                  st.paid.base().to_dec(), credit_limit(*s).base().to_dec())));
        continue;
      }
      send_usage(*s);
      InvoiceMessage inv{id, due, std::min(now_s(), s->deal.end) - std::min(now_s(), s->deal.start),
                         st.bytes_up, st.bytes_down};
      Bytes payload = to_payload(inv);
      std::erase_if(s->channels, [](auto& w) { return w.expired(); });
      for (auto& w : s->channels)
        if (auto ch = w.lock()) ch->send_control(FrameType::invoice, payload);
      if (now_s() >= s->deal.end) cut(*s, Error(NetErrc::deal_ended, "the deal's time is over"));
    }
    for (const Hash& id : over) forget(id);
  }
}

void Exit::Impl::forget(const Hash& id) {
  auto it = sessions.find(id);
  if (it == sessions.end()) return;
  cut(*it->second, Error(NetErrc::deal_ended, "the deal's time is over"));
  by_username.erase(it->second->username);
  sessions.erase(it);
  session_count = sessions.size();
  std::lock_guard lock(stats_mu);
  stats.erase(id);
}

void Exit::Impl::on_proof(Session& s, MuxChannel& ch, const Frame& f) {
  auto p = parse_proof(f.payload);
  auto reject = [&](std::string why) {
    ch.close(Error(NetErrc::unauthorized, "balance proof refused: " + why));
  };
  if (!p) return reject(p.error().message());
  if (p->deal_id != s.deal.id) return reject("for another deal");
  if (p->amount > s.deal.max_amount) return reject("above the deal's deposit");
  BalanceProof bp{p->deal_id, p->amount.base()};
  Hash digest = crypto::eip712::digest(s.deal.domain_separator, bp.struct_hash());
  auto signer = crypto::recover(digest, p->signature);
  if (!signer || *signer != s.deal.requester) return reject("not signed by the requester");
  if (s.best && p->amount <= s.best->amount) return;  // stale or repeated: harmless
  ExitPayment payment{p->deal_id, p->amount, p->signature};
  // The provider keeps it (durably) before it counts as paid: a proof it could not keep does
  // not extend the requester's credit.
  if (on_payment && !on_payment(payment)) return;
  s.best = payment;
  with_stats(s.deal.id, [&](ExitDealStats& st) { st.paid = p->amount; });
}

std::shared_ptr<Exit::Impl::ConnectionUsage> Exit::Impl::track(const std::shared_ptr<Session>& s,
                                                               const Endpoint& to, uint32_t stream,
                                                               bool counted) {
  auto u = std::make_shared<ConnectionUsage>();
  u->counted = counted;
  u->impl = shared_from_this();
  u->session = s;
  u->record.host = format_host(to.host);
  u->record.port = to.port;
  u->record.stream = stream;
  u->record.opened_ms = to_unix_ms(clock.now());
  return u;
}

void Exit::Impl::record_usage(Session& s, UsageRecord r) {
  r.deal_id = s.deal.id;
  r.index = s.usage_records++;
  // A connection's record closes now; a tunnel's flow comes with its own close time.
  if (r.closed_ms == 0) r.closed_ms = std::max(r.opened_ms, to_unix_ms(clock.now()));
  if (s.unsent.size() >= kMaxUnsentRecords) {  // no gateway for long: it joins the log unsent
    s.log.append(usage_leaf(s.unsent.front()));
    s.unsent.pop_front();
  }
  with_stats(s.deal.id, [&](ExitDealStats& st) { st.usage_records = s.usage_records; });
  if (on_usage) on_usage(r);
  s.unsent.push_back(std::move(r));
}

void Exit::Impl::send_usage(Session& s) {
  std::erase_if(s.channels, [](auto& w) { return w.expired(); });
  if (s.unsent.empty() || s.channels.empty()) return;
  while (!s.unsent.empty()) {
    UsageMessage m{s.deal.id, {}, 0, {}};
    while (!s.unsent.empty() && m.records.size() < kMaxUsageRecordsPerMessage) {
      s.log.append(usage_leaf(s.unsent.front()));
      m.records.push_back(std::move(s.unsent.front()));
      s.unsent.pop_front();
    }
    m.count = s.log.size();
    m.root = s.log.root();
    s.sent_roots[m.count] = m.root;
    if (s.sent_roots.size() > kMaxSentRoots) s.sent_roots.erase(s.sent_roots.begin());
    Bytes payload = to_payload(m);
    for (auto& w : s.channels)
      if (auto ch = w.lock()) ch->send_control(FrameType::usage, payload);
  }
}

void Exit::Impl::on_receipt(Session& s, MuxChannel& ch, const Frame& f) {
  auto m = parse_receipt(f.payload);
  auto reject = [&](std::string why) {
    ch.close(Error(NetErrc::unauthorized, "usage receipt refused: " + why));
  };
  if (!m) return reject(m.error().message());
  if (m->deal_id != s.deal.id) return reject("for another deal");
  auto sent = s.sent_roots.find(m->count);
  if (sent == s.sent_roots.end() || sent->second != m->root)
    return reject("not the root of the log's first " + std::to_string(m->count) + " records");
  UsageReceipt r{m->deal_id, m->count, m->root};
  auto signer = crypto::recover(crypto::eip712::digest(s.deal.domain_separator, r.struct_hash()),
                                m->signature);
  if (!signer || *signer != s.deal.requester) return reject("not signed by the requester");
  if (s.receipt && s.receipt->count >= m->count) return;
  s.receipt = ExitReceipt{m->deal_id, s.deal.requester, m->count, m->root, m->signature};
  with_stats(s.deal.id, [&](ExitDealStats& st) { st.usage_receipted = m->count; });
  if (on_receipt_cb) on_receipt_cb(*s.receipt);
}

}  // namespace ipsx::net
