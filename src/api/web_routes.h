// The web app's pages on an API server (docs/web.md): GET / answers the page's HTML and
// GET /assets/{file} its bundles, compiled into the program (web/web_assets.h). Each answer
// carries an ETag (If-None-Match: 304), is gzip-compressed when the client accepts it, and the
// HTML a Content-Security-Policy that lets the page load only this server's scripts and styles
// and talk only to this server (its API and its WebSocket).
#pragma once

#include <string>

#include "api/router.h"

namespace ipsx::api {

// `page`: "market", "provider" or "requester".
void add_web_routes(Router& router, const std::string& page);

// Whether an Accept-Encoding header accepts gzip (RFC 9110 §12.5.3: "gzip" or "*" with a
// nonzero q).
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace ipsx::api
