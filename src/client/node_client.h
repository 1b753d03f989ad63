// The SDK's client of an IPSX node's HTTP API (docs/api.md): what `ipsx` commands, providers,
// gateways and other programs use to talk to a node. It sends JSON and returns JSON; the node's
// error answers become Errors whose code is the API's stable code (SdkErrc) and whose message
// carries the node's message and the offending field.
//
//   auto node = sdk::NodeClient::connect("http://127.0.0.1:8080").value();
//   auto placed = node->place_order(sdk::Signer(key, domain).offer(o));
//   if (!placed && placed.error().code() == sdk::SdkErrc::bad_signature) ...
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>

#include "core/clock.h"
#include "core/error.h"

namespace ipsx::http {
class HttpClient;
}

namespace ipsx::sdk {

// The API's error codes (docs/api.md "Errors"), plus the client's own.
enum class SdkErrc {
  malformed_json = 1,
  invalid_field,
  bad_request,
  not_found,
  method_not_allowed,
  payload_too_large,
  headers_too_large,
  invalid_order,
  bad_signature,
  duplicate_order,
  rate_limited,
  storage_unavailable,
  internal,
  unknown_deal,
  bad_nonce,
  insufficient_funds,
  not_a_party,
  deal_state,
  bad_balance_proof,
  already_rated,
  other_api_error,  // a code this SDK does not know (a newer node): see the message
  bad_response,     // the node's answer is not the JSON the API documents
  // Added later, so that the values above keep their numbers.
  bad_rating,
  bad_sequence,
  bad_time,
  bad_transition,
  challenge_period,
  deal_closed,
  ledger_unavailable,
  not_owner,
  rejected,
  unknown_order,
  wrong_chain,
  wrong_deal,
  wrong_party,
};

const std::error_category& sdk_category();
inline std::error_code make_error_code(SdkErrc e) {
  return {static_cast<int>(e), sdk_category()};
}

// The SdkErrc for an API error code string; other_api_error if unknown.
SdkErrc sdk_errc_from_api_code(std::string_view code);

struct ClientOptions {
  Millis timeout{10'000};         // each request, connect to whole answer
  size_t max_answer = 16u << 20;  // bytes
  // https:// nodes: the CA certificates (PEM) to trust; empty: the process default
  // (http::set_default_ca_file, `ipsx --ca-file`) or the system's.
  std::string ca_file = {};
};

class NodeClient {
 public:
  // `url` is the node's base, http://host:port or https://host[:port]. Nothing connects until
  // the first call. Fails only on a malformed URL (http::HttpErrc::bad_url).
  static Result<std::unique_ptr<NodeClient>> connect(std::string_view url,
                                                     ClientOptions options = {});
  ~NodeClient();

  // GET /v1/health: {"status":"ok","market":"0x..."}.
  Result<nlohmann::json> health();
  // POST /v1/orders with a signed offer or request (Signer::offer / Signer::request): the answer
  // with `accepted`, the book `id`, the `deals` opened and the fills the ledger refused. A signed
  // order is the same order however often it is sent (the node keys it by its hash), so a
  // placement whose connection broke before the answer is sent again; if the node had taken it
  // the first time (its answer is then duplicate_order), the answer is rebuilt from the order as
  // the node holds it (GET /v1/orders/{hash}): `deals` as {"id"} objects, `refused` empty and
  // `"resent": true`.
  Result<nlohmann::json> place_order(const nlohmann::json& signed_order);
  // The same for many orders, 100 to a request ({"orders": [...]}, one journal sync for each
  // request at most): one answer per order, in order, each what place_order would have given
  // (an error with the API's code for a refused one). A request whose connection broke is sent
  // again; an order the node had taken the first time is answered as place_order rebuilds it.
  // The whole call fails only when a request gets no answer at all.
  Result<std::vector<Result<nlohmann::json>>> place_orders(
      const std::vector<nlohmann::json>& signed_orders);
  // GET /v1/market/depth for a country (ISO code), optionally one IP type, `levels` price levels.
  Result<nlohmann::json> depth(std::string_view country, std::string_view type = {},
                               unsigned levels = 10);
  // GET /v1/ledger/blocks/latest.
  Result<nlohmann::json> latest_block();

  // Any route: GET or POST `target` ("/v1/..."), a JSON answer. A 2xx answer is its JSON body;
  // an error answer is an Error with the API's code (with Retry-After in the message for 429).
  // Transport failures keep src/http's codes (HttpErrc::unavailable, timeout, too_large).
  Result<nlohmann::json> get(std::string_view target);
  Result<nlohmann::json> post(std::string_view target, const nlohmann::json& body);
  Result<nlohmann::json> call(std::string_view method, std::string_view target,
                              std::string_view body);

  std::string endpoint() const;

 private:
  NodeClient(std::unique_ptr<http::HttpClient> http, ClientOptions options);
  // call() with the choice of resending after a broken kept-alive connection; `*resent` tells
  // whether it was.
  Result<nlohmann::json> placed_before(const nlohmann::json& signed_order,
                                       const Result<nlohmann::json>& refused);
  Result<nlohmann::json> exchange(std::string_view method, std::string_view target,
                                  std::string_view body, bool resendable, bool* resent);
  std::unique_ptr<http::HttpClient> http_;
  ClientOptions options_;
};

// Percent-encodes a query parameter's value (RFC 3986 unreserved characters stay as they are).
std::string url_encode(std::string_view value);

}  // namespace ipsx::sdk

template <>
struct std::is_error_code_enum<ipsx::sdk::SdkErrc> : std::true_type {};
