// The node's answers (docs/api.md) told in lines for people: what the client commands of
// client_commands.cc print without --json. Each writes to standard output; a field an answer
// lacks prints as empty (an answer that is not an object may throw nlohmann::json::exception).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ipsx::cli {

// The value at the JSON pointer `pointer` ("/wallet/balance") as text; "" if absent or null.
std::string text(const nlohmann::json& j, const std::string& pointer);

void show_account(const nlohmann::json& account);  // GET /v1/ledger/accounts/{address}
void show_sale(const nlohmann::json& sale);        // GET /v1/ledger/sale
void show_orders(const nlohmann::json& answer);    // GET /v1/orders
void show_deals(const nlohmann::json& answer);     // GET /v1/deals
void show_deal(const nlohmann::json& deal);        // GET /v1/deals/{deal}
void show_depth(const nlohmann::json& depth);      // GET /v1/market/depth
void show_trades(const nlohmann::json& trades);    // GET /v1/market/trades
void show_placed(const nlohmann::json& placed);    // POST /v1/orders
void show_receipt(const nlohmann::json& receipt);  // POST /v1/ledger/transactions

}  // namespace ipsx::cli
