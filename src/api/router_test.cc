#include "api/router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace ipsx::api {
namespace {

using json = nlohmann::json;

Router make_router() {
  Router r;
  r.add("GET", "/v1/health", [](const HttpRequest&) { return json_response(200, {{"ok", 1}}); });
  r.add("POST", "/v1/echo", [](const HttpRequest& req) {
    auto body = parse_json_object(req.body);
    if (!body) return error_response(body.error());
    return json_response(201, *body);
  });
  r.add("GET", "/v1/query", [](const HttpRequest& req) {
    json j = json::object();
    for (const auto& [k, v] : req.query()) j[k] = v;
    return json_response(200, j);
  });
  r.add("GET", "/v1/throws",
        [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("bug"); });
  return r;
}

json body_of(const HttpResponse& r) {
  return json::parse(r.body);
}

TEST(RouterTest, RoutesByExactPathAndMethod) {
  Router r = make_router();
  HttpResponse res = r.dispatch({"GET", "/v1/health", ""});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_EQ(body_of(res)["ok"], 1);
}

TEST(RouterTest, UnknownPathIs404WithJsonError) {
  HttpResponse res = make_router().dispatch({"GET", "/v1/nope", ""});
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(body_of(res)["error"]["code"], "not_found");
}

TEST(RouterTest, KnownPathWrongMethodIs405WithAllow) {
  HttpResponse res = make_router().dispatch({"DELETE", "/v1/health", ""});
  EXPECT_EQ(res.status, 405);
  EXPECT_EQ(body_of(res)["error"]["code"], "method_not_allowed");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "Allow");
  EXPECT_EQ(res.headers[0].second, "GET");
}

TEST(RouterTest, QueryStringIsNotPartOfThePath) {
  HttpResponse res = make_router().dispatch({"GET", "/v1/query?country=DE&levels=5&flag", ""});
  EXPECT_EQ(res.status, 200);
  json j = body_of(res);
  EXPECT_EQ(j["country"], "DE");
  EXPECT_EQ(j["levels"], "5");
  EXPECT_EQ(j["flag"], "");
}

TEST(RouterTest, MalformedJsonIs400MalformedJson) {
  HttpResponse res = make_router().dispatch({"POST", "/v1/echo", "{\"a\": "});
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(body_of(res)["error"]["code"], "malformed_json");
}

TEST(RouterTest, JsonThatIsNotAnObjectIs400InvalidField) {
  HttpResponse res = make_router().dispatch({"POST", "/v1/echo", "[1, 2]"});
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(body_of(res)["error"]["code"], "invalid_field");
  res = make_router().dispatch({"POST", "/v1/echo", "{\"a\": [1]}"});
  EXPECT_EQ(res.status, 201);
}

TEST(RouterTest, AHandlerExceptionIs500Internal) {
  HttpResponse res = make_router().dispatch({"GET", "/v1/throws", ""});
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(body_of(res)["error"]["code"], "internal");
}

TEST(RouterTest, PathParametersMatchOneSegmentAndLiteralsWin) {
  Router r;
  auto echo = [](const std::string& tag) {
    return [tag](const HttpRequest& req) {
      json j = {{"tag", tag}};
      for (const auto& [k, v] : req.params) j[k] = v;
      return json_response(200, j);
    };
  };
  r.add("GET", "/v1/blocks/{number}", echo("param"));
  r.add("GET", "/v1/blocks/latest", echo("literal"));
  r.add("POST", "/v1/orders/{order}/cancel", echo("cancel"));
  EXPECT_EQ(body_of(r.dispatch({"GET", "/v1/blocks/7", ""}))["number"], "7");
  EXPECT_EQ(body_of(r.dispatch({"GET", "/v1/blocks/latest", ""}))["tag"], "literal");
  json c = body_of(r.dispatch({"POST", "/v1/orders/0xab/cancel?x=1", ""}));
  EXPECT_EQ(c["tag"], "cancel");
  EXPECT_EQ(c["order"], "0xab");
  EXPECT_EQ(r.dispatch({"GET", "/v1/orders/0xab/cancel", ""}).status, 405);
  EXPECT_EQ(r.dispatch({"GET", "/v1/orders/0xab", ""}).status, 404);
  EXPECT_EQ(r.dispatch({"GET", "/v1/blocks/1/2", ""}).status, 404);
  auto routes = r.routes();
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0], (std::pair<std::string, std::string>{"GET", "/v1/blocks/latest"}));
}

TEST(RouterTest, TheGuardMayAnswerAndTheObserverSeesEveryAnswer) {
  Router r = make_router();
  std::vector<std::string> seen;
  r.set_guard([](const HttpRequest& req, const std::string& route) -> std::optional<HttpResponse> {
    if (req.remote == "10.0.0.9") return json_response(429, {{"route", route}});
    return std::nullopt;
  });
  r.set_observer([&](const HttpRequest&, const std::string& route, const HttpResponse& res,
                     std::chrono::nanoseconds took) {
    EXPECT_GE(took.count(), 0);
    seen.push_back(route + " " + std::to_string(res.status));
  });
  EXPECT_EQ(r.dispatch({"GET", "/v1/health", "", "10.0.0.9", {}}).status, 429);
  EXPECT_EQ(r.dispatch({"GET", "/v1/health", "", "10.0.0.1", {}}).status, 200);
  EXPECT_EQ(r.dispatch({"GET", "/v1/none", "", "10.0.0.9", {}}).status, 404);
  std::vector<std::string> want = {"/v1/health 429", "/v1/health 200", " 404"};
  EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace ipsx::api
