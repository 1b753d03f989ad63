// The C interface (ipsx.h) over NodeClient and Signer. No exception or C++ type crosses it:
// every entry point catches, and strings are malloc'ed copies the caller frees with ipsx_free.
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "client/ipsx.h"
#include "client/node_client.h"
#include "client/signer.h"
#include "crypto/keystore.h"
#include "http/http_client.h"
#include "ledger/tx_codec.h"

struct ipsx_client {
  std::unique_ptr<ipsx::sdk::NodeClient> node;
};

struct ipsx_signer {
  ipsx::sdk::Signer signer;
};

namespace {

using ipsx::Error;
using json = nlohmann::json;

char* copy_out(std::string_view text) {
  char* p = static_cast<char*>(std::malloc(text.size() + 1));
  if (!p) return nullptr;
  std::memcpy(p, text.data(), text.size());
  p[text.size()] = '\0';
  return p;
}

ipsx_status report(char** error, ipsx_status status, std::string_view message) {
  if (error) *error = copy_out(message);
  return status;
}

ipsx_status status_of(const Error& e) {
  const auto& code = e.code();
  if (code.category() == ipsx::sdk::sdk_category()) {
    return code == make_error_code(ipsx::sdk::SdkErrc::bad_response) ? IPSX_E_BAD_RESPONSE
                                                                     : IPSX_E_API;
  }
  if (code == make_error_code(ipsx::http::HttpErrc::unavailable)) return IPSX_E_UNAVAILABLE;
  if (code == make_error_code(ipsx::http::HttpErrc::timeout)) return IPSX_E_TIMEOUT;
  if (code == make_error_code(ipsx::http::HttpErrc::too_large)) return IPSX_E_BAD_RESPONSE;
  if (code == make_error_code(ipsx::http::HttpErrc::tls)) return IPSX_E_TLS;
  return IPSX_E_INVALID_ARGUMENT;
}

ipsx_status report(char** error, const Error& e) {
  return report(error, status_of(e), e.message());
}

// Runs `body` and turns any escaped exception into IPSX_E_INTERNAL.
template <class F>
ipsx_status guarded(char** error, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return report(error, IPSX_E_INTERNAL, fmt::format("internal error: {}", e.what()));
  } catch (...) {
    return report(error, IPSX_E_INTERNAL, "internal error");
  }
}

ipsx_status missing(char** error, const char* what) {
  return report(error, IPSX_E_INVALID_ARGUMENT, fmt::format("{} is NULL", what));
}

ipsx::Result<ipsx::Address> contract_or_zero(const char* verifying_contract) {
  if (!verifying_contract) return ipsx::Address();
  return ipsx::Address::parse(verifying_contract);
}

ipsx_status parse_json(const char* text, const char* what, json& out, char** error) {
  out = json::parse(text, nullptr, false);
  if (out.is_discarded() || !out.is_object())
    return report(error, IPSX_E_INVALID_ARGUMENT, fmt::format("{}: not a JSON object", what));
  return IPSX_OK;
}

}  // namespace

