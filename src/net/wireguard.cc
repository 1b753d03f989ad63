#include "net/wireguard.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

#include "net/base64.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

// Calls `f` with each line a child writes to `fd` (conntrack -E), until the pipe ends.
void read_lines(int fd, const std::function<void(std::string_view)>& f) {
  std::string buf;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buf.append(chunk, static_cast<size_t>(n));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1))
      f(std::string_view(buf).substr(0, nl));
    if (buf.size() > 65'536) buf.clear();  // no line is this long: out of step
  }
}

using std::chrono::milliseconds;

std::string v4_text(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

// An IPv4 prefix ("a.b.c.d/n") of a stored one, or nothing for an IPv6 range.
// The IPv4 range of a policy's range, for the tunnels' IPv4 rules: a v4-mapped range as it is,
// an IPv6 range wide enough to hold every v4-mapped address (::/0, ::ffff:0:0/96's supersets) as
// 0.0.0.0/0; nullopt for one that holds none.
std::optional<std::string> v4_prefix(const IpPrefix& p) {
  if (is_v4_mapped(p.prefix) && p.bits >= 96)
    return fmt::format("{}/{}", v4_text(v4_value(p.prefix)), p.bits - 96);
  static const Ip any_v4 = parse_ip("0.0.0.0").value();  // ::ffff:0.0.0.0
  if (p.bits < 96 && p.contains(any_v4)) return "0.0.0.0/0";
  return std::nullopt;
}

std::string nft_set(const std::vector<std::string>& elements) {
  if (elements.empty()) return "";
  std::string out = "elements = { ";
  for (size_t i = 0; i < elements.size(); ++i) out += (i ? ", " : "") + elements[i];
  return out + " }";
}

Result<void> link_exists(const std::string& name) {
  auto r = run_command({"ip", "link", "show", "dev", name});
  if (r) return {};
  return std::unexpected(r.error());
}

// "KEY\tA\tB" lines of `wg show NAME WHAT`.
Result<std::vector<std::vector<std::string>>> wg_show(const std::string& name, const char* what) {
  auto out = run_command({"wg", "show", name, what});
  if (!out) return std::unexpected(out.error());
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(*out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cols;
    std::istringstream l(line);
    for (std::string c; std::getline(l, c, '\t');) cols.push_back(c);
    if (!cols.empty()) rows.push_back(std::move(cols));
  }
  return rows;
}

}  // namespace

WgKeyPair wg_generate_key() {
  WgKeyPair k;
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr);
  if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0)
    throw std::runtime_error("X25519 key generation failed");
  size_t len = 32;
  EVP_PKEY_get_raw_private_key(pkey, k.private_key.data(), &len);
  len = 32;
  EVP_PKEY_get_raw_public_key(pkey, k.public_key.data(), &len);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  return k;
}

std::string wg_key_base64(const WgKey& key) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

Result<WgKey> wg_public_key(const WgKey& private_key) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                                private_key.size());
  if (!pkey) return fail(CoreErrc::invalid_argument, "not an X25519 private key");
  WgKey pub;
  size_t len = pub.size();
  const bool ok = EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len) == 1 && len == pub.size();
  EVP_PKEY_free(pkey);
  if (!ok) return fail(CoreErrc::invalid_argument, "not an X25519 private key");
  return pub;
}

Result<WgKey> wg_parse_key(std::string_view text) {
  auto v = base64_decode(text, 32);
  if (!v || v->size() != 32 || text.size() != 44)
    return fail(CoreErrc::invalid_argument,
                "not a WireGuard key (44 characters of base64 for 32 bytes)");
  WgKey k;
  std::copy(v->begin(), v->end(), k.begin());
  return k;
}

Result<void> check_interface_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 15 && name != "." && name != "..";
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (!ok)
    return fail(CoreErrc::invalid_argument,
                fmt::format("interface name '{}': 1 to 15 of A-Z a-z 0-9 _ . -", name));
  return {};
}

