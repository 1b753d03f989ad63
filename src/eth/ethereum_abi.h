// The IPSX contracts' functions and events as the C++ side calls and reads them (the ABIs of
// contracts/IPSXToken.sol and contracts/Centralizer.sol, written out). Parsed once; immutable.
#pragma once

#include <span>

#include "eth/abi.h"
#include "ledger/ledger.h"
#include "vocab/orders.h"

namespace ipsx::eth::ipsx_abi {

struct Functions {
  // IPSXToken
  abi::Function transfer, approve, transfer_from, buy, finalize_sale, claim_unsold, refund;
  abi::Function total_supply, balance_of, allowance, bought, sale;
  // Centralizer
  abi::Function deposit, withdraw, cancel_order, open_deal, claim, close_deal, cooperative_close,
      uncooperative_close, settle, rate, record_usage, batch;
  abi::Function wallet, deal, rating, supply, order_cancelled, usage;
};
struct Events {
  abi::Event transfer, approval, purchase, sale_finalized, unsold_claimed, refunded;
  abi::Event deposit, withdrawal, order_cancelled, deal_opened, claimed, deal_closing, deal_closed,
      rated, usage_recorded;
};

const Functions& functions();
const Events& events();

// An order as the contracts' Offer / Request tuple.
abi::Value offer_value(const Offer& o);
abi::Value request_value(const Request& r);
// A bytes32 argument.
abi::Value word(const Hash& h);

// A deal's fixed terms, the Centralizer's DealTerms tuple. The contract keeps only their hash (the
// deal's commitment, one storage slot) and every call about the deal carries them, checked
// against it; the deal's DealOpened event has them all.
struct DealTerms {
  Hash offer_hash;
  Hash request_hash;
  uint64_t fill = 0;  // the request's fill-th deal: its id is deal_id_for(offer, request, fill)
  Address provider;
  Address requester;
  Address market;
  uint16_t fee_bps = 0;
  uint64_t start = 0;     // unix seconds
  uint64_t duration = 0;  // seconds
  U256 price_per_second;
  friend bool operator==(const DealTerms&, const DealTerms&) = default;
};
abi::Value terms_value(const DealTerms& t);
Result<DealTerms> terms_from(const abi::Value& v);
// keccak256(abi.encode(terms)): what the contract keeps of the deal.
Hash commitment(const DealTerms& t);
// The deal's id, deal_id_for(offer_hash, request_hash, fill).
Hash deal_id(const DealTerms& t);
// The terms a call's data carries: a deal operation's (its second argument, after the deal id),
// or each of a batch's deal operations' in order; none for the others.
Result<std::vector<DealTerms>> terms_in_call(ByteView data);

// One ledger operation as the contract call that performs it: the contract (the token's
// functions go to `token`, the rest to `centralizer`), the ether sent and the call data.
struct ContractCall {
  Address to;
  U256 value;
  Bytes data;
};
// The operations on a deal (claim, the closes, settle, rate, recordUsage) carry the deal's terms
// after its id: `terms` must be given for them (all zero for a deal the chain does not have: the
// call then fails as the contract's UnknownDeal).
Result<ContractCall> ledger_call(const Address& token, const Address& centralizer,
                                 const ledger::Op& op, const DealTerms* terms = nullptr);
// The same for any operation: `terms` holds the terms of each deal deals_operated(op) names, in
// that order (a batch is one call of the Centralizer's batch(bytes[]) with each operation's call).
Result<ContractCall> ledger_call(const Address& token, const Address& centralizer,
                                 const ledger::Op& op, std::span<const DealTerms> terms);
// Every deal whose terms the operation's call carries, in order: ledger::deal_of(op)'s (claim,
// the closes, settle, rate, recordUsage), or each of a batch's operations'.
std::vector<Hash> deals_operated(const ledger::Op& op);
// The terms in a decoded DealOpened event (its values in the event's order).
DealTerms terms_of_opened(const std::vector<abi::Value>& event);

}  // namespace ipsx::eth::ipsx_abi
