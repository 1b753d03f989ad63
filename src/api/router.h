// The API's routing, free of any HTTP library: a request (method, path, query, body) in, a
// response (status, content type, body) out. A route's path is literal segments and `{name}`
// parameters, each matching one non-empty segment (`/v1/orders/{order}`); a literal segment wins
// over a parameter at the same place. A path that exists under another method answers 405 with an
// Allow header, any other 404, both as JSON errors. Handlers' exceptions become 500s.
//
// Two hooks around the handlers: a guard that may answer instead of the route (rate limits), and
// an observer that sees every answer with its route and duration (metrics). Not thread-safe to
// modify; dispatch() is const.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"

namespace ipsx::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string body;
  std::string remote = {};                         // the client's IP ("" when unknown)
  std::map<std::string, std::string> params = {};  // the route's `{name}` parameters (dispatch)
  // The few headers handlers read (the web pages' caching and compression, the consoles'
  // sign-in), names in lower case: accept-encoding, if-none-match, authorization, cookie,
  // origin, content-type, sec-fetch-site, host.
  std::vector<std::pair<std::string, std::string>> headers = {};

  // A header's value ("" when absent); `name` in lower case.
  std::string header(std::string_view name) const;

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

  // A response that comes later, for work that waits on another thread (a ledger transaction
  // waiting for its block): the server goes on answering other requests meanwhile. If set, the
  // fields above are ignored and the server calls `later` once with a `reply`; the work calls
  // reply(finish) exactly once, from any thread, and `finish` then runs where handlers run (the
  // server's thread) and gives the response to send.
  using Finish = std::function<HttpResponse()>;
  using Reply = std::function<void(Finish)>;
  std::function<void(Reply)> later;
};

// The response to `r` once it is complete: `r` itself, or for a later one, its finish() once the
// work replied, run on the calling thread (for callers without an event loop: tests).
HttpResponse wait_for(HttpResponse r);

HttpResponse json_response(int status, const nlohmann::json& body);
HttpResponse error_response(const ApiError& e);

class Router {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Runs before the route's handler (once the route is known: `route` is its path pattern, ""
  // for none); an answer it gives is sent instead of the handler's.
  using Guard =
      std::function<std::optional<HttpResponse>(const HttpRequest&, const std::string& route)>;
  // Sees every answer dispatch() gives: the route's pattern ("" for 404s), and the time taken
  // (for a later response, once it is finished, with the time until then).
  using Observer = std::function<void(const HttpRequest&, const std::string& route,
                                      const HttpResponse&, std::chrono::nanoseconds)>;

  // Adds a route; a later route for the same method and path replaces the earlier.
  void add(const std::string& method, const std::string& path, Handler handler);
  void set_guard(Guard guard) { guard_ = std::move(guard); }
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  // Runs the matching route's handler, or answers 404 / 405.
  HttpResponse dispatch(const HttpRequest& request) const;
  // Every (method, path pattern) served, sorted.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Route {
    std::string pattern;
    std::vector<std::string> segments;
    std::map<std::string, Handler> methods;
  };
  // The best route for `path` (literal segments before parameters, left to right), with its
  // parameters; nullptr if none matches.
  const Route* match(const std::string& path, std::map<std::string, std::string>* params) const;
  HttpResponse route(HttpRequest& request, std::string* pattern) const;

  std::vector<Route> routes_;
  Guard guard_;
  Observer observer_;
};

// Parses a request body as a JSON object: malformed_json (400) if it is not JSON,
// invalid_field (400) if it is not an object.
std::expected<nlohmann::json, ApiError> parse_json_object(const std::string& body);

}  // namespace ipsx::api
