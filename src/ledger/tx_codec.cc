#include "ledger/tx_codec.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/keccak.h"

namespace ipsx::ledger {
namespace {

using json = nlohmann::json;
using crypto::eip712::StructHasher;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string with_orders(std::string head) {
  return head + Offer::encoded_type() + Request::encoded_type();
}

Hash th(const std::string& s) {
  return crypto::eip712::type_hash(s);
}

ByteView sig_bytes(const crypto::Signature& s, std::array<uint8_t, 65>& buf) {
  buf = s.to_bytes();
  return buf;
}

std::unexpected<Error> bad(const std::string& field, const std::string& why) {
  return fail_at(LedgerErrc::invalid_argument, field, why);
}

// Readers for untrusted JSON members; `path` names the member in errors.
struct Reader {
  const json& j;
  std::string path;

  Result<const json*> get(const char* key) const {
    if (!j.is_object()) return bad(path, "must be an object");
    auto it = j.find(key);
    if (it == j.end()) return bad(path + "." + key, "missing");
    return &*it;
  }
  template <class T>
  Result<T> uint(const char* key, uint64_t max) const {
    auto v = get(key);
    if (!v) return std::unexpected(v.error());
    uint64_t out = 0;
    if ((*v)->is_number_unsigned()) {
      out = (*v)->get<uint64_t>();
    } else if ((*v)->is_number_integer()) {
      // A JSON document built in memory holds small numbers as signed integers.
      int64_t i = (*v)->get<int64_t>();
      if (i < 0) return bad(path + "." + key, "must not be negative");
      out = static_cast<uint64_t>(i);
    } else if ((*v)->is_string()) {
      // The documents say integer: "30" is not 30 (only amounts are decimal strings).
      return bad(path + "." + key, "must be an unsigned integer (a JSON number, not a string)");
    } else {
      return bad(path + "." + key, "must be an unsigned integer");
    }
    if (out > max) return bad(path + "." + key, fmt::format("must be at most {}", max));
    return static_cast<T>(out);
  }
  Result<U256> u256(const char* key) const {
    auto v = get(key);
    if (!v) return std::unexpected(v.error());
    if ((*v)->is_number_unsigned()) return U256((*v)->get<uint64_t>());
    if (!(*v)->is_string()) return bad(path + "." + key, "must be a decimal string of base units");
    auto p = U256::parse((*v)->get<std::string>());
    if (!p) return bad(path + "." + key, p.error().message());
    return *p;
  }
  Result<Amount> amount(const char* key) const {
    auto v = u256(key);
    if (!v) return std::unexpected(v.error());
    return Amount::from_base(*v);
  }
  Result<std::string> str(const char* key, size_t max) const {
    auto v = get(key);
    if (!v) return std::unexpected(v.error());
    if (!(*v)->is_string()) return bad(path + "." + key, "must be a string");
    std::string s = (*v)->get<std::string>();
    if (s.size() > max) return bad(path + "." + key, fmt::format("longer than {} bytes", max));
    return s;
  }
  Result<bool> boolean(const char* key) const {
    auto v = get(key);
    if (!v) return std::unexpected(v.error());
    if (!(*v)->is_boolean()) return bad(path + "." + key, "must be true or false");
    return (*v)->get<bool>();
  }
  Result<Address> address(const char* key) const {
    auto s = str(key, 64);
    if (!s) return std::unexpected(s.error());
    auto a = Address::parse(*s);
    if (!a) return bad(path + "." + key, a.error().message());
    return *a;
  }
  Result<Hash> hash(const char* key) const {
    auto s = str(key, 80);
    if (!s) return std::unexpected(s.error());
    auto h = Hash::from_hex(*s);
    if (!h) return bad(path + "." + key, h.error().message());
    return *h;
  }
  Result<crypto::Signature> signature(const char* key) const {
    auto s = str(key, 140);
    if (!s) return std::unexpected(s.error());
    auto sig = crypto::Signature::from_hex(*s);
    if (!sig) return bad(path + "." + key, sig.error().message());
    return *sig;
  }
  Result<CountryCode> country(const json& v, const std::string& where) const {
    if (!v.is_string()) return bad(where, "must be a country code string");
    auto c = parse_country(v.get<std::string>());
    if (!c) return bad(where, c.error().message());
    return *c;
  }
};

#define IPSX_READ(var, expr)                             \
  auto var##_r = (expr);                                 \
  if (!var##_r) return std::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)

std::string country_str(const CountryCode& c) {
  return std::string(c.data(), 2);
}

}  // namespace

std::string op_encoded_type(const Op& op) {
  return std::visit(
      Overloaded{
          [](const Transfer&) -> std::string {
            return "Transfer(address to,uint256 amount,uint64 nonce)";
          },
          [](const Approve&) -> std::string {
            return "Approve(address spender,uint256 amount,uint64 nonce)";
          },
          [](const TransferFrom&) -> std::string {
            return "TransferFrom(address owner,address to,uint256 amount,uint64 nonce)";
          },
          [](const Buy&) -> std::string { return "Buy(uint256 value,uint64 nonce)"; },
          [](const FinalizeSale&) -> std::string { return "FinalizeSale(uint64 nonce)"; },
          [](const ClaimUnsold&) -> std::string { return "ClaimUnsold(uint64 nonce)"; },
          [](const Refund&) -> std::string { return "Refund(uint64 nonce)"; },
          [](const Deposit&) -> std::string { return "Deposit(uint256 amount,uint64 nonce)"; },
          [](const Withdraw&) -> std::string { return "Withdraw(uint256 amount,uint64 nonce)"; },
          [](const CancelOrder&) -> std::string {
            return "CancelOrder(bytes32 orderHash,uint64 nonce)";
          },
          [](const OpenDeal&) -> std::string {
            return with_orders(
                "OpenDeal(Offer offer,bytes offerSignature,Request request,bytes requestSignature,"
                "uint256 pricePerSecond,uint64 nonce)");
          },
          [](const Claim&) -> std::string {
            return "Claim(bytes32 dealId,uint256 amount,bytes requesterSignature,uint64 nonce)";
          },
          [](const CloseDeal&) -> std::string {
            return "CloseDeal(bytes32 dealId,uint256 amount,bytes requesterSignature,uint8 "
                   "reason,uint64 nonce)";
          },
          [](const CooperativeClose&) -> std::string {
            return "CooperativeClose(bytes32 dealId,uint256 amount,bytes requesterSignature,"
                   "bytes providerSignature,uint8 reason,uint64 nonce)";
          },
          [](const UncooperativeClose&) -> std::string {
            return "UncooperativeClose(bytes32 dealId,uint256 amount,uint8 reason,uint64 nonce)";
          },
          [](const Settle&) -> std::string { return "Settle(bytes32 dealId,uint64 nonce)"; },
          [](const Rate&) -> std::string {
            return "Rate(bytes32 dealId,uint8 score,uint64 nonce)";
          },
          [](const RecordUsage&) -> std::string {
            return "RecordUsage(bytes32 dealId,uint64 count,bytes32 root,bytes requesterSignature,"
                   "uint64 nonce)";
          },
          // Each of `ops` is the struct hash of one operation, with the batch's nonce.
          [](const Batch&) -> std::string { return "Batch(bytes32[] ops,uint64 nonce)"; },
      },
      op);
}

namespace {
Hash op_struct_hash(uint64_t nonce, const Op& op);
}

Hash tx_digest(const Hash& domain_separator, uint64_t nonce, const Op& op) {
  return crypto::eip712::digest(domain_separator, op_struct_hash(nonce, op));
}

namespace {
Hash op_struct_hash(uint64_t nonce, const Op& op) {
  // Type hashes are computed once per operation kind.
  static const std::array<Hash, std::variant_size_v<Op>> type_hashes = [] {
    std::array<Hash, std::variant_size_v<Op>> out;
    Op samples[] = {Transfer{},
                    Approve{},
                    TransferFrom{},
                    Buy{},
                    FinalizeSale{},
                    ClaimUnsold{},
                    Refund{},
                    Deposit{},
                    Withdraw{},
                    CancelOrder{},
                    OpenDeal{},
                    Claim{},
                    CloseDeal{},
                    CooperativeClose{},
                    UncooperativeClose{},
                    Settle{},
                    Rate{},
                    RecordUsage{},
                    Batch{}};
    for (const Op& s : samples) out[s.index()] = th(op_encoded_type(s));
    return out;
  }();
  StructHasher h(type_hashes[op.index()]);
  std::array<uint8_t, 65> b1, b2;
  std::visit(Overloaded{
                 [&](const Transfer& t) { h.add_address(t.to).add_uint(t.amount.base()); },
                 [&](const Approve& a) { h.add_address(a.spender).add_uint(a.amount.base()); },
                 [&](const TransferFrom& t) {
                   h.add_address(t.owner).add_address(t.to).add_uint(t.amount.base());
                 },
                 [&](const Buy& b) { h.add_uint(b.value.base()); },
                 [&](const FinalizeSale&) {},
                 [&](const ClaimUnsold&) {},
                 [&](const Refund&) {},
                 [&](const Deposit& d) { h.add_uint(d.amount.base()); },
                 [&](const Withdraw& w) { h.add_uint(w.amount.base()); },
                 [&](const CancelOrder& c) { h.add_word(c.order_hash); },
                 [&](const OpenDeal& o) {
                   h.add_word(o.offer.struct_hash())
                       .add_bytes(sig_bytes(o.offer_signature, b1))
                       .add_word(o.request.struct_hash())
                       .add_bytes(sig_bytes(o.request_signature, b2))
                       .add_uint(o.price_per_second);
                 },
                 [&](const Claim& c) {
                   h.add_word(c.deal_id)
                       .add_uint(c.amount.base())
                       .add_bytes(sig_bytes(c.requester_signature, b1));
                 },
                 [&](const CloseDeal& c) {
                   h.add_word(c.deal_id).add_uint(c.amount.base());
                   if (c.requester_signature) {
                     h.add_bytes(sig_bytes(*c.requester_signature, b1));
                   } else {
                     h.add_bytes({});
                   }
                   h.add_uint(static_cast<uint64_t>(c.reason));
                 },
                 [&](const CooperativeClose& c) {
                   h.add_word(c.deal_id)
                       .add_uint(c.amount.base())
                       .add_bytes(sig_bytes(c.requester_signature, b1))
                       .add_bytes(sig_bytes(c.provider_signature, b2))
                       .add_uint(static_cast<uint64_t>(c.reason));
                 },
                 [&](const UncooperativeClose& c) {
                   h.add_word(c.deal_id)
                       .add_uint(c.amount.base())
                       .add_uint(static_cast<uint64_t>(c.reason));
                 },
                 [&](const Settle& s) { h.add_word(s.deal_id); },
                 [&](const Rate& r) { h.add_word(r.deal_id).add_uint(r.score); },
                 [&](const RecordUsage& u) {
                   h.add_word(u.deal_id).add_uint(u.count).add_word(u.root).add_bytes(
                       sig_bytes(u.requester_signature, b1));
                 },
                 [&](const Batch& b) {
                   Bytes words;
                   words.reserve(32 * b.ops.size());
                   for (const Op& inner : b.ops) {
                     Hash ih = op_struct_hash(nonce, inner);
                     words.insert(words.end(), ih.bytes().begin(), ih.bytes().end());
                   }
                   h.add_word(keccak256(words));
                 },
             },
             op);
  h.add_uint(nonce);
  return h.finish();
}
}  // namespace

json to_json(const Offer& o) {
  return {{"provider", o.provider.to_string()},
          {"ip", format_ip(o.ip)},
          {"country", country_str(o.country)},
          {"region", o.region},
          {"asn", o.asn},
          {"ipType", static_cast<unsigned>(o.ip_type)},
          {"protocols", o.protocols},
          {"scopes", o.scopes},
          {"bandwidthKbps", o.bandwidth_kbps},
          {"capacity", o.capacity},
          {"availableFrom", o.available_from},
          {"availableUntil", o.available_until},
          {"minDuration", o.min_duration},
          {"maxDuration", o.max_duration},
          {"pricePerSecond", o.price_per_second.to_dec()},
          {"market", o.market.to_string()},
          {"feeBps", o.fee_bps},
          {"minRequesterRating", o.min_requester_rating},
          {"expiry", o.expiry},
          {"nonce", o.nonce}};
}

json to_json(const Request& r) {
  json countries = json::array();
  for (const auto& c : r.countries) countries.push_back(country_str(c));
  return {{"requester", r.requester.to_string()},
          {"count", r.count},
          {"countries", countries},
          {"region", r.region},
          {"asn", r.asn},
          {"ipTypes", r.ip_types},
          {"protocols", r.protocols},
          {"scope", r.scope},
          {"minProviderRating", r.min_provider_rating},
          {"minBandwidthKbps", r.min_bandwidth_kbps},
          {"exclusive", r.exclusive},
          {"distinctSubnets", r.distinct_subnets},
          {"start", r.start},
          {"duration", r.duration},
          {"maxPricePerSecond", r.max_price_per_second.to_dec()},
          {"budget", r.budget.to_dec()},
          {"allOrNone", r.all_or_none},
          {"market", r.market.to_string()},
          {"feeBps", r.fee_bps},
          {"expiry", r.expiry},
          {"nonce", r.nonce}};
}

Result<Offer> offer_from_json(const json& j) {
  Reader r{j, "offer"};
  Offer o;
  IPSX_READ(provider, r.address("provider"));
  IPSX_READ(ip_text, r.str("ip", 64));
  auto ip = parse_ip(ip_text);
  if (!ip) return bad("offer.ip", ip.error().message());
  IPSX_READ(country_node, r.get("country"));
  IPSX_READ(country, r.country(*country_node, "offer.country"));
  IPSX_READ(region, r.str("region", 64));
  IPSX_READ(asn, r.uint<uint32_t>("asn", UINT32_MAX));
  IPSX_READ(ip_type, r.uint<uint8_t>("ipType", 3));
  IPSX_READ(protocols, r.uint<uint32_t>("protocols", UINT32_MAX));
  IPSX_READ(scopes, r.uint<uint32_t>("scopes", UINT32_MAX));
  IPSX_READ(bandwidth, r.uint<uint32_t>("bandwidthKbps", UINT32_MAX));
  IPSX_READ(capacity, r.uint<uint32_t>("capacity", UINT32_MAX));
  IPSX_READ(from, r.uint<uint64_t>("availableFrom", UINT64_MAX));
  IPSX_READ(until, r.uint<uint64_t>("availableUntil", UINT64_MAX));
  IPSX_READ(min_d, r.uint<uint64_t>("minDuration", UINT64_MAX));
  IPSX_READ(max_d, r.uint<uint64_t>("maxDuration", UINT64_MAX));
  IPSX_READ(price, r.u256("pricePerSecond"));
  IPSX_READ(market, r.address("market"));
  IPSX_READ(fee, r.uint<uint16_t>("feeBps", UINT16_MAX));
  IPSX_READ(min_rating, r.uint<uint16_t>("minRequesterRating", UINT16_MAX));
  IPSX_READ(expiry, r.uint<uint64_t>("expiry", UINT64_MAX));
  IPSX_READ(nonce, r.uint<uint64_t>("nonce", UINT64_MAX));
  o.provider = provider;
  o.ip = *ip;
  o.country = country;
  o.region = region;
  o.asn = asn;
  o.ip_type = static_cast<IpType>(ip_type);
  o.protocols = protocols;
  o.scopes = scopes;
  o.bandwidth_kbps = bandwidth;
  o.capacity = capacity;
  o.available_from = from;
  o.available_until = until;
  o.min_duration = min_d;
  o.max_duration = max_d;
  o.price_per_second = price;
  o.market = market;
  o.fee_bps = fee;
  o.min_requester_rating = min_rating;
  o.expiry = expiry;
  o.nonce = nonce;
  return o;
}

Result<Request> request_from_json(const json& j) {
  Reader r{j, "request"};
  Request q;
  IPSX_READ(requester, r.address("requester"));
  IPSX_READ(count, r.uint<uint32_t>("count", UINT32_MAX));
  IPSX_READ(countries, r.get("countries"));
  if (!countries->is_array() || countries->size() > 300) {
    return bad("request.countries", "must be an array of at most 300 country codes");
  }
  for (size_t i = 0; i < countries->size(); ++i) {
    IPSX_READ(c, r.country((*countries)[i], fmt::format("request.countries[{}]", i)));
    q.countries.push_back(c);
  }
  IPSX_READ(region, r.str("region", 64));
  IPSX_READ(asn, r.uint<uint32_t>("asn", UINT32_MAX));
  IPSX_READ(ip_types, r.uint<uint8_t>("ipTypes", UINT8_MAX));
  IPSX_READ(protocols, r.uint<uint32_t>("protocols", UINT32_MAX));
  IPSX_READ(scope_bits, r.uint<uint32_t>("scope", UINT32_MAX));
  IPSX_READ(min_rating, r.uint<uint16_t>("minProviderRating", UINT16_MAX));
  IPSX_READ(min_bw, r.uint<uint32_t>("minBandwidthKbps", UINT32_MAX));
  IPSX_READ(exclusive, r.boolean("exclusive"));
  IPSX_READ(distinct, r.boolean("distinctSubnets"));
  IPSX_READ(start, r.uint<uint64_t>("start", UINT64_MAX));
  IPSX_READ(duration, r.uint<uint64_t>("duration", UINT64_MAX));
  IPSX_READ(max_price, r.u256("maxPricePerSecond"));
  IPSX_READ(budget, r.u256("budget"));
  IPSX_READ(aon, r.boolean("allOrNone"));
  IPSX_READ(market, r.address("market"));
  IPSX_READ(fee, r.uint<uint16_t>("feeBps", UINT16_MAX));
  IPSX_READ(expiry, r.uint<uint64_t>("expiry", UINT64_MAX));
  IPSX_READ(nonce, r.uint<uint64_t>("nonce", UINT64_MAX));
  q.requester = requester;
  q.count = count;
  q.region = region;
  q.asn = asn;
  q.ip_types = ip_types;
  q.protocols = protocols;
  q.scope = scope_bits;
  q.min_provider_rating = min_rating;
  q.min_bandwidth_kbps = min_bw;
  q.exclusive = exclusive;
  q.distinct_subnets = distinct;
  q.start = start;
  q.duration = duration;
  q.max_price_per_second = max_price;
  q.budget = budget;
  q.all_or_none = aon;
  q.market = market;
  q.fee_bps = fee;
  q.expiry = expiry;
  q.nonce = nonce;
  return q;
}

json to_json(const Op& op) {
  json j = {{"op", op_name(op)}};
  std::visit(Overloaded{
                 [&](const Transfer& t) {
                   j["to"] = t.to.to_string();
                   j["amount"] = t.amount.base().to_dec();
                 },
                 [&](const Approve& a) {
                   j["spender"] = a.spender.to_string();
                   j["amount"] = a.amount.base().to_dec();
                 },
                 [&](const TransferFrom& t) {
                   j["owner"] = t.owner.to_string();
                   j["to"] = t.to.to_string();
                   j["amount"] = t.amount.base().to_dec();
                 },
                 [&](const Buy& b) { j["value"] = b.value.base().to_dec(); },
                 [&](const FinalizeSale&) {},
                 [&](const ClaimUnsold&) {},
                 [&](const Refund&) {},
                 [&](const Deposit& d) { j["amount"] = d.amount.base().to_dec(); },
                 [&](const Withdraw& w) { j["amount"] = w.amount.base().to_dec(); },
                 [&](const CancelOrder& c) { j["orderHash"] = c.order_hash.hex(); },
                 [&](const OpenDeal& o) {
                   j["offer"] = to_json(o.offer);
                   j["offerSignature"] = o.offer_signature.to_hex();
                   j["request"] = to_json(o.request);
                   j["requestSignature"] = o.request_signature.to_hex();
                   j["pricePerSecond"] = o.price_per_second.to_dec();
                 },
                 [&](const Claim& c) {
                   j["dealId"] = c.deal_id.hex();
                   j["amount"] = c.amount.base().to_dec();
                   j["requesterSignature"] = c.requester_signature.to_hex();
                 },
                 [&](const CloseDeal& c) {
                   j["dealId"] = c.deal_id.hex();
                   j["amount"] = c.amount.base().to_dec();
                   j["requesterSignature"] =
                       c.requester_signature ? c.requester_signature->to_hex() : "";
                   j["reason"] = static_cast<unsigned>(c.reason);
                 },
                 [&](const CooperativeClose& c) {
                   j["dealId"] = c.deal_id.hex();
                   j["amount"] = c.amount.base().to_dec();
                   j["requesterSignature"] = c.requester_signature.to_hex();
                   j["providerSignature"] = c.provider_signature.to_hex();
                   j["reason"] = static_cast<unsigned>(c.reason);
                 },
                 [&](const UncooperativeClose& c) {
                   j["dealId"] = c.deal_id.hex();
                   j["amount"] = c.amount.base().to_dec();
                   j["reason"] = static_cast<unsigned>(c.reason);
                 },
                 [&](const Settle& s) { j["dealId"] = s.deal_id.hex(); },
                 [&](const Rate& r) {
                   j["dealId"] = r.deal_id.hex();
                   j["score"] = r.score;
                 },
                 [&](const RecordUsage& u) {
                   j["dealId"] = u.deal_id.hex();
                   j["count"] = u.count;
                   j["root"] = u.root.hex();
                   j["requesterSignature"] = u.requester_signature.to_hex();
                 },
                 [&](const Batch& b) {
                   json ops = json::array();
                   for (const Op& inner : b.ops) ops.push_back(to_json(inner));
                   j["ops"] = std::move(ops);
                 },
             },
             op);
  return j;
}

Result<Op> op_from_json(const json& j) {
  Reader r{j, "op"};
  IPSX_READ(name, r.str("op", 32));
  auto reason = [&]() -> Result<CloseReason> {
    auto v = r.uint<uint8_t>("reason", static_cast<uint8_t>(kMaxCloseReason));
    if (!v) return std::unexpected(v.error());
    return static_cast<CloseReason>(*v);
  };
  if (name == "transfer") {
    IPSX_READ(to, r.address("to"));
    IPSX_READ(amount, r.amount("amount"));
    return Op(Transfer{to, amount});
  }
  if (name == "approve") {
    IPSX_READ(spender, r.address("spender"));
    IPSX_READ(amount, r.amount("amount"));
    return Op(Approve{spender, amount});
  }
  if (name == "transferFrom") {
    IPSX_READ(owner, r.address("owner"));
    IPSX_READ(to, r.address("to"));
    IPSX_READ(amount, r.amount("amount"));
    return Op(TransferFrom{owner, to, amount});
  }
  if (name == "buy") {
    IPSX_READ(value, r.amount("value"));
    return Op(Buy{value});
  }
  if (name == "finalizeSale") return Op(FinalizeSale{});
  if (name == "claimUnsold") return Op(ClaimUnsold{});
  if (name == "refund") return Op(Refund{});
  if (name == "deposit") {
    IPSX_READ(amount, r.amount("amount"));
    return Op(Deposit{amount});
  }
  if (name == "withdraw") {
    IPSX_READ(amount, r.amount("amount"));
    return Op(Withdraw{amount});
  }
  if (name == "cancelOrder") {
    IPSX_READ(h, r.hash("orderHash"));
    return Op(CancelOrder{h});
  }
  if (name == "openDeal") {
    IPSX_READ(offer_node, r.get("offer"));
    IPSX_READ(offer, offer_from_json(*offer_node));
    IPSX_READ(offer_sig, r.signature("offerSignature"));
    IPSX_READ(request_node, r.get("request"));
    IPSX_READ(request, request_from_json(*request_node));
    IPSX_READ(request_sig, r.signature("requestSignature"));
    IPSX_READ(price, r.u256("pricePerSecond"));
    return Op(OpenDeal{offer, offer_sig, request, request_sig, price});
  }
  if (name == "claim") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(amount, r.amount("amount"));
    IPSX_READ(sig, r.signature("requesterSignature"));
    return Op(Claim{id, amount, sig});
  }
  if (name == "closeDeal") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(amount, r.amount("amount"));
    IPSX_READ(sig_text, r.str("requesterSignature", 140));
    IPSX_READ(why, reason());
    CloseDeal c{id, amount, std::nullopt, why};
    if (!sig_text.empty()) {
      IPSX_READ(sig, r.signature("requesterSignature"));
      c.requester_signature = sig;
    }
    return Op(c);
  }
  if (name == "cooperativeClose") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(amount, r.amount("amount"));
    IPSX_READ(rs, r.signature("requesterSignature"));
    IPSX_READ(ps, r.signature("providerSignature"));
    IPSX_READ(why, reason());
    return Op(CooperativeClose{id, amount, rs, ps, why});
  }
  if (name == "uncooperativeClose") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(amount, r.amount("amount"));
    IPSX_READ(why, reason());
    return Op(UncooperativeClose{id, amount, why});
  }
  if (name == "settle") {
    IPSX_READ(id, r.hash("dealId"));
    return Op(Settle{id});
  }
  if (name == "rate") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(score, r.uint<uint8_t>("score", 255));
    return Op(Rate{id, score});
  }
  if (name == "recordUsage") {
    IPSX_READ(id, r.hash("dealId"));
    IPSX_READ(count, r.uint<uint64_t>("count", UINT64_MAX));
    IPSX_READ(root, r.hash("root"));
    IPSX_READ(sig, r.signature("requesterSignature"));
    return Op(RecordUsage{id, count, root, sig});
  }
  if (name == "batch") {
    IPSX_READ(ops, r.get("ops"));
    if (!ops->is_array() || ops->empty() || ops->size() > kMaxBatchOps) {
      return bad("op.ops", fmt::format("must be an array of 1 to {} operations", kMaxBatchOps));
    }
    Batch b;
    for (size_t i = 0; i < ops->size(); ++i) {
      auto inner = op_from_json((*ops)[i]);
      if (!inner) {
        const Error& e = inner.error();
        std::string field = fmt::format("op.ops[{}]", i);
        if (e.field_root() == "op") {
          field += e.field().substr(2);
        } else if (!e.field().empty()) {
          field += "." + e.field();
        }
        return std::unexpected(Error(e.code(), e.message(), field));
      }
      if (!batchable(*inner)) {
        return bad(fmt::format("op.ops[{}].op", i),
                   fmt::format("'{}' cannot be batched (deposit, withdraw, cancelOrder and the "
                               "deal operations can)",
                               op_name(*inner)));
      }
      b.ops.push_back(std::move(*inner));
    }
    return Op(std::move(b));
  }
  return bad("op.op", fmt::format("unknown operation '{}'", name));
}