Result<void> check_net_admin() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = std::stoull(line.substr(7), nullptr, 16);
    if (caps & (uint64_t{1} << 12)) return {};  // CAP_NET_ADMIN
    break;
  }
  return fail(
      CoreErrc::io_error,
      "a VPN tunnel needs CAP_NET_ADMIN: run as root, or give the program the capability "
      "(`setcap cap_net_admin+ep`, or AmbientCapabilities=CAP_NET_ADMIN in its systemd unit)");
}

// ---- WgInterface
// ---------------------------------------------------------------------------------

Result<std::unique_ptr<WgInterface>> WgInterface::create(const Options& o) {
  if (auto ok = check_interface_name(o.name); !ok) return std::unexpected(ok.error());
  if (auto ok = check_net_admin(); !ok) return std::unexpected(ok.error());
  if (!on_path("ip") || !on_path("wg"))
    return fail(
        CoreErrc::io_error,
        "a VPN tunnel needs `ip` and `wg` (Debian: apt-get install iproute2 wireguard-tools)");
  if (link_exists(o.name))
    return fail(CoreErrc::io_error,
                fmt::format("an interface named {} exists already (left by a run that crashed? "
                            "`ip link del {}`), or choose another name",
                            o.name, o.name));
  std::unique_ptr<WgInterface> w(new WgInterface);
  if (auto kernel = run_command({"ip", "link", "add", "dev", o.name, "type", "wireguard"});
      !kernel) {
    // No kernel module: the userspace implementation, in the foreground as our child.
    if (!on_path("wireguard-go"))
      return fail(CoreErrc::io_error,
                  fmt::format("the kernel's WireGuard failed ({}) and wireguard-go is not "
                              "installed (Debian: apt-get install wireguard-go)",
                              kernel.error().message()));
    auto child = ChildProcess::spawn({"wireguard-go", "-f", o.name});
    if (!child) return std::unexpected(child.error());
    w->child_ = std::make_unique<ChildProcess>(std::move(*child));
    const std::string sock = "/var/run/wireguard/" + o.name + ".sock";
    bool up = false;
    for (int i = 0; i < 150 && !up; ++i) {  // 3 s
      up = ::access(sock.c_str(), F_OK) == 0 && link_exists(o.name);
      if (!up && !w->child_->running())
        return fail(CoreErrc::io_error, "wireguard-go exited at start (needs /dev/net/tun)");
      if (!up) std::this_thread::sleep_for(milliseconds(20));
    }
    if (!up) return fail(CoreErrc::io_error, "wireguard-go made no interface within 3 s");
  }
  w->name_ = o.name;  // from here on the destructor removes the interface
  std::vector<std::string> set = {"wg", "set", o.name, "private-key", "/dev/stdin"};
  if (o.listen_port) set.insert(set.end(), {"listen-port", std::to_string(o.listen_port)});
  auto key = wg_key_base64(o.private_key) + "\n";
  if (auto r = run_command(set, key); !r) return std::unexpected(r.error());
  if (!is_v4_mapped(o.address))
    return fail(CoreErrc::invalid_argument, "the tunnel's address must be IPv4");
  const std::string addr = fmt::format("{}/{}", format_ip(o.address), o.prefix);
  if (auto r = run_command({"ip", "address", "add", addr, "dev", o.name}); !r)
    return std::unexpected(r.error());
  if (auto r =
          run_command({"ip", "link", "set", "dev", o.name, "mtu", std::to_string(o.mtu), "up"});
      !r)
    return std::unexpected(r.error());
  return w;
}

WgInterface::~WgInterface() {
  if (!name_.empty()) (void)run_command({"ip", "link", "del", "dev", name_});
  if (child_) child_->stop();
}

