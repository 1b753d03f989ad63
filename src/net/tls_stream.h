// TLS over a TCP socket for the pair channel, with OpenSSL driven through an in-memory BIO.
//
// Why not asio::ssl::stream: it moves at most one 17 KiB record per system call each way (its
// BIO pair is that size), so 1 MiB through the channel cost 64 writes and 64 reads on each side.
// Here a write encrypts everything it is given (many records) and hands them to the socket in one
// write, and a read takes up to kTlsReadBytes of records from the socket at once and decrypts as
// many as fit the caller's buffer.
//
// Single-threaded (one io_context thread). At most one read_some and one write may be pending at
// a time (the mux's reader and writer coroutines); the handshake runs alone before them.
#pragma once

#include <openssl/ssl.h>

#include <memory>

#include "core/hex.h"
#include "net/asio.h"

namespace ipsx::net {

// How much ciphertext one read takes from the socket at most (the read buffer's size), once the
// handshake is done. Until then the buffer holds one record at most (TLS 1.3: 2^14 + 256 + 5
// bytes), so that connections nobody has authenticated yet cost little memory.
inline constexpr size_t kTlsReadBytes = 128 * 1024;
inline constexpr size_t kTlsHandshakeReadBytes = 17 * 1024;

class TlsStream {
 public:
  enum class Role { client, server };

  // Owns `socket`; the SSL object is made from `ctx` (which may be dropped afterwards).
  TlsStream(tcp::socket socket, asio::ssl::context& ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  tcp::socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_.get(); }
  asio::any_io_executor get_executor() { return socket_.get_executor(); }

  // The TLS handshake. Errors: the socket's, or an asio::error::get_ssl_category() code.
  awaitable<boost::system::error_code> handshake(Role role);

  // Reads at least one byte of plaintext into `buf` (as many as the records at hand hold, up to
  // its size) and returns how many. Errors: asio::error::eof after the peer's close_notify or
  // the socket's EOF, the socket's, or an SSL one.
  awaitable<size_t> read_some(asio::mutable_buffer buf, boost::system::error_code& ec);

  // Encrypts all of `data` and writes the records to the socket (one write when the socket
  // takes them).
  awaitable<boost::system::error_code> write(ByteView data);

 private:
  friend struct TlsBio;
  awaitable<boost::system::error_code> fill();
  // Writes out_ to the socket. When another flush is in flight: waits for it and then sends
  // what it left, or (`wait_for_others` false) returns at once, leaving out_ to it.
  awaitable<boost::system::error_code> flush(bool wait_for_others);
  boost::system::error_code ssl_error(int ret);

  tcp::socket socket_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  // Grows the read buffer to kTlsReadBytes, keeping what is unread.
  void grow_input();

  std::unique_ptr<uint8_t[]> in_;  // ciphertext from the socket: [in_begin_, in_end_) unread
  size_t in_size_ = kTlsHandshakeReadBytes;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  Bytes out_;      // ciphertext from OpenSSL, not yet handed to the socket
  Bytes sending_;  // what the write in flight is sending
  bool flushing_ = false;
  asio::steady_timer flushed_;  // wakes a flush waiting for the one in flight
};

}  // namespace ipsx::net
