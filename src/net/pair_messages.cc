#include "net/pair_messages.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/json_strict.h"
#include "net/base64.h"
#include "net/net_error.h"
#include "net/pair_auth.h"
#include "net/socks5.h"

namespace ipsx::net {
namespace {

using nlohmann::json;

Bytes dump(const json& j) {
  std::string s = j.dump();
  return Bytes(s.begin(), s.end());
}

Error bad(std::string_view msg, std::string_view field, std::string_view what) {
  return Error(NetErrc::malformed, fmt::format("{}.{}: {}", msg, field, what));
}

// A small reader that names the message and field in every error.
class Reader {
 public:
  Reader(ByteView payload, std::string_view name) : name_(name) {
    auto parsed = parse_json_strict(
        std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
    if (!parsed) {
      error_ = Error(NetErrc::malformed, fmt::format("{}: {}", name, parsed.error().message()));
      return;
    }
    j_ = std::move(*parsed);
    if (!j_.is_object())
      error_ = Error(NetErrc::malformed, fmt::format("{}: not a JSON object", name));
  }
  const std::optional<Error>& error() const { return error_; }
  const json& object() const { return j_; }

  const json* field(const char* f) {
    if (error_) return nullptr;
    auto it = j_.find(f);
    if (it == j_.end()) {
      error_ = bad(name_, f, "missing");
      return nullptr;
    }
    return &*it;
  }
  std::string str(const char* f, size_t max = 256) {
    const json* v = field(f);
    if (!v) return {};
    if (!v->is_string()) return set(bad(name_, f, "not a string")), std::string();
    auto s = v->get<std::string>();
    if (s.size() > max) return set(bad(name_, f, "too long")), std::string();
    return s;
  }
  uint64_t u64(const char* f) {
    const json* v = field(f);
    if (!v) return 0;
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0))
      return set(bad(name_, f, "not an unsigned integer")), 0;
    return v->get<uint64_t>();
  }
  U256 u256(const char* f) {
    auto s = str(f, 80);
    if (error_) return {};
    auto v = U256::from_dec(s);
    if (!v) return set(bad(name_, f, "not a decimal integer")), U256{};
    return *v;
  }
  Hash hash(const char* f) {
    auto s = str(f, 80);
    if (error_) return {};
    auto v = Hash::from_hex(s);
    if (!v) return set(bad(name_, f, "not 32 bytes of hex")), Hash{};
    return *v;
  }
  Address address(const char* f) {
    auto s = str(f, 80);
    if (error_) return {};
    auto v = Address::parse(s);
    if (!v) return set(bad(name_, f, v.error().message())), Address{};
    return *v;
  }
  crypto::Signature signature(const char* f) {
    auto s = str(f, 200);
    if (error_) return {};
    auto v = crypto::Signature::from_hex(s);
    if (!v) return set(bad(name_, f, v.error().message())), crypto::Signature{};
    return *v;
  }
  Bytes bytes(const char* f, size_t max) {
    auto s = str(f, 2 * max + 2);
    if (error_) return {};
    auto v = from_hex(s);
    if (!v) return set(bad(name_, f, "not hex")), Bytes{};
    return *v;
  }
  WgKey wg_key(const char* f) {
    auto s = str(f, 64);
    if (error_) return {};
    auto v = base64_decode(s, 32);
    if (!v || v->size() != 32) return set(bad(name_, f, "not a base64 32-byte key")), WgKey{};
    WgKey k;
    std::copy(v->begin(), v->end(), k.begin());
    return k;
  }
  Ip ipv4(const char* f) {
    auto s = str(f, 64);
    if (error_) return {};
    auto v = parse_ip(s);
    if (!v || !is_v4_mapped(*v)) return set(bad(name_, f, "not an IPv4 address")), Ip{};
    return *v;
  }
  void set(Error e) {
    if (!error_) error_ = std::move(e);
  }

 private:
  json j_;
  std::string name_;
  std::optional<Error> error_;
};

template <class T>
Result<T> done(Reader& r, T value) {
  if (r.error()) return std::unexpected(*r.error());
  return value;
}

}  // namespace

Bytes to_payload(const HelloMessage& m) {
  return dump({{"provider", m.provider.to_string()},
               {"keySha256", m.key_sha256.hex()},
               {"validUntil", m.valid_until},
               {"keySignature", m.key_signature.to_hex()},
               {"challenge", to_hex(m.challenge, false)}});
}

Bytes to_payload(const AuthMessage& m) {
  return dump({{"deal", m.deal_id.hex()}, {"signature", m.signature.to_hex()}});
}

Bytes to_payload(const WelcomeMessage& m) {
  return dump({{"proxyUsername", m.proxy_username},
               {"proxyPassword", m.proxy_password},
               {"proxyPort", m.proxy_port},
               {"invoiceIntervalMs", m.invoice_interval_ms},
               {"creditLimit", m.credit_limit.base().to_dec()}});
}

