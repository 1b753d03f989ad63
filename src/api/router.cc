#include "api/router.h"

#include "core/json_strict.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <future>

namespace ipsx::api {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

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
  for (Route& r : routes_) {
    if (r.pattern == path) {
      r.methods[method] = std::move(handler);
      return;
    }
  }
  Route r;
  r.pattern = path;
  r.segments = split_path(path);
  r.methods[method] = std::move(handler);
  routes_.push_back(std::move(r));
}

const Router::Route* Router::match(const std::string& path,
                                   std::map<std::string, std::string>* params) const {
  const std::vector<std::string> parts = split_path(path);
  const Route* best = nullptr;
  for (const Route& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    bool ok = true;
    for (size_t i = 0; ok && i < parts.size(); ++i)
      ok = is_param(r.segments[i]) || r.segments[i] == parts[i];
    if (!ok) continue;
    if (best) {
      // The first segment where they differ decides: a literal beats a parameter.
      bool better = false;
      for (size_t i = 0; i < parts.size(); ++i) {
        bool a = is_param(r.segments[i]), b = is_param(best->segments[i]);
        if (a != b) {
          better = !a;
          break;
        }
      }
      if (!better) continue;
    }
    best = &r;
  }
  if (best && params) {
    params->clear();
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& s = best->segments[i];
      if (is_param(s)) (*params)[s.substr(1, s.size() - 2)] = parts[i];
    }
  }
  return best;
}

HttpResponse Router::route(HttpRequest& request, std::string* pattern) const {
  const std::string path = request.path();
  const Route* r = match(path, &request.params);
  if (!r) return error_response(ApiError::not_found(path));
  *pattern = r->pattern;
  if (guard_) {
    if (auto answer = guard_(request, r->pattern)) return *answer;
  }
  auto m = r->methods.find(request.method);
  if (m == r->methods.end()) {
    HttpResponse res = error_response(ApiError::method_not_allowed(request.method, path));
    std::string allow;
    for (const auto& [method, _] : r->methods) allow += (allow.empty() ? "" : ", ") + method;
    res.headers.emplace_back("Allow", allow);
    return res;
  }
  try {
    return m->second(request);
  } catch (const std::exception& e) {
    return error_response(ApiError::internal(e.what()));
  }
}

HttpResponse Router::dispatch(const HttpRequest& request) const {
  auto start = std::chrono::steady_clock::now();
  HttpRequest req = request;
  std::string pattern;
  HttpResponse res = route(req, &pattern);
  if (!observer_) return res;
  if (res.later) {
    // Observed when finished (the observer runs on the server's thread, as handlers do).
    res.later = [work = std::move(res.later), observer = observer_, req = std::move(req), pattern,
                 start](HttpResponse::Reply reply) {
      work([=](HttpResponse::Finish finish) {
        reply([=] {
          HttpResponse done = finish();
          observer(req, pattern, done, std::chrono::steady_clock::now() - start);
          return done;
        });
      });
    };
    return res;
  }
  observer_(req, pattern, res, std::chrono::steady_clock::now() - start);
  return res;
}

HttpResponse wait_for(HttpResponse r) {
  if (!r.later) return r;
  std::promise<HttpResponse::Finish> finished;
  r.later([&finished](HttpResponse::Finish f) { finished.set_value(std::move(f)); });
  return finished.get_future().get()();
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : routes_)
    for (const auto& [method, _] : r.methods) out.emplace_back(method, r.pattern);
  std::sort(out.begin(), out.end());
  return out;
}

std::expected<nlohmann::json, ApiError> parse_json_object(const std::string& body) {
  auto parsed = parse_json_strict(body);
  if (!parsed) {
    return std::unexpected(ApiError::malformed_json("the body is " + parsed.error().message()));
  }
  nlohmann::json j = std::move(*parsed);
  if (!j.is_object())
    return std::unexpected(ApiError::invalid_field("", "the body must be a JSON object"));
  return j;
}

}  // namespace ipsx::api