json to_json(const SignedTx& tx) {
  return {{"chainId", tx.tx.chain_id},
          {"from", tx.tx.from.to_string()},
          {"nonce", tx.tx.nonce},
          {"op", to_json(tx.tx.op)},
          {"signature", tx.signature.to_hex()}};
}

Result<SignedTx> signed_tx_from_json(const json& j, const Hash& domain_separator) {
  Reader r{j, "tx"};
  IPSX_READ(chain, r.uint<uint64_t>("chainId", UINT64_MAX));
  IPSX_READ(from, r.address("from"));
  IPSX_READ(nonce, r.uint<uint64_t>("nonce", UINT64_MAX));
  IPSX_READ(op_node, r.get("op"));
  IPSX_READ(op, op_from_json(*op_node));
  IPSX_READ(sig, r.signature("signature"));
  SignedTx tx;
  tx.tx.chain_id = chain;
  tx.tx.from = from;
  tx.tx.nonce = nonce;
  tx.tx.op = std::move(op);
  tx.tx.digest = tx_digest(domain_separator, nonce, tx.tx.op);
  tx.signature = sig;
  return tx;
}

json to_json(const Event& e) {
  json fields = json::array();  // [name, value] pairs, in the order recorded
  for (const auto& [k, v] : e.fields) fields.push_back({k, v});
  json accounts = json::array();
  for (const auto& a : e.accounts) accounts.push_back(a.to_string());
  json j = {{"kind", to_string(e.kind)}, {"block", e.block},     {"txIndex", e.tx_index},
            {"txId", e.tx_id.hex()},     {"accounts", accounts}, {"fields", fields}};
  if (e.chain_tx) j["chainTx"] = e.chain_tx->hex();
  if (e.deal) j["deal"] = e.deal->hex();
  return j;
}

}  // namespace ipsx::ledger
