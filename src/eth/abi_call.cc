// The call-level parts of the ABI (abi.h): functions and selectors, events and topics, revert data.
#include <fmt/format.h>
#include <algorithm>

#include "core/keccak.h"
#include "eth/abi.h"

namespace ipsx::eth::abi {
namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
         (!first && c >= '0' && c <= '9');
}

// Splits "name(types)(returns)" into its name and one or two parameter lists.
struct SignatureParts {
  std::string name;
  std::vector<Type> inputs;
  std::vector<Type> outputs;
};

Result<SignatureParts> split_signature(std::string_view sig, bool allow_outputs) {
  auto bad = [&](std::string_view what) {
    return fail(EthErrc::bad_type, fmt::format("signature '{}': {}", sig, what));
  };
  if (sig.size() > kMaxTypeText) {
    return fail(EthErrc::too_large,
                fmt::format("signature of {} characters (max {})", sig.size(), kMaxTypeText));
  }
  size_t i = 0;
  while (i < sig.size() && is_name_char(sig[i], i == 0)) ++i;
  if (i == 0) return bad("expected a name");
  if (i == sig.size() || sig[i] != '(') return bad("expected '(' after the name");
  SignatureParts parts;
  parts.name = std::string(sig.substr(0, i));
  // The first parameter list ends at its matching ')'.
  size_t depth = 0;
  size_t j = i;
  for (; j < sig.size(); ++j) {
    if (sig[j] == '(') ++depth;
    if (sig[j] == ')' && --depth == 0) break;
  }
  if (j == sig.size()) return bad("unbalanced parentheses");
  auto inputs = Type::parse_list(sig.substr(i, j + 1 - i));
  if (!inputs) return std::unexpected(inputs.error());
  parts.inputs = std::move(*inputs);
  std::string_view rest = sig.substr(j + 1);
  if (!rest.empty()) {
    if (!allow_outputs) return bad("unexpected text after the parameters");
    auto outputs = Type::parse_list(rest);
    if (!outputs) return std::unexpected(outputs.error());
    parts.outputs = std::move(*outputs);
  }
  return parts;
}

// The in-place encoding of an indexed array or tuple (see indexed_topic).
Result<void> in_place(const Type& t, const Value& v, Bytes& out) {
  using K = Type::Kind;
  if (t.is_word()) {
    auto word = encode({t}, {v});
    if (!word) return std::unexpected(word.error());
    out.insert(out.end(), word->begin(), word->end());
    return {};
  }
  if (t.kind() == K::bytes || t.kind() == K::string) {
    auto enc = encode({t}, {v});  // offset, length, padded content
    if (!enc) return std::unexpected(enc.error());
    out.insert(out.end(), enc->begin() + 64, enc->end());
    return {};
  }
  auto* list = v.get_if<Value::List>();
  if (!list) return fail(EthErrc::bad_value, fmt::format("{}: expected a list", t.to_string()));
  size_t want = t.kind() == K::tuple ? t.components().size() : t.length();
  if (t.kind() != K::array && list->size() != want) {
    return fail(EthErrc::bad_value,
                fmt::format("{}: expected {} values, got {}", t.to_string(), want, list->size()));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const Type& ct = t.kind() == K::tuple ? t.components()[i] : t.element();
    if (auto ok = in_place(ct, (*list)[i], out); !ok) return ok;
  }
  return {};
}

constexpr Selector kErrorSelector = {0x08, 0xc3, 0x79, 0xa0};  // Error(string)
constexpr Selector kPanicSelector = {0x4e, 0x48, 0x7b, 0x71};  // Panic(uint256)

}  // namespace

Selector selector_of(std::string_view signature) {
  Hash h = keccak256(signature);
  return {h.bytes()[0], h.bytes()[1], h.bytes()[2], h.bytes()[3]};
}

// ---- Function ----------------------------------------------------------------------------------

Result<Function> Function::parse(std::string_view signature) {
  auto parts = split_signature(signature, true);
  if (!parts) return std::unexpected(parts.error());
  Function f;
  f.name_ = std::move(parts->name);
  f.inputs_ = std::move(parts->inputs);
  f.outputs_ = std::move(parts->outputs);
  f.selector_ = selector_of(f.signature());
  return f;
}

