#include "net/tls.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/net_error.h"
#include "net/pair_auth.h"

namespace ipsx::net {
namespace {

std::string openssl_error(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {};
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + (e != 0 ? std::string(": ") + buf : std::string());
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Hash> key_sha256(X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return fail(NetErrc::tls, openssl_error("certificate has no public key"));
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return fail(NetErrc::tls, openssl_error("encoding the public key"));
  Hash h;
  SHA256(der, static_cast<size_t>(n), h.data());
  OPENSSL_free(der);
  return h;
}

}  // namespace

Result<TlsIdentity> generate_tls_identity(int days) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return fail(NetErrc::tls, openssl_error("generating a P-256 key"));
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!cert) return fail(NetErrc::tls, openssl_error("X509_new"));
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    return fail(NetErrc::tls, openssl_error("RAND_bytes"));
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ipsx exit"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return fail(NetErrc::tls, openssl_error("signing the certificate"));

  TlsIdentity id;
  std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new(BIO_s_mem()), BIO_free);
  if (PEM_write_bio_X509(cb.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(NetErrc::tls, openssl_error("writing PEM"));
  id.certificate_pem = bio_string(cb.get());
  id.private_key_pem = bio_string(kb.get());
  auto h = key_sha256(cert.get());
  if (!h) return std::unexpected(h.error());
  id.key_sha256 = *h;
  return id;
}

Result<std::shared_ptr<asio::ssl::context>> make_server_context(const TlsIdentity& identity) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate(asio::buffer(identity.certificate_pem), asio::ssl::context::pem, ec);
  if (!ec)
    ctx->use_private_key(asio::buffer(identity.private_key_pem), asio::ssl::context::pem, ec);
  if (ec) return fail(NetErrc::tls, "loading the exit's TLS identity: " + ec.message());
  return ctx;
}

std::shared_ptr<asio::ssl::context> make_client_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  ctx->set_verify_mode(asio::ssl::verify_none);  // pinned by the wallet's certificate instead
  return ctx;
}

Result<Hash> peer_key_sha256(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return fail(NetErrc::tls, "the peer sent no certificate");
  return key_sha256(cert);
}

Result<Bytes> channel_binding(SSL* ssl) {
  Bytes out(kPairBindingBytes);
  std::string_view label = kPairExporterLabel;
  if (SSL_export_keying_material(ssl, out.data(), out.size(), label.data(), label.size(), nullptr,
                                 0, 0) != 1)
    return fail(NetErrc::tls, openssl_error("exporting the channel binding"));
  return out;
}

}  // namespace ipsx::net
