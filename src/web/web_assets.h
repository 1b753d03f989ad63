// The web app's files (docs/web.md), built from web/ by web/build.mjs and compiled into the
// program: the three pages (market, provider and requester consoles) and their bundles, each as
// it is and gzip-compressed.
#pragma once

#include <span>
#include <string_view>

namespace ipsx::web {

struct WebAsset {
  std::string_view path;          // "/market.html", "/assets/market.js", ...
  std::string_view content_type;  // with its charset
  std::string_view body;
  std::string_view gzip;  // the body gzip-compressed (level 9)
  std::string_view etag;  // quoted, a digest of the body
};

// Every file, in the build's order.
std::span<const WebAsset> web_assets();

// The file served at `path`, or nullptr.
const WebAsset* find_web_asset(std::string_view path);

}  // namespace ipsx::web