Bytes to_payload(const OpenMessage& m) {
  json j = {{"host", format_host(m.destination.host)},
            {"port", m.destination.port},
            {"protocol", m.protocol}};
  if (m.udp) j["udp"] = true;
  return dump(j);
}

Result<Bytes> write_datagram_record(const Endpoint& peer, ByteView payload) {
  auto header = write_udp_header(peer);
  if (!header) return std::unexpected(header.error());
  size_t n = header->size() + payload.size();
  if (n > kMaxUdpDatagramBytes)
    return fail(NetErrc::too_large, fmt::format("a datagram of {} bytes with its header", n));
  Bytes out{static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  out.insert(out.end(), header->begin(), header->end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

ParseResult<DatagramRecord> parse_datagram_record(ByteView in) {
  using Step = ParseStep<DatagramRecord>;
  if (in.size() < 2) return Step::more(2 - in.size());
  size_t n = (size_t{in[0]} << 8) | in[1];
  if (in.size() < 2 + n) return Step::more(2 + n - in.size());
  ByteView datagram = in.subspan(2, n);
  auto header = parse_udp_header(datagram);
  if (!header) return std::unexpected(header.error().with_context("datagram record"));
  DatagramRecord r{
      header->destination,
      Bytes(datagram.begin() + static_cast<long>(header->header_size), datagram.end())};
  return Step::done(std::move(r), 2 + n);
}

Bytes to_payload(const InvoiceMessage& m) {
  return dump({{"deal", m.deal_id.hex()},
               {"amountDue", m.amount_due.base().to_dec()},
               {"seconds", m.seconds},
               {"bytesUp", m.bytes_up},
               {"bytesDown", m.bytes_down}});
}

Bytes to_payload(const ProofMessage& m) {
  return dump({{"deal", m.deal_id.hex()},
               {"amount", m.amount.base().to_dec()},
               {"signature", m.signature.to_hex()}});
}

Bytes to_payload(const UsageMessage& m) {
  json records = json::array();
  for (const auto& r : m.records) records.push_back(usage_record_json(r));
  return dump({{"deal", m.deal_id.hex()},
               {"records", std::move(records)},
               {"count", m.count},
               {"root", m.root.hex()}});
}

Bytes to_payload(const ReceiptMessage& m) {
  return dump({{"deal", m.deal_id.hex()},
               {"count", m.count},
               {"root", m.root.hex()},
               {"signature", m.signature.to_hex()}});
}

Result<HelloMessage> parse_hello(ByteView payload) {
  Reader r(payload, "hello");
  HelloMessage m;
  m.provider = r.address("provider");
  m.key_sha256 = r.hash("keySha256");
  m.valid_until = r.u64("validUntil");
  m.key_signature = r.signature("keySignature");
  m.challenge = r.bytes("challenge", kChallengeBytes);
  if (!r.error() && m.challenge.size() != kChallengeBytes)
    r.set(bad("hello", "challenge", fmt::format("needs {} bytes", kChallengeBytes)));
  return done(r, std::move(m));
}

Result<AuthMessage> parse_auth(ByteView payload) {
  Reader r(payload, "auth");
  AuthMessage m;
  m.deal_id = r.hash("deal");
  m.signature = r.signature("signature");
  return done(r, std::move(m));
}

Result<WelcomeMessage> parse_welcome(ByteView payload) {
  Reader r(payload, "welcome");
  WelcomeMessage m;
  m.proxy_username = r.str("proxyUsername");
  m.proxy_password = r.str("proxyPassword");
  uint64_t port = r.u64("proxyPort");
  if (port > 65535) r.set(bad("welcome", "proxyPort", "over 65535"));
  m.proxy_port = static_cast<uint16_t>(port);
  m.invoice_interval_ms = r.u64("invoiceIntervalMs");
  m.credit_limit = Amount::from_base(r.u256("creditLimit"));
  return done(r, std::move(m));
}

Result<OpenMessage> parse_open(ByteView payload) {
  Reader r(payload, "open");
  OpenMessage m;
  std::string host = r.str("host", 300);
  uint64_t port = r.u64("port");
  m.protocol = static_cast<uint32_t>(r.u64("protocol"));
  if (r.error()) return std::unexpected(*r.error());
  if (auto it = r.object().find("udp"); it != r.object().end()) {
    if (!it->is_boolean()) return std::unexpected(bad("open", "udp", "not a boolean"));
    m.udp = it->get<bool>();
  }
  // A UDP stream names where the client sends from, port 0 when it does not know yet.
  if ((port == 0 && !m.udp) || port > 65535)
    return std::unexpected(bad("open", "port", "not 1..65535"));
  auto ep = parse_authority(host, port == 0 ? 1 : static_cast<uint16_t>(port));
  if (!ep) return std::unexpected(bad("open", "host", ep.error().message()));
  m.destination = *ep;
  if (port == 0) m.destination.port = 0;
  return m;
}

Result<InvoiceMessage> parse_invoice(ByteView payload) {
  Reader r(payload, "invoice");
  InvoiceMessage m;
  m.deal_id = r.hash("deal");
  m.amount_due = Amount::from_base(r.u256("amountDue"));
  m.seconds = r.u64("seconds");
  m.bytes_up = r.u64("bytesUp");
  m.bytes_down = r.u64("bytesDown");
  return done(r, std::move(m));
}

Result<ProofMessage> parse_proof(ByteView payload) {
  Reader r(payload, "proof");
  ProofMessage m;
  m.deal_id = r.hash("deal");
  m.amount = Amount::from_base(r.u256("amount"));
  m.signature = r.signature("signature");
  return done(r, std::move(m));
}

Result<UsageMessage> parse_usage(ByteView payload) {
  Reader r(payload, "usage");
  UsageMessage m;
  m.deal_id = r.hash("deal");
  m.count = r.u64("count");
  m.root = r.hash("root");
  const json* records = r.field("records");
  if (r.error()) return std::unexpected(*r.error());
  if (!records->is_array() || records->size() > kMaxUsageRecordsPerMessage)
    return std::unexpected(bad("usage", "records", "not an array of at most 200"));
  for (const json& j : *records) {
    auto u = usage_record_from_json(j, m.deal_id, "usage.records[]");
    if (!u) return std::unexpected(Error(NetErrc::malformed, u.error().message()));
    m.records.push_back(std::move(*u));
  }
  return done(r, std::move(m));
}

Result<ReceiptMessage> parse_receipt(ByteView payload) {
  Reader r(payload, "receipt");
  ReceiptMessage m;
  m.deal_id = r.hash("deal");
  m.count = r.u64("count");
  m.root = r.hash("root");
  m.signature = r.signature("signature");
  return done(r, std::move(m));
}

std::string wg_key_text(const WgKey& k) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

Bytes to_payload(const VpnOpenMessage& m) {
  return dump({{"deal", m.deal_id.hex()},
               {"publicKey", wg_key_text(m.public_key)},
               {"signature", m.signature.to_hex()}});
}

Bytes to_payload(const VpnConfigMessage& m) {
  json dns = json::array();
  for (const Ip& d : m.dns) dns.push_back(format_ip(d));
  return dump({{"deal", m.deal_id.hex()},
               {"serverKey", wg_key_text(m.server_key)},
               {"endpoint", to_string(m.endpoint)},
               {"address", format_ip(m.address)},
               {"dns", dns},
               {"mtu", m.mtu}});
}

Result<VpnOpenMessage> parse_vpn_open(ByteView payload) {
  Reader r(payload, "vpn_open");
  VpnOpenMessage m;
  m.deal_id = r.hash("deal");
  m.public_key = r.wg_key("publicKey");
  m.signature = r.signature("signature");
  return done(r, std::move(m));
}

Result<VpnConfigMessage> parse_vpn_config(ByteView payload) {
  Reader r(payload, "vpn_config");
  VpnConfigMessage m;
  m.deal_id = r.hash("deal");
  m.server_key = r.wg_key("serverKey");
  std::string endpoint = r.str("endpoint");
  if (!r.error()) {
    auto ep = parse_authority(endpoint, std::nullopt);
    if (!ep || ep->port == 0)
      r.set(bad("vpn_config", "endpoint", "not HOST:PORT"));
    else
      m.endpoint = *ep;
  }
  m.address = r.ipv4("address");
  if (const json* dns = r.field("dns")) {
    if (!dns->is_array() || dns->size() > kMaxVpnDns) {
      r.set(bad("vpn_config", "dns",
                fmt::format("not an array of at most {} addresses", kMaxVpnDns)));
    } else {
      for (const json& d : *dns) {
        auto ip = d.is_string() ? parse_ip(d.get<std::string>())
                                : Result<Ip>(std::unexpected(Error(NetErrc::malformed, "")));
        if (!ip) {
          r.set(bad("vpn_config", "dns", "an entry is not an IP address"));
          break;
        }
        m.dns.push_back(*ip);
      }
    }
  }
  uint64_t mtu = r.u64("mtu");
  if (!r.error() && (mtu < 1280 || mtu > 1500)) r.set(bad("vpn_config", "mtu", "not 1280..1500"));
  m.mtu = static_cast<uint16_t>(mtu);
  return done(r, std::move(m));
}

Bytes error_payload(const Error& e) {
  Bytes out;
  out.push_back(e.code().category() == net_category() ? static_cast<uint8_t>(e.code().value())
                                                      : static_cast<uint8_t>(NetErrc::exit_failed));
  std::string_view msg = e.message();
  msg = msg.substr(0, 1024);
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

Error parse_error_payload(ByteView payload) {
  if (payload.empty()) return Error(NetErrc::exit_failed, "the exit gave no reason");
  uint8_t code = payload[0];
  std::string msg(payload.begin() + 1, payload.end());
  for (char& c : msg)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  if (code < static_cast<uint8_t>(NetErrc::bad_version) ||
      code > static_cast<uint8_t>(NetErrc::overloaded))
    return Error(NetErrc::exit_failed, msg);
  return Error(static_cast<NetErrc>(code), msg);
}

}  // namespace ipsx::net
