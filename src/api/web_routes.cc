#include "api/web_routes.h"

#include <cctype>

#include "web/web_assets.h"

namespace ipsx::api {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// q=0 (or 0.0, 0.00, 0.000) refuses the coding.
bool refused(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? "" : params.substr(semi + 1);
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string_view v = p.substr(2);
      return !v.empty() && v.find_first_not_of("0.") == std::string_view::npos;
    }
  }
  return false;
}

HttpResponse serve(const web::WebAsset& a, const HttpRequest& req, bool html) {
  // Each representation its own strong ETag (RFC 9110 §8.8.3): the compressed body's ends "-gz".
  const bool gzip = accepts_gzip(req.header("accept-encoding"));
  const std::string etag =
      gzip ? std::string(a.etag.substr(0, a.etag.size() - 1)) + "-gz\"" : std::string(a.etag);
  HttpResponse r;
  r.headers = {{"ETag", etag},
               {"Cache-Control", "no-cache"},
               {"Vary", "Accept-Encoding"},
               {"X-Content-Type-Options", "nosniff"}};
  if (html) {
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Frame-Options", "DENY");
  }
  r.content_type = std::string(a.content_type);
  std::string inm = req.header("if-none-match");
  if (!inm.empty() && (inm == "*" || inm.find(etag) != std::string::npos)) {
    r.status = 304;
    return r;
  }
  if (gzip) {
    r.body = std::string(a.gzip);
    r.headers.emplace_back("Content-Encoding", "gzip");
  } else {
    r.body = std::string(a.body);
  }
  return r;
}

}  // namespace

bool accepts_gzip(std::string_view accept_encoding) {
  std::string_view rest = accept_encoding;
  bool star = false;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = trim(item.substr(0, semi));
    std::string_view params = semi == std::string_view::npos ? "" : item.substr(semi + 1);
    if (ieq(coding, "gzip") || ieq(coding, "x-gzip")) return !refused(params);
    if (coding == "*") star = !refused(params);
  }
  return star;
}

void add_web_routes(Router& router, const std::string& page) {
  const web::WebAsset* html = web::find_web_asset("/" + page + ".html");
  router.add("GET", "/", [html, page](const HttpRequest& req) {
    if (!html)
      return error_response({404, "not_found", "this program has no " + page + " page", ""});
    return serve(*html, req, true);
  });
  router.add("GET", "/assets/{file}", [](const HttpRequest& req) {
    const web::WebAsset* a = web::find_web_asset("/assets/" + req.params.at("file"));
    if (!a) return error_response({404, "not_found", "no such file: " + req.path(), ""});
    return serve(*a, req, false);
  });
}

}  // namespace ipsx::api
