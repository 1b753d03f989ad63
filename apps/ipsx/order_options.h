// The fields of an offer or a request as command-line options, shared by `ipsx order` (signs
// only) and `ipsx offer|request place` (signs and places at a node), and the names of a deal
// party and its status reports, shared by `ipsx order event` and `ipsx deal report`.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/address.h"
#include "ledger/orders.h"
#include "market/deal_protocol.h"

namespace ipsx::cli {

// Everything an offer or a request says besides its owner, market and commission.
struct OrderFields {
  uint64_t nonce = 0;  // 0: the current time in ms
  uint64_t expiry_seconds = 86'400;
  std::string protocols = "http,socks5";
  // offer
  std::string ip, country = "DE", type = "residential", scopes = "crawling,general", price;
  uint32_t capacity = 1, bandwidth = 10'000;
  uint64_t min_seconds = 5, max_seconds = 86'400;
  // request
  std::string countries, types, scope = "crawling", max_price, budget;
  uint32_t count = 1;
  uint64_t duration = 60;
  bool exclusive = false, aon = false, distinct = false;
};

// Registers the options both sides share (--nonce, --expiry-seconds, --protocols) and those of
// one side on `cmd`; `f` must outlive the parse.
void add_offer_options(CLI::App* cmd, OrderFields& f);
void add_request_options(CLI::App* cmd, OrderFields& f);

// The offer or request the options describe, for `market` at `fee_bps`, expiring
// --expiry-seconds from now. The owner (provider or requester) is left for the signer to fill.
// Throws CommandError naming the option at fault.
Offer make_offer(const OrderFields& f, const Address& market, uint16_t fee_bps);
Request make_request(const OrderFields& f, const Address& market, uint16_t fee_bps);

// "provider" or "requester"; "ready", "connected", "closed", "failed" or "unpaid". Throw
// CommandError naming `option` otherwise.
market::Party parse_party(const std::string& text, const char* option);
market::PartyState parse_party_state(const std::string& text, const char* option);

}  // namespace ipsx::cli
