#include "eth/rpc.h"

#include <fmt/format.h>

#include <thread>

namespace ipsx::eth {

using json = nlohmann::json;

namespace {

std::unexpected<Error> bad_response(std::string_view what, std::string_view detail) {
  return fail(EthErrc::bad_response, fmt::format("{}: {}", what, detail));
}

json call_object(const CallRequest& c) {
  json o = json::object();
  if (c.from) o["from"] = c.from->to_lower_hex();
  if (c.to) o["to"] = c.to->to_lower_hex();
  if (!c.value.is_zero()) o["value"] = quantity(c.value);
  o["input"] = to_hex(c.data);
  if (c.gas) o["gas"] = quantity(*c.gas);
  return o;
}

Result<Log> parse_log(const json& j) {
  if (!j.is_object()) return bad_response("log", "not an object");
  Log l;
  auto a = parse_address(j.value("address", json()), "log.address");
  if (!a) return std::unexpected(a.error());
  l.address = *a;
  if (!j.contains("topics") || !j["topics"].is_array()) {
    return bad_response("log", "no topics");
  }
  for (const json& t : j["topics"]) {
    auto h = parse_hash(t, "log.topic");
    if (!h) return std::unexpected(h.error());
    l.topics.push_back(*h);
  }
  auto d = parse_data(j.value("data", json()), "log.data");
  if (!d) return std::unexpected(d.error());
  l.data = std::move(*d);
  auto b = parse_u64(j.value("blockNumber", json()), "log.blockNumber");
  auto bh = parse_hash(j.value("blockHash", json()), "log.blockHash");
  if (!bh) return std::unexpected(bh.error());
  l.block_hash = *bh;
  auto th = parse_hash(j.value("transactionHash", json()), "log.transactionHash");
  auto ti = parse_u64(j.value("transactionIndex", json()), "log.transactionIndex");
  auto li = parse_u64(j.value("logIndex", json()), "log.logIndex");
  if (!b) return std::unexpected(b.error());
  if (!th) return std::unexpected(th.error());
  if (!ti) return std::unexpected(ti.error());
  if (!li) return std::unexpected(li.error());
  l.block = *b;
  l.tx_hash = *th;
  l.tx_index = static_cast<uint32_t>(*ti);
  l.log_index = static_cast<uint32_t>(*li);
  return l;
}

Result<TxReceipt> parse_receipt(const json& j) {
  if (!j.is_object()) return bad_response("receipt", "not an object");
  TxReceipt r;
  auto h = parse_hash(j.value("transactionHash", json()), "receipt.transactionHash");
  auto b = parse_u64(j.value("blockNumber", json()), "receipt.blockNumber");
  auto bh = parse_hash(j.value("blockHash", json()), "receipt.blockHash");
  auto i = parse_u64(j.value("transactionIndex", json()), "receipt.transactionIndex");
  auto s = parse_u64(j.value("status", json()), "receipt.status");
  auto g = parse_u64(j.value("gasUsed", json()), "receipt.gasUsed");
  auto f = parse_address(j.value("from", json()), "receipt.from");
  if (!h) return std::unexpected(h.error());
  if (!b) return std::unexpected(b.error());
  if (!bh) return std::unexpected(bh.error());
  if (!i) return std::unexpected(i.error());
  if (!s) return std::unexpected(s.error());
  if (!g) return std::unexpected(g.error());
  if (!f) return std::unexpected(f.error());
  r.tx_hash = *h;
  r.block = *b;
  r.block_hash = *bh;
  r.index = static_cast<uint32_t>(*i);
  r.success = *s == 1;
  r.gas_used = *g;
  r.from = *f;
  if (j.contains("contractAddress") && !j["contractAddress"].is_null()) {
    auto c = parse_address(j["contractAddress"], "receipt.contractAddress");
    if (!c) return std::unexpected(c.error());
    r.contract_address = *c;
  }
  if (j.contains("logs") && j["logs"].is_array()) {
    for (const json& l : j["logs"]) {
      auto log = parse_log(l);
      if (!log) return std::unexpected(log.error());
      r.logs.push_back(std::move(*log));
    }
  }
  return r;
}

}  // namespace

// ---- JSON helpers -------------------------------------------------------------------------------

std::string quantity(const U256& v) {
  std::string h = v.to_hex();  // 0x-prefixed, may have leading zeros
  std::string_view digits = strip_hex_prefix(h);
  size_t nz = digits.find_first_not_of('0');
  return nz == std::string_view::npos ? "0x0" : "0x" + std::string(digits.substr(nz));
}

std::string quantity(uint64_t v) {
  return fmt::format("0x{:x}", v);
}

Result<U256> parse_quantity(const json& j, std::string_view what) {
  if (!j.is_string()) return bad_response(what, "expected a hex quantity");
  const std::string& s = j.get_ref<const std::string&>();
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s.size() > 66) {
    return bad_response(what, fmt::format("'{}' is not a hex quantity", s.substr(0, 80)));
  }
  auto v = U256::from_hex(s);
  if (!v) return bad_response(what, fmt::format("'{}' is not a hex quantity", s.substr(0, 80)));
  return *v;
}

