// The API's errors: what a client sees when a request fails. Every failure is a JSON body
//   {"error": {"code": "...", "message": "...", "field": "..."}}
// with a stable machine-readable `code` (listed in docs/api/openapi.yaml), an HTTP status that
// fits it, a human-readable message, and, when one input is at fault, the JSON path of that input
// (`field`, e.g. "offer.market"; empty otherwise and then left out of the body).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace ipsx::api {

struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
  std::string field;

  nlohmann::json to_json() const;

  // The fixed set of failures the HTTP layer itself reports.
  static ApiError malformed_json(std::string message);
  static ApiError invalid_field(std::string field, std::string message);
  static ApiError not_found(const std::string& path);
  static ApiError method_not_allowed(const std::string& method, const std::string& path);
  static ApiError payload_too_large(size_t limit);
  static ApiError bad_request(std::string message);
  static ApiError internal(std::string message);
  // 429: over a rate limit (the answer carries Retry-After).
  static ApiError rate_limited(std::string message);
  // 404 for a resource named in the path: `code` e.g. "unknown_order", `field` the parameter.
  static ApiError unknown(std::string code, std::string field, std::string message);
};

// Maps an error from the layers below (ledger, market, core) to its API error: the status and
// stable code by the error's category and value, the field from the message when it starts with
// a JSON path followed by ": " (the convention of the ledger's and the market's errors).
ApiError from_error(const Error& e);

}  // namespace ipsx::api
