// VPN deals over the pair channel (docs/vpn.md), on loopback: the messages, and an exit whose
// WireGuard side is a recording fake (the real one, net/wireguard.h, needs CAP_NET_ADMIN and is
// tested across the testbed: tests/e2e/netbed_vpn_e2e.sh). Also the system-tool runner.
#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "net/dataplane_test_util.h"
#include "net/net_error.h"
#include "net/pair_messages.h"
#include "net/run_command.h"
#include "net/wireguard.h"

namespace ipsx::net {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::IoThread;
using testing::make_deal;
using testing::StaticDeals;
using testing::TestDeal;

constexpr uint64_t kNow = 1'800'000'000;

Hash hash_of(uint8_t b) {
  std::array<uint8_t, 32> bytes;
  bytes.fill(b);
  return Hash(std::span<const uint8_t, 32>(bytes));
}

VpnConfigMessage sample_config() {
  VpnConfigMessage c;
  c.deal_id = hash_of(7);
  c.server_key = wg_generate_key().public_key;
  c.endpoint = *parse_authority("203.0.113.31:51820", std::nullopt);
  c.address = *parse_ip("10.77.0.2");
  c.dns = {*parse_ip("203.0.113.20")};
  c.mtu = 1420;
  return c;
}

TEST(VpnMessages, RoundTripAndRefuseWhatIsOutOfRange) {
  VpnConfigMessage c = sample_config();
  auto back = parse_vpn_config(to_payload(c));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->server_key, c.server_key);
  EXPECT_EQ(back->endpoint, c.endpoint);
  EXPECT_EQ(back->address, c.address);
  EXPECT_EQ(back->dns, c.dns);
  EXPECT_EQ(back->mtu, 1420);

  VpnOpenMessage o{hash_of(1), wg_generate_key().public_key, crypto::Signature{}};
  auto open = parse_vpn_open(to_payload(o));
  ASSERT_TRUE(open);
  EXPECT_EQ(open->public_key, o.public_key);

  auto edit = [](const VpnConfigMessage& m, const char* from, const char* to) {
    std::string s;
    for (uint8_t b : to_payload(m)) s.push_back(static_cast<char>(b));
    s.replace(s.find(from), std::string(from).size(), to);
    return Bytes(s.begin(), s.end());
  };
  for (auto [from, to, why] : {
           std::tuple{"\"10.77.0.2\"", "\"2001:db8::1\"", "address"},
           std::tuple{"1420", "9000", "mtu"},
           std::tuple{"203.0.113.31:51820", "203.0.113.31", "endpoint"},
           std::tuple{"\"203.0.113.20\"]",
                      "\"1.1.1.1\",\"1.0.0.1\",\"8.8.8.8\",\"8.8.4.4\",\"9.9.9.9\"]", "dns"},
       }) {
    auto bad = parse_vpn_config(edit(c, from, to));
    ASSERT_FALSE(bad) << why;
    EXPECT_NE(bad.error().message().find(why), std::string::npos) << bad.error().message();
  }
  std::string short_key = R"({"deal":")" + hash_of(1).hex() +
                          R"(","publicKey":"AAAA","signature":")" + crypto::Signature{}.to_hex() +
                          "\"}";
  auto bad_key = parse_vpn_open(Bytes(short_key.begin(), short_key.end()));
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.error().message().find("publicKey"), std::string::npos);
}

TEST(WireguardKeys, Base64AsWgPrintsThem) {
  WgKeyPair k = wg_generate_key();
  std::string text = wg_key_base64(k.public_key);
  EXPECT_EQ(text.size(), 44u);
  EXPECT_EQ(*wg_parse_key(text), k.public_key);
  EXPECT_NE(k.public_key, k.private_key);
  EXPECT_FALSE(wg_parse_key("not a key"));
  EXPECT_FALSE(check_interface_name("a name too long for linux"));
  EXPECT_FALSE(check_interface_name("wg0;rm"));
  EXPECT_TRUE(check_interface_name("ipsx0"));
}