Result<uint64_t> parse_u64(const json& j, std::string_view what) {
  auto v = parse_quantity(j, what);
  if (!v) return std::unexpected(v.error());
  if (!v->fits_u64()) return bad_response(what, "over 64 bits");
  return v->low64();
}

Result<Bytes> parse_data(const json& j, std::string_view what) {
  if (!j.is_string()) return bad_response(what, "expected hex data");
  auto b = from_hex(j.get_ref<const std::string&>(), kMaxRpcResponse);
  if (!b) return bad_response(what, b.error().message());
  return std::move(*b);
}

Result<Hash> parse_hash(const json& j, std::string_view what) {
  if (!j.is_string()) return bad_response(what, "expected a 32-byte hex string");
  auto h = Hash::from_hex(j.get_ref<const std::string&>());
  if (!h) return bad_response(what, h.error().message());
  return *h;
}

Result<Address> parse_address(const json& j, std::string_view what) {
  if (!j.is_string()) return bad_response(what, "expected an address");
  auto a = FixedBytes<20>::from_hex(j.get_ref<const std::string&>());
  if (!a) return bad_response(what, a.error().message());
  return Address(*a);
}

Result<ChainTx> parse_chain_tx(const json& j) {
  if (!j.is_object()) return bad_response("transaction", "not an object");
  auto type = parse_u64(j.value("type", json("0x0")), "transaction.type");
  auto nonce = parse_u64(j.value("nonce", json()), "transaction.nonce");
  auto gas = parse_u64(j.value("gas", json()), "transaction.gas");
  auto value = parse_quantity(j.value("value", json()), "transaction.value");
  auto input = parse_data(j.value("input", json()), "transaction.input");
  auto r = parse_quantity(j.value("r", json()), "transaction.r");
  auto s = parse_quantity(j.value("s", json()), "transaction.s");
  auto v = parse_quantity(j.value("v", json()), "transaction.v");
  auto from = parse_address(j.value("from", json()), "transaction.from");
  auto hash = parse_hash(j.value("hash", json()), "transaction.hash");
  for (auto* e : {&type, &nonce, &gas}) {
    if (!*e) return std::unexpected(e->error());
  }
  for (auto* e : {&value, &r, &s, &v}) {
    if (!*e) return std::unexpected(e->error());
  }
  if (!input) return std::unexpected(input.error());
  if (!from) return std::unexpected(from.error());
  if (!hash) return std::unexpected(hash.error());
  std::optional<Address> to;
  if (j.contains("to") && !j["to"].is_null()) {
    auto t = parse_address(j["to"], "transaction.to");
    if (!t) return std::unexpected(t.error());
    to = *t;
  }
  ChainTx out;
  uint8_t recid = 0;
  if (*type == 2) {
    DynamicFeeTx tx;
    auto chain = parse_u64(j.value("chainId", json()), "transaction.chainId");
    auto tip = parse_quantity(j.value("maxPriorityFeePerGas", json()), "maxPriorityFeePerGas");
    auto cap = parse_quantity(j.value("maxFeePerGas", json()), "maxFeePerGas");
    if (!chain) return std::unexpected(chain.error());
    if (!tip) return std::unexpected(tip.error());
    if (!cap) return std::unexpected(cap.error());
    tx.chain_id = *chain;
    tx.nonce = *nonce;
    tx.max_priority_fee_per_gas = *tip;
    tx.max_fee_per_gas = *cap;
    tx.gas_limit = *gas;
    tx.to = to;
    tx.value = *value;
    tx.data = std::move(*input);
    if (j.contains("accessList") && j["accessList"].is_array()) {
      for (const json& e : j["accessList"]) {
        AccessListEntry entry;
        auto a = parse_address(e.value("address", json()), "accessList.address");
        if (!a) return std::unexpected(a.error());
        entry.address = *a;
        for (const json& k : e.value("storageKeys", json::array())) {
          auto h = parse_hash(k, "accessList.storageKey");
          if (!h) return std::unexpected(h.error());
          entry.storage_keys.push_back(*h);
        }
        tx.access_list.push_back(std::move(entry));
      }
    }
    if (!v->fits_u64() || v->low64() > 1) return bad_response("transaction.v", "not 0 or 1");
    recid = static_cast<uint8_t>(v->low64());
    out.tx = std::move(tx);
  } else if (*type == 0) {
    LegacyTx tx;
    auto price = parse_quantity(j.value("gasPrice", json()), "transaction.gasPrice");
    if (!price) return std::unexpected(price.error());
    tx.nonce = *nonce;
    tx.gas_price = *price;
    tx.gas_limit = *gas;
    tx.to = to;
    tx.value = *value;
    tx.data = std::move(*input);
    if (!v->fits_u64()) return bad_response("transaction.v", "out of range");
    uint64_t vv = v->low64();
    if (vv == 27 || vv == 28) {
      tx.chain_id = std::nullopt;
      recid = static_cast<uint8_t>(vv - 27);
    } else if (vv >= 35) {
      tx.chain_id = (vv - 35) / 2;
      recid = static_cast<uint8_t>((vv - 35) % 2);
    } else {
      return bad_response("transaction.v", "not a legacy v");
    }
    out.tx = std::move(tx);
  } else {
    return fail(EthErrc::unsupported_type, fmt::format("transaction type {}", *type));
  }
  out.signature = crypto::Signature(Hash(r->to_be_bytes()), Hash(s->to_be_bytes()), recid);
  out.from = *from;
  out.hash = *hash;
  if (j.contains("blockNumber") && !j["blockNumber"].is_null()) {
    auto b = parse_u64(j["blockNumber"], "transaction.blockNumber");
    auto i = parse_u64(j.value("transactionIndex", json()), "transaction.transactionIndex");
    if (!b) return std::unexpected(b.error());
    if (!i) return std::unexpected(i.error());
    out.block = *b;
    out.index = static_cast<uint32_t>(*i);
  }
  return out;
}