extern "C" {

const char* ipsx_version(void) {
  return "0.1.0";
}

void ipsx_free(void* p) {
  std::free(p);
}

ipsx_status ipsx_client_open(const char* url, uint32_t timeout_ms, ipsx_client** out,
                             char** error) {
  return guarded(error, [&] {
    if (!url) return missing(error, "url");
    if (!out) return missing(error, "out");
    *out = nullptr;
    ipsx::sdk::ClientOptions o;
    if (timeout_ms) o.timeout = ipsx::Millis(timeout_ms);
    auto node = ipsx::sdk::NodeClient::connect(url, o);
    if (!node) return report(error, node.error());
    *out = new ipsx_client{std::move(*node)};
    return IPSX_OK;
  });
}

void ipsx_client_close(ipsx_client* client) {
  delete client;
}

ipsx_status ipsx_client_call(ipsx_client* client, const char* method, const char* target,
                             const char* body_json, char** answer_json, char** api_code,
                             char** error) {
  return guarded(error, [&] {
    if (!client) return missing(error, "client");
    if (!method) return missing(error, "method");
    if (!target) return missing(error, "target");
    if (!answer_json) return missing(error, "answer_json");
    *answer_json = nullptr;
    if (api_code) *api_code = nullptr;
    auto answer = client->node->call(method, target, body_json ? body_json : "");
    if (!answer) {
      ipsx_status s = status_of(answer.error());
      if (s == IPSX_E_API && api_code) *api_code = copy_out(answer.error().code().message());
      return report(error, answer.error());
    }
    *answer_json = copy_out(answer->dump());
    return IPSX_OK;
  });
}

ipsx_status ipsx_signer_open(const char* private_key_hex, uint64_t chain_id,
                             const char* verifying_contract, ipsx_signer** out, char** error) {
  return guarded(error, [&] {
    if (!private_key_hex) return missing(error, "private_key_hex");
    if (!out) return missing(error, "out");
    *out = nullptr;
    auto key = ipsx::crypto::PrivateKey::from_hex(private_key_hex);
    if (!key)
      return report(error, IPSX_E_INVALID_ARGUMENT, "private key: " + key.error().message());
    auto contract = contract_or_zero(verifying_contract);
    if (!contract)
      return report(error, IPSX_E_INVALID_ARGUMENT,
                    "verifying_contract: " + contract.error().message());
    *out = new ipsx_signer{ipsx::sdk::Signer::for_chain(std::move(*key), chain_id, *contract)};
    return IPSX_OK;
  });
}

ipsx_status ipsx_signer_open_keystore(const char* keystore_path, const char* password,
                                      uint64_t chain_id, const char* verifying_contract,
                                      ipsx_signer** out, char** error) {
  return guarded(error, [&] {
    if (!keystore_path) return missing(error, "keystore_path");
    if (!password) return missing(error, "password");
    if (!out) return missing(error, "out");
    *out = nullptr;
    auto text = ipsx::crypto::read_small_file(keystore_path, 64 << 10);
    if (!text)
      return report(error, IPSX_E_INVALID_ARGUMENT,
                    fmt::format("{}: {}", keystore_path, text.error().message()));
    auto key = ipsx::crypto::decrypt_keystore(*text, password);
    if (!key)
      return report(error, IPSX_E_INVALID_ARGUMENT,
                    fmt::format("{}: {}", keystore_path, key.error().message()));
    auto contract = contract_or_zero(verifying_contract);
    if (!contract)
      return report(error, IPSX_E_INVALID_ARGUMENT,
                    "verifying_contract: " + contract.error().message());
    *out = new ipsx_signer{ipsx::sdk::Signer::for_chain(std::move(*key), chain_id, *contract)};
    return IPSX_OK;
  });
}

void ipsx_signer_close(ipsx_signer* signer) {
  delete signer;
}

ipsx_status ipsx_signer_address(const ipsx_signer* signer, char** address, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!address) return missing(error, "address");
    *address = copy_out(signer->signer.address().to_string());
    return IPSX_OK;
  });
}

ipsx_status ipsx_sign_offer(const ipsx_signer* signer, const char* offer_json, char** signed_json,
                            char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!offer_json) return missing(error, "offer_json");
    if (!signed_json) return missing(error, "signed_json");
    *signed_json = nullptr;
    json doc;
    if (auto s = parse_json(offer_json, "offer_json", doc, error); s != IPSX_OK) return s;
    // The provider is the signer's: fill it in when the caller left it out.
    if (!doc.contains("provider")) doc["provider"] = signer->signer.address().to_string();
    auto offer = ipsx::ledger::offer_from_json(doc);
    if (!offer) return report(error, IPSX_E_INVALID_ARGUMENT, offer.error().message());
    auto signed_offer = signer->signer.offer(*offer);
    if (!signed_offer)
      return report(error, IPSX_E_INVALID_ARGUMENT, signed_offer.error().message());
    *signed_json = copy_out(signed_offer->dump());
    return IPSX_OK;
  });
}