uint16_t WgInterface::listen_port() const {
  auto out = run_command({"wg", "show", name_, "listen-port"});
  if (!out) return 0;
  try {
    return static_cast<uint16_t>(std::stoul(*out));
  } catch (...) {
    return 0;
  }
}

Result<void> WgInterface::set_peer(const WgKey& public_key,
                                   const std::vector<std::string>& allowed_ips,
                                   const std::optional<Endpoint>& endpoint, uint16_t keepalive) {
  std::string allowed;
  for (const auto& a : allowed_ips) allowed += (allowed.empty() ? "" : ",") + a;
  std::vector<std::string> argv = {"wg",          "set",  name_, "peer", wg_key_base64(public_key),
                                   "allowed-ips", allowed};
  if (endpoint) argv.insert(argv.end(), {"endpoint", to_string(*endpoint)});
  if (keepalive) argv.insert(argv.end(), {"persistent-keepalive", std::to_string(keepalive)});
  auto r = run_command(argv);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> WgInterface::remove_peer(const WgKey& public_key) {
  auto r = run_command({"wg", "set", name_, "peer", wg_key_base64(public_key), "remove"});
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::map<WgKey, std::pair<uint64_t, uint64_t>>> WgInterface::transfer() const {
  auto rows = wg_show(name_, "transfer");
  if (!rows) return std::unexpected(rows.error());
  std::map<WgKey, std::pair<uint64_t, uint64_t>> out;
  for (const auto& r : *rows) {
    if (r.size() != 3) continue;
    auto key = wg_parse_key(r[0]);
    if (!key) continue;
    try {
      out[*key] = {std::stoull(r[1]), std::stoull(r[2])};
    } catch (...) {
    }
  }
  return out;
}

Result<std::map<WgKey, uint64_t>> WgInterface::latest_handshakes() const {
  auto rows = wg_show(name_, "latest-handshakes");
  if (!rows) return std::unexpected(rows.error());
  std::map<WgKey, uint64_t> out;
  for (const auto& r : *rows) {
    if (r.size() != 2) continue;
    auto key = wg_parse_key(r[0]);
    if (!key) continue;
    try {
      out[*key] = std::stoull(r[1]);
    } catch (...) {
    }
  }
  return out;
}

// ---- WireguardExit
// -------------------------------------------------------------------------------

IpPrefix default_vpn_subnet() {
  return *parse_prefix("10.77.0.0/16");
}

Result<std::unique_ptr<WireguardExit>> WireguardExit::start(WireguardExitConfig c) {
  if (!is_v4_mapped(c.subnet.prefix) || c.subnet.bits < 96 + 8 || c.subnet.bits > 96 + 29)
    return fail(CoreErrc::invalid_argument,
                fmt::format("vpn subnet {}: an IPv4 range from /8 to /29", to_string(c.subnet)));
  if (c.mtu < 1280 || c.mtu > 1500) return fail(CoreErrc::invalid_argument, "vpn mtu: 1280..1500");
  if (c.dns.size() > kMaxVpnDns)
    return fail(CoreErrc::invalid_argument, fmt::format("vpn dns: at most {}", kMaxVpnDns));
  if (!on_path("nft"))
    return fail(CoreErrc::io_error, "a VPN exit needs `nft` (Debian: apt-get install nftables)");
  std::unique_ptr<WireguardExit> x(new WireguardExit);
  x->cfg_ = std::move(c);
  const WireguardExitConfig& cfg = x->cfg_;
  const uint32_t base = v4_value(cfg.subnet.prefix);
  const uint32_t size = uint32_t{1} << (128 - cfg.subnet.bits);
  x->first_ = base + 2;
  x->last_ = base + size - 2;  // the last is the broadcast address
  x->keys_ = wg_generate_key();
  if (cfg.private_key) {
    x->keys_.private_key = *cfg.private_key;
    auto pub = wg_public_key(*cfg.private_key);
    if (!pub) return std::unexpected(pub.error());
    x->keys_.public_key = *pub;
  }
  WgInterface::Options o;
  o.name = cfg.interface;
  o.private_key = x->keys_.private_key;
  o.listen_port = cfg.listen_port;
  o.address = v4_mapped(base + 1);
  o.prefix = static_cast<uint8_t>(cfg.subnet.bits - 96);
  o.mtu = cfg.mtu;
  auto wg = WgInterface::create(o);
  if (!wg) return std::unexpected(wg.error().with_context("vpn"));
  x->wg_ = std::move(*wg);

  // Forwarding, as any router: the peers' packets leave by another interface.
  {
    std::ofstream f("/proc/sys/net/ipv4/ip_forward");
    f << "1\n";
    if (!f) return fail(CoreErrc::io_error, "vpn: cannot turn IPv4 forwarding on");
  }
  x->table_ = "ipsx_vpn_";
  for (char ch : cfg.interface)
    x->table_ += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  // Behind a NAT, the router's public address leads back to the router (its admin page, its
  // port forwards to this host): refused through the tunnel like the host itself. So is the
  // endpoint's address when it is one.
  for (const auto& [public_ip, local] : cfg.source_of)
    if (is_v4_mapped(public_ip)) x->always_denied_.push_back(v4_text(v4_value(public_ip)) + "/32");
  if (cfg.endpoint)
    if (const auto* a = std::get_if<Ipv4>(&cfg.endpoint->host))
      x->always_denied_.push_back(format_host(*a) + "/32");
  auto [allowed, denied] = x->policy_sets(cfg.policy);
  const std::string& ifn = cfg.interface;
  // A leftover of a run that crashed goes first (the interface was not there: nor are its peers).
  (void)x->nft(fmt::format("delete table ip {}\n", x->table_));
  std::string script = fmt::format(
      R"(table ip {t} {{
  set peers {{ type ipv4_addr; }}
  set email_peers {{ type ipv4_addr; }}
  set allowed {{ type ipv4_addr; flags interval; auto-merge; {allowed} }}
  set denied {{ type ipv4_addr; flags interval; auto-merge; {denied} }}
  set nonpublic {{ type ipv4_addr; flags interval; auto-merge; {nonpublic} }}
  map snat_to {{ type ipv4_addr : ipv4_addr; }}
  chain forward {{
    type filter hook forward priority filter - 1; policy accept;
    iifname "{i}" jump from_peer
    oifname "{i}" ct state established,related accept
    oifname "{i}" drop
  }}
  chain from_peer {{
    ip saddr != @peers drop
    ip daddr @denied counter reject with icmp type admin-prohibited
    ip daddr @allowed goto ports
    ip daddr @nonpublic counter reject with icmp type admin-prohibited
    goto ports
  }}
  chain ports {{
    tcp dport {{ 25, 465, 587 }} ip saddr != @email_peers counter reject with tcp reset
    accept
  }}
  chain input {{
    type filter hook input priority filter - 1; policy accept;
    iifname "{i}" counter reject with icmp type admin-prohibited
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname != "{i}" ip saddr @peers snat to ip saddr map @snat_to
  }}
}}
)",
      fmt::arg("t", x->table_), fmt::arg("i", ifn), fmt::arg("allowed", nft_set(allowed)),
      fmt::arg("denied", nft_set(denied)), fmt::arg("nonpublic", nft_set(non_global_v4_ranges())));
  if (auto r = x->nft(script); !r) return std::unexpected(r.error().with_context("vpn rules"));
  x->poller_ = std::thread([p = x.get()] { p->poll_loop(); });
  // Each flow through the tunnel, once it ends, with its bytes and times (a usage record): the
  // connection tracking's accounting and timestamps on, and its events for the subnet read.
  if (on_path("conntrack")) {
    for (const char* knob : {"/proc/sys/net/netfilter/nf_conntrack_acct",
                             "/proc/sys/net/netfilter/nf_conntrack_timestamp"}) {
      std::ofstream f(knob);
      f << "1\n";
    }
    int fd = -1;
    auto child = ChildProcess::spawn({"conntrack", "-E", "-e", "DESTROY", "-o",
                                      "timestamp,extended", "-s", *v4_prefix(cfg.subnet)},
                                     &fd);
    if (child) {
      x->conntrack_ = std::make_unique<ChildProcess>(std::move(*child));
      x->conntrack_fd_ = fd;
      x->flow_reader_ = std::thread([p = x.get()] { p->read_flows(); });
    }
  }
  return x;
}

