#include "eth/ethereum_abi.h"

#include <cstdlib>

#include "core/keccak.h"

namespace ipsx::eth::ipsx_abi {
namespace {

constexpr const char* kOffer =
    "(address,bytes16,bytes2,string,uint32,uint8,uint32,uint32,uint32,uint32,uint64,uint64,"
    "uint64,uint64,uint256,address,uint16,uint16,uint64,uint64)";
constexpr const char* kRequest =
    "(address,uint32,bytes2[],string,uint32,uint8,uint32,uint32,uint16,uint32,bool,bool,uint64,"
    "uint64,uint256,uint256,bool,address,uint16,uint64,uint64)";
constexpr const char* kTerms =
    "(bytes32,bytes32,uint64,address,address,address,uint16,uint64,uint64,uint256)";

// The signatures are constants of this file: a parse failure is a bug, caught by every test.
abi::Function fn(const std::string& sig) {
  auto f = abi::Function::parse(sig);
  if (!f) std::abort();
  return *f;
}
abi::Event ev(const std::string& sig, std::vector<bool> indexed) {
  auto e = abi::Event::parse(sig, std::move(indexed));
  if (!e) std::abort();
  return *e;
}

abi::Value sig_value(const crypto::Signature& s) {
  auto b = s.to_bytes();
  return abi::Value::bytes(Bytes(b.begin(), b.end()));
}
abi::Value amount(const Amount& a) {
  return abi::Value::uint(a.base());
}
abi::Value small(uint64_t v) {
  return abi::Value::uint(U256(v));
}

abi::Value u(uint64_t v) {
  return abi::Value::uint(U256(v));
}
abi::Value fixed(const uint8_t* p, size_t n) {
  return abi::Value::bytes(Bytes(p, p + n));
}
abi::Value country(const CountryCode& c) {
  const uint8_t b[2] = {static_cast<uint8_t>(c[0]), static_cast<uint8_t>(c[1])};
  return fixed(b, 2);
}

}  // namespace

const Functions& functions() {
  static const Functions f{
      fn("transfer(address,uint256)"),
      fn("approve(address,uint256)"),
      fn("transferFrom(address,address,uint256)"),
      fn("buy()"),
      fn("finalizeSale()"),
      fn("claimUnsold()"),
      fn("refund()"),
      fn("totalSupply()(uint256)"),
      fn("balanceOf(address)(uint256)"),
      fn("allowance(address,address)(uint256)"),
      fn("bought(address)(uint256)"),
      fn("sale()(uint256,uint256,uint256,uint256,uint256,uint256,uint64,uint64,bool,address,"
         "uint256,"
         "uint256)"),
      fn("deposit(uint256)"),
      fn("withdraw(uint256)"),
      fn("cancelOrder(bytes32)"),
      fn(std::string("openDeal(") + kOffer + ",bytes," + kRequest + ",bytes,uint256)"),
      fn(std::string("claim(bytes32,") + kTerms + ",uint256,bytes)"),
      fn(std::string("closeDeal(bytes32,") + kTerms + ",uint256,bytes,uint8)"),
      fn(std::string("cooperativeClose(bytes32,") + kTerms + ",uint256,bytes,bytes,uint8)"),
      fn(std::string("uncooperativeClose(bytes32,") + kTerms + ",uint256,uint8)"),
      fn(std::string("settle(bytes32,") + kTerms + ")"),
      fn(std::string("rate(bytes32,") + kTerms + ",uint8)"),
      fn(std::string("recordUsage(bytes32,") + kTerms + ",uint64,bytes32,bytes)"),
      fn("batch(bytes[])"),
      fn("wallet(address)(uint256,uint256)"),
      fn("deal(bytes32,uint256)(bytes32,uint256,uint256,uint64,uint8,uint8,bool,bool)"),
      fn("rating(address)(uint64,uint64)"),
      fn("supply()(uint256,uint256,uint256,uint256,uint256,uint256,bool)"),
      fn("orderCancelled(address,bytes32)(bool)"),
      fn("usage(bytes32)(uint64,bytes32)"),
  };
  return f;
}

const Events& events() {
  static const Events e{
      ev("Transfer(address,address,uint256)", {true, true, false}),
      ev("Approval(address,address,uint256)", {true, true, false}),
      ev("Purchase(address,uint256,uint256)", {true, false, false}),
      ev("SaleFinalized(uint256,uint256)", {false, false}),
      ev("UnsoldClaimed(address,uint256)", {true, false}),
      ev("Refunded(address,uint256,uint256)", {true, false, false}),
      ev("Deposit(address,uint256)", {true, false}),
      ev("Withdrawal(address,uint256)", {true, false}),
      ev("OrderCancelled(address,bytes32)", {true, true}),
      ev("DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64,bytes32,bytes32,"
         "uint64,uint16)",
         {true, true, true}),
      ev("Claimed(bytes32,uint256,uint256,uint256)", {true}),
      ev("DealClosing(bytes32,uint256,uint64,uint8)", {true}),
      ev("DealClosed(bytes32,uint8,uint8,uint256,uint256)", {true}),
      ev("Rated(bytes32,address,address,uint8)", {true, true, true}),
      ev("UsageRecorded(bytes32,uint64,bytes32)", {true, false, false}),
  };
  return e;
}

abi::Value offer_value(const Offer& o) {
  return abi::Value::list({
      abi::Value::address(o.provider),
      fixed(o.ip.data(), o.ip.size()),
      country(o.country),
      abi::Value::string(o.region),
      u(o.asn),
      u(static_cast<uint8_t>(o.ip_type)),
      u(o.protocols),
      u(o.scopes),
      u(o.bandwidth_kbps),
      u(o.capacity),
      u(o.available_from),
      u(o.available_until),
      u(o.min_duration),
      u(o.max_duration),
      abi::Value::uint(o.price_per_second),
      abi::Value::address(o.market),
      u(o.fee_bps),
      u(o.min_requester_rating),
      u(o.expiry),
      u(o.nonce),
  });
}

abi::Value request_value(const Request& r) {
  abi::Value::List countries;
  for (const auto& c : r.countries) countries.push_back(country(c));
  return abi::Value::list({
      abi::Value::address(r.requester),
      u(r.count),
      abi::Value::list(std::move(countries)),
      abi::Value::string(r.region),
      u(r.asn),
      u(r.ip_types),
      u(r.protocols),
      u(r.scope),
      u(r.min_provider_rating),
      u(r.min_bandwidth_kbps),
      abi::Value::boolean(r.exclusive),
      abi::Value::boolean(r.distinct_subnets),
      u(r.start),
      u(r.duration),
      abi::Value::uint(r.max_price_per_second),
      abi::Value::uint(r.budget),
      abi::Value::boolean(r.all_or_none),
      abi::Value::address(r.market),
      u(r.fee_bps),
      u(r.expiry),
      u(r.nonce),
  });
}

abi::Value word(const Hash& h) {
  return abi::Value::bytes(Bytes(h.bytes().begin(), h.bytes().end()));
}

namespace L = ipsx::ledger;

abi::Value terms_value(const DealTerms& t) {
  return abi::Value::list({word(t.offer_hash), word(t.request_hash), u(t.fill),
                           abi::Value::address(t.provider), abi::Value::address(t.requester),
                           abi::Value::address(t.market), u(t.fee_bps), u(t.start), u(t.duration),
                           abi::Value::uint(t.price_per_second)});
}

Result<DealTerms> terms_from(const abi::Value& v) {
  const auto* x = v.get_if<abi::Value::List>();
  auto bad = [] { return fail(CoreErrc::parse_error, "deal terms: not a DealTerms tuple"); };
  if (!x || x->size() != 10) return bad();
  const Bytes* oh = (*x)[0].get_if<Bytes>();
  const Bytes* rh = (*x)[1].get_if<Bytes>();
  const U256* fill = (*x)[2].get_if<U256>();
  const Address* p = (*x)[3].get_if<Address>();
  const Address* r = (*x)[4].get_if<Address>();
  const Address* m = (*x)[5].get_if<Address>();
  const U256* fee = (*x)[6].get_if<U256>();
  const U256* start = (*x)[7].get_if<U256>();
  const U256* duration = (*x)[8].get_if<U256>();
  const U256* price = (*x)[9].get_if<U256>();
  if (!oh || oh->size() != 32 || !rh || rh->size() != 32 || !fill || !fill->fits_u64() || !p ||
      !r || !m || !fee || !start || !duration || !price || !fee->fits_u64() ||
      fee->low64() > UINT16_MAX || !start->fits_u64() || !duration->fits_u64())
    return bad();
  DealTerms t;
  t.offer_hash = Hash(std::span<const uint8_t, 32>(oh->data(), 32));
  t.request_hash = Hash(std::span<const uint8_t, 32>(rh->data(), 32));
  t.fill = fill->low64();
  t.provider = *p;
  t.requester = *r;
  t.market = *m;
  t.fee_bps = static_cast<uint16_t>(fee->low64());
  t.start = start->low64();
  t.duration = duration->low64();
  t.price_per_second = *price;
  return t;
}

Hash deal_id(const DealTerms& t) {
  return L::deal_id_for(t.offer_hash, t.request_hash, t.fill);
}

Hash commitment(const DealTerms& t) {
  static const std::vector<abi::Type> types = [] {
    auto f = abi::Function::parse(std::string("f(") + kTerms + ")");
    if (!f) std::abort();
    return f->inputs();
  }();
  auto data = abi::encode(types, {terms_value(t)});
  if (!data) std::abort();  // a tuple of fixed words always encodes
  return keccak256(*data);
}

DealTerms terms_of_opened(const std::vector<abi::Value>& x) {
  auto h = [&](size_t i) {
    return Hash(std::span<const uint8_t, 32>(x[i].get<Bytes>().data(), 32));
  };
  DealTerms t;
  t.provider = x[1].get<Address>();
  t.requester = x[2].get<Address>();
  t.market = x[3].get<Address>();
  t.price_per_second = x[4].get<U256>();
  t.duration = x[5].get<U256>().low64();
  t.start = x[7].get<U256>().low64();
  t.offer_hash = h(8);
  t.request_hash = h(9);
  t.fill = x[10].get<U256>().low64();
  t.fee_bps = static_cast<uint16_t>(x[11].get<U256>().low64());
  return t;
}

namespace {
bool calls(const abi::Function& fn, ByteView data) {
  const abi::Selector sel = fn.selector();
  return data.size() >= sel.size() && std::equal(sel.begin(), sel.end(), data.begin());
}
}  // namespace

Result<std::vector<DealTerms>> terms_in_call(ByteView data) {
  const auto& f = functions();
  std::vector<DealTerms> out;
  if (calls(f.batch, data)) {
    auto args = f.batch.decode_call(data);
    if (!args) return std::unexpected(args.error());
    for (const abi::Value& inner : (*args)[0].get<abi::Value::List>()) {
      const Bytes& call = inner.get<Bytes>();
      auto t = terms_in_call(call);
      if (!t) return std::unexpected(t.error());
      out.insert(out.end(), t->begin(), t->end());
    }
    return out;
  }
  for (const abi::Function* fn : {&f.claim, &f.close_deal, &f.cooperative_close,
                                  &f.uncooperative_close, &f.settle, &f.rate, &f.record_usage}) {
    if (!calls(*fn, data)) continue;
    auto args = fn->decode_call(data);
    if (!args) return std::unexpected(args.error());
    auto t = terms_from((*args)[1]);
    if (!t) return std::unexpected(t.error());
    out.push_back(*t);
    break;
  }
  return out;
}

std::vector<Hash> deals_operated(const L::Op& op) {
  std::vector<Hash> out;
  if (const auto* b = std::get_if<L::Batch>(&op)) {
    for (const L::Op& inner : b->ops) {
      auto ids = deals_operated(inner);  // a batch in a batch, which the contract refuses
      out.insert(out.end(), ids.begin(), ids.end());
    }
  } else if (auto id = L::deal_of(op)) {
    out.push_back(*id);
  }
  return out;
}

Result<ContractCall> ledger_call(const Address& token, const Address& cz, const L::Op& op,
                                 std::span<const DealTerms> terms) {
  const auto* b = std::get_if<L::Batch>(&op);
  if (!b) {
    if (terms.size() != (L::deal_of(op) ? 1u : 0u))
      return fail(CoreErrc::invalid_argument, "the operation's deal terms do not match it");
    return ledger_call(token, cz, op, terms.empty() ? nullptr : &terms[0]);
  }
  // A batch the ledger refuses (empty, too long, holding what cannot be batched) is encoded as
  // it is: the contract refuses it, as the embedded ledger does, with the ledger's error.
  abi::Value::List inner_calls;
  size_t used = 0;
  for (const L::Op& inner : b->ops) {
    size_t n = deals_operated(inner).size();
    if (used + n > terms.size())
      return fail(CoreErrc::invalid_argument, "the batch's deal terms do not match it");
    auto c = ledger_call(token, cz, inner, terms.subspan(used, n));
    if (!c) return std::unexpected(c.error());
    used += n;
    inner_calls.push_back(abi::Value::bytes(std::move(c->data)));
  }
  if (used != terms.size())
    return fail(CoreErrc::invalid_argument, "the batch's deal terms do not match it");
  auto data = functions().batch.encode_call({abi::Value::list(std::move(inner_calls))});
  if (!data) return std::unexpected(data.error());
  return ContractCall{cz, U256(), std::move(*data)};
}

Result<ContractCall> ledger_call(const Address& token, const Address& cz, const L::Op& op,
                                 const DealTerms* terms) {
  const auto& f = functions();
  if (L::deal_of(op) && !terms)
    return fail(CoreErrc::invalid_argument, "the deal's terms are needed for its call");
  auto tv = [&] { return terms_value(*terms); };
  auto make = [](const Address& to, const abi::Function& fn, std::vector<abi::Value> args,
                 U256 value = U256()) -> Result<ContractCall> {
    auto data = fn.encode_call(args);
    if (!data) return std::unexpected(data.error());
    return ContractCall{to, value, std::move(*data)};
  };
  return std::visit(
      [&](const auto& o) -> Result<ContractCall> {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, L::Transfer>) {
          return make(token, f.transfer, {abi::Value::address(o.to), amount(o.amount)});
        } else if constexpr (std::is_same_v<T, L::Approve>) {
          return make(token, f.approve, {abi::Value::address(o.spender), amount(o.amount)});
        } else if constexpr (std::is_same_v<T, L::TransferFrom>) {
          return make(token, f.transfer_from,
                      {abi::Value::address(o.owner), abi::Value::address(o.to), amount(o.amount)});
        } else if constexpr (std::is_same_v<T, L::Buy>) {
          return make(token, f.buy, {}, o.value.base());
        } else if constexpr (std::is_same_v<T, L::FinalizeSale>) {
          return make(token, f.finalize_sale, {});
        } else if constexpr (std::is_same_v<T, L::ClaimUnsold>) {
          return make(token, f.claim_unsold, {});
        } else if constexpr (std::is_same_v<T, L::Refund>) {
          return make(token, f.refund, {});
        } else if constexpr (std::is_same_v<T, L::Deposit>) {
          return make(cz, f.deposit, {amount(o.amount)});
        } else if constexpr (std::is_same_v<T, L::Withdraw>) {
          return make(cz, f.withdraw, {amount(o.amount)});
        } else if constexpr (std::is_same_v<T, L::CancelOrder>) {
          return make(cz, f.cancel_order, {word(o.order_hash)});
        } else if constexpr (std::is_same_v<T, L::OpenDeal>) {
          return make(cz, f.open_deal,
                      {offer_value(o.offer), sig_value(o.offer_signature), request_value(o.request),
                       sig_value(o.request_signature), abi::Value::uint(o.price_per_second)});
        } else if constexpr (std::is_same_v<T, L::Claim>) {
          return make(cz, f.claim,
                      {word(o.deal_id), tv(), amount(o.amount), sig_value(o.requester_signature)});
        } else if constexpr (std::is_same_v<T, L::CloseDeal>) {
          abi::Value sig = o.requester_signature ? sig_value(*o.requester_signature)
                                                 : abi::Value::bytes(Bytes{});
          return make(cz, f.close_deal,
                      {word(o.deal_id), tv(), amount(o.amount), sig,
                       small(static_cast<uint8_t>(o.reason))});
        } else if constexpr (std::is_same_v<T, L::CooperativeClose>) {
          return make(cz, f.cooperative_close,
                      {word(o.deal_id), tv(), amount(o.amount), sig_value(o.requester_signature),
                       sig_value(o.provider_signature), small(static_cast<uint8_t>(o.reason))});
        } else if constexpr (std::is_same_v<T, L::UncooperativeClose>) {
          return make(
              cz, f.uncooperative_close,
              {word(o.deal_id), tv(), amount(o.amount), small(static_cast<uint8_t>(o.reason))});
        } else if constexpr (std::is_same_v<T, L::Settle>) {
          return make(cz, f.settle, {word(o.deal_id), tv()});
        } else if constexpr (std::is_same_v<T, L::Rate>) {
          return make(cz, f.rate, {word(o.deal_id), tv(), small(o.score)});
        } else {
          if constexpr (std::is_same_v<T, L::Batch>) {
            return fail(CoreErrc::invalid_argument, "a batch's call needs its terms as a span");
          } else {
            static_assert(std::is_same_v<T, L::RecordUsage>);
            return make(cz, f.record_usage,
                        {word(o.deal_id), tv(), u(o.count), word(o.root),
                         sig_value(o.requester_signature)});
          }
        }
      },
      op);
}

}  // namespace ipsx::eth::ipsx_abi
