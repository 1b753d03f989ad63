// The API's routing, free of any HTTP library: a request (method, path, query, body) in, a
// response (status, content type, body) out. Routes match the path exactly; a path that exists
// under another method answers 405 with an Allow header, any other 404, both as JSON errors.
// Handlers' exceptions become 500s. Not thread-safe to modify; dispatch() is const.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/api_error.h"

namespace ipsx::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string body;

  // The target's path (before '?') and its query parameters (not percent-decoded: the API's
  // parameters are plain words).
  std::string path() const;
  std::map<std::string, std::string> query() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (e.g. Allow)
};

HttpResponse json_response(int status, const nlohmann::json& body);
HttpResponse error_response(const ApiError& e);

class Router {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Adds a route; a later route for the same method and path replaces the earlier.
  void add(const std::string& method, const std::string& path, Handler handler);
  // Runs the matching route's handler, or answers 404 / 405.
  HttpResponse dispatch(const HttpRequest& request) const;

 private:
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
};

// Parses a request body as a JSON object: malformed_json (400) if it is not JSON,
// invalid_field (400) if it is not an object.
std::expected<nlohmann::json, ApiError> parse_json_object(const std::string& body);

}  // namespace ipsx::api
