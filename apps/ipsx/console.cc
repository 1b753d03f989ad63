#include "console.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "agent_metrics.h"
#include "api/web_routes.h"
#include "net/http_proxy.h"

namespace ipsx::cli {

namespace {

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

api::HttpResponse refuse(int status, std::string code, std::string message) {
  return api::error_response({status, std::move(code), std::move(message), ""});
}

}  // namespace

api::HttpResponse console_json(int status, const nlohmann::json& body) {
  api::HttpResponse r = api::json_response(status, body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

std::unique_ptr<AgentEndpoint> serve_console(const net::tcp::endpoint& at, const std::string& page,
                                             const std::string& password, api::EventStream& events,
                                             std::function<void()> tick,
                                             const std::function<void(api::Router&)>& routes) {
  const std::string realm = "IPSX " + page + " console";
  return std::make_unique<AgentEndpoint>(
      at,
      [&](api::Router& r) {
        add_console_guard(r, password, realm);
        api::add_web_routes(r, page);
        routes(r);
      },
      [&](api::ServerOptions& o) {
        o.events = &events;
        o.upgrade_guard = console_upgrade_guard(password, realm);
        o.on_tick = std::move(tick);
      });
}

api::HttpResponse forward_get(http::HttpClient& node, const std::string& target) {
  auto reply = node.request("GET", target);
  if (!reply)
    return api::error_response(
        {502, "node_unreachable", "the node: " + reply.error().message(), ""});
  api::HttpResponse res;
  res.status = static_cast<int>(reply->status);
  res.body = std::move(reply->body);
  return res;
}

Ticker::Ticker(std::chrono::seconds every, std::function<void()> f) {
  thread_ = std::thread([this, every, f = std::move(f)] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, every, [this] { return stopping_; })) {
      lock.unlock();
      f();
      lock.lock();
    }
  });
}

Ticker::~Ticker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::optional<api::HttpResponse> signed_in(const api::HttpRequest& req, const std::string& password,
                                           const std::string& realm) {
  auto creds = net::parse_basic_credentials(req.header("authorization"));
  if (creds && same(creds->password, password)) return std::nullopt;
  api::HttpResponse r = refuse(401, "unauthorized",
                               req.header("authorization").empty()
                                   ? "sign in with the console's password"
                                   : "wrong password (any user name, the console's password)");
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"" + realm + "\", charset=\"UTF-8\"");
  return r;
}

std::optional<api::HttpResponse> other_origin(const api::HttpRequest& req) {
  // An Origin, when sent, must be the console's own (the Host it was reached by).
  std::string origin = req.header("origin"), host = req.header("host");
  if (!origin.empty() && origin != "http://" + host && origin != "https://" + host)
    return refuse(403, "forbidden", "only the console's own page may do this");
  return std::nullopt;
}

void add_console_guard(api::Router& router, std::string password, std::string realm) {
  router.set_guard(
      [password = std::move(password), realm = std::move(realm)](
          const api::HttpRequest& req, const std::string&) -> std::optional<api::HttpResponse> {
        if (auto no = signed_in(req, password, realm)) return no;
        if (req.method == "GET") return std::nullopt;
        std::string type = req.header("content-type");
        if (type.substr(0, type.find(';')) != "application/json")
          return refuse(415, "unsupported_media_type", "a change is sent as application/json");
        std::string site = req.header("sec-fetch-site");
        if (!site.empty() && site != "same-origin" && site != "none")
          return refuse(403, "forbidden", "a change must come from the console's own page");
        return other_origin(req);
      });
}

std::function<std::optional<api::HttpResponse>(const api::HttpRequest&)> console_upgrade_guard(
    std::string password, std::string realm) {
  // A WebSocket is not held to the same-origin policy: any page could open one to this port and
  // read what it sends, were it not for the password and the origin checked here.
  return [password = std::move(password), realm = std::move(realm)](const api::HttpRequest& req) {
    if (auto no = signed_in(req, password, realm)) return no;
    return other_origin(req);
  };
}

}  // namespace ipsx::cli