ipsx_status ipsx_sign_request(const ipsx_signer* signer, const char* request_json,
                              char** signed_json, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!request_json) return missing(error, "request_json");
    if (!signed_json) return missing(error, "signed_json");
    *signed_json = nullptr;
    json doc;
    if (auto s = parse_json(request_json, "request_json", doc, error); s != IPSX_OK) return s;
    if (!doc.contains("requester")) doc["requester"] = signer->signer.address().to_string();
    auto request = ipsx::ledger::request_from_json(doc);
    if (!request) return report(error, IPSX_E_INVALID_ARGUMENT, request.error().message());
    auto signed_request = signer->signer.request(*request);
    if (!signed_request)
      return report(error, IPSX_E_INVALID_ARGUMENT, signed_request.error().message());
    *signed_json = copy_out(signed_request->dump());
    return IPSX_OK;
  });
}

ipsx_status ipsx_sign_balance_proof(const ipsx_signer* signer, const char* deal_id_hex,
                                    const char* amount, char** signature_hex, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!deal_id_hex) return missing(error, "deal_id_hex");
    if (!amount) return missing(error, "amount");
    if (!signature_hex) return missing(error, "signature_hex");
    *signature_hex = nullptr;
    auto deal = ipsx::Hash::from_hex(deal_id_hex);
    if (!deal) return report(error, IPSX_E_INVALID_ARGUMENT, "deal_id: " + deal.error().message());
    auto value = ipsx::U256::from_dec(amount);
    if (!value) return report(error, IPSX_E_INVALID_ARGUMENT, "amount: " + value.error().message());
    auto sig = signer->signer.balance_proof(*deal, *value);
    if (!sig) return report(error, IPSX_E_INTERNAL, sig.error().message());
    *signature_hex = copy_out(sig->to_hex());
    return IPSX_OK;
  });
}

ipsx_status ipsx_signer_set_token(ipsx_signer* signer, const char* token_contract, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!token_contract) return missing(error, "token_contract");
    auto token = ipsx::Address::parse(token_contract);
    if (!token)
      return report(error, IPSX_E_INVALID_ARGUMENT, "token_contract: " + token.error().message());
    signer->signer.use_token_contract(*token);
    return IPSX_OK;
  });
}

ipsx_status ipsx_signer_limit_fee(ipsx_signer* signer, const char* max_wei, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!max_wei) return missing(error, "max_wei");
    auto value = ipsx::U256::from_dec(max_wei);
    if (!value)
      return report(error, IPSX_E_INVALID_ARGUMENT, "max_wei: " + value.error().message());
    signer->signer.limit_fee(*value);
    return IPSX_OK;
  });
}

ipsx_status ipsx_sign_transaction(const ipsx_signer* signer, const char* prepared_json,
                                  const char* op_json, char** body_json, char** error) {
  return guarded(error, [&] {
    if (!signer) return missing(error, "signer");
    if (!prepared_json) return missing(error, "prepared_json");
    if (!op_json) return missing(error, "op_json");
    if (!body_json) return missing(error, "body_json");
    *body_json = nullptr;
    json prepared, op_doc;
    if (auto s = parse_json(prepared_json, "prepared_json", prepared, error); s != IPSX_OK)
      return s;
    if (auto s = parse_json(op_json, "op_json", op_doc, error); s != IPSX_OK) return s;
    auto op = ipsx::ledger::op_from_json(op_doc);
    if (!op) return report(error, IPSX_E_INVALID_ARGUMENT, "op_json: " + op.error().message());
    auto body = signer->signer.transaction(prepared, *op);
    if (!body) return report(error, IPSX_E_REFUSED, body.error().message());
    *body_json = copy_out(body->dump());
    return IPSX_OK;
  });
}

}  // extern "C"
