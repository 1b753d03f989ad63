#include "eth/ethereum_abi.h"

#include <cstdlib>

namespace ipsx::eth::ipsx_abi {
namespace {

constexpr const char* kOffer =
    "(address,bytes16,bytes2,string,uint32,uint8,uint32,uint32,uint32,uint32,uint64,uint64,"
    "uint64,uint64,uint256,address,uint16,uint16,uint64,uint64)";
constexpr const char* kRequest =
    "(address,uint32,bytes2[],string,uint32,uint8,uint32,uint32,uint16,uint32,bool,bool,uint64,"
    "uint64,uint256,uint256,bool,address,uint16,uint64,uint64)";
constexpr const char* kDeal =
    "(address,uint16,uint64,uint8,uint8,address,uint64,bool,bool,address,uint64,bytes32,bytes32,"
    "uint256,uint256,uint256,uint256)";

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

abi::Value u(uint64_t v) {
  return abi::Value::uint(U256(v));
}
abi::Value fixed(const uint8_t* p, size_t n) {
  return abi::Value::bytes(Bytes(p, p + n));
}
abi::Value country(const ledger::CountryCode& c) {
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
      fn("totalSupply()(uint256)"),
      fn("balanceOf(address)(uint256)"),
      fn("allowance(address,address)(uint256)"),
      fn("bought(address)(uint256)"),
      fn("sale()(uint256,uint256,uint256,uint256,uint256,uint256,uint64,uint64,bool,address)"),
      fn("deposit(uint256)"),
      fn("withdraw(uint256)"),
      fn("cancelOrder(bytes32)"),
      fn(std::string("openDeal(") + kOffer + ",bytes," + kRequest + ",bytes,uint256)"),
      fn("claim(bytes32,uint256,bytes)"),
      fn("closeDeal(bytes32,uint256,bytes,uint8)"),
      fn("cooperativeClose(bytes32,uint256,bytes,bytes,uint8)"),
      fn("uncooperativeClose(bytes32,uint256,uint8)"),
      fn("settle(bytes32)"),
      fn("rate(bytes32,uint8)"),
      fn("wallet(address)(uint256,uint256)"),
      fn(std::string("deal(bytes32)(") + kDeal + ")"),
      fn("rating(address)(uint64,uint64)"),
      fn("supply()(uint256,uint256,uint256,uint256,uint256,uint256,bool)"),
      fn("orderCancelled(address,bytes32)(bool)"),
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
      ev("Deposit(address,uint256)", {true, false}),
      ev("Withdrawal(address,uint256)", {true, false}),
      ev("OrderCancelled(address,bytes32)", {true, true}),
      ev("DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64)",
         {true, true, true}),
      ev("Claimed(bytes32,uint256,uint256,uint256)", {true}),
      ev("DealClosing(bytes32,uint256,uint64,uint8)", {true}),
      ev("DealClosed(bytes32,uint8,uint8,uint256,uint256)", {true}),
      ev("Rated(bytes32,address,address,uint8)", {true, true, true}),
  };
  return e;
}

abi::Value offer_value(const ledger::Offer& o) {
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

abi::Value request_value(const ledger::Request& r) {
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

}  // namespace ipsx::eth::ipsx_abi