TEST(Conntrack, DestroyEventsAreReadAsFlows) {
  auto udp = parse_conntrack_event(
      "[1796622042.168022]\t[DESTROY] ipv4     2 udp      17 29 src=10.77.0.2 dst=203.0.113.20 "
      "sport=40970 dport=53 packets=1 bytes=128 src=203.0.113.20 dst=203.0.113.31 sport=53 "
      "dport=40970 packets=1 bytes=144 delta-time=3 [USERSPACE] portid=2587703010");
  ASSERT_TRUE(udp);
  EXPECT_EQ(udp->source, 0x0a4d0002u);
  EXPECT_EQ(udp->destination, "203.0.113.20");
  EXPECT_EQ(udp->port, 53);
  EXPECT_EQ(udp->bytes_up, 128u);
  EXPECT_EQ(udp->bytes_down, 144u);
  EXPECT_EQ(udp->closed_ms, 1796622042168);
  EXPECT_EQ(udp->duration_s, 3);
  auto icmp = parse_conntrack_event(
      "[1796622042.5]\t[DESTROY] ipv4 2 icmp 1 src=10.77.0.3 dst=198.51.100.7 type=8 code=0 "
      "id=7 packets=1 bytes=84 src=198.51.100.7 dst=203.0.113.31 type=0 code=0 id=7 packets=1 "
      "bytes=84");
  ASSERT_TRUE(icmp);
  EXPECT_EQ(icmp->port, 0);
  EXPECT_EQ(icmp->closed_ms, 1796622042500);
  EXPECT_FALSE(parse_conntrack_event("[1796622042.1]\t[NEW] tcp 6 src=10.77.0.2 dst=1.2.3.4"));
  EXPECT_FALSE(parse_conntrack_event("[DESTROY] tcp 6 src=10.77.0.2 dst=1.2.3.4 bytes=1"));
  EXPECT_FALSE(parse_conntrack_event("conntrack v1.4.7 (conntrack-tools): 1 flow events"));
  EXPECT_FALSE(parse_conntrack_event(""));
  EXPECT_FALSE(parse_conntrack_event(
      "[1796622042.1]\t[DESTROY] tcp 6 src=fe80::1 dst=1.2.3.4 dport=80 bytes=1 bytes=2"));
}

// What a requester's host sees begin (ipsx vpn's FlowWatch): NEW events, no counters needed.
TEST(Conntrack, NewEventsAreReadAsFlowStarts) {
  auto tcp = parse_conntrack_new(
      "[1796622040.250133]\t    [NEW] tcp      6 120 SYN_SENT src=10.77.0.2 dst=203.0.113.20 "
      "sport=50412 dport=8080 [UNREPLIED] src=203.0.113.20 dst=10.77.0.2 sport=8080 dport=50412");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->source, 0x0a4d0002u);
  EXPECT_EQ(tcp->destination, "203.0.113.20");
  EXPECT_EQ(tcp->port, 8080);
  EXPECT_EQ(tcp->at_ms, 1796622040250);
  auto icmp = parse_conntrack_new(
      "[1796622042.5]\t[NEW] icmp 1 30 src=10.77.0.3 dst=198.51.100.7 type=8 code=0 id=7 "
      "[UNREPLIED] src=198.51.100.7 dst=10.77.0.3 type=0 code=0 id=7");
  ASSERT_TRUE(icmp);
  EXPECT_EQ(icmp->port, 0);
  EXPECT_FALSE(parse_conntrack_new(
      "[1796622042.168022]\t[DESTROY] udp 17 src=10.77.0.2 dst=203.0.113.20 sport=1 dport=53 "
      "bytes=128 src=203.0.113.20 dst=10.77.0.2 sport=53 dport=1 bytes=144"));
  EXPECT_FALSE(parse_conntrack_new("[NEW] tcp 6 src=10.77.0.2 dst=1.2.3.4 dport=80"));
  EXPECT_FALSE(parse_conntrack_new(""));
}

