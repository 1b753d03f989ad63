/* The IPSX SDK's C interface: a client of an IPSX node's HTTP API and a wallet signer, for
 * programs in C and for bindings from other languages (anything with a C FFI). JSON in, JSON
 * out: the documents are those of docs/api.md and docs/orders.md.
 *
 * Conventions:
 *  - Every function that can fail returns an ipsx_status: IPSX_OK (0) or an error. On an error,
 *    if `error` is not NULL, *error receives a message (UTF-8, NUL-terminated) naming the
 *    problem, e.g. "POST /v1/orders: HTTP 422 bad_signature: ... (field signature)".
 *  - Strings returned through `char**` are allocated by the library: release them with
 *    ipsx_free(). Handles are released with their own _close function. NULL is accepted by
 *    both and does nothing.
 *  - Output parameters (`out`, and the strings) are set to NULL first and stay NULL on an error:
 *    never pass the address of a live handle, it would be lost.
 *  - A handle may be used from one thread at a time; different handles are independent.
 */
#ifndef IPSX_SDK_IPSX_H
#define IPSX_SDK_IPSX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ipsx_status {
  IPSX_OK = 0,
  IPSX_E_INVALID_ARGUMENT = 1, /* a NULL where a value is needed, bad JSON, bad hex, bad URL */
  IPSX_E_UNAVAILABLE = 2,      /* the node cannot be reached or the connection broke */
  IPSX_E_TIMEOUT = 3,          /* no whole answer within the client's timeout */
  IPSX_E_API = 4,              /* the node answered with an API error (its code in the message) */
  IPSX_E_BAD_RESPONSE = 5,     /* the node's answer is not the JSON the API documents */
  IPSX_E_INTERNAL = 6,
  IPSX_E_REFUSED = 7, /* the signer refused: the node's transaction is not the one asked for */
  IPSX_E_TLS = 8      /* https: the TLS handshake failed (an untrusted or misnamed certificate) */
} ipsx_status;

typedef struct ipsx_client ipsx_client;
typedef struct ipsx_signer ipsx_signer;

/* The library's version, e.g. "0.1.0". Static: do not free. */
const char* ipsx_version(void);

/* Frees a string the library returned. */
void ipsx_free(void* p);

/* A client of the node at `url` (http://host:port). `timeout_ms` bounds each request (0: 10 s).
 * Nothing connects until the first call. */
ipsx_status ipsx_client_open(const char* url, uint32_t timeout_ms, ipsx_client** out, char** error);
void ipsx_client_close(ipsx_client* client);

/* Sends `method` ("GET", "POST", ...) to `target` ("/v1/health") with `body_json` (NULL: no
 * body). On IPSX_OK, *answer_json receives the node's JSON answer. On IPSX_E_API, *api_code (if
 * not NULL) receives the API's stable error code ("invalid_order", "not_found", ...). */
ipsx_status ipsx_client_call(ipsx_client* client, const char* method, const char* target,
                             const char* body_json, char** answer_json, char** api_code,
                             char** error);

/* A signer for the wallet whose secret key is `private_key_hex` (64 hex digits, optional 0x),
 * under the ledger domain of `chain_id` and `verifying_contract` ("0x..." address), both as the
 * node's GET /v1/health states them (chainId, verifyingContract: the Centralizer on Ethereum, an
 * address derived from the genesis on an embedded ledger). NULL means the zero address, which
 * no ledger of this version uses: signatures made so are refused. */
ipsx_status ipsx_signer_open(const char* private_key_hex, uint64_t chain_id,
                             const char* verifying_contract, ipsx_signer** out, char** error);
/* The same from an Ethereum keystore v3 file and its password. */
ipsx_status ipsx_signer_open_keystore(const char* keystore_path, const char* password,
                                      uint64_t chain_id, const char* verifying_contract,
                                      ipsx_signer** out, char** error);
void ipsx_signer_close(ipsx_signer* signer);

/* On Ethereum: the IPSX token's contract ("0x..."; GET /v1/health states it as tokenContract),
 * without which the signer refuses token transactions (transfers, approvals, deposits). */
ipsx_status ipsx_signer_set_token(ipsx_signer* signer, const char* token_contract, char** error);
/* On Ethereum: the most one transaction may cost in fees (gas limit x max fee per gas), in wei
 * as a decimal string. The default is 0.05 ETH (50000000000000000). */
ipsx_status ipsx_signer_limit_fee(ipsx_signer* signer, const char* max_wei, char** error);

/* The wallet's address, "0x" and 40 hex digits (EIP-55 checksummed). */
ipsx_status ipsx_signer_address(const ipsx_signer* signer, char** address, char** error);

/* Signs an offer (`offer_json`: the "offer" object of docs/orders.md; its provider is set to
 * the signer) or a request; *signed_json receives {"offer"|"request": ..., "signature": ...},
 * the body of POST /v1/orders. Every field is checked first; the error names the field. */
ipsx_status ipsx_sign_offer(const ipsx_signer* signer, const char* offer_json, char** signed_json,
                            char** error);
ipsx_status ipsx_sign_request(const ipsx_signer* signer, const char* request_json,
                              char** signed_json, char** error);

/* A balance proof: the signer (the deal's requester) owes `amount` base units (decimal),
 * cumulatively, for the deal `deal_id_hex` (0x and 64 hex digits). *signature_hex receives the
 * 65-byte signature as 0x-hex. */
ipsx_status ipsx_sign_balance_proof(const ipsx_signer* signer, const char* deal_id_hex,
                                    const char* amount, char** signature_hex, char** error);

/* Signs a ledger transaction in the node's two steps. `prepared_json` is the answer of
 * POST /v1/ledger/transactions/prepare, `op_json` the operation that was asked for, as sent to it
 * (e.g. {"op":"rate","dealId":"0x..","score":5}). The signer checks the node's transaction
 * before it signs: on the embedded ledger it recomputes the digest; on Ethereum it decodes the
 * transaction and checks the chain, the nonce, the contract, the call data and ether of exactly
 * that operation, no access list, and the fees within ipsx_signer_limit_fee. Anything else is
 * IPSX_E_REFUSED, with the reason. On IPSX_OK, *body_json receives the body of
 * POST /v1/ledger/transactions. */
ipsx_status ipsx_sign_transaction(const ipsx_signer* signer, const char* prepared_json,
                                  const char* op_json, char** body_json, char** error);

#ifdef __cplusplus
}
#endif

#endif /* IPSX_SDK_IPSX_H */