std::string Function::signature() const {
  return name_ + to_string(inputs_);
}

Result<Bytes> Function::encode_call(const std::vector<Value>& args) const {
  auto enc = encode(inputs_, args);
  if (!enc) return std::unexpected(enc.error().with_context(signature()));
  Bytes out(selector_.begin(), selector_.end());
  out.insert(out.end(), enc->begin(), enc->end());
  return out;
}

Result<std::vector<Value>> Function::decode_call(ByteView calldata) const {
  if (calldata.size() < 4) {
    return fail(EthErrc::truncated, fmt::format("{}: calldata of {} bytes has no selector",
                                                signature(), calldata.size()));
  }
  if (!std::equal(selector_.begin(), selector_.end(), calldata.begin())) {
    return fail(EthErrc::unknown_selector,
                fmt::format("{}: calldata selector {} is not {}", signature(),
                            to_hex(calldata.first(4)), to_hex(selector_)));
  }
  auto args = decode(inputs_, calldata.subspan(4));
  if (!args) return std::unexpected(args.error().with_context(signature()));
  return args;
}

Result<std::vector<Value>> Function::decode_output(ByteView data) const {
  auto out = decode(outputs_, data);
  if (!out) return std::unexpected(out.error().with_context(signature() + " output"));
  return out;
}

// ---- Event -------------------------------------------------------------------------------------

Result<Event> Event::parse(std::string_view signature, std::vector<bool> indexed) {
  auto parts = split_signature(signature, false);
  if (!parts) return std::unexpected(parts.error());
  if (indexed.size() > parts->inputs.size()) {
    return fail(EthErrc::bad_type, fmt::format("event '{}': {} indexed flags for {} parameters",
                                               signature, indexed.size(), parts->inputs.size()));
  }
  indexed.resize(parts->inputs.size(), false);
  if (std::count(indexed.begin(), indexed.end(), true) > 3) {
    return fail(EthErrc::bad_type,
                fmt::format("event '{}': more than 3 indexed parameters", signature));
  }
  Event e;
  e.name_ = std::move(parts->name);
  e.params_ = std::move(parts->inputs);
  e.indexed_ = std::move(indexed);
  e.topic0_ = keccak256(e.signature());
  return e;
}

std::string Event::signature() const {
  return name_ + to_string(params_);
}

Result<Hash> indexed_topic(const Type& type, const Value& value) {
  if (type.is_word()) {
    auto word = encode({type}, {value});
    if (!word) return std::unexpected(word.error());
    return Hash(std::span<const uint8_t, 32>(word->data(), 32));
  }
  // bytes and string hash their content as is; inside arrays and tuples it is padded.
  if (type.kind() == Type::Kind::bytes) {
    if (auto* b = value.get_if<Bytes>()) return keccak256(*b);
  }
  if (type.kind() == Type::Kind::string) {
    if (auto* s = value.get_if<std::string>()) return keccak256(*s);
  }
  Bytes enc;
  if (auto ok = in_place(type, value, enc); !ok) return std::unexpected(ok.error());
  return keccak256(enc);
}

Result<std::vector<Hash>> Event::topics(const std::vector<Value>& values) const {
  if (values.size() != params_.size()) {
    return fail(EthErrc::bad_value, fmt::format("event {}: {} values for {} parameters",
                                                signature(), values.size(), params_.size()));
  }
  std::vector<Hash> out{topic0_};
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!indexed_[i]) continue;
    auto t = indexed_topic(params_[i], values[i]);
    if (!t) return std::unexpected(t.error().with_context(fmt::format("event {}", signature())));
    out.push_back(*t);
  }
  return out;
}