WireguardExit::~WireguardExit() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  if (conntrack_) conntrack_->stop();  // its pipe ends: the reader sees the end and returns
  if (flow_reader_.joinable()) flow_reader_.join();
  if (conntrack_fd_ >= 0) ::close(conntrack_fd_);
  if (!table_.empty()) (void)nft(fmt::format("delete table ip {}\n", table_));
  wg_.reset();
}

Result<void> WireguardExit::nft(const std::string& script) const {
  auto r = run_command({"nft", "-f", "-"}, script);
  if (!r) return std::unexpected(r.error());
  return {};
}

std::pair<std::vector<std::string>, std::vector<std::string>> WireguardExit::policy_sets(
    const DestinationPolicy& policy) const {
  std::vector<std::string> allowed, denied = always_denied_;
  for (const auto& p : policy.allow)
    if (auto s = v4_prefix(p)) allowed.push_back(*s);
  for (const auto& p : policy.deny)
    if (auto s = v4_prefix(p)) denied.push_back(*s);
  return {allowed, denied};
}

Result<void> WireguardExit::set_policy(const DestinationPolicy& policy) {
  auto [allowed, denied] = policy_sets(policy);
  std::string script =
      fmt::format("flush set ip {t} allowed\nflush set ip {t} denied\n", fmt::arg("t", table_));
  if (!allowed.empty())
    script += fmt::format("add element ip {} allowed {{ {} }}\n", table_, fmt::join(allowed, ", "));
  if (!denied.empty())
    script += fmt::format("add element ip {} denied {{ {} }}\n", table_, fmt::join(denied, ", "));
  if (auto r = nft(script); !r) return std::unexpected(r.error().with_context("vpn rules"));
  return {};
}