TEST(RunCommand, OutputInputStatusAndTimeout) {
  auto out = run_command({"cat"}, "through stdin\n");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "through stdin\n");
  auto failed = run_command({"sh", "-c", "echo why >&2; exit 3"});
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("exit status 3: why"), std::string::npos)
      << failed.error().message();
  auto missing = run_command({"no-such-program-here"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("not found"), std::string::npos);
  auto slow = run_command({"sleep", "5"}, {}, 100ms);
  ASSERT_FALSE(slow);
  EXPECT_NE(slow.error().message().find("killed"), std::string::npos);
  // Much output and much input at once: neither side blocks the other.
  std::string big(1 << 20, 'x');
  auto echoed = run_command({"cat"}, big);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->size(), big.size());
}

// The exit's WireGuard side, recorded.
class FakeVpn final : public ExitVpn {
 public:
  Result<VpnConfigMessage> add_peer(const VpnPeer& p) override {
    std::lock_guard lock(mu_);
    added.push_back(p);
    if (refuse) return fail(NetErrc::overloaded, "the VPN's subnet has no free address");
    VpnConfigMessage c = sample_config();
    c.deal_id = p.deal_id;
    c.server_key = server_key;
    return c;
  }
  void remove_peer(const Hash& deal) override {
    std::lock_guard lock(mu_);
    removed.push_back(deal);
  }
  std::vector<VpnCounter> counters() const override {
    std::lock_guard lock(mu_);
    return counts;
  }
  std::vector<VpnFlow> take_flows() override {
    std::lock_guard lock(mu_);
    return std::exchange(flows, {});
  }
  Result<void> set_policy(const DestinationPolicy&) override { return {}; }
  void flow(VpnFlow f) {
    std::lock_guard lock(mu_);
    flows.push_back(std::move(f));
  }
  void count(const Hash& deal, uint64_t up, uint64_t down) {
    std::lock_guard lock(mu_);
    counts = {VpnCounter{deal, up, down}};
  }
  size_t adds() const {
    std::lock_guard lock(mu_);
    return added.size();
  }
  size_t removes() const {
    std::lock_guard lock(mu_);
    return removed.size();
  }

  mutable std::mutex mu_;
  WgKey server_key = wg_generate_key().public_key;
  std::vector<VpnPeer> added;
  std::vector<Hash> removed;
  std::vector<VpnCounter> counts;
  std::vector<VpnFlow> flows;
  bool refuse = false;
};

// Answers with the leases it was given, as the node's market would.
class GivenLeases final : public GatewayMarket {
 public:
  explicit GivenLeases(std::vector<Lease> l) : leases_(std::move(l)) {}
  void acquire(const ProxyFilters& f, std::function<void(Result<Lease>)> done) override {
    std::lock_guard lock(mu_);
    for (auto it = leases_.begin(); it != leases_.end(); ++it)
      if (lease_fits(*it, f)) {
        Lease l = *it;
        leases_.erase(it);
        return done(l);
      }
    done(fail(NetErrc::no_lease, "no offer matches"));
  }

 private:
  std::mutex mu_;
  std::vector<Lease> leases_;
};

class VpnDeals : public ::testing::Test {
 protected:
  VpnDeals() : clock_(from_unix_ms(int64_t{kNow} * 1000)) {}

