#include "net/pair_client.h"

#include <fmt/format.h>

#include "crypto/eip191.h"
#include "net/io_util.h"
#include "net/mux.h"
#include "net/net_error.h"
#include "net/pair_auth.h"
#include "net/tls.h"

namespace ipsx::net {

awaitable<Result<WelcomeMessage>> pair_client_handshake(TlsStream& stream, Bytes& buffer,
                                                        const Address& provider,
                                                        const Hash& deal_id,
                                                        const crypto::PrivateKey& requester,
                                                        uint64_t now_s, Millis timeout) {
  boost::system::error_code ec;
  bool expired;
  {
    Deadline deadline(stream.next_layer(), timeout);
    ec = co_await stream.handshake(TlsStream::Role::client);
    expired = deadline.expired();
  }
  if (ec)
    co_return fail(expired ? NetErrc::timed_out : NetErrc::tls,
                   "TLS handshake with the exit: " + ec.message());
  auto hello_frame = co_await read_one_frame(stream, buffer, timeout);
  if (!hello_frame) co_return std::unexpected(hello_frame.error());
  if (hello_frame->type != FrameType::hello)
    co_return fail(NetErrc::malformed, "the exit did not say hello");
  auto hello = parse_hello(hello_frame->payload);
  if (!hello) co_return std::unexpected(hello.error());
  // The TLS key must be the one the provider's wallet certified.
  auto key = peer_key_sha256(stream.native_handle());
  if (!key) co_return std::unexpected(key.error());
  if (hello->provider != provider)
    co_return fail(NetErrc::tls, fmt::format("the exit speaks for {}, the deal's provider is {}",
                                             hello->provider.to_string(), provider.to_string()));
  if (*key != hello->key_sha256)
    co_return fail(NetErrc::tls, "the exit's TLS key is not the certified one");
  if (hello->valid_until < now_s)
    co_return fail(NetErrc::tls, "the exit's key certificate has expired");
  Hash cert_digest = crypto::personal_message_hash(
      exit_key_message(hello->provider, hello->key_sha256, hello->valid_until));
  if (!crypto::verify(cert_digest, hello->key_signature, provider))
    co_return fail(NetErrc::tls, "the exit's key is not certified by the provider's wallet");
  auto binding = channel_binding(stream.native_handle());
  if (!binding) co_return std::unexpected(binding.error());
  auto sig = crypto::sign(requester, crypto::personal_message_hash(
                                         pair_auth_message(deal_id, hello->challenge, *binding)));
  if (!sig) co_return std::unexpected(sig.error());
  Frame auth{FrameType::auth, 0, to_payload(AuthMessage{deal_id, *sig})};
  auto sent = co_await write_one_frame(stream, auth, timeout);
  if (!sent) co_return std::unexpected(sent.error());
  auto answer = co_await read_one_frame(stream, buffer, timeout);
  if (!answer) co_return std::unexpected(answer.error());
  if (answer->type == FrameType::refused) {
    Error why = parse_error_payload(answer->payload);
    co_return std::unexpected(why.with_context("the exit refused the deal"));
  }
  if (answer->type != FrameType::welcome)
    co_return fail(NetErrc::malformed, "the exit answered neither welcome nor refused");
  auto welcome = parse_welcome(answer->payload);
  if (!welcome) co_return std::unexpected(welcome.error());
  co_return *welcome;
}

}  // namespace ipsx::net
