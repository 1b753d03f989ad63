// HTTP proxying: request heads in authority-form and absolute-form, header rules, body framing,
// persistence, limits, every split point, Basic credentials, the forwarded head, the proxy's
// responses byte for byte, round trips, and mutated and random input.
#include "net/http_proxy.h"

#include <gtest/gtest.h>

#include <random>

#include "net/base64.h"
#include "net/fuzz_targets.h"
#include "net/net_error.h"
#include "net/net_test_util.h"

namespace ipsx::net {
namespace {

using test_util::ExactCopy;

ParseResult<HttpRequestHead> parse(const std::string& text, const HttpParseOptions& o = {}) {
  return parse_request_head(ExactCopy(text).text(), o);
}

HttpRequestHead head_of(const std::string& text, const HttpParseOptions& o = {}) {
  auto r = parse(text, o);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  EXPECT_TRUE(r && r->complete());
  return r && r->complete() ? *r->message : HttpRequestHead{};
}

Error refused(const std::string& text, const HttpParseOptions& o = {}) {
  auto r = parse(text, o);
  EXPECT_FALSE(r) << "accepted: " << text;
  return r ? Error(NetErrc::invalid_argument, "accepted") : r.error();
}

// Each proper prefix asks for more (never more than the rest); the whole parses, consuming
// exactly the head and leaving what follows it.
void expect_incremental(const std::string& head, const std::string& rest = "") {
  for (size_t k = 0; k < head.size(); ++k) {
    auto r = parse(head.substr(0, k));
    ASSERT_TRUE(r) << "prefix " << k << ": " << r.error().message();
    EXPECT_FALSE(r->complete()) << "prefix " << k;
    EXPECT_GE(r->need, 1u);
    EXPECT_LE(r->need, head.size() - k) << "prefix " << k;
  }
  auto r = parse(head + rest);
  ASSERT_TRUE(r && r->complete());
  EXPECT_EQ(r->consumed, head.size());
}

const char* kConnect =
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
    "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n";

TEST(HttpHead, ParsesConnectInAuthorityForm) {
  auto h = head_of(kConnect);
  EXPECT_EQ(h.method, "CONNECT");
  EXPECT_EQ(h.form, TargetForm::authority);
  EXPECT_EQ(h.target, (Endpoint{std::string("example.com"), 443}));
  EXPECT_EQ(h.authority, "example.com:443");
  EXPECT_EQ(h.path, "");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.framing, BodyFraming::none);
  expect_incremental(kConnect, "\x16\x03\x01 tls bytes");
  Ip v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 1;
  EXPECT_EQ(head_of("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n").target, (Endpoint{v6, 443}));
  EXPECT_EQ(head_of("CONNECT 192.0.2.1:22 HTTP/1.0\r\n\r\n").target,
            (Endpoint{Ipv4{192, 0, 2, 1}, 22}));
}

TEST(HttpHead, RefusesConnectWithoutHostAndPort) {
  EXPECT_EQ(refused("CONNECT example.com HTTP/1.1\r\n\r\n").code(), NetErrc::bad_address);
  EXPECT_EQ(refused("CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n").code(),
            NetErrc::bad_target);
  EXPECT_EQ(refused("CONNECT /x HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("CONNECT [::1:443 HTTP/1.1\r\n\r\n").code(), NetErrc::bad_address);
}

TEST(HttpHead, ParsesAbsoluteUrisForForwarding) {
  std::string text =
      "GET http://example.com:8080/a/b?q=1&r=%20 HTTP/1.1\r\nHost: example.com:8080\r\n"
      "User-Agent: test\r\n\r\n";
  auto h = head_of(text);
  EXPECT_EQ(h.form, TargetForm::absolute);
  EXPECT_EQ(h.target, (Endpoint{std::string("example.com"), 8080}));
  EXPECT_EQ(h.authority, "example.com:8080");
  EXPECT_EQ(h.path, "/a/b?q=1&r=%20");
  expect_incremental(text);
  EXPECT_EQ(head_of("GET http://example.com HTTP/1.1\r\n\r\n").path, "/");
  EXPECT_EQ(head_of("GET http://example.com HTTP/1.1\r\n\r\n").target.port, 80);
  EXPECT_EQ(head_of("GET http://example.com?x HTTP/1.1\r\n\r\n").path, "/?x");
  EXPECT_EQ(head_of("GET HTTP://10.0.0.1/ HTTP/1.1\r\n\r\n").target.host, Host(Ipv4{10, 0, 0, 1}));
  EXPECT_EQ(head_of("OPTIONS http://[::1]:81/ HTTP/1.1\r\n\r\n").authority, "[::1]:81");
}

TEST(HttpHead, RefusesTargetsAProxyDoesNotServe) {
  Error origin = refused("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(origin.code(), NetErrc::bad_target);
  EXPECT_NE(origin.message().find("origin-form"), std::string::npos) << origin.message();
  EXPECT_EQ(refused("OPTIONS * HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("GET https://example.com/ HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("GET ftp://example.com/ HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("GET http://example.com/#top HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("GET example.com HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  EXPECT_EQ(refused("GET http://u:p@example.com/ HTTP/1.1\r\n\r\n").code(), NetErrc::bad_address);
  EXPECT_EQ(refused("GET http:///x HTTP/1.1\r\n\r\n").code(), NetErrc::bad_address);
  EXPECT_EQ(refused("GET http://a/\x7f HTTP/1.1\r\n\r\n").code(), NetErrc::bad_target);
  // The same origin-form head is fine for an origin-side reader, which takes the target from Host.
  HttpParseOptions o;
  o.allow_origin_form = true;
  auto h = head_of("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", o);
  EXPECT_EQ(h.form, TargetForm::origin);
  EXPECT_EQ(h.target, (Endpoint{std::string("example.com"), 80}));
  EXPECT_EQ(refused("GET / HTTP/1.1\r\n\r\n", o).code(), NetErrc::bad_header);
}

TEST(HttpHead, RefusesMalformedRequestLinesAndVersions) {
  EXPECT_EQ(refused("GET http://a/ HTTP/2.0\r\n\r\n").code(), NetErrc::bad_version);
  EXPECT_EQ(refused("PRI * HTTP/2.0\r\n\r\n").code(), NetErrc::bad_version);  // h2 preface
  EXPECT_EQ(refused("GET http://a/ HTTP/1.2\r\n\r\n").code(), NetErrc::bad_version);
  EXPECT_EQ(refused("GET http://a/ http/1.1\r\n\r\n").code(), NetErrc::malformed);
  EXPECT_EQ(refused("GET  http://a/ HTTP/1.1\r\n\r\n").code(), NetErrc::malformed);
  EXPECT_EQ(refused("GET http://a/ HTTP/1.1 \r\n\r\n").code(), NetErrc::malformed);
  EXPECT_EQ(refused("GET http://a/\r\n\r\n").code(), NetErrc::malformed);
  EXPECT_EQ(refused("G(T http://a/ HTTP/1.1\r\n\r\n").code(), NetErrc::malformed);
  EXPECT_EQ(refused("GET http://a/ HTTP/1.1\n\n").code(), NetErrc::malformed);     // bare LF
  EXPECT_EQ(refused("GET http://a/ HTTP/1.1\rX\r\n").code(), NetErrc::malformed);  // bare CR
}

TEST(HttpHead, SkipsLeadingEmptyLinesAndStopsAtTheHeadEnd) {
  std::string text = "\r\n\r\nGET http://a/ HTTP/1.1\r\n\r\n";
  expect_incremental(text, "GET http://b/ HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head_of(text).authority, "a");
}

TEST(HttpHead, ReadsHeadersCaseInsensitivelyAndTrimmed) {
  auto h =
      head_of("GET http://a/ HTTP/1.1\r\nX-Empty:\r\nx-tabbed:\t v \t\r\nX-Latin: caf\xe9\r\n\r\n");
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[1], (HttpHeader{"x-tabbed", "v"}));
  EXPECT_EQ(h.header("X-TABBED"), "v");
  EXPECT_EQ(h.header("x-empty"), "");
  EXPECT_EQ(h.header("x-latin"), "caf\xe9");  // obs-text is kept as is
  EXPECT_EQ(h.header("missing"), std::nullopt);
}

TEST(HttpHead, RefusesBadHeaderLines) {
  auto bad = [](const std::string& line) {
    return refused("GET http://a/ HTTP/1.1\r\n" + line + "\r\n\r\n").code();
  };
  EXPECT_EQ(bad("X-A: 1\r\n continued"), NetErrc::bad_header);  // obs-fold
  EXPECT_EQ(bad("X-A: 1\r\n\tcontinued"), NetErrc::bad_header);
  EXPECT_EQ(bad("X-A : 1"), NetErrc::bad_header);  // whitespace before ':'
  EXPECT_EQ(bad("NoColon"), NetErrc::bad_header);
  EXPECT_EQ(bad(": v"), NetErrc::bad_header);
  EXPECT_EQ(bad("X(A): v"), NetErrc::bad_header);
  EXPECT_EQ(bad(std::string("X-A: a\0b", 8)), NetErrc::bad_header);
  EXPECT_EQ(bad("X-A: a\x7f"), NetErrc::bad_header);
  EXPECT_EQ(bad("Host: a\r\nHost: b"), NetErrc::bad_header);
}

TEST(HttpHead, FramesBodiesByContentLengthOrChunked) {
  auto cl = head_of("POST http://a/ HTTP/1.1\r\nContent-Length: 42\r\n\r\n");
  EXPECT_EQ(cl.framing, BodyFraming::content_length);
  EXPECT_EQ(cl.content_length, 42u);
  auto same =
      head_of("POST http://a/ HTTP/1.1\r\nContent-Length: 7\r\ncontent-length: 7, 7\r\n\r\n");
  EXPECT_EQ(same.content_length, 7u);
  auto chunked = head_of("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
  EXPECT_EQ(chunked.framing, BodyFraming::chunked);
  EXPECT_EQ(head_of("GET http://a/ HTTP/1.1\r\n\r\n").framing, BodyFraming::none);
  EXPECT_EQ(head_of("CONNECT a:1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n").framing,
            BodyFraming::none);
  EXPECT_EQ(head_of("POST http://a/ HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n")
                .content_length,
            9999999999999999999u);
}

TEST(HttpHead, RefusesAmbiguousFraming) {
  auto bad = [](const std::string& headers, int minor = 1) {
    return refused("POST http://a/ HTTP/1." + std::to_string(minor) + "\r\n" + headers + "\r\n")
        .message();
  };
  EXPECT_NE(bad("Content-Length: 5\r\nContent-Length: 6\r\n").find("conflicting"),
            std::string::npos);
  EXPECT_NE(bad("Content-Length: 5, 6\r\n").find("conflicting"), std::string::npos);
  EXPECT_NE(bad("Content-Length: -1\r\n").find("not a number"), std::string::npos);
  EXPECT_NE(bad("Content-Length: +5\r\n").find("not a number"), std::string::npos);
  EXPECT_NE(bad("Content-Length: 99999999999999999999\r\n").find("not a number"),
            std::string::npos);
  EXPECT_NE(bad("Content-Length:\r\n").find("empty"), std::string::npos);
  EXPECT_NE(bad("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n").find("both"),
            std::string::npos);
  EXPECT_NE(bad("Transfer-Encoding: chunked, gzip\r\n").find("does not end in chunked"),
            std::string::npos);
  EXPECT_NE(bad("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n").find("twice"),
            std::string::npos);
  EXPECT_NE(bad("Transfer-Encoding: chunked\r\n", 0).find("HTTP/1.0"), std::string::npos);
  EXPECT_FALSE(parse("POST http://a/ HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n"));
}

TEST(HttpHead, KeepAliveFollowsVersionAndConnection) {
  auto ka = [](const std::string& version, const std::string& headers) {
    return head_of("GET http://a/ " + version + "\r\n" + headers + "\r\n").keep_alive;
  };
  EXPECT_TRUE(ka("HTTP/1.1", ""));
  EXPECT_FALSE(ka("HTTP/1.1", "Connection: close\r\n"));
  EXPECT_FALSE(ka("HTTP/1.1", "Connection: Upgrade, CLOSE\r\n"));
  EXPECT_FALSE(ka("HTTP/1.0", ""));
  EXPECT_TRUE(ka("HTTP/1.0", "Connection: keep-alive\r\n"));
  EXPECT_TRUE(ka("HTTP/1.0", "Proxy-Connection: Keep-Alive\r\n"));
  EXPECT_FALSE(ka("HTTP/1.0", "Connection: keep-alive, close\r\n"));
}

TEST(HttpHead, EnforcesItsLimits) {
  std::string line = "GET http://a/ HTTP/1.1\r\n";
  // Head size: refused as soon as it cannot fit, before the blank line arrives.
  std::string big = line;
  while (big.size() < 16 * 1024) big += "X-Pad: " + std::string(1000, 'p') + "\r\n";
  Error head = refused(big);
  EXPECT_EQ(head.code(), NetErrc::too_large);
  EXPECT_EQ(status_for(head), ProxyStatus::request_header_fields_too_large);
  // Line length.
  EXPECT_EQ(refused(line + "X-Long: " + std::string(8200, 'l')).code(), NetErrc::too_large);
  EXPECT_EQ(refused("GET http://a/" + std::string(8200, 'p')).code(), NetErrc::too_large);
  // Header count: 100 is fine, 101 is not.
  std::string hundred = line;
  for (int i = 0; i < 100; ++i) hundred += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(head_of(hundred + "\r\n").headers.size(), 100u);
  EXPECT_EQ(refused(hundred + "X-100: v\r\n\r\n").code(), NetErrc::too_large);
  // Limits are the caller's to tighten.
  HttpParseOptions small;
  small.max_head_bytes = 64;
  small.max_headers = 1;
  EXPECT_EQ(refused(line + "A: 1\r\nB: 2\r\n\r\n", small).code(), NetErrc::too_large);
  EXPECT_EQ(refused(line + "A: " + std::string(40, 'x') + "\r\n\r\n", small).code(),
            NetErrc::too_large);
  EXPECT_EQ(status_for(refused("GET / HTTP/1.1\r\n\r\n")), ProxyStatus::bad_request);
}

TEST(HttpCredentials, DecodesProxyAuthorizationBasic) {
  auto creds = proxy_credentials(head_of(kConnect)).value();
  ASSERT_TRUE(creds);
  EXPECT_EQ(*creds, (BasicCredentials{"alice", "secret"}));
  EXPECT_EQ(parse_basic_credentials("basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==").value(),
            (BasicCredentials{"Aladdin", "open sesame"}));
  // The password may hold ':'; the user ends at the first one.
  EXPECT_EQ(parse_basic_credentials("Basic " + base64_encode("country-de:pa:ss")).value(),
            (BasicCredentials{"country-de", "pa:ss"}));
  EXPECT_EQ(parse_basic_credentials("Basic Og==").value(), (BasicCredentials{"", ""}));
  EXPECT_EQ(proxy_credentials(head_of("GET http://a/ HTTP/1.1\r\n\r\n")).value(), std::nullopt);
}

TEST(HttpCredentials, RefusesWhatIsNotBasicUserPass) {
  for (const char* bad : {"Bearer abc", "Basic", "Basic !!!!", "Basic YWxpY2U=", "Basic YQ",
                          "Digest username=\"a\"", "Basic YTpiAA=="}) {
    auto r = parse_basic_credentials(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), NetErrc::bad_credentials) << bad;
    }
  }
  EXPECT_FALSE(parse_basic_credentials("Basic " + base64_encode(std::string(1025, 'a') + ":")));
  auto twice = head_of(
      "GET http://a/ HTTP/1.1\r\nProxy-Authorization: Basic YTpi\r\n"
      "Proxy-Authorization: Basic YTpi\r\n\r\n");
  EXPECT_EQ(proxy_credentials(twice).error().code(), NetErrc::bad_credentials);
}

TEST(HttpCredentials, WriterRoundTripsAndRefusesWhatBasicCannotCarry) {
  BasicCredentials c{"country-us-session-x", "s3cr:t"};
  std::string value = write_basic_credentials(c).value();
  EXPECT_EQ(value, "Basic " + base64_encode("country-us-session-x:s3cr:t"));
  EXPECT_EQ(parse_basic_credentials(value).value(), c);
  EXPECT_FALSE(write_basic_credentials({"a:b", "p"}));
  EXPECT_FALSE(write_basic_credentials({"a", "p\r\n"}));
}

TEST(HttpForward, RewritesTheHeadForTheOrigin) {
  auto h = head_of(
      "POST http://example.com:8080/submit?x=1 HTTP/1.1\r\n"
      "Host: wrong.example\r\n"
      "Proxy-Authorization: Basic YTpi\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Connection: keep-alive, X-Secret, Content-Length, Host\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Trailer: X-Checksum\r\n"
      "Upgrade: websocket\r\n"
      "X-Secret: hop\r\n"
      "Content-Length: 3\r\n"
      "Accept: */*\r\n\r\n");
  EXPECT_EQ(write_forward_head(h, true).value(),
            "POST /submit?x=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "Content-Length: 3\r\n"
            "Accept: */*\r\n\r\n");
  EXPECT_EQ(write_forward_head(h, false).value(),
            "POST /submit?x=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "Content-Length: 3\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n\r\n");
}

TEST(HttpForward, AddsHostWhenMissingAndKeepsHttp10Persistence) {
  auto h = head_of("GET http://[::1]:81 HTTP/1.0\r\nProxy-Connection: Keep-Alive\r\nA: b\r\n\r\n");
  EXPECT_EQ(write_forward_head(h, true).value(),
            "GET / HTTP/1.0\r\nHost: [::1]:81\r\nA: b\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(write_forward_head(h, false).value(),
            "GET / HTTP/1.0\r\nHost: [::1]:81\r\nA: b\r\n\r\n");
  EXPECT_EQ(write_forward_head(head_of(kConnect), true).error().code(), NetErrc::invalid_argument);
}

TEST(HttpRoundTrip, ProxyHeadsParseBackEqual) {
  for (const std::string& text : http_fuzz_seeds()) {
    auto h = head_of(text);
    EXPECT_EQ(head_of(write_proxy_request_head(h)), h) << text;
  }
  auto h = head_of("GET HTTP://A.example?q HTTP/1.0\r\nx:  y  \r\n\r\n");
  EXPECT_EQ(write_proxy_request_head(h), "GET http://A.example/?q HTTP/1.0\r\nx: y\r\n\r\n");
}

TEST(HttpResponses, WriteExactBytes) {
  EXPECT_EQ(write_connect_established(), "HTTP/1.1 200 Connection established\r\n\r\n");
  EXPECT_EQ(write_proxy_auth_required("IPSX gateway", true),
            "HTTP/1.1 407 Proxy Authentication Required\r\n"
            "Proxy-Authenticate: Basic realm=\"IPSX gateway\"\r\n"
            "Proxy-Status: ipsx; error=http_request_denied; details=\"proxy credentials "
            "required\"\r\n"
            "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(write_proxy_auth_required("a\"b\\c\r\nX: y", false),
            "HTTP/1.1 407 Proxy Authentication Required\r\n"
            "Proxy-Authenticate: Basic realm=\"a\\\"b\\\\c??X: y\"\r\n"
            "Proxy-Status: ipsx; error=http_request_denied; details=\"proxy credentials "
            "required\"\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(write_error_response(ProxyStatus::bad_gateway, "exit refused the connection"),
            "HTTP/1.1 502 Bad Gateway\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Length: 28\r\n"
            "Proxy-Status: ipsx; error=destination_unavailable; details=\"exit refused the "
            "connection\"\r\n"
            "X-IPSX-Reason: exit refused the connection\r\n"
            "Connection: close\r\n\r\n"
            "exit refused the connection\n");
  EXPECT_EQ(
      write_error_response(ProxyStatus::service_unavailable, "no IP matches country-de", true),
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n"
      "Content-Length: 25\r\n"
      "Proxy-Status: ipsx; error=proxy_internal_response; details=\"no IP matches country-de\"\r\n"
      "X-IPSX-Reason: no IP matches country-de\r\n\r\n"
      "no IP matches country-de\n");
  EXPECT_EQ(write_error_response(ProxyStatus::gateway_timeout, ""),
            "HTTP/1.1 504 Gateway Timeout\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Length: 16\r\n"
            "Proxy-Status: ipsx; error=connection_timeout; details=\"Gateway Timeout\"\r\n"
            "X-IPSX-Reason: Gateway Timeout\r\n"
            "Connection: close\r\n\r\n"
            "Gateway Timeout\n");
}

TEST(HttpResponses, ReasonsCannotInjectHeaders) {
  std::string r = write_error_response(ProxyStatus::bad_request,
                                       "unknown key 'x'\r\nSet-Cookie: a=b\r\n\r\n<html>");
  EXPECT_EQ(r.find("\r\nSet-Cookie"), std::string::npos);
  EXPECT_NE(r.find("X-IPSX-Reason: unknown key 'x'?\?Set-Cookie: a=b?\?\?\?<html>\r\n"),
            std::string::npos);
  // Proxy-Status's details is an sf-string: quotes and backslashes escaped, nothing else.
  std::string q = write_error_response(ProxyStatus::forbidden, "a \"b\" \\c\r\nX: y", false,
                                       "destination_ip_prohibited");
  EXPECT_NE(q.find("Proxy-Status: ipsx; error=destination_ip_prohibited; details=\"a \\\"b\\\" "
                   "\\\\c??X: y\"\r\n"),
            std::string::npos)
      << q;
  std::string longest = write_error_response(ProxyStatus::forbidden, std::string(500, 'r'));
  EXPECT_NE(longest.find("Content-Length: 201\r\n"), std::string::npos);
  EXPECT_EQ(longest.substr(0, 24), "HTTP/1.1 403 Forbidden\r\n");
}

TEST(HttpFuzz, MutatedHeadsNeverCrashOrBreakTheRoundTrips) {
  std::mt19937_64 rng(9112);
  std::vector<std::string> seeds = http_fuzz_seeds();
  std::vector<std::string> tokens = {"\r\n",
                                     " ",
                                     ":",
                                     ",",
                                     "\t",
                                     "\r\n ",
                                     "[",
                                     "]",
                                     "chunked",
                                     "close",
                                     "Connection: ",
                                     "Content-Length: 1\r\n",
                                     "Host: h\r\n",
                                     "http://",
                                     "%00",
                                     "@",
                                     "#",
                                     "\n"};
  for (const auto& s : seeds)
    EXPECT_TRUE(fuzz_http(s, [](std::string_view w) { ADD_FAILURE() << w; }));
  size_t complete = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string in = test_util::mutate_many(seeds[i % seeds.size()], rng, 4, tokens);
    EXPECT_TRUE(fuzz_http(in, [&](std::string_view w) { ADD_FAILURE() << w << " on " << in; }));
    auto r = parse(in);
    if (r && r->complete()) ++complete;
  }
  EXPECT_GT(complete, 400u);
}

TEST(HttpFuzz, RandomBytesNeverCrash) {
  std::mt19937_64 rng(9110);
  for (int i = 0; i < 3000; ++i) {
    std::string in = i % 2 == 0 ? "GET http://a/ HTTP/1.1\r\n" : "";
    size_t n = rng() % 400;
    for (size_t k = 0; k < n; ++k)
      in += static_cast<char>(rng() % 4 == 0 ? "\r\n: "[rng() % 4] : rng());
    EXPECT_TRUE(fuzz_http(in, [&](std::string_view w) { ADD_FAILURE() << w; }));
  }
}

ParseResult<HttpResponseHead> parse_response(const std::string& text,
                                             std::string_view method = "GET") {
  return parse_response_head(ExactCopy(text).text(), method);
}

HttpResponseHead response_of(const std::string& text, std::string_view method = "GET") {
  auto r = parse_response(text, method);
  EXPECT_TRUE(r) << (r ? "" : r.error().message());
  EXPECT_TRUE(r && r->complete()) << text;
  return r && r->complete() ? *r->message : HttpResponseHead{};
}

TEST(HttpResponseHead, FramingFollowsRfc9112Section6_3) {
  auto h = response_of("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.framing, ResponseFraming::content_length);
  EXPECT_EQ(h.content_length, 12u);
  EXPECT_TRUE(h.keep_alive);
  h = response_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  EXPECT_EQ(h.framing, ResponseFraming::chunked);
  h = response_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
  EXPECT_EQ(h.framing, ResponseFraming::close_delimited);
  EXPECT_FALSE(h.keep_alive);
  h = response_of("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n");
  EXPECT_EQ(h.framing, ResponseFraming::close_delimited);
  EXPECT_FALSE(h.keep_alive);
  // No body, whatever the headers say.
  EXPECT_EQ(response_of("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD").framing,
            ResponseFraming::none);
  EXPECT_EQ(response_of("HTTP/1.1 204 No Content\r\n\r\n").framing, ResponseFraming::none);
  EXPECT_EQ(response_of("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing,
            ResponseFraming::none);
  h = response_of("HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(h.interim());
  EXPECT_EQ(h.framing, ResponseFraming::none);
  // Persistence.
  EXPECT_FALSE(
      response_of("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_FALSE(response_of("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(response_of("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
                  .keep_alive);
  // A status line without a reason, with an empty one.
  EXPECT_EQ(response_of("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").status, 404);
  EXPECT_EQ(response_of("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n").reason, "");
}

TEST(HttpResponseHead, RefusesWhatCouldDesynchronizeTheClient) {
  auto code = [](const std::string& text) {
    auto r = parse_response(text);
    EXPECT_FALSE(r) << text;
    return r ? NetErrc::invalid_argument : static_cast<NetErrc>(r.error().code().value());
  };
  EXPECT_EQ(code("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
            NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), NetErrc::malformed);
  EXPECT_EQ(code("HTTP/1.1 20 OK\r\n\r\n"), NetErrc::malformed);
  EXPECT_EQ(code("HTTP/1.1 600 Nope\r\n\r\n"), NetErrc::malformed);
  EXPECT_EQ(code("HTTP/2 200 OK\r\n\r\n"), NetErrc::bad_version);
  EXPECT_EQ(code("ICY 200 OK\r\n\r\n"), NetErrc::malformed);
  EXPECT_EQ(code("HTTP/1.1 200 OK\r\n folded\r\n\r\n"), NetErrc::bad_header);
  EXPECT_EQ(code("HTTP/1.1 200 OK\r\n" + std::string(70 * 1024, 'a') + "\r\n\r\n"),
            NetErrc::too_large);
}

TEST(HttpResponseHead, EveryPrefixAsksForMore) {
  std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n\r\n";
  for (size_t k = 0; k < text.size(); ++k) {
    auto r = parse_response(text.substr(0, k));
    ASSERT_TRUE(r) << k;
    EXPECT_FALSE(r->complete());
    EXPECT_LE(r->need, text.size() - k);
  }
  auto r = parse_response(text + "abc");
  ASSERT_TRUE(r && r->complete());
  EXPECT_EQ(r->consumed, text.size());
}

TEST(HttpResponseHead, WrittenForTheClientWithoutHopByHopHeaders) {
  auto h = response_of(
      "HTTP/1.0 200 Fine\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
      "Content-Length: 2\r\nProxy-Connection: keep-alive\r\nSet-Cookie: a=b\r\n\r\n");
  EXPECT_EQ(write_response_head(h, true, 1),
            "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n\r\n");
  EXPECT_EQ(
      write_response_head(h, false, 1),
      "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(write_response_head(h, true, 0),
            "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n"
            "Connection: keep-alive\r\n\r\n");
  // Listing a framing header in Connection does not strip it.
  h = response_of(
      "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(write_response_head(h, true, 1),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

// Scans `text` in pieces of `step` bytes; the bytes taken, or the error.
Result<size_t> scan_in_steps(HttpBodyScanner s, const std::string& text, size_t step,
                             bool* done = nullptr) {
  size_t total = 0;
  for (size_t at = 0; at < text.size(); at += step) {
    ExactCopy piece(std::string_view(text).substr(at, step));
    auto n = s.scan(piece.bytes());
    if (!n) return n;
    total += *n;
    if (s.done()) break;
  }
  if (done) *done = s.done();
  return total;
}

TEST(HttpBody, ChunkedBodiesEndWhereTheyEndAtEverySplit) {
  std::string body =
      "5;name=value\r\nhello\r\n1A \t; x\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\n"
      "Trailer-A: b\r\nTrailer-B:\tc\r\n\r\n";
  for (size_t step = 1; step <= body.size(); ++step) {
    bool done = false;
    auto n =
        scan_in_steps(HttpBodyScanner::chunked(), body + "GET http://next/ HTTP/1.1", step, &done);
    ASSERT_TRUE(n) << step << ": " << n.error().message();
    EXPECT_EQ(*n, body.size()) << step;
    EXPECT_TRUE(done);
  }
  bool done = true;
  auto n = scan_in_steps(HttpBodyScanner::chunked(), "5\r\nhel", 2, &done);
  EXPECT_EQ(*n, 6u);
  EXPECT_FALSE(done);
}

TEST(HttpBody, RefusesChunkedBodiesThatAreNot) {
  auto error = [](const std::string& text) {
    auto n = scan_in_steps(HttpBodyScanner::chunked(), text, text.size());
    EXPECT_FALSE(n) << text;
    return n ? NetErrc::invalid_argument : static_cast<NetErrc>(n.error().code().value());
  };
  EXPECT_EQ(error("x\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("5\nhello\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("5\r\nhelloX\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("5;\x01\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("0\r\n folded: no\r\n\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("0\r\nA: b\rX"), NetErrc::malformed);
  EXPECT_EQ(error("-5\r\n"), NetErrc::malformed);
  EXPECT_EQ(error("10000000000000000\r\n"), NetErrc::too_large);  // 17 hex digits
  EXPECT_EQ(error("1;" + std::string(5000, 'e') + "\r\n"), NetErrc::too_large);
  EXPECT_EQ(error("0\r\n" + std::string(20000, 'T') + "\r\n\r\n"), NetErrc::too_large);
}

TEST(HttpBody, LengthsAndCloseDelimitedBodies) {
  bool done = false;
  EXPECT_EQ(*scan_in_steps(HttpBodyScanner::length(5), "helloGET", 3, &done), 5u);
  EXPECT_TRUE(done);
  EXPECT_TRUE(HttpBodyScanner::none().done());
  HttpBodyScanner close = HttpBodyScanner::until_close();
  EXPECT_EQ(*close.scan(std::string_view("anything at all")), 15u);
  EXPECT_FALSE(close.done());
  EXPECT_TRUE(close.ends_at_close());
  EXPECT_EQ(HttpBodyScanner::for_request(head_of("POST http://a/ HTTP/1.1\r\nContent-Length: "
                                                 "3\r\n\r\n"))
                .scan(std::string_view("abcdef"))
                .value(),
            3u);
}

TEST(HttpFuzz, MutatedResponsesNeverCrashOrBreakTheProperties) {
  std::mt19937_64 rng(9113);
  std::vector<std::string> seeds = http_response_fuzz_seeds();
  std::vector<std::string> tokens = {"\r\n",
                                     " ",
                                     ":",
                                     ",",
                                     ";",
                                     "0\r\n",
                                     "\r\n\r\n",
                                     "chunked",
                                     "close",
                                     "Connection: ",
                                     "Content-Length: 1\r\n",
                                     "Transfer-Encoding: chunked\r\n",
                                     "HTTP/1.0",
                                     "HEAD",
                                     "\n"};
  for (const auto& s : seeds)
    EXPECT_TRUE(fuzz_http_response(s, [](std::string_view w) { ADD_FAILURE() << w; }));
  size_t complete = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string in = test_util::mutate_many(seeds[i % seeds.size()], rng, 4, tokens);
    EXPECT_TRUE(
        fuzz_http_response(in, [&](std::string_view w) { ADD_FAILURE() << w << " on " << in; }));
    auto r = parse_response(in);
    if (r && r->complete()) ++complete;
  }
  EXPECT_GT(complete, 400u);
}

}  // namespace
}  // namespace ipsx::net
