#include "net/fuzz_targets.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "net/address_policy.h"
#include "net/http_proxy.h"
#include "net/http_text.h"
#include "net/pair_frame.h"
#include "net/pair_messages.h"
#include "net/proxy_username.h"
#include "net/socks5.h"

namespace ipsx::net {
namespace {

// A heap copy of exactly the input's bytes, so a read past the end is a sanitizer error even when
// the caller's buffer (a std::string, a larger read buffer) is longer.
class Exact {
 public:
  explicit Exact(std::string_view s) : size_(s.size()), data_(std::make_unique<char[]>(s.size())) {
    std::copy(s.begin(), s.end(), data_.get());
  }
  std::string_view text() const { return {data_.get(), size_}; }
  ByteView bytes() const { return {reinterpret_cast<const uint8_t*>(data_.get()), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> data_;
};

class Checker {
 public:
  Checker(std::string_view target, const FuzzViolation& report)
      : target_(target), report_(report) {}

  void violated(std::string_view what) {
    ok_ = false;
    if (report_) report_(fmt::format("{}: {}", target_, what));
  }
  void expect(bool property, std::string_view what) {
    if (!property) violated(what);
  }
  bool ok() const { return ok_; }

 private:
  std::string_view target_;
  const FuzzViolation& report_;
  bool ok_ = true;
};

// One incremental SOCKS5 parser: a parsed message writes back to exactly the consumed bytes, and
// each shorter prefix asks for more without overshooting what the message still needed.
template <class Parse, class Write>
void check_incremental(Checker& c, std::string_view name, ByteView in, Parse parse, Write write) {
  auto r = parse(in);
  if (!r) {
    c.expect(!r.error().message().empty(), fmt::format("{}: error without a message", name));
    return;
  }
  if (!r->complete()) {
    c.expect(r->need > 0, fmt::format("{}: incomplete but needs 0 bytes", name));
    return;
  }
  size_t n = r->consumed;
  if (n == 0 || n > in.size())
    return c.violated(fmt::format("{}: consumed {} of {}", name, n, in.size()));
  Result<Bytes> bytes = write(*r->message);
  if (!bytes || !std::equal(bytes->begin(), bytes->end(), in.begin(), in.begin() + n) ||
      bytes->size() != n) {
    return c.violated(fmt::format("{}: write(parse(x)) differs from x", name));
  }
  for (size_t k = 0; k < n; ++k) {
    Exact prefix(std::string_view(reinterpret_cast<const char*>(in.data()), k));
    auto p = parse(prefix.bytes());
    if (!p || p->complete() || p->need == 0 || k + p->need > n) {
      return c.violated(
          fmt::format("{}: prefix of {} bytes not answered 'need more' (<= {})", name, k, n - k));
    }
  }
}

bool is_hop_by_hop(std::string_view name) {
  for (std::string_view h :
       {"proxy-authorization", "proxy-connection", "keep-alive", "te", "trailer", "upgrade"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

void check_forward(Checker& c, const HttpRequestHead& head) {
  auto text = write_forward_head(head, head.keep_alive);
  if (!text) return c.violated("write_forward_head failed on a parsed head");
  HttpParseOptions origin;
  origin.allow_origin_form = true;
  origin.max_head_bytes = 1 << 20;
  origin.max_headers = 1 << 10;
  auto r = parse_request_head(*text, origin);
  if (!r || !r->complete() || r->consumed != text->size()) {
    return c.violated("the forwarded head does not parse");
  }
  const HttpRequestHead& f = *r->message;
  c.expect(f.form == TargetForm::origin && f.method == head.method && f.path == head.path &&
               f.target == head.target && f.minor_version == head.minor_version,
           "the forwarded request line or target differs");
  c.expect(f.framing == head.framing && f.content_length == head.content_length,
           "the forwarded body framing differs");
  c.expect(f.keep_alive == head.keep_alive, "the forwarded persistence differs");
  size_t hosts = 0, connections = 0;
  for (const HttpHeader& h : f.headers) {
    c.expect(!is_hop_by_hop(h.name), "a hop-by-hop header was forwarded");
    if (iequals(h.name, "host")) hosts += h.value == head.authority ? 1 : 100;
    if (iequals(h.name, "connection")) {
      ++connections;
      c.expect(h.value == "close" || h.value == "keep-alive", "a client Connection was forwarded");
    }
  }
  c.expect(hosts == 1 && connections <= 1, "forwarded Host or Connection headers are wrong");
}

// Scanning `in` whole and in two pieces split at each of a few points gives the same answers.
void check_body(Checker& c, std::string_view name, const HttpBodyScanner& start, ByteView in) {
  HttpBodyScanner whole = start;
  auto all = whole.scan(in);
  if (all) {
    c.expect(*all <= in.size(), fmt::format("{}: scanned past the input", name));
    c.expect(whole.done() || *all == in.size(),
             fmt::format("{}: stopped before the end without finishing", name));
  } else {
    c.expect(!all.error().message().empty(), fmt::format("{}: error without a message", name));
  }
  size_t n = in.size();
  for (size_t k : {size_t{1}, n / 3, n / 2, n - 1}) {
    if (k == 0 || k >= n) continue;
    HttpBodyScanner split = start;
    Exact first(std::string_view(reinterpret_cast<const char*>(in.data()), k));
    auto a = split.scan(first.bytes());
    Result<size_t> total = a;
    if (a && *a == k && !split.done()) {
      auto b = split.scan(in.subspan(k));
      total = b ? Result<size_t>(k + *b) : std::unexpected(b.error());
    }
    bool same = static_cast<bool>(total) == static_cast<bool>(all) &&
                (!total || (*total == *all && split.done() == whole.done()));
    if (!same)
      return c.violated(fmt::format("{}: a split at {} of {} answers differently", name, k, n));
  }
}

void check_response(Checker& c, std::string_view input, std::string_view method) {
  auto r = parse_response_head(input, method);
  if (!r) {
    c.expect(!r.error().message().empty(), "response: error without a message");
    return;
  }
  if (!r->complete()) {
    c.expect(r->need > 0, "response: incomplete but needs 0 bytes");
    return;
  }
  const HttpResponseHead& head = *r->message;
  size_t n = r->consumed;
  for (size_t k : {n - 1, n / 2}) {
    Exact prefix(input.substr(0, k));
    auto p = parse_response_head(prefix.text(), method);
    c.expect(p && !p->complete() && p->need > 0 && k + p->need <= n,
             fmt::format("response: a prefix of {} bytes is not answered 'need more'", k));
  }
  HttpParseOptions roomy = kResponseHeadOptions;
  roomy.max_head_bytes = 1 << 20;
  roomy.max_headers = 1 << 10;
  for (bool keep : {true, false}) {
    std::string text = write_response_head(head, keep, 1);
    auto back = parse_response_head(text, method, roomy);
    if (!back || !back->complete() || back->consumed != text.size()) {
      c.violated("response: the written head does not parse");
      continue;
    }
    const HttpResponseHead& b = *back->message;
    c.expect(b.status == head.status && b.reason == head.reason && b.minor_version == 1,
             "response: the written status line differs");
    c.expect(b.framing == head.framing && b.content_length == head.content_length,
             "response: the written framing differs");
    c.expect(b.keep_alive == (keep && head.framing != ResponseFraming::close_delimited),
             "response: the written persistence differs");
    for (const HttpHeader& h : b.headers) {
      bool ours = iequals(h.name, "connection") && h.value == "close" && !keep;
      bool hop = false;
      for (std::string_view name :
           {"connection", "proxy-connection", "keep-alive", "te", "upgrade"})
        hop = hop || iequals(h.name, name);
      c.expect(ours || !hop, "response: a hop-by-hop header was written");
      c.expect(ours || std::find(head.headers.begin(), head.headers.end(), h) != head.headers.end(),
               "response: a header the origin did not send was written");
    }
  }
  check_body(c, "response body", HttpBodyScanner::for_response(head), as_bytes(input.substr(n)));
}

}  // namespace

bool fuzz_http_response(std::string_view input, const FuzzViolation& on_violation) {
  Checker c("http response", on_violation);
  Exact exact(input);
  check_response(c, exact.text(), "GET");
  check_response(c, exact.text(), "HEAD");
  check_body(c, "chunked body", HttpBodyScanner::chunked(), exact.bytes());
  return c.ok();
}

bool fuzz_socks5(std::string_view input, const FuzzViolation& on_violation) {
  Checker c("socks5", on_violation);
  Exact exact(input);
  ByteView in = exact.bytes();
  check_incremental(c, "greeting", in, parse_greeting,
                    [](const Socks5Greeting& g) { return write_greeting(g); });
  check_incremental(c, "userpass", in, parse_userpass,
                    [](const Socks5UserPass& u) { return write_userpass(u); });
  check_incremental(c, "request", in, parse_request,
                    [](const Socks5Request& r) { return write_request(r); });
  check_incremental(c, "reply", in, parse_reply,
                    [](const Socks5Response& r) { return write_reply(r.reply, r.bound); });
  auto udp = parse_udp_header(in);
  if (udp) {
    auto bytes = write_udp_header(udp->destination);
    c.expect(bytes && bytes->size() == udp->header_size &&
                 std::equal(bytes->begin(), bytes->end(), in.begin()),
             "udp: write(parse(x)) differs from x");
  } else {
    c.expect(!udp.error().message().empty(), "udp: error without a message");
  }
  return c.ok();
}

bool fuzz_http(std::string_view input, const FuzzViolation& on_violation) {
  Checker c("http", on_violation);
  Exact exact(input);
  input = exact.text();
  // The same bytes as an origin's response, and their header lines behind a status line.
  if (!fuzz_http_response(input, on_violation)) c.violated("the response checks failed");
  size_t eol = input.find("\r\n");
  if (eol != std::string_view::npos &&
      !fuzz_http_response("HTTP/1.1 200 OK" + std::string(input.substr(eol)), on_violation))
    c.violated("the response checks failed");
  auto r = parse_request_head(input);
  if (!r) {
    c.expect(!r.error().message().empty(), "error without a message");
    return c.ok();
  }
  if (!r->complete()) {
    c.expect(r->need > 0, "incomplete but needs 0 bytes");
    return c.ok();
  }
  const HttpRequestHead& head = *r->message;
  size_t n = r->consumed;
  std::string text = write_proxy_request_head(head);
  auto again = parse_request_head(text);
  c.expect(again && again->complete() && again->consumed == text.size() && *again->message == head,
           "write_proxy_request_head does not parse back equal");
  for (size_t k : {n - 1, n / 2}) {
    Exact prefix(input.substr(0, k));
    auto p = parse_request_head(prefix.text());
    c.expect(p && !p->complete() && p->need > 0 && k + p->need <= n,
             fmt::format("a prefix of {} bytes is not answered 'need more'", k));
  }
  if (head.form != TargetForm::authority) check_forward(c, head);
  if (auto creds = proxy_credentials(head); creds && *creds) {
    auto value = write_basic_credentials(**creds);
    auto back = value ? parse_basic_credentials(*value) : std::unexpected(value.error());
    c.expect(back && *back == **creds, "Basic credentials do not round trip");
  }
  return c.ok();
}

bool fuzz_username(std::string_view input, const FuzzViolation& on_violation) {
  Checker c("username", on_violation);
  Exact exact(input);
  auto f = parse_proxy_username(exact.text());
  if (!f) {
    c.expect(!f.error().message().empty(), "error without a message");
    return c.ok();
  }
  auto text = to_string(*f);
  if (!text) {
    c.violated("to_string fails on parsed filters: " + text.error().message());
    return c.ok();
  }
  auto back = parse_proxy_username(*text);
  c.expect(back && *back == *f, fmt::format("{} does not parse back equal", *text));
  return c.ok();
}

namespace {

// A message parser and writer pair: parse(write(parse(p))) == parse(p).
template <class Parse>
void check_message(Checker& c, std::string_view name, ByteView payload, Parse parse) {
  auto m = parse(payload);
  if (!m) {
    c.expect(!m.error().message().empty(), fmt::format("{}: error without a message", name));
    return;
  }
  Bytes again = to_payload(*m);
  auto back = parse(again);
  if (!back) {
    c.violated(fmt::format("{}: written message does not parse: {}", name, back.error().message()));
    return;
  }
  c.expect(to_payload(*back) == again, fmt::format("{}: not stable through write and parse", name));
}

}  // namespace

bool fuzz_pair(std::string_view input, const FuzzViolation& on_violation) {
  Checker c("pair", on_violation);
  Exact exact(input);
  ByteView in = exact.bytes();
  while (!in.empty()) {
    auto r = parse_frame(in);
    if (!r) {
      c.expect(!r.error().message().empty(), "frame: error without a message");
      break;
    }
    if (!r->complete()) {
      c.expect(r->need >= 1, "frame: incomplete but needs nothing");
      break;
    }
    const Frame& f = *r->message;
    auto written = write_frame(f);
    c.expect(written && *written == Bytes(in.begin(), in.begin() + static_cast<long>(r->consumed)),
             "frame: write(parse(x)) != x");
    for (size_t n = 0; n < r->consumed; ++n) {
      auto p = parse_frame(in.first(n));
      c.expect(p && !p->complete() && p->need <= r->consumed - n,
               fmt::format("frame: prefix of {} bytes does not ask for the rest", n));
    }
    switch (f.type) {
      case FrameType::hello:
        check_message(c, "hello", f.payload, parse_hello);
        break;
      case FrameType::auth:
        check_message(c, "auth", f.payload, parse_auth);
        break;
      case FrameType::welcome:
        check_message(c, "welcome", f.payload, parse_welcome);
        break;
      case FrameType::open:
        check_message(c, "open", f.payload, parse_open);
        break;
      case FrameType::invoice:
        check_message(c, "invoice", f.payload, parse_invoice);
        break;
      case FrameType::proof:
        check_message(c, "proof", f.payload, parse_proof);
        break;
      case FrameType::open_failed:
      case FrameType::refused:
      case FrameType::cut: {
        Error e = parse_error_payload(f.payload);
        Error back = parse_error_payload(error_payload(e));
        c.expect(back == e, "error payload: not stable through write and parse");
        break;
      }
      default:
        break;
    }
    in = in.subspan(r->consumed);
  }
  // The same bytes as a UDP stream's datagram records: each writes back to the bytes it took,
  // and every shorter prefix asks for more, never for more than the rest.
  for (ByteView rest = exact.bytes(); !rest.empty();) {
    auto r = parse_datagram_record(rest);
    if (!r) {
      c.expect(!r.error().message().empty(), "datagram record: error without a message");
      break;
    }
    if (!r->complete()) {
      c.expect(r->need >= 1, "datagram record: incomplete but needs nothing");
      break;
    }
    auto written = write_datagram_record(r->message->peer, r->message->payload);
    c.expect(
        written && *written == Bytes(rest.begin(), rest.begin() + static_cast<long>(r->consumed)),
        "datagram record: write(parse(x)) != x");
    for (size_t k : {size_t{0}, size_t{1}, r->consumed / 2, r->consumed - 1}) {
      if (k >= r->consumed) continue;
      auto p = parse_datagram_record(rest.first(k));
      c.expect(p && !p->complete() && p->need >= 1 && k + p->need <= r->consumed,
               fmt::format("datagram record: prefix of {} bytes does not ask for the rest", k));
    }
    rest = rest.subspan(r->consumed);
  }
  if (auto range = parse_prefix(exact.text())) {
    auto back = parse_prefix(to_string(*range));
    c.expect(back && *back == *range,
             fmt::format("range {} does not print back", to_string(*range)));
  }
  return c.ok();
}

std::vector<std::string> pair_fuzz_seeds() {
  auto frame = [](FrameType t, uint32_t stream, std::string_view payload) {
    Bytes b = *write_frame(Frame{t, stream, Bytes(payload.begin(), payload.end())});
    return std::string(b.begin(), b.end());
  };
  std::string deal = "0x" + std::string(64, 'a');
  std::string sig = "0x" + std::string(128, '1') + "1b";
  return {
      frame(FrameType::open, 1, R"({"host":"example.com","port":443,"protocol":2})") +
          frame(FrameType::data, 1, "GET / HTTP/1.1\r\n\r\n"),
      frame(FrameType::auth, 0, R"({"deal":")" + deal + R"(","signature":")" + sig + R"("})"),
      frame(FrameType::invoice, 0,
            R"({"deal":")" + deal +
                R"(","amountDue":"1000","seconds":10,"bytesUp":5,"bytesDown":7})"),
      frame(FrameType::proof, 0,
            R"({"deal":")" + deal + R"(","amount":"990","signature":")" + sig + R"("})"),
      frame(FrameType::welcome, 0,
            R"({"proxyUsername":"deal-ab","proxyPassword":"x","proxyPort":1080,)"
            R"("invoiceIntervalMs":1000,"creditLimit":"300"})"),
      frame(FrameType::credit, 3, std::string("\0\0\1\0", 4)) + frame(FrameType::fin, 3, ""),
      frame(FrameType::cut, 0, "\x13unpaid: owes 10"),
      frame(FrameType::open, 5, R"({"host":"0.0.0.0","port":0,"protocol":4,"udp":true})"),
      std::string("\x00\x0e\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35ping", 16) +
          std::string("\x00\x12\x00\x00\x00\x03\x09localhost\x1f\x90hi", 20),
      "10.0.0.0/8",
      "fd00::/8",
  };
}

std::vector<std::string> socks5_fuzz_seeds() {
  using namespace std::string_literals;
  return {
      "\x05\x02\x00\x02"s,                          // greeting
      "\x01\x05alice\x06secret"s,                   // RFC 1929
      "\x05\x01\x00\x01\xc0\x00\x02\x01\x00\x50"s,  // CONNECT 192.0.2.1:80
      "\x05\x01\x00\x03\x0b"
      "example.com\x01\xbb"s,                                        // CONNECT example.com:443
      "\x05\x03\x00\x04" + std::string(15, '\0') + "\x01\x00\x00"s,  // UDP ASSOCIATE [::1]:0
      "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"s,                   // reply succeeded
      "\x00\x00\x00\x01\x08\x08\x08\x08\x00\x35payload"s,            // UDP datagram
  };
}

std::vector<std::string> http_fuzz_seeds() {
  return {
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
      "Proxy-Authorization: Basic Y291bnRyeS1kZTpzZWNyZXQ=\r\n\r\n",
      "GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n"
      "Connection: keep-alive, X-Trace\r\nX-Trace: 1\r\nTE: trailers\r\n\r\n",
      "POST http://[2001:db8::1]:8080/form HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n"
      "Content-Length: 5\r\n\r\nhello",
      "PUT http://10.0.0.1/up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "GET http://example.org HTTP/1.0\r\nProxy-Connection: Keep-Alive\r\n\r\n",
  };
}

std::vector<std::string> http_response_fuzz_seeds() {
  return {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: T\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: b\r\n\r\nHTTP/1.1",
      "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the origin closes",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nContent-Length: 10\r\n\r\n",
      "HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
      "4\r\nWiki\r\n0;last\r\n\r\n",
  };
}

std::vector<std::string> username_fuzz_seeds() {
  return {"country-de-type-residential-session-abc-ttl-600",
          "user-acme_1-country-US-city-new_york-asn-7922-exclusive",
          "customer-bob-region-bavaria-type-mobile", "session-Zz9_-ttl-5", ""};
}

}  // namespace ipsx::net