// ---- The client ---------------------------------------------------------------------------------

RpcClient::RpcClient(std::unique_ptr<RpcTransport> transport, RpcOptions options)
    : transport_(std::move(transport)), options_(options) {}

Result<std::unique_ptr<RpcClient>> RpcClient::connect(std::string_view url, RpcOptions options) {
  auto t = HttpTransport::create(url);
  if (!t) return std::unexpected(t.error());
  return std::make_unique<RpcClient>(std::move(*t), options);
}

Result<json> RpcClient::request(std::string_view method, json params, bool idempotent,
                                RpcErrorObject* error_object) {
  uint64_t id = next_id_.fetch_add(1);
  json req = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  std::string body = req.dump();
  int attempts = idempotent ? std::max(1, options_.read_attempts) : 1;
  Result<std::string> text = fail(EthErrc::unavailable, "not sent");
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) std::this_thread::sleep_for(options_.retry_backoff * i);
    text = transport_->post(body, options_.timeout);
    if (text) break;
    auto code = text.error().code();
    if (code != make_error_code(EthErrc::unavailable) && code != make_error_code(EthErrc::timeout))
      break;
  }
  if (!text) return std::unexpected(text.error().with_context(method));
  json reply = json::parse(*text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    return bad_response(method, fmt::format("not a JSON object: '{}'", text->substr(0, 120)));
  }
  if (reply.contains("error") && !reply["error"].is_null()) {
    const json& e = reply["error"];
    RpcErrorObject obj;
    if (e.is_object()) {
      if (e.contains("code") && e["code"].is_number_integer()) obj.code = e["code"].get<int64_t>();
      if (e.contains("message") && e["message"].is_string()) obj.message = e["message"];
      if (e.contains("data") && e["data"].is_string()) {
        if (auto d = from_hex(e["data"].get<std::string>(), kMaxRpcResponse)) obj.data = *d;
      }
    }
    std::string msg =
        fmt::format("{}: {} (JSON-RPC error {})", method, obj.message.substr(0, 500), obj.code);
    if (error_object) *error_object = std::move(obj);
    return fail(EthErrc::rpc_error, msg);
  }
  if (!reply.contains("result")) return bad_response(method, "neither result nor error");
  return std::move(reply["result"]);
}