Result<std::vector<Value>> Event::decode_log(std::span<const Hash> topics, ByteView data) const {
  size_t n_indexed = static_cast<size_t>(std::count(indexed_.begin(), indexed_.end(), true));
  if (topics.size() != n_indexed + 1) {
    return fail(EthErrc::bad_value, fmt::format("event {}: {} topics, expected {}", signature(),
                                                topics.size(), n_indexed + 1));
  }
  if (topics[0] != topic0_) {
    return fail(EthErrc::unknown_selector, fmt::format("event {}: topic0 {} is not {}", signature(),
                                                       topics[0].hex(), topic0_.hex()));
  }
  std::vector<Type> data_types;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!indexed_[i]) data_types.push_back(params_[i]);
  }
  auto data_values = decode(data_types, data);
  if (!data_values) {
    return std::unexpected(data_values.error().with_context(fmt::format("event {}", signature())));
  }
  std::vector<Value> out;
  size_t next_topic = 1;
  size_t next_data = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!indexed_[i]) {
      out.push_back(std::move((*data_values)[next_data++]));
      continue;
    }
    const Hash& topic = topics[next_topic++];
    if (!params_[i].is_word()) {
      out.push_back(Value::bytes(topic.view()));
      continue;
    }
    auto v = decode({params_[i]}, topic.view());
    if (!v) {
      return std::unexpected(
          v.error().with_context(fmt::format("event {}: topic {}", signature(), next_topic - 1)));
    }
    out.push_back(std::move((*v)[0]));
  }
  return out;
}

// ---- Revert data -------------------------------------------------------------------------------

std::string panic_reason(const U256& code) {
  if (!code.fits_u64()) return "unknown panic code";
  switch (code.low64()) {
    case 0x00:
      return "generic compiler panic";
    case 0x01:
      return "assertion failed";
    case 0x11:
      return "arithmetic overflow or underflow";
    case 0x12:
      return "division or modulo by zero";
    case 0x21:
      return "conversion to an enum out of range";
    case 0x22:
      return "incorrectly encoded storage byte array";
    case 0x31:
      return "pop on an empty array";
    case 0x32:
      return "array index out of bounds";
    case 0x41:
      return "out of memory";
    case 0x51:
      return "call to a zero-initialized internal function";
    default:
      return "unknown panic code";
  }
}

std::string Revert::to_string() const {
  switch (kind) {
    case Kind::empty:
      return "reverted without data";
    case Kind::error:
      return "reverted: " + message;
    case Kind::panic:
      return fmt::format("panic {}: {}", panic_code.to_hex(), panic_reason(panic_code));
    case Kind::custom: {
      std::string out = error_name + "(";
      for (size_t i = 0; i < args.size(); ++i) {
        if (i != 0) out += ", ";
        out += args[i].to_string();
      }
      return out + ")";
    }
  }
  return "reverted";
}

Result<Revert> decode_revert(ByteView data, std::span<const Function> custom_errors) {
  Revert r;
  if (data.empty()) return r;
  if (data.size() < 4) {
    return fail(EthErrc::truncated,
                fmt::format("revert data of {} bytes has no selector", data.size()));
  }
  Selector sel = {data[0], data[1], data[2], data[3]};
  ByteView body = data.subspan(4);
  if (sel == kErrorSelector) {
    auto v = decode({Type::string()}, body);
    if (!v) return std::unexpected(v.error().with_context("Error(string)"));
    r.kind = Revert::Kind::error;
    r.message = (*v)[0].get<std::string>();
    return r;
  }
  if (sel == kPanicSelector) {
    auto v = decode({Type::uint()}, body);
    if (!v) return std::unexpected(v.error().with_context("Panic(uint256)"));
    r.kind = Revert::Kind::panic;
    r.panic_code = (*v)[0].get<U256>();
    return r;
  }
  for (const Function& e : custom_errors) {
    if (e.selector() != sel) continue;
    auto v = decode(e.inputs(), body);
    if (!v) return std::unexpected(v.error().with_context(e.signature()));
    r.kind = Revert::Kind::custom;
    r.error_name = e.name();
    r.args = std::move(*v);
    return r;
  }
  return fail(EthErrc::unknown_selector,
              fmt::format("revert data with unknown selector {}", to_hex(sel)));
}

}  // namespace ipsx::eth::abi
