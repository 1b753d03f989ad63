#include "api/web_routes.h"

#include <gtest/gtest.h>

#include "web/web_assets.h"

namespace ipsx::api {
namespace {

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "";
}

TEST(WebRoutes, AcceptEncodingIsReadAsRfc9110Says) {
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.000, *"));  // gzip named and refused: * does not bring it
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("gzipper"));
}

TEST(WebRoutes, ThePageAndItsAssetsWithCompressionCachingAndPolicy) {
  Router router;
  add_web_routes(router, "market");
  HttpRequest get{"GET", "/", ""};
  HttpResponse page = router.dispatch(get);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/assets/market.js"), std::string::npos);  // not compressed: not asked
  EXPECT_EQ(header(page, "Content-Encoding"), "");
  EXPECT_NE(header(page, "Content-Security-Policy").find("connect-src 'self'"), std::string::npos);

  HttpRequest js{"GET", "/assets/market.js", ""};
  js.headers = {{"accept-encoding", "gzip, br"}};
  HttpResponse r = router.dispatch(js);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "Content-Encoding"), "gzip");
  const web::WebAsset* a = web::find_web_asset("/assets/market.js");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(r.body, a->gzip);
  EXPECT_LT(a->gzip.size(), a->body.size());
  EXPECT_EQ(static_cast<unsigned char>(r.body[0]), 0x1f);  // the gzip magic
  EXPECT_EQ(header(r, "Vary"), "Accept-Encoding");

  js.headers.emplace_back("if-none-match", header(r, "ETag"));
  HttpResponse again = router.dispatch(js);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  // The plain body is another representation: the compressed one's ETag does not match it.
  HttpRequest plain{"GET", "/assets/market.js", ""};
  plain.headers = {{"if-none-match", header(r, "ETag")}};
  HttpResponse whole = router.dispatch(plain);
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, a->body);
  EXPECT_NE(header(whole, "ETag"), header(r, "ETag"));

  HttpResponse missing = router.dispatch({"GET", "/assets/nothing.js", ""});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(router.dispatch({"GET", "/assets/..%2fmarket.html", ""}).status, 404);
}

TEST(WebRoutes, APageTheProgramDoesNotHaveIsA404NotACrash) {
  Router router;
  add_web_routes(router, "nonesuch");
  EXPECT_EQ(router.dispatch({"GET", "/", ""}).status, 404);
}

}  // namespace
}  // namespace ipsx::api
