// The IPSX contracts' functions and events as the C++ side calls and reads them (the ABIs of
// contracts/IPSXToken.sol and contracts/Centralizer.sol, written out). Parsed once; immutable.
#pragma once

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
      uncooperative_close, settle, rate, record_usage;
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

// One ledger operation as the contract call that performs it: the contract (the token's
// functions go to `token`, the rest to `centralizer`), the ether sent and the call data.
struct ContractCall {
  Address to;
  U256 value;
  Bytes data;
};
Result<ContractCall> ledger_call(const Address& token, const Address& centralizer,
                                 const ledger::Op& op);

}  // namespace ipsx::eth::ipsx_abi
