#include "ledger/orders.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "core/keccak.h"
#include "crypto/eip712.h"
#include "ledger/genesis.h"
#include "ledger/record_codec.h"
#include "ledger/tx_codec.h"

namespace ipsx::ledger {
namespace {

using json = nlohmann::json;

Address addr(const char* seed) {
  return crypto::PrivateKey::from_bytes(keccak256(std::string_view(seed)).view())->address();
}

Offer sample_offer() {
  Offer o;
  o.provider = addr("provider");
  o.ip = parse_ip("127.0.0.2").value();
  o.country = parse_country("DE").value();
  o.region = "Berlin";
  o.asn = 3320;
  o.ip_type = IpType::residential;
  o.protocols = protocol::http | protocol::socks5;
  o.scopes = scope::crawling | scope::general;
  o.bandwidth_kbps = 50'000;
  o.capacity = 2;
  o.available_from = 1'700'000'000;
  o.available_until = 0;
  o.min_duration = 5;
  o.max_duration = 86'400;
  o.price_per_second = U256(1'000'000'000'000ull);
  o.market = addr("market");
  o.fee_bps = 250;
  o.expiry = 1'900'000'000;
  o.nonce = 7;
  return o;
}

Request sample_request() {
  Request r;
  r.requester = addr("requester");
  r.count = 3;
  r.countries = {parse_country("DE").value(), parse_country("FR").value()};
  r.ip_types = 1u << static_cast<int>(IpType::residential);
  r.protocols = protocol::http;
  r.scope = scope::crawling;
  r.min_bandwidth_kbps = 10'000;
  r.duration = 600;
  r.max_price_per_second = U256(2'000'000'000'000ull);
  r.budget = U256(3'600'000'000'000'000ull);
  r.market = addr("market");
  r.fee_bps = 250;
  r.expiry = 1'900'000'000;
  r.nonce = 1;
  return r;
}

// The same order hashed by the generic EIP-712 path (JSON, as a wallet would see it) and by our
// fixed-type StructHasher must agree, or wallets' signatures would not verify.
TEST(Orders, StructHashesMatchTheGenericTypedDataPath) {
  Offer o = sample_offer();
  Request r = sample_request();
  auto domain = ledger_domain(1337, Address());
  auto types = json::parse(R"({"EIP712Domain": [
      {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
      {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]})");
  auto add_type = [&](const std::string& encoded) {
    std::string name = encoded.substr(0, encoded.find('('));
    std::string body =
        encoded.substr(encoded.find('(') + 1, encoded.find(')') - encoded.find('(') - 1);
    json fields = json::array();
    size_t start = 0;
    while (start < body.size()) {
      size_t end = body.find(',', start);
      if (end == std::string::npos) end = body.size();
      std::string f = body.substr(start, end - start);
      fields.push_back({{"name", f.substr(f.find(' ') + 1)}, {"type", f.substr(0, f.find(' '))}});
      start = end + 1;
    }
    types[name] = fields;
  };
  add_type(Offer::encoded_type());
  add_type(Request::encoded_type());
  json offer_msg = to_json(o);
  offer_msg["ip"] = to_hex(o.ip);
  offer_msg["country"] = "0x4445";  // "DE"
  json request_msg = to_json(r);
  request_msg["countries"] = {"0x4445", "0x4652"};
  json domain_json = {{"name", "IPSX"},
                      {"version", "1"},
                      {"chainId", 1337},
                      {"verifyingContract", "0x0000000000000000000000000000000000000000"}};
  auto offer_td = crypto::eip712::TypedData::from_json({{"types", types},
                                                        {"primaryType", "Offer"},
                                                        {"domain", domain_json},
                                                        {"message", offer_msg}});
  ASSERT_TRUE(offer_td) << offer_td.error().message();
  EXPECT_EQ(offer_td->message_hash().value(), o.struct_hash());
  EXPECT_EQ(offer_td->domain_separator().value(), domain.separator());
  auto request_td = crypto::eip712::TypedData::from_json({{"types", types},
                                                          {"primaryType", "Request"},
                                                          {"domain", domain_json},
                                                          {"message", request_msg}});
  ASSERT_TRUE(request_td) << request_td.error().message();
  EXPECT_EQ(request_td->message_hash().value(), r.struct_hash());
}

TEST(Orders, ValidationNamesTheField) {
  struct Case {
    std::function<void(Offer&)> mutate;
    const char* field;
  } offers[] = {
      {[](Offer& o) {
         o.country = {'X', 'X'};
       },
       "offer.country"},
      {[](Offer& o) { o.min_duration = 4; }, "offer.minDuration"},
      {[](Offer& o) { o.max_duration = 31ull * 24 * 3600; }, "offer.maxDuration"},
      {[](Offer& o) { o.protocols = 0; }, "offer.protocols"},
      {[](Offer& o) { o.scopes = 64; }, "offer.scopes"},
      {[](Offer& o) { o.capacity = 0; }, "offer.capacity"},
      {[](Offer& o) { o.fee_bps = 10'001; }, "offer.feeBps"},
      {[](Offer& o) { o.ip = {}; }, "offer.ip"},
      {[](Offer& o) { o.price_per_second = U256::max(); }, "offer.pricePerSecond"},
  };
  EXPECT_TRUE(validate(sample_offer()));
  for (const auto& c : offers) {
    Offer o = sample_offer();
    c.mutate(o);
    auto r = validate(o);
    ASSERT_FALSE(r) << c.field;
    EXPECT_NE(r.error().message().find(c.field), std::string::npos) << r.error().message();
  }
  struct RCase {
    std::function<void(Request&)> mutate;
    const char* field;
  } requests[] = {
      {[](Request& r) { r.duration = 4; }, "request.duration"},
      {[](Request& r) { r.duration = 2'592'001; }, "request.duration"},
      {[](Request& r) {
         r.countries.push_back({'Z', 'Z'});
       },
       "request.countries[2]"},
      {[](Request& r) { r.scope = scope::crawling | scope::email; }, "request.scope"},
      {[](Request& r) { r.count = 0; }, "request.count"},
      {[](Request& r) { r.max_price_per_second = U256::max(); }, "request.maxPricePerSecond"},
  };
  EXPECT_TRUE(validate(sample_request()));
  for (const auto& c : requests) {
    Request q = sample_request();
    c.mutate(q);
    auto r = validate(q);
    ASSERT_FALSE(r) << c.field;
    EXPECT_NE(r.error().message().find(c.field), std::string::npos) << r.error().message();
  }
}

TEST(Orders, FitChecksEveryClause) {
  const uint64_t now = 1'800'000'000;
  U256 price = U256(1'500'000'000'000ull);
  EXPECT_TRUE(check_fit(sample_offer(), sample_request(), price, now));
  struct Case {
    std::function<void(Offer&, Request&, U256&)> mutate;
    const char* why;
  } cases[] = {
      {[](Offer&, Request&, U256& p) { p = U256(1); }, "below the offer"},
      {[](Offer&, Request&, U256& p) { p = U256(3'000'000'000'000ull); }, "above the request"},
      {[](Offer& o, Request&, U256&) { o.max_duration = 100; }, "duration"},
      {[](Offer&, Request& r, U256&) { r.protocols = protocol::smtp; }, "protocol"},
      {[](Offer&, Request& r, U256&) { r.scope = scope::email; }, "scope"},
      {[](Offer&, Request& r, U256&) {
         r.countries = {{'U', 'S'}};
       },
       "country"},
      {[](Offer&, Request& r, U256&) { r.asn = 1; }, "ASN"},
      {[](Offer&, Request& r, U256&) { r.ip_types = 1u << 2; }, "IP type"},
      {[](Offer&, Request& r, U256&) { r.min_bandwidth_kbps = 60'000; }, "bandwidth"},
      {[](Offer&, Request& r, U256&) { r.market = Address(); }, "markets"},
      {[](Offer& o, Request&, U256&) { o.fee_bps = 1; }, "fees"},
      {[](Offer& o, Request&, U256&) { o.available_until = 1'800'000'100; }, "availability"},
      {[](Offer& o, Request&, U256&) { o.available_from = 1'900'000'000; }, "available"},
      // start + duration would wrap past 2^64 and look early: still after the availability.
      {[](Offer& o, Request& r, U256&) {
         o.available_until = 1'900'000'000;
         r.start = UINT64_MAX - 10;
       },
       "availability"},
  };
  for (const auto& c : cases) {
    Offer o = sample_offer();
    Request r = sample_request();
    U256 p = price;
    c.mutate(o, r, p);
    auto res = check_fit(o, r, p, now);
    ASSERT_FALSE(res) << c.why;
    EXPECT_EQ(res.error().code(), LedgerErrc::terms_mismatch);
    EXPECT_NE(res.error().message().find(c.why), std::string::npos) << res.error().message();
  }
}

TEST(Orders, IpAddressesParseAndFormat) {
  EXPECT_EQ(format_ip(parse_ip("127.0.0.2").value()), "127.0.0.2");
  EXPECT_EQ(format_ip(parse_ip("2001:db8::1").value()), "2001:db8::1");
  EXPECT_FALSE(parse_ip("127.0.0"));
  EXPECT_FALSE(parse_ip("host.example"));
  EXPECT_FALSE(parse_country("XX"));
}

// One of every operation (two of those with optional parts), each field set.
std::vector<Op> every_operation() {
  auto k = crypto::PrivateKey::from_bytes(keccak256(std::string_view("k")).view()).value();
  crypto::Signature sig = crypto::sign(k, keccak256(std::string_view("x"))).value();
  Hash id = keccak256(std::string_view("deal"));
  Amount a = Amount::parse("1.25").value();
  Request r = sample_request();
  r.countries.push_back(parse_country("FR").value());
  r.region = "Île-de-France";
  return {Transfer{addr("a"), a},
          Approve{addr("b"), a},
          TransferFrom{addr("a"), addr("b"), a},
          Buy{a},
          FinalizeSale{},
          ClaimUnsold{},
          Refund{},
          Deposit{a},
          Withdraw{a},
          CancelOrder{id},
          OpenDeal{sample_offer(), sig, sample_request(), sig, U256(5)},
          OpenDeal{sample_offer(), sig, r, sig, U256::max()},
          Claim{id, a, sig},
          CloseDeal{id, a, sig, CloseReason::completed},
          CloseDeal{id, Amount(), std::nullopt, CloseReason::provider_failed},
          CooperativeClose{id, a, sig, sig, CloseReason::requester_closed},
          UncooperativeClose{id, a, CloseReason::unpaid},
          Settle{id},
          Rate{id, 4},
          RecordUsage{id, 7, keccak256(std::string_view("root")), sig},
          Batch{{Claim{id, a, sig}, CloseDeal{id, a, sig, CloseReason::completed}}},
          Batch{{CloseDeal{id, a, sig, CloseReason::completed}, Claim{id, a, sig}}}};
}

TEST(TxCodec, EveryOperationRoundTripsThroughJsonWithTheSameDigest) {
  Hash sep = ledger_domain(5, Address()).separator();
  auto k = crypto::PrivateKey::from_bytes(keccak256(std::string_view("k")).view()).value();
  crypto::Signature sig = crypto::sign(k, keccak256(std::string_view("x"))).value();
  std::vector<Op> ops = every_operation();
  std::set<Hash> digests;
  for (const Op& op : ops) {
    SignedTx tx{{5, addr("a"), 3, op, tx_digest(sep, 3, op)}, sig};
    auto back = signed_tx_from_json(json::parse(to_json(tx).dump()), sep);
    ASSERT_TRUE(back) << op_name(op) << ": " << back.error().message();
    EXPECT_EQ(back->tx.digest, tx.tx.digest) << op_name(op);
    EXPECT_EQ(back->id(), tx.id()) << op_name(op);
    digests.insert(tx.tx.digest);
  }
  EXPECT_EQ(digests.size(), ops.size()) << "two operations share a digest";
  EXPECT_NE(tx_digest(sep, 3, ops[0]), tx_digest(sep, 4, ops[0]));
  EXPECT_NE(tx_digest(sep, 3, ops[0]),
            tx_digest(ledger_domain(6, Address()).separator(), 3, ops[0]));
}

// The store's binary form (record_codec.h): every operation back with the same digest and id,
// and a damaged record an error, never a crash or a different transaction taken as sound.
TEST(RecordCodec, EveryOperationRoundTripsThroughTheStoredForm) {
  Hash sep = ledger_domain(5, Address()).separator();
  auto k = crypto::PrivateKey::from_bytes(keccak256(std::string_view("k")).view()).value();
  crypto::Signature sig = crypto::sign(k, keccak256(std::string_view("x"))).value();
  for (const Op& op : every_operation()) {
    SignedTx tx{{5, addr("a"), 3, op, tx_digest(sep, 3, op)}, sig};
    std::string bytes = encode_tx(tx);
    auto back = decode_tx(bytes, sep);
    ASSERT_TRUE(back) << op_name(op) << ": " << back.error().message();
    EXPECT_EQ(back->tx.chain_id, 5u);
    EXPECT_EQ(back->tx.from, addr("a"));
    EXPECT_EQ(back->tx.nonce, 3u);
    EXPECT_EQ(back->tx.digest, tx.tx.digest) << op_name(op);
    EXPECT_EQ(back->id(), tx.id()) << op_name(op);
    EXPECT_EQ(to_json(*back), to_json(tx)) << op_name(op);
    // Every shorter prefix is refused, and so is a byte more.
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto cut = decode_tx(std::string_view(bytes).substr(0, n), sep);
      ASSERT_FALSE(cut) << op_name(op) << " cut to " << n << " bytes";
      EXPECT_EQ(cut.error().code(), make_error_code(LedgerErrc::storage));
    }
    EXPECT_FALSE(decode_tx(bytes + '\0', sep));
  }
}

TEST(RecordCodec, ADamagedRecordIsAnErrorNamingWhatIsWrong) {
  Hash sep = ledger_domain(5, Address()).separator();
  auto k = crypto::PrivateKey::from_bytes(keccak256(std::string_view("k")).view()).value();
  crypto::Signature sig = crypto::sign(k, keccak256(std::string_view("x"))).value();
  Op op = CloseDeal{keccak256(std::string_view("d")), Amount::from_base(7), sig,
                    CloseReason::completed};
  std::string bytes = encode_tx(SignedTx{{5, addr("a"), 0, op, tx_digest(sep, 0, op)}, sig});
  auto message = [&](std::string b) {
    auto r = decode_tx(b, sep);
    return r ? std::string("decoded") : r.error().message();
  };
  EXPECT_NE(message("\x02" + bytes.substr(1)).find("not of this version"), std::string::npos);
  std::string tag = bytes;
  tag[1 + 8 + 20 + 8 + 65] = 99;  // the operation's tag
  EXPECT_NE(message(tag).find("operation tag 99 is unknown"), std::string::npos);
  std::string reason = bytes;
  reason.back() = 42;
  EXPECT_NE(message(reason).find("close reason"), std::string::npos);
  // A batch inside a batch is refused as JSON refuses it.
  Op nested = Batch{{Batch{{Settle{Hash()}}}}};
  std::string twice = encode_tx(SignedTx{{5, addr("a"), 0, nested, Hash()}, sig});
  EXPECT_NE(message(twice).find("cannot be batched"), std::string::npos);
}

TEST(RecordCodec, EventsRoundTripWithTheirRowsPlace) {
  Event e;
  e.kind = EventKind::deal_closed;
  e.deal = keccak256(std::string_view("d"));
  e.chain_tx = keccak256(std::string_view("c"));
  e.accounts = {addr("a"), addr("b")};
  e.fields = {{"amount", "12.5"}, {"reason", "completed"}, {"empty", ""}};
  Event plain;
  plain.kind = EventKind::transfer;
  plain.accounts = {addr("a")};
  std::vector<Event> evs{e, plain};
  Hash id = keccak256(std::string_view("tx"));
  std::string bytes = encode_events(evs);
  auto back = decode_events(bytes, 9, 3, id);
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    evs[i].block = 9;
    evs[i].tx_index = 3;
    evs[i].tx_id = id;
    EXPECT_EQ(to_json((*back)[i]), to_json(evs[i]));
  }
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode_events(std::string_view(bytes).substr(0, n), 9, 3, id)) << n;
  auto none = decode_events(encode_events({}), 1, 0, id);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// Regression: found by `make fuzz`. to_json() built numbers as signed integers, which the reader
// (expecting unsigned) refused, so a transaction converted to JSON in memory did not read back.
TEST(TxCodec, InMemoryJsonReadsBackWithoutATextRoundTrip) {
  Hash sep = ledger_domain(5, Address()).separator();
  auto k = crypto::PrivateKey::from_bytes(keccak256(std::string_view("k")).view()).value();
  crypto::Signature sig = crypto::sign(k, keccak256(std::string_view("x"))).value();
  Op op = CloseDeal{keccak256(std::string_view("d")), Amount::from_base(7), std::nullopt,
                    CloseReason::completed};
  SignedTx tx{{5, addr("a"), 0, op, tx_digest(sep, 0, op)}, sig};
  auto back = signed_tx_from_json(to_json(tx), sep);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->id(), tx.id());
  auto offer = offer_from_json(to_json(sample_offer()));
  ASSERT_TRUE(offer) << offer.error().message();
  EXPECT_EQ(offer->struct_hash(), sample_offer().struct_hash());
  json negative = to_json(tx);
  negative["nonce"] = -1;
  EXPECT_NE(signed_tx_from_json(negative, sep).error().message().find("negative"),
            std::string::npos);
}

TEST(TxCodec, MalformedJsonNamesTheMember) {
  Hash sep = ledger_domain(5, Address()).separator();
  auto r = signed_tx_from_json(json::parse(R"({"chainId": 5, "from": "0x12", "nonce": 0,
      "op": {"op": "transfer"}, "signature": "0x00"})"),
                               sep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("tx.from"), std::string::npos) << r.error().message();
  auto op = op_from_json(
      json::parse(R"({"op": "transfer", "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"})"));
  ASSERT_FALSE(op);
  EXPECT_NE(op.error().message().find("op.amount"), std::string::npos);
  EXPECT_NE(
      op_from_json(json::parse(R"({"op": "mint"})")).error().message().find("unknown operation"),
      std::string::npos);
  // A batch names the operation at fault by its place, and refuses what cannot be batched.
  auto batch = op_from_json(json::parse(R"({"op": "batch", "ops": [{"op": "settle",
      "dealId": "0x00"}]})"));
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error().field(), "op.ops[0].dealId") << batch.error().message();
  batch = op_from_json(json::parse(R"({"op": "batch", "ops": [{"op": "transfer",
      "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "amount": "1"}]})"));
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error().field(), "op.ops[0].op") << batch.error().message();
  EXPECT_FALSE(op_from_json(json::parse(R"({"op": "batch", "ops": []})")));
}

TEST(Genesis, TomlRoundTripsAndBadKeysAreNamed) {
  GenesisConfig g;
  g.chain_id = 9;
  g.time = from_unix_ms(1000);
  g.early_adopters = addr("e");
  g.bounty = addr("b");
  g.team = addr("t");
  g.sale = {U256(10'000),       Amount::from_tokens(90'000).value(),
            from_unix_ms(1000), from_unix_ms(2000),
            addr("tr"),         Amount()};
  g.native = {{addr("n"), Amount::parse("1.5").value()}};
  auto back = GenesisConfig::from_toml(g.to_toml());
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->to_toml(), g.to_toml());

  std::string text = g.to_toml();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return GenesisConfig::from_toml(t);
  };
  EXPECT_NE(replace("rate = \"10000\"", "rate = \"x\"").error().message().find("sale.rate"),
            std::string::npos);
  EXPECT_NE(replace("hard_cap = \"90000\"", "hard_cap = \"90000000\"")
                .error()
                .message()
                .find("900,000,000"),
            std::string::npos);
  EXPECT_NE(replace("end = 2000", "end = 500").error().message().find("sale.end"),
            std::string::npos);
  EXPECT_NE(GenesisConfig::from_toml("chain_id = [").error().message().find("not valid TOML"),
            std::string::npos);
  auto dup = replace(g.bounty.to_string(), g.team.to_string());
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("the same"), std::string::npos);
}

}  // namespace
}  // namespace ipsx::ledger

namespace ipsx::ledger {
namespace {

TEST(OrderNames, ProtocolsAndScopesFromNames) {
  EXPECT_EQ(parse_protocols("http,https-connect,socks5").value(),
            protocol::http | protocol::https_connect | protocol::socks5);
  EXPECT_EQ(parse_scopes("crawling").value(), scope::crawling);
  EXPECT_EQ(parse_scopes("crawling,general,vpn").value(),
            scope::crawling | scope::general | scope::vpn);
  auto bad = parse_protocols("http,gopher");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'gopher'"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(parse_scopes(""));
  EXPECT_FALSE(parse_scopes("crawling,"));
}

}  // namespace
}  // namespace ipsx::ledger