  void start(uint32_t protocols, bool serve_vpn = true, uint32_t scope = scope::vpn,
             bool sign_vpn_usage = false,
             std::function<bool(const UsageRecord&)> vpn_flow_check = nullptr) {
    ExitConfig cfg;
    cfg.invoice_interval = 50ms;
    if (serve_vpn) cfg.vpn = vpn_;
    exit_ = std::make_unique<Exit>(exit_io_.io(), cfg, deals_, provider_, clock_);
    ASSERT_TRUE(exit_->start());
    deal_ = make_deal(provider_, requester_, "127.0.0.2", "DE", exit_->pair_port(), kNow - 1, 3600,
                      10, protocols, scope);
    deals_.add(deal_.exit);
    market_ = std::make_unique<GivenLeases>(std::vector<Lease>{deal_.lease});
    GatewayConfig g;
    g.password = "unused";
    g.connect_timeout = 2s;
    g.acquire_timeout = 2s;
    g.sign_vpn_usage = sign_vpn_usage;
    g.vpn_flow_check = std::move(vpn_flow_check);
    gateway_ = std::make_unique<Gateway>(gw_io_.io(), g, requester_.clone(), market_.get(), clock_);
    ASSERT_TRUE(gateway_->start());
  }

  Result<VpnLease> open(const WgKey& key) {
    std::promise<Result<VpnLease>> p;
    auto f = p.get_future();
    ProxyFilters filters;
    filters.country = CountryCode{'D', 'E'};
    gateway_->open_vpn(filters, key, [&p](Result<VpnLease> r) { p.set_value(std::move(r)); });
    if (f.wait_for(10s) != std::future_status::ready) return fail(NetErrc::timed_out, "no answer");
    return f.get();
  }

  void TearDown() override {
    if (gateway_) gateway_->stop();
    if (exit_) exit_->stop();
    std::this_thread::sleep_for(20ms);
    gw_io_.stop();
    exit_io_.stop();
  }

