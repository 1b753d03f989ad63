// The agents' consoles in a browser (docs/web.md): `ipsx gateway --ui HOST:PORT` (the
// requester's) and `ipsx provide --ui HOST:PORT` (the provider's) serve their page, its files and
// a JSON API for it on a port of their own, behind a password.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/event_stream.h"
#include "api/router.h"
#include "http/http_client.h"
#include "net/asio.h"

namespace ipsx::cli {

// Every request to `router` must carry HTTP Basic credentials whose password is `password` (any
// user name; compared in constant time): else 401 with a WWW-Authenticate challenge for `realm`,
// which makes a browser ask. A request that changes something (any method but GET) must also
// come from the console's own page: a JSON body (Content-Type application/json, which a form on
// another site cannot send without a preflight this server never answers) and, when the
// browser says where it comes from (Sec-Fetch-Site, Origin), from the same origin. A browser
// attaches remembered Basic credentials to any site's requests to this port: these checks are
// what keeps another page the user visits from using them.
void add_console_guard(api::Router& router, std::string password, std::string realm);

// The same door for the console's WebSocket (ServerOptions::upgrade_guard): the password, and
// an Origin, when the browser sends one (it always does), the console's own.
std::function<std::optional<api::HttpResponse>(const api::HttpRequest&)> console_upgrade_guard(
    std::string password, std::string realm);

// A console's server: on `at`, behind the password (add_console_guard, console_upgrade_guard;
// `realm` "IPSX <role> console"), the web app's `page` at / and its files, the routes `routes`
// adds, and the live stream `events` at /v1/events, `tick` called every second on the server's
// thread (to publish to it).
std::unique_ptr<class AgentEndpoint> serve_console(const net::tcp::endpoint& at,
                                                   const std::string& page,
                                                   const std::string& password,
                                                   api::EventStream& events,
                                                   std::function<void()> tick,
                                                   const std::function<void(api::Router&)>& routes);

// The console's JSON answers.
api::HttpResponse console_json(int status, const nlohmann::json& body);

// A GET of the node's, answered as the node answered it (502 node_unreachable if it did not):
// what the console's page reads of the node through its own port.
api::HttpResponse forward_get(http::HttpClient& node, const std::string& target);

// Calls `f` every `every` on a thread of its own, until destroyed (which waits for a call under
// way).
class Ticker {
 public:
  Ticker(std::chrono::seconds every, std::function<void()> f);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ipsx::cli