Result<VpnConfigMessage> WireguardExit::add_peer(const VpnPeer& peer) {
  if (!is_v4_mapped(peer.leased_ip))
    return fail(NetErrc::not_permitted, "the VPN serves IPv4 leased IPs only");
  auto src = cfg_.source_of.find(peer.leased_ip);
  const Ip source = src == cfg_.source_of.end() ? peer.leased_ip : src->second;
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer.deal_id);
  const bool known = it != peers_.end();
  Peer p = known ? it->second : Peer{};
  const bool same = known && p.key == peer.public_key && p.address != 0;
  if (!same) {
    if (known && p.address != 0) {  // another key of the deal: the old one goes, its address stays
      (void)wg_->remove_peer(p.key);
      p.base_up += p.up, p.base_down += p.down, p.up = p.down = 0;
    }
    if (p.address == 0) {
      auto a = allocate(peer.deal_id);
      if (!a) return fail(NetErrc::overloaded, "the VPN's subnet has no free address");
      p.address = *a;
      used_.insert(p.address);
      owner_[p.address] = peer.deal_id;
    }
    p.key = peer.public_key;
    p.source = source;
    p.email = peer.email;
    const std::string a = v4_text(p.address);
    auto set = wg_->set_peer(p.key, {a + "/32"});
    // A retried add may find the elements there already: they are deleted first, in the same
    // transaction (nft applies a file whole or not at all).
    std::string script = fmt::format(
        "add element ip {t} peers {{ {a} }}\ndelete element ip {t} peers {{ {a} }}\n"
        "add element ip {t} snat_to {{ {a} : {s} }}\ndelete element ip {t} snat_to {{ {a} }}\n"
        "add element ip {t} email_peers {{ {a} }}\ndelete element ip {t} email_peers {{ {a} }}\n"
        "add element ip {t} peers {{ {a} }}\nadd element ip {t} snat_to {{ {a} : {s} }}\n",
        fmt::arg("t", table_), fmt::arg("a", a), fmt::arg("s", v4_text(v4_value(source))));
    if (p.email) script += fmt::format("add element ip {} email_peers {{ {} }}\n", table_, a);
    auto rules = set ? nft(script) : Result<void>(std::unexpected(set.error()));
    if (!rules) {  // the deal has no peer now (an old key was removed above): say so everywhere
      (void)wg_->remove_peer(p.key);
      used_.erase(p.address);
      p.base_up += p.up, p.base_down += p.down, p.up = p.down = 0;
      p.address = 0;
      peers_[peer.deal_id] = p;
      ++generation_;
      publish();
      return std::unexpected(rules.error().with_context("adding the VPN peer"));
    }
    peers_[peer.deal_id] = p;
    ++generation_;
    publish();
  }
  VpnConfigMessage m;
  m.deal_id = peer.deal_id;
  m.server_key = keys_.public_key;
  if (cfg_.endpoint) {
    m.endpoint = *cfg_.endpoint;
  } else {
    const uint32_t ip = v4_value(peer.leased_ip);
    m.endpoint = Endpoint{Ipv4{static_cast<uint8_t>(ip >> 24), static_cast<uint8_t>(ip >> 16),
                               static_cast<uint8_t>(ip >> 8), static_cast<uint8_t>(ip)},
                          cfg_.listen_port};
  }
  m.address = v4_mapped(p.address);
  m.dns = cfg_.dns;
  m.mtu = cfg_.mtu;
  return m;
}