Result<uint64_t> RpcClient::chain_id() {
  auto r = request("eth_chainId", json::array());
  if (!r) return std::unexpected(r.error());
  return parse_u64(*r, "eth_chainId");
}

Result<uint64_t> RpcClient::block_number() {
  auto r = request("eth_blockNumber", json::array());
  if (!r) return std::unexpected(r.error());
  return parse_u64(*r, "eth_blockNumber");
}

Result<U256> RpcClient::balance(const Address& a, std::string_view block) {
  auto r = request("eth_getBalance", json::array({a.to_lower_hex(), block}));
  if (!r) return std::unexpected(r.error());
  return parse_quantity(*r, "eth_getBalance");
}

Result<uint64_t> RpcClient::transaction_count(const Address& a, std::string_view block) {
  auto r = request("eth_getTransactionCount", json::array({a.to_lower_hex(), block}));
  if (!r) return std::unexpected(r.error());
  return parse_u64(*r, "eth_getTransactionCount");
}

Result<U256> RpcClient::gas_price() {
  auto r = request("eth_gasPrice", json::array());
  if (!r) return std::unexpected(r.error());
  return parse_quantity(*r, "eth_gasPrice");
}

Result<U256> RpcClient::max_priority_fee() {
  auto r = request("eth_maxPriorityFeePerGas", json::array());
  if (!r) return std::unexpected(r.error());
  return parse_quantity(*r, "eth_maxPriorityFeePerGas");
}

Result<FeeHistory> RpcClient::fee_history(uint64_t blocks, double percentile) {
  auto r = request("eth_feeHistory", json::array({quantity(blocks), "latest", {percentile}}));
  if (!r) return std::unexpected(r.error());
  FeeHistory h;
  if (!r->is_object() || !(*r).contains("baseFeePerGas") || !(*r)["baseFeePerGas"].is_array()) {
    return bad_response("eth_feeHistory", "no baseFeePerGas");
  }
  for (const json& b : (*r)["baseFeePerGas"]) {
    auto v = parse_quantity(b, "eth_feeHistory.baseFeePerGas");
    if (!v) return std::unexpected(v.error());
    h.base_fees.push_back(*v);
  }
  if ((*r).contains("reward") && (*r)["reward"].is_array()) {
    for (const json& row : (*r)["reward"]) {
      if (!row.is_array() || row.empty()) continue;
      auto v = parse_quantity(row[0], "eth_feeHistory.reward");
      if (!v) return std::unexpected(v.error());
      h.rewards.push_back(*v);
    }
  }
  return h;
}

Result<uint64_t> RpcClient::estimate_gas(const CallRequest& call, RpcErrorObject* error_object) {
  auto r = request("eth_estimateGas", json::array({call_object(call)}), true, error_object);
  if (!r) return std::unexpected(r.error());
  return parse_u64(*r, "eth_estimateGas");
}

Result<CallResult> RpcClient::call(const CallRequest& c, std::string_view block,
                                   const json& state_override, const json& block_override) {
  json params = json::array({call_object(c), block});
  if (!state_override.is_null() || !block_override.is_null()) {
    params.push_back(state_override.is_null() ? json::object() : state_override);
  }
  if (!block_override.is_null()) params.push_back(block_override);
  RpcErrorObject err;
  auto r = request("eth_call", std::move(params), true, &err);
  if (!r) {
    // Geth and anvil answer a revert with code 3 (or -32003 / -32015 in older nodes) and the
    // revert data; a revert without data has a message saying so.
    bool revert = err.data.has_value() || err.message.find("revert") != std::string::npos;
    if (r.error().code() == make_error_code(EthErrc::rpc_error) && revert) {
      return CallResult{true, err.data.value_or(Bytes{}), err.message};
    }
    return std::unexpected(r.error());
  }
  auto d = parse_data(*r, "eth_call");
  if (!d) return std::unexpected(d.error());
  return CallResult{false, std::move(*d), {}};
}

Result<Hash> RpcClient::send_raw_transaction(ByteView raw, RpcErrorObject* error_object) {
  auto r = request("eth_sendRawTransaction", json::array({to_hex(raw)}), false, error_object);
  if (!r) return std::unexpected(r.error());
  return parse_hash(*r, "eth_sendRawTransaction");
}

