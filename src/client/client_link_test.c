/* A C program that links the client library alone (ipsx_client), as a third party's program
 * would: it signs offline and talks to a node that is not there. ctest runs it (client_link) and
 * then reads its symbols (client_link_symbols, check_client_link.cmake): nothing of a node's
 * server, SQLite, the embedded ledger or the market's book may have come with it. */
#include <stdio.h>
#include <string.h>

#include "client/ipsx.h"

static int failures = 0;

static void expect(int ok, const char* what, const char* error) {
  if (!ok) {
    fprintf(stderr, "FAILED: %s%s%s\n", what, error ? ": " : "", error ? error : "");
    ++failures;
  }
}

int main(void) {
  char* error = NULL;
  ipsx_signer* signer = NULL;
  ipsx_status s = ipsx_signer_open(
      "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", 31337,
      "0x1111111111111111111111111111111111111111", &signer, &error);
  expect(s == IPSX_OK, "a signer opens from a private key", error);
  ipsx_free(error);
  error = NULL;
  if (!signer) return 1;

  char* address = NULL;
  s = ipsx_signer_address(signer, &address, &error);
  expect(s == IPSX_OK && address && strlen(address) == 42 && address[0] == '0' &&
             address[1] == 'x',
         "the signer states its address", error);
  ipsx_free(error);
  error = NULL;

  char* signature = NULL;
  s = ipsx_sign_balance_proof(
      signer, "0x0101010101010101010101010101010101010101010101010101010101010101", "1000",
      &signature, &error);
  expect(s == IPSX_OK && signature && strlen(signature) == 132, "a balance proof is signed",
         error);
  ipsx_free(error);
  error = NULL;

  /* Bad input gets a clear error naming the field, and nothing is signed. */
  char* signed_offer = NULL;
  s = ipsx_sign_offer(signer, "{\"ip\":\"192.0.2.1\"}", &signed_offer, &error);
  expect(s == IPSX_E_INVALID_ARGUMENT && signed_offer == NULL && error != NULL,
         "an incomplete offer is refused", error);
  ipsx_free(error);
  error = NULL;

  /* No node listens on port 1 of the loopback: unavailable, not a crash or a hang. */
  ipsx_client* client = NULL;
  s = ipsx_client_open("http://127.0.0.1:1", 2000, &client, &error);
  expect(s == IPSX_OK, "a client opens without connecting", error);
  ipsx_free(error);
  error = NULL;
  char* answer = NULL;
  s = ipsx_client_call(client, "GET", "/v1/health", NULL, &answer, NULL, &error);
  expect(s == IPSX_E_UNAVAILABLE && answer == NULL && error != NULL,
         "a call to a node that is not there is IPSX_E_UNAVAILABLE", error);
  ipsx_free(error);

  printf("client library %s: signer %s, balance proof %.12s...\n", ipsx_version(),
         address ? address : "?", signature ? signature : "?");
  ipsx_free(address);
  ipsx_free(signature);
  ipsx_client_close(client);
  ipsx_signer_close(signer);
  return failures == 0 ? 0 : 1;
}