void WireguardExit::remove_peer(const Hash& deal_id) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(deal_id);
  if (it == peers_.end() || it->second.address == 0) return;
  Peer& p = it->second;
  (void)wg_->remove_peer(p.key);
  const std::string a = v4_text(p.address);
  std::string script = fmt::format(
      "delete element ip {t} peers {{ {a} }}\ndelete element ip {t} snat_to {{ {a} }}\n",
      fmt::arg("t", table_), fmt::arg("a", a));
  if (p.email) script += fmt::format("delete element ip {} email_peers {{ {} }}\n", table_, a);
  (void)nft(script);
  // Flows it opened are forgotten, so that no late reply reaches whoever gets the address next.
  if (on_path("conntrack")) (void)run_command({"conntrack", "-D", "-s", a});
  used_.erase(p.address);
  p.base_up += p.up, p.base_down += p.down, p.up = p.down = 0;
  p.address = 0;  // its counters stay, for the exit's last look
  ++generation_;
  publish();
}

std::vector<VpnFlow> WireguardExit::take_flows() {
  std::lock_guard lock(flows_mu_);
  return std::exchange(flows_, {});
}

void WireguardExit::read_flows() {
  read_lines(conntrack_fd_, [this](std::string_view line) {
    auto flow = parse_conntrack_event(line);
    if (!flow) return;
    std::optional<Hash> deal;
    {
      std::lock_guard lock(mu_);
      if (auto it = owner_.find(flow->source); it != owner_.end()) deal = it->second;
    }
    if (!deal) return;
    std::lock_guard lock(flows_mu_);
    if (flows_.size() < kMaxPendingFlows)
      flows_.push_back(VpnFlow{*deal, flow->closed_ms - flow->duration_s * 1000, flow->closed_ms,
                               flow->destination, flow->port, flow->bytes_up, flow->bytes_down});
  });
}