Result<std::optional<TxReceipt>> RpcClient::receipt(const Hash& tx_hash) {
  auto r = request("eth_getTransactionReceipt", json::array({tx_hash.hex()}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return std::optional<TxReceipt>();
  auto p = parse_receipt(*r);
  if (!p) return std::unexpected(p.error());
  return std::optional<TxReceipt>(std::move(*p));
}

Result<TxReceipt> RpcClient::wait_for_receipt(const Hash& tx_hash,
                                              std::chrono::steady_clock::time_point deadline,
                                              Millis poll) {
  std::string last = "not mined yet";
  for (;;) {
    auto r = receipt(tx_hash);
    if (r && *r) return std::move(**r);
    if (!r) {
      if (r.error().code() == make_error_code(EthErrc::bad_response)) {
        return std::unexpected(r.error());
      }
      last = r.error().message();
    }
    if (std::chrono::steady_clock::now() + poll > deadline) {
      return fail(EthErrc::timeout,
                  fmt::format("no receipt for {} by the deadline ({})", tx_hash.hex(), last));
    }
    std::this_thread::sleep_for(poll);
  }
}

Result<std::optional<ChainTx>> RpcClient::transaction(const Hash& tx_hash) {
  auto r = request("eth_getTransactionByHash", json::array({tx_hash.hex()}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return std::optional<ChainTx>();
  auto t = parse_chain_tx(*r);
  if (!t) return std::unexpected(t.error());
  return std::optional<ChainTx>(std::move(*t));
}

Result<std::optional<BlockInfo>> RpcClient::block(uint64_t number, bool full) {
  auto r = request("eth_getBlockByNumber", json::array({quantity(number), full}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return std::optional<BlockInfo>();
  const json& j = *r;
  BlockInfo b;
  auto n = parse_u64(j.value("number", json()), "block.number");
  auto h = parse_hash(j.value("hash", json()), "block.hash");
  auto p = parse_hash(j.value("parentHash", json()), "block.parentHash");
  auto t = parse_u64(j.value("timestamp", json()), "block.timestamp");
  auto tr = parse_hash(j.value("transactionsRoot", json()), "block.transactionsRoot");
  auto sr = parse_hash(j.value("stateRoot", json()), "block.stateRoot");
  if (!n) return std::unexpected(n.error());
  if (!t) return std::unexpected(t.error());
  for (auto* e : {&h, &p, &tr, &sr}) {
    if (!*e) return std::unexpected(e->error());
  }
  b.number = *n;
  b.hash = *h;
  b.parent = *p;
  b.timestamp = *t;
  b.tx_root = *tr;
  b.state_root = *sr;
  if (j.contains("baseFeePerGas")) {
    auto f = parse_quantity(j["baseFeePerGas"], "block.baseFeePerGas");
    if (!f) return std::unexpected(f.error());
    b.base_fee = *f;
  }
  if (j.contains("transactions") && j["transactions"].is_array()) {
    for (const json& tx : j["transactions"]) {
      if (tx.is_string()) {
        auto th = parse_hash(tx, "block.transactions");
        if (!th) return std::unexpected(th.error());
        b.tx_hashes.push_back(*th);
      } else {
        auto ct = parse_chain_tx(tx);
        if (!ct) return std::unexpected(ct.error());
        b.tx_hashes.push_back(ct->hash);
        b.txs.push_back(std::move(*ct));
      }
    }
  }
  return std::optional<BlockInfo>(std::move(b));
}

Result<std::vector<Log>> RpcClient::logs(const LogFilter& f) {
  json filter = json::object();
  json addrs = json::array();
  for (const Address& a : f.addresses) addrs.push_back(a.to_lower_hex());
  filter["address"] = addrs;
  json topics = json::array();
  for (const auto& alts : f.topics) {
    if (alts.empty()) {
      topics.push_back(nullptr);
    } else {
      json a = json::array();
      for (const Hash& h : alts) a.push_back(h.hex());
      topics.push_back(a);
    }
  }
  filter["topics"] = topics;
  filter["fromBlock"] = quantity(f.from_block);
  filter["toBlock"] = f.to_block ? quantity(*f.to_block) : std::string("latest");
  auto r = request("eth_getLogs", json::array({filter}));
  if (!r) return std::unexpected(r.error());
  if (!r->is_array()) return bad_response("eth_getLogs", "not an array");
  std::vector<Log> out;
  for (const json& l : *r) {
    auto log = parse_log(l);
    if (!log) return std::unexpected(log.error());
    out.push_back(std::move(*log));
  }
  return out;
}

}  // namespace ipsx::eth
