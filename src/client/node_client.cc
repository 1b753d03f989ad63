#include "client/node_client.h"

#include <fmt/format.h>

#include <array>
#include <optional>
#include <utility>

#include "http/http_client.h"
#include "ledger/tx_codec.h"

namespace ipsx::sdk {
namespace {

struct CodeName {
  SdkErrc code;
  std::string_view name;
};
constexpr std::array kCodes{
    CodeName{SdkErrc::malformed_json, "malformed_json"},
    CodeName{SdkErrc::invalid_field, "invalid_field"},
    CodeName{SdkErrc::bad_request, "bad_request"},
    CodeName{SdkErrc::not_found, "not_found"},
    CodeName{SdkErrc::method_not_allowed, "method_not_allowed"},
    CodeName{SdkErrc::payload_too_large, "payload_too_large"},
    CodeName{SdkErrc::headers_too_large, "headers_too_large"},
    CodeName{SdkErrc::invalid_order, "invalid_order"},
    CodeName{SdkErrc::bad_signature, "bad_signature"},
    CodeName{SdkErrc::duplicate_order, "duplicate_order"},
    CodeName{SdkErrc::rate_limited, "rate_limited"},
    CodeName{SdkErrc::storage_unavailable, "storage_unavailable"},
    CodeName{SdkErrc::internal, "internal"},
    CodeName{SdkErrc::unknown_deal, "unknown_deal"},
    CodeName{SdkErrc::bad_nonce, "bad_nonce"},
    CodeName{SdkErrc::insufficient_funds, "insufficient_funds"},
    CodeName{SdkErrc::not_a_party, "not_a_party"},
    CodeName{SdkErrc::deal_state, "deal_state"},
    CodeName{SdkErrc::bad_balance_proof, "bad_balance_proof"},
    CodeName{SdkErrc::already_rated, "already_rated"},
    CodeName{SdkErrc::other_api_error, "other_api_error"},
    CodeName{SdkErrc::bad_response, "bad_response"},
    CodeName{SdkErrc::bad_rating, "bad_rating"},
    CodeName{SdkErrc::bad_sequence, "bad_sequence"},
    CodeName{SdkErrc::bad_time, "bad_time"},
    CodeName{SdkErrc::bad_transition, "bad_transition"},
    CodeName{SdkErrc::challenge_period, "challenge_period"},
    CodeName{SdkErrc::deal_closed, "deal_closed"},
    CodeName{SdkErrc::ledger_unavailable, "ledger_unavailable"},
    CodeName{SdkErrc::not_owner, "not_owner"},
    CodeName{SdkErrc::rejected, "rejected"},
    CodeName{SdkErrc::unknown_order, "unknown_order"},
    CodeName{SdkErrc::wrong_chain, "wrong_chain"},
    CodeName{SdkErrc::wrong_deal, "wrong_deal"},
    CodeName{SdkErrc::wrong_party, "wrong_party"},
};

class SdkCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.sdk"; }
  std::string message(int c) const override {
    for (const auto& [code, name] : kCodes)
      if (static_cast<int>(code) == c) return std::string(name);
    return "unknown SDK error";
  }
};

}  // namespace

const std::error_category& sdk_category() {
  static const SdkCategory category;
  return category;
}

SdkErrc sdk_errc_from_api_code(std::string_view code) {
  for (const auto& [c, name] : kCodes)
    if (name == code && c != SdkErrc::bad_response) return c;
  return SdkErrc::other_api_error;
}

std::string url_encode(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

NodeClient::NodeClient(std::unique_ptr<http::HttpClient> http, ClientOptions options)
    : http_(std::move(http)), options_(options) {}

NodeClient::~NodeClient() = default;

Result<std::unique_ptr<NodeClient>> NodeClient::connect(std::string_view url,
                                                        ClientOptions options) {
  auto http = http::HttpClient::create(url, options.max_answer, options.ca_file);
  if (!http) return std::unexpected(http.error());
  return std::unique_ptr<NodeClient>(new NodeClient(std::move(*http), options));
}

std::string NodeClient::endpoint() const {
  return http_->endpoint();
}

Result<nlohmann::json> NodeClient::call(std::string_view method, std::string_view target,
                                        std::string_view body) {
  // Only reads are resent after a lost connection by default: what a write did on the node when
  // its answer was lost is for the caller to find out (place_order does).
  bool resent = false;
  return exchange(method, target, body, method == "GET" || method == "HEAD", &resent);
}

Result<nlohmann::json> NodeClient::exchange(std::string_view method, std::string_view target,
                                            std::string_view body, bool resendable, bool* resent) {
  auto reply =
      http_->request(method, target, body, "application/json", options_.timeout, resendable);
  if (!reply) return std::unexpected(reply.error());
  *resent = reply->resent;
  std::string where = fmt::format("{} {}", method, target);
  nlohmann::json doc = nlohmann::json::parse(reply->body, nullptr, false);
  if (reply->status >= 200 && reply->status < 300) {
    if (doc.is_discarded())
      return fail(SdkErrc::bad_response, fmt::format("{}: HTTP {} answer is not JSON: {}", where,
                                                     reply->status, quoted(reply->body, 120)));
    return doc;
  }
  // An error answer: {"error":{"code","message","field"}}.
  const nlohmann::json* err = nullptr;
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) err = &doc["error"];
  if (!err || !err->contains("code") || !(*err)["code"].is_string()) {
    return fail(SdkErrc::bad_response, fmt::format("{}: HTTP {} without an API error: {}", where,
                                                   reply->status, quoted(reply->body, 120)));
  }
  std::string code = (*err)["code"].get<std::string>();
  std::string message = err->value("message", "");
  std::string text = fmt::format("{}: HTTP {} {}: {}", where, reply->status, code, message);
  std::string field;
  if (err->contains("field") && (*err)["field"].is_string()) {
    field = (*err)["field"].get<std::string>();
    text += fmt::format(" (field {})", field);
  }
  if (!reply->retry_after.empty()) text += fmt::format(" (retry after {} s)", reply->retry_after);
  // The API's field travels on as the error's own (Error::field).
  return std::unexpected(
      Error(make_error_code(sdk_errc_from_api_code(code)), std::move(text), std::move(field)));
}

