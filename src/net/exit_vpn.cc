// The exit's VPN deals (exit_impl.h, docs/vpn.md): a requester's signed WireGuard key becomes a
// peer of the exit's tunnel (ExitConfig::vpn), removed when the deal is cut; the tunnel's bytes
// are metered into the deal's stats and invoices like a proxy connection's.
#include "crypto/eip191.h"
#include "net/exit_impl.h"
#include "net/wireguard.h"

namespace ipsx::net {

void Exit::Impl::on_vpn_open(const std::shared_ptr<Session>& s,
                             const std::weak_ptr<MuxChannel>& weak, const Frame& f) {
  auto answer = [weak](FrameType type, Bytes payload) {
    if (auto ch = weak.lock()) ch->send_control(type, payload);
  };
  auto refuse = [&](const Error& e) { answer(FrameType::vpn_refused, error_payload(e)); };
  if (!cfg.vpn) return refuse(Error(NetErrc::not_permitted, "this exit serves no VPN"));
  auto m = parse_vpn_open(f.payload);
  if (!m) return refuse(m.error());
  if (m->deal_id != s->deal.id) return refuse(Error(NetErrc::unauthorized, "for another deal"));
  if (!(s->deal.protocols & protocol::vpn))
    return refuse(Error(NetErrc::not_permitted, "the deal's offer does not serve vpn"));
  if (auto why = unservable(*s)) return refuse(*why);
  const std::string key_text = wg_key_base64(m->public_key);
  auto digest = crypto::personal_message_hash(vpn_key_message(m->deal_id, key_text));
  auto signer = crypto::recover(digest, m->signature);
  if (!signer || *signer != s->deal.requester)
    return refuse(Error(NetErrc::unauthorized, "the VPN key is not signed by the requester"));
  if (s->vpn_key == m->public_key && s->vpn_config)
    return answer(FrameType::vpn_config, to_payload(*s->vpn_config));
  if (s->vpn_adding) {  // a reconnect asks again while the first request is served
    if (s->vpn_key_pending != m->public_key)
      return refuse(Error(NetErrc::overloaded, "another key of the deal is being added"));
    const bool known = std::any_of(s->vpn_waiting.begin(), s->vpn_waiting.end(), [&](auto& w) {
      return !w.owner_before(weak) && !weak.owner_before(w);
    });
    if (!known && s->vpn_waiting.size() < Session::kMaxVpnWaiting) s->vpn_waiting.push_back(weak);
    return;
  }
  s->vpn_adding = true;
  s->vpn_key_pending = m->public_key;
  s->vpn_waiting = {weak};
  // Mail ports as the proxy allows them: an offer serving smtp, a deal made for email.
  const bool email = (s->deal.protocols & protocol::smtp) && s->deal.request_scope == scope::email;
  VpnPeer peer{s->deal.id, m->public_key, s->deal.leased_ip, email};
  auto vpn = cfg.vpn;
  auto self = shared_from_this();
  asio::post(vpn_work, [this, self, vpn, peer, s] {
    Result<VpnConfigMessage> added = std::unexpected(Error(NetErrc::exit_failed, "not added"));
    try {
      added = vpn->add_peer(peer);
    } catch (const std::exception& e) {
      added = std::unexpected(Error(NetErrc::exit_failed, e.what()));
    }
    asio::post(io, [this, self, vpn, peer, s, added = std::move(added)] {
      s->vpn_adding = false;
      auto waiting = std::exchange(s->vpn_waiting, {});
      auto answer_all = [&](FrameType type, const Bytes& payload) {
        for (auto& w : waiting)
          if (auto ch = w.lock()) ch->send_control(type, payload);
      };
      if (!added) {  // whatever peer the deal had is gone with the failed replacement
        s->vpn_key.reset();
        s->vpn_config.reset();
        answer_all(FrameType::vpn_refused,
                   error_payload(added.error().with_context("the exit could not add the peer")));
        return;
      }
      if (s->cut || stopping) {  // cut meanwhile: the peer goes again
        asio::post(vpn_work, [vpn, id = peer.deal_id] { vpn->remove_peer(id); });
        answer_all(FrameType::vpn_refused,
                   error_payload(unservable(*s).value_or(Error(NetErrc::deal_ended, "stopping"))));
        return;
      }
      s->vpn_key = peer.public_key;
      s->vpn_config = *added;
      answer_all(FrameType::vpn_config, to_payload(*added));
    });
  });
}

void Exit::Impl::remove_vpn_peer(Session& s) {
  if (!cfg.vpn || !s.vpn_key) return;
  s.vpn_key.reset();
  s.vpn_config.reset();
  asio::post(vpn_work, [vpn = cfg.vpn, id = s.deal.id] { vpn->remove_peer(id); });
}

void Exit::Impl::meter_vpn() {
  if (!cfg.vpn) return;
  for (const VpnCounter& c : cfg.vpn->counters()) {
    auto it = sessions.find(c.deal_id);
    if (it == sessions.end()) continue;
    Session& s = *it->second;
    const uint64_t up = c.bytes_up > s.vpn_up_seen ? c.bytes_up - s.vpn_up_seen : 0;
    const uint64_t down = c.bytes_down > s.vpn_down_seen ? c.bytes_down - s.vpn_down_seen : 0;
    s.vpn_up_seen = std::max(s.vpn_up_seen, c.bytes_up);
    s.vpn_down_seen = std::max(s.vpn_down_seen, c.bytes_down);
    if (up || down) meter(c.deal_id)(up, down);
  }
  // Each flow that ended joins its deal's usage log as a record without a stream.
  for (VpnFlow& f : cfg.vpn->take_flows()) {
    auto it = sessions.find(f.deal_id);
    if (it == sessions.end()) continue;
    UsageRecord r;
    r.opened_ms = f.opened_ms;
    r.closed_ms = std::max(f.closed_ms, f.opened_ms);
    r.host = std::move(f.host);
    r.port = f.port;
    r.bytes_up = f.bytes_up;
    r.bytes_down = f.bytes_down;
    record_usage(*it->second, std::move(r));
  }
}

}  // namespace ipsx::net
