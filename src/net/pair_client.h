// The gateway's side of the pair channel's handshake (docs/data-plane.md): TLS as the client,
// then the exit's hello checked (it speaks for the deal's provider, with the TLS key that
// provider's wallet certified, not expired), the requester's signed auth sent (the deal, the
// exit's challenge and the TLS channel binding: pair_auth.h), and the exit's welcome or refusal
// read. On any path to the exit (direct, relayed, punched): the checks are what make a relay or
// anyone else on the way unable to pose as the exit.
#pragma once

#include "core/address.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/hex.h"
#include "crypto/keys.h"
#include "net/asio.h"
#include "net/pair_messages.h"
#include "net/tls_stream.h"

namespace ipsx::net {

// Each step within `timeout`; `now_s` (unix seconds) judges the key certificate's validity.
// `buffer` keeps the bytes read past the welcome (the channel's first frames). Errors: tls (a
// wrong or uncertified key, another provider), timed_out, malformed, or the exit's refusal
// ("the exit refused the deal: ...", with the exit's code).
awaitable<Result<WelcomeMessage>> pair_client_handshake(TlsStream& stream, Bytes& buffer,
                                                        const Address& provider,
                                                        const Hash& deal_id,
                                                        const crypto::PrivateKey& requester,
                                                        uint64_t now_s, Millis timeout);

}  // namespace ipsx::net