namespace {

// The fields of one line of `conntrack -E -o timestamp[,extended]` this code reads: the event, its
// time, the original direction's source, destination and port, both directions' bytes.
struct ConntrackLine {
  std::string_view event;  // "[NEW]", "[DESTROY]" ...
  std::optional<int64_t> at_ms;
  std::optional<uint32_t> source;
  std::optional<std::string> destination;
  uint16_t port = 0;
  int bytes = 0;  // how many bytes= fields
  uint64_t bytes_up = 0, bytes_down = 0;
  int64_t duration_s = 0;
  bool bad = false;  // a field that does not read (a source that is no IPv4, bytes not a number)
};

ConntrackLine read_conntrack_line(std::string_view line) {
  ConntrackLine c;
  int dports = 0;
  auto number = [](std::string_view v, uint64_t& out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size();
  };
  while (!line.empty()) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const size_t end = line.find_first_of(" \t");
    const std::string_view tok = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    if (tok == "[NEW]" || tok == "[DESTROY]" || tok == "[UPDATE]") {
      c.event = tok;
    } else if (!c.at_ms && tok.size() > 2 && tok.front() == '[' && tok.back() == ']') {
      const std::string_view t = tok.substr(1, tok.size() - 2);
      const size_t dot = t.find('.');
      uint64_t secs = 0, frac = 0;
      if (!number(t.substr(0, dot), secs)) continue;
      std::string_view us = dot == std::string_view::npos ? "" : t.substr(dot + 1, 3);
      if (!us.empty() && !number(us, frac)) continue;
      for (size_t i = us.size(); i < 3; ++i) frac *= 10;
      c.at_ms = static_cast<int64_t>(secs * 1000 + frac);
    } else if (tok.starts_with("src=") && !c.source) {
      auto ip = parse_ip(tok.substr(4));
      if (!ip || !is_v4_mapped(*ip)) c.bad = true;
      c.source = ip && is_v4_mapped(*ip) ? v4_value(*ip) : 0;
    } else if (tok.starts_with("dst=") && !c.destination) {
      c.destination = std::string(tok.substr(4));
    } else if (tok.starts_with("dport=") && dports++ == 0) {
      uint64_t p = 0;
      if (number(tok.substr(6), p) && p <= 65535) c.port = static_cast<uint16_t>(p);
    } else if (tok.starts_with("bytes=")) {
      uint64_t b = 0;
      if (!number(tok.substr(6), b)) c.bad = true;
      (c.bytes++ == 0 ? c.bytes_up : c.bytes_down) = b;
    } else if (tok.starts_with("delta-time=")) {
      uint64_t d = 0;
      if (number(tok.substr(11), d)) c.duration_s = static_cast<int64_t>(d);
    }
  }
  return c;
}

}  // namespace

std::optional<ConntrackFlow> parse_conntrack_event(std::string_view line) {
  ConntrackLine c = read_conntrack_line(line);
  if (c.bad || c.event != "[DESTROY]" || !c.at_ms || !c.source || !c.destination || c.bytes == 0)
    return std::nullopt;
  return ConntrackFlow{*c.source,    *c.destination, c.port,      c.bytes_up,
                       c.bytes_down, *c.at_ms,       c.duration_s};
}

std::optional<ConntrackStart> parse_conntrack_new(std::string_view line) {
  ConntrackLine c = read_conntrack_line(line);
  if (c.bad || c.event != "[NEW]" || !c.at_ms || !c.source || !c.destination) return std::nullopt;
  return ConntrackStart{*c.source, *c.destination, c.port, *c.at_ms};
}

