// TLS 1.3 for the pair channel, over OpenSSL 3. The exit makes a fresh P-256 key and a
// self-signed certificate at start; nobody trusts it through a CA: the provider's wallet
// certifies the key (pair_auth.h), and the gateway checks that certificate against the key the
// TLS handshake actually used (peer_key_sha256).
#pragma once

#include <memory>
#include <string>

#include "core/error.h"
#include "core/hash.h"
#include "net/asio.h"

namespace ipsx::net {

// A TLS key and its self-signed certificate, PEM-encoded, and the SHA-256 of the key's DER
// SubjectPublicKeyInfo (what the provider's wallet certifies).
struct TlsIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
  Hash key_sha256;
};

// A new P-256 key with a self-signed certificate valid for `days`.
Result<TlsIdentity> generate_tls_identity(int days = 365);

// Contexts that speak TLS 1.3 only. The client context verifies no chain: the caller pins the
// key with peer_key_sha256 after the handshake.
Result<std::shared_ptr<asio::ssl::context>> make_server_context(const TlsIdentity& identity);
std::shared_ptr<asio::ssl::context> make_client_context();

// The SHA-256 of the peer certificate's public key (DER SubjectPublicKeyInfo).
Result<Hash> peer_key_sha256(SSL* ssl);

// The RFC 5705 / RFC 8446 §7.5 exporter value that binds a signature to this TLS session.
Result<Bytes> channel_binding(SSL* ssl);

}  // namespace ipsx::net