Result<nlohmann::json> NodeClient::get(std::string_view target) {
  return call("GET", target, {});
}

Result<nlohmann::json> NodeClient::post(std::string_view target, const nlohmann::json& body) {
  return call("POST", target, body.dump());
}

Result<nlohmann::json> NodeClient::health() {
  return get("/v1/health");
}

namespace {

// The EIP-712 hash of a signed order's offer or request, by which the node knows it.
std::optional<Hash> order_hash(const nlohmann::json& signed_order) {
  if (!signed_order.is_object()) return std::nullopt;
  if (auto o = signed_order.find("offer"); o != signed_order.end()) {
    if (auto offer = ledger::offer_from_json(*o)) return offer->struct_hash();
  } else if (auto r = signed_order.find("request"); r != signed_order.end()) {
    if (auto request = ledger::request_from_json(*r)) return request->struct_hash();
  }
  return std::nullopt;
}

}  // namespace

Result<nlohmann::json> NodeClient::place_order(const nlohmann::json& signed_order) {
  bool resent = false;
  auto placed = exchange("POST", "/v1/orders", signed_order.dump(), true, &resent);
  if (placed || !resent || placed.error().code() != make_error_code(SdkErrc::duplicate_order))
    return placed;
  return placed_before(signed_order, placed);
}

Result<std::vector<Result<nlohmann::json>>> NodeClient::place_orders(
    const std::vector<nlohmann::json>& signed_orders) {
  constexpr size_t kBatch = 100;  // the node's largest batch
  std::vector<Result<nlohmann::json>> out;
  out.reserve(signed_orders.size());
  for (size_t at = 0; at < signed_orders.size(); at += kBatch) {
    size_t n = std::min(kBatch, signed_orders.size() - at);
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = at; i < at + n; ++i) list.push_back(signed_orders[i]);
    bool resent = false;
    auto answer =
        exchange("POST", "/v1/orders", nlohmann::json{{"orders", list}}.dump(), true, &resent);
    if (!answer) return std::unexpected(answer.error());
    const nlohmann::json* results = answer->is_object() ? &(*answer)["results"] : nullptr;
    if (!results || !results->is_array() || results->size() != n) {
      return fail(SdkErrc::bad_response,
                  fmt::format("POST /v1/orders: a batch of {} answered without {} results", n, n));
    }
    for (size_t k = 0; k < n; ++k) {
      const nlohmann::json& r = (*results)[k];
      if (r.value("status", 0) / 100 == 2) {
        out.push_back(r);
        continue;
      }
      // An error result: as exchange() words an error answer.
      const nlohmann::json& err = r.contains("error") ? r["error"] : nlohmann::json::object();
      std::string code = err.value("code", "internal");
      std::string text = fmt::format("POST /v1/orders: order {} of the batch: {} {}: {}", at + k,
                                     r.value("status", 0), code, err.value("message", ""));
      Result<nlohmann::json> e = std::unexpected(
          Error(make_error_code(sdk_errc_from_api_code(code)), text, err.value("field", "")));
      if (resent && code == "duplicate_order") e = placed_before(signed_orders[at + k], e);
      out.push_back(std::move(e));
    }
  }
  return out;
}

// The answer to an order the node took on a first attempt whose connection broke before the
// answer (the resend is then refused as duplicate_order), rebuilt from the order as the node
// holds it; `refused` if it cannot be.
Result<nlohmann::json> NodeClient::placed_before(const nlohmann::json& signed_order,
                                                 const Result<nlohmann::json>& refused) {
  auto hash = order_hash(signed_order);
  if (!hash) return refused;
  auto order = get("/v1/orders/" + hash->hex());
  if (!order) return std::unexpected(order.error());
  nlohmann::json deals = nlohmann::json::array();
  if (auto d = order->find("deals"); d != order->end() && d->is_array()) {
    for (const auto& id : *d) deals.push_back({{"id", id}});
  }
  return nlohmann::json{{"accepted", true},
                        {"kind", order->value("kind", "")},
                        {"id", order->value("id", nlohmann::json())},
                        {"hash", hash->hex()},
                        {"deals", std::move(deals)},
                        {"refused", nlohmann::json::array()},
                        {"resent", true}};
}

Result<nlohmann::json> NodeClient::depth(std::string_view country, std::string_view type,
                                         unsigned levels) {
  std::string target =
      fmt::format("/v1/market/depth?country={}&levels={}", url_encode(country), levels);
  if (!type.empty()) target += "&type=" + url_encode(type);
  return get(target);
}

Result<nlohmann::json> NodeClient::latest_block() {
  return get("/v1/ledger/blocks/latest");
}

}  // namespace ipsx::sdk