  ManualClock clock_;
  crypto::PrivateKey provider_ = *crypto::PrivateKey::generate();
  crypto::PrivateKey requester_ = *crypto::PrivateKey::generate();
  std::shared_ptr<FakeVpn> vpn_ = std::make_shared<FakeVpn>();
  StaticDeals deals_;
  IoThread exit_io_, gw_io_;
  std::unique_ptr<Exit> exit_;
  TestDeal deal_;
  std::unique_ptr<GivenLeases> market_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(VpnDeals, TheRequestersKeyBecomesAPeerMeteredPaidAndRemovedWhenCut) {
  start(protocol::vpn | protocol::socks5);
  const WgKey key = wg_generate_key().public_key;
  auto lease = open(key);
  ASSERT_TRUE(lease) << lease.error().message();
  EXPECT_EQ(lease->lease.deal_id, deal_.exit.id);
  EXPECT_EQ(lease->config.server_key, vpn_->server_key);
  EXPECT_EQ(lease->config.address, *parse_ip("10.77.0.2"));
  ASSERT_EQ(vpn_->adds(), 1u);
  EXPECT_EQ(vpn_->added[0].public_key, key);
  EXPECT_EQ(vpn_->added[0].leased_ip, deal_.exit.leased_ip);
  EXPECT_FALSE(vpn_->added[0].email);

  // The tunnel's bytes reach the deal's stats, and the gateway learns them from the invoices.
  vpn_->count(deal_.exit.id, 1'000, 50'000);
  ASSERT_TRUE(eventually([&] { return exit_->stats(deal_.exit.id).bytes_down == 50'000; }));
  EXPECT_EQ(exit_->stats(deal_.exit.id).bytes_up, 1'000u);
  ASSERT_TRUE(eventually([&] { return gateway_->stats(deal_.exit.id).bytes_down == 50'000; }));
  // And the gateway keeps paying with no client: time passes, proofs follow.
  clock_.advance(20s);
  ASSERT_TRUE(
      eventually([&] { return exit_->stats(deal_.exit.id).paid == Amount::from_base(U256(210)); }));

  exit_->end_deal(deal_.exit.id, "closed on the ledger");
  ASSERT_TRUE(eventually([&] { return vpn_->removes() == 1; }));
  EXPECT_EQ(vpn_->removed[0], deal_.exit.id);
}

// Two flows of the tunnel join the deal's usage log, with their own times; the gateway signs
// the log only if told to (it cannot check a tunnel's flows), and says why it does not.
void flows_join_the_log(Exit& exit, FakeVpn& vpn, Gateway& gateway, const Hash& deal, bool sign) {
  std::vector<UsageRecord> logged;
  std::mutex mu;
  exit.on_usage = [&](const UsageRecord& r) {
    std::lock_guard lock(mu);
    logged.push_back(r);
  };
  const int64_t now = int64_t{kNow} * 1000;
  vpn.flow(VpnFlow{deal, now - 3000, now - 1000, "203.0.113.20", 53, 60, 90});
  vpn.flow(VpnFlow{deal, now - 2000, now, "198.51.100.7", 443, 700, 9000});
  ASSERT_TRUE(eventually([&] { return exit.stats(deal).usage_records == 2; }));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(logged.size(), 2u);
    EXPECT_EQ(logged[0].host, "203.0.113.20");
    EXPECT_EQ(logged[0].port, 53);
    EXPECT_EQ(logged[0].opened_ms, now - 3000);
    EXPECT_EQ(logged[0].closed_ms, now - 1000);  // the flow's own end, not the logging's
    EXPECT_EQ(logged[1].bytes_down, 9000u);
    EXPECT_EQ(logged[1].stream, 0u);
  }
  if (sign) {
    ASSERT_TRUE(eventually([&] { return exit.stats(deal).usage_receipted == 2; }));
    EXPECT_FALSE(gateway.stats(deal).usage_disputed);
  } else {
    ASSERT_TRUE(eventually([&] { return gateway.stats(deal).usage_disputed.has_value(); }));
    EXPECT_NE(gateway.stats(deal).usage_disputed->find("VPN tunnel"), std::string::npos);
    EXPECT_EQ(exit.stats(deal).usage_receipted, 0u);
  }
  exit.on_usage = nullptr;
}

TEST_F(VpnDeals, TheTunnelsFlowsJoinTheUsageLogUnsignedByDefault) {
  start(protocol::vpn);
  ASSERT_TRUE(open(wg_generate_key().public_key));
  flows_join_the_log(*exit_, *vpn_, *gateway_, deal_.exit.id, false);
}

TEST_F(VpnDeals, TheTunnelsFlowsAreSignedWhenTheRequesterSaysSo) {
  start(protocol::vpn, true, scope::vpn, true);
  ASSERT_TRUE(open(wg_generate_key().public_key));
  flows_join_the_log(*exit_, *vpn_, *gateway_, deal_.exit.id, true);
}

// The requester checks each flow against what its own host opened (ipsx vpn's FlowWatch): the
// log is signed while every flow is one of its own, and disputed at the first that is not.
TEST_F(VpnDeals, TheTunnelsFlowsAreSignedWhenTheRequesterSawThemAndDisputedWhenNot) {
  std::mutex mu;
  std::vector<std::string> asked;
  start(protocol::vpn, true, scope::vpn, false, [&](const UsageRecord& r) {
    std::lock_guard lock(mu);
    asked.push_back(r.host);
    return r.host != "192.0.2.99";  // the provider's own connection, put on the requester
  });
  ASSERT_TRUE(open(wg_generate_key().public_key));
  flows_join_the_log(*exit_, *vpn_, *gateway_, deal_.exit.id, true);
  const int64_t now = int64_t{kNow} * 1000;
  vpn_->flow(VpnFlow{deal_.exit.id, now - 500, now, "192.0.2.99", 22, 100, 100});
  ASSERT_TRUE(
      eventually([&] { return gateway_->stats(deal_.exit.id).usage_disputed.has_value(); }));
  EXPECT_NE(
      gateway_->stats(deal_.exit.id).usage_disputed->find("record 2 (192.0.2.99:22) is no flow"),
      std::string::npos)
      << *gateway_->stats(deal_.exit.id).usage_disputed;
  EXPECT_EQ(exit_->stats(deal_.exit.id).usage_receipted, 2u) << "the receipt stops before it";
  std::lock_guard lock(mu);
  EXPECT_EQ(asked, (std::vector<std::string>{"203.0.113.20", "198.51.100.7", "192.0.2.99"}));
}

// A restarted exit continues a deal's usage log where the provider's store has it: the next
// record takes the next index (a log begun again at 0 would repeat indexes the store and the
// requester already hold).
TEST_F(VpnDeals, ARestartedExitContinuesTheDealsUsageLog) {
  start(protocol::vpn);
  const int64_t now = int64_t{kNow} * 1000;
  std::vector<UsageRecord> before(2);
  for (uint64_t i = 0; i < before.size(); ++i) {
    before[i].deal_id = deal_.exit.id;
    before[i].index = i;
    before[i].opened_ms = now - 5000;
    before[i].closed_ms = now - 4000;
    before[i].host = "203.0.113.20";
    before[i].port = 53;
  }
  exit_->usage_so_far = [&](const Hash& d) {
    return d == deal_.exit.id ? before : std::vector<UsageRecord>{};
  };
  std::mutex mu;
  std::vector<UsageRecord> logged;
  exit_->on_usage = [&](const UsageRecord& r) {
    std::lock_guard lock(mu);
    logged.push_back(r);
  };
  ASSERT_TRUE(open(wg_generate_key().public_key));
  vpn_->flow(VpnFlow{deal_.exit.id, now - 3000, now - 1000, "198.51.100.7", 443, 700, 9000});
  ASSERT_TRUE(eventually([&] { return exit_->stats(deal_.exit.id).usage_records == 3; }));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0].index, 2u);
  }
  exit_->on_usage = nullptr;
  exit_->usage_so_far = nullptr;
}

TEST_F(VpnDeals, AnUnpaidDealsPeerIsRemoved) {
  start(protocol::vpn);
  ASSERT_TRUE(open(wg_generate_key().public_key));
  gateway_->stop();     // the requester stops paying
  clock_.advance(60s);  // past the credit (30 s of its price)
  ASSERT_TRUE(eventually([&] { return vpn_->removes() == 1; }));
  EXPECT_NE(exit_->stats(deal_.exit.id).cut_reason.value_or("").find("unpaid"), std::string::npos);
}

TEST_F(VpnDeals, AnEmailDealMayUseMailPorts) {
  start(protocol::vpn | protocol::smtp, true, scope::email);
  ASSERT_TRUE(open(wg_generate_key().public_key));
  ASSERT_EQ(vpn_->adds(), 1u);
  EXPECT_TRUE(vpn_->added[0].email);
}

TEST_F(VpnDeals, AnOfferThatServesNoVpnGetsNoTunnel) {
  start(protocol::socks5 | protocol::http, true, scope::crawling);
  auto lease = open(wg_generate_key().public_key);
  ASSERT_FALSE(lease);
  EXPECT_NE(lease.error().message().find("does not serve vpn"), std::string::npos)
      << lease.error().message();
  EXPECT_EQ(vpn_->adds(), 0u);
}

TEST_F(VpnDeals, AnExitWithoutVpnSaysSo) {
  start(protocol::vpn, false);
  auto lease = open(wg_generate_key().public_key);
  ASSERT_FALSE(lease);
  EXPECT_NE(lease.error().message().find("serves no VPN"), std::string::npos)
      << lease.error().message();
}

TEST_F(VpnDeals, APeerTheExitCannotAddIsRefusedWithTheReason) {
  start(protocol::vpn);
  vpn_->refuse = true;
  auto lease = open(wg_generate_key().public_key);
  ASSERT_FALSE(lease);
  EXPECT_NE(lease.error().message().find("no free address"), std::string::npos)
      << lease.error().message();
}

}  // namespace
}  // namespace ipsx::net