Result<std::unique_ptr<FlowWatch>> FlowWatch::start(const std::string& table) {
  if (!on_path("conntrack"))
    return fail(CoreErrc::io_error, "conntrack is not installed (Debian's conntrack package)");
  std::unique_ptr<FlowWatch> w(new FlowWatch());
  (void)run_command({"nft", "-f", "-"}, fmt::format("delete table ip {}\n", table));  // a leftover
  auto tracked = run_command(
      {"nft", "-f", "-"},
      fmt::format("table ip {} {{\n  chain out {{\n    type filter hook output priority filter; "
                  "policy accept;\n    ct state new counter\n  }}\n}}\n",
                  table));
  if (!tracked) return std::unexpected(tracked.error().with_context("connection tracking"));
  w->table_ = table;
  auto child = ChildProcess::spawn({"conntrack", "-E", "-e", "NEW", "-o", "timestamp"}, &w->fd_);
  if (!child) return std::unexpected(child.error().with_context("conntrack -E"));
  w->child_ = std::make_unique<ChildProcess>(std::move(*child));
  w->reader_ = std::thread([p = w.get()] { p->read(); });
  return w;
}

FlowWatch::~FlowWatch() {
  if (child_) child_->stop();  // its pipe ends: the reader sees the end and returns
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) ::close(fd_);
  if (!table_.empty())
    (void)run_command({"nft", "-f", "-"}, fmt::format("delete table ip {}\n", table_));
}

void FlowWatch::watch(const Ip& source) {
  if (!is_v4_mapped(source)) return;
  std::lock_guard lock(mu_);
  sources_.insert(v4_value(source));
}

bool FlowWatch::take(const std::string& host, uint16_t port, int64_t opened_ms, int64_t skew_ms) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(flows_.begin(), flows_.end(), [&](const ConntrackStart& f) {
    return f.destination == host && f.port == port && std::abs(f.at_ms - opened_ms) <= skew_ms;
  });
  if (it == flows_.end()) return false;
  flows_.erase(it);
  return true;
}

void FlowWatch::read() {
  read_lines(fd_, [this](std::string_view line) {
    auto flow = parse_conntrack_new(line);
    if (!flow) return;
    std::lock_guard lock(mu_);
    if (!sources_.contains(flow->source)) return;
    flows_.push_back(std::move(*flow));
    if (flows_.size() > kMaxKept) flows_.pop_front();
  });
}

std::optional<uint32_t> WireguardExit::allocate(const Hash& deal) const {
  const uint64_t slots = uint64_t{last_} - first_ + 1;
  if (used_.size() >= slots) return std::nullopt;
  uint64_t h = 0;
  for (size_t i = 0; i < 8; ++i) h = (h << 8) | deal.bytes()[i];
  for (uint64_t i = 0; i < slots; ++i) {
    const auto a = static_cast<uint32_t>(first_ + (h + i) % slots);
    if (!used_.contains(a)) return a;
  }
  return std::nullopt;
}

std::vector<VpnCounter> WireguardExit::counters() const {
  std::lock_guard lock(cache_mu_);
  return cache_;
}

void WireguardExit::publish() {
  std::vector<VpnCounter> out;
  out.reserve(peers_.size());
  for (const auto& [deal, p] : peers_)
    out.push_back(VpnCounter{deal, p.base_up + p.up, p.base_down + p.down});
  std::lock_guard lock(cache_mu_);
  cache_ = std::move(out);
}

void WireguardExit::poll_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    if (stopping_) break;
    const uint64_t generation = generation_;
    lock.unlock();
    auto t = wg_->transfer();
    lock.lock();
    if (!t || generation != generation_) continue;  // peers changed meanwhile: read again
    for (auto& [deal, p] : peers_) {
      if (p.address == 0) continue;
      auto c = t->find(p.key);
      if (c == t->end()) continue;
      p.up = std::max(p.up, c->second.first);
      p.down = std::max(p.down, c->second.second);
    }
    // Deals long gone (their peer removed, the exit's last look long past) are forgotten.
    if (peers_.size() > 4096)
      for (auto i = peers_.begin(); i != peers_.end() && peers_.size() > 4096;)
        i = i->second.address == 0 ? peers_.erase(i) : std::next(i);
    publish();
  }
}

}  // namespace ipsx::net
