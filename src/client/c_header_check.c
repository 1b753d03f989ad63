/* Compiled as C (C11) into the SDK's tests: proves that ipsx.h is a valid C header. */
#include "client/ipsx.h"

#include <stddef.h>

int ipsx_c_header_check(void) {
  char* error = NULL;
  ipsx_client* client = NULL;
  ipsx_status s = ipsx_client_open(NULL, 0, &client, &error);
  ipsx_free(error);
  ipsx_client_close(client);
  return s == IPSX_E_INVALID_ARGUMENT ? 0 : 1;
}
