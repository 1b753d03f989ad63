#include "api/router.h"

#include <fmt/format.h>

#include <exception>

namespace ipsx::api {

std::string HttpRequest::path() const {
  return target.substr(0, target.find('?'));
}

std::map<std::string, std::string> HttpRequest::query() const {
  std::map<std::string, std::string> out;
  size_t q = target.find('?');
  if (q == std::string::npos) return out;
  std::string_view rest(target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view item = rest.substr(0, amp);
    size_t eq = item.find('=');
    if (!item.empty()) {
      out[std::string(item.substr(0, eq))] =
          eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

HttpResponse error_response(const ApiError& e) {
  return json_response(e.status, e.to_json());
}

void Router::add(const std::string& method, const std::string& path, Handler handler) {
  routes_[path][method] = std::move(handler);
}

HttpResponse Router::dispatch(const HttpRequest& request) const {
  const std::string path = request.path();
  auto p = routes_.find(path);
  if (p == routes_.end()) return error_response(ApiError::not_found(path));
  auto m = p->second.find(request.method);
  if (m == p->second.end()) {
    HttpResponse r = error_response(ApiError::method_not_allowed(request.method, path));
    std::string allow;
    for (const auto& [method, _] : p->second) allow += (allow.empty() ? "" : ", ") + method;
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  try {
    return m->second(request);
  } catch (const std::exception& e) {
    return error_response(ApiError::internal(e.what()));
  }
}

std::expected<nlohmann::json, ApiError> parse_json_object(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::unexpected(ApiError::malformed_json("the body is not JSON"));
  if (!j.is_object())
    return std::unexpected(ApiError::invalid_field("", "the body must be a JSON object"));
  return j;
}

}  // namespace ipsx::api
