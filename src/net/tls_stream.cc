#include "net/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <cstring>
#include <new>

namespace ipsx::net {

// The BIO between OpenSSL and a TlsStream's buffers: reads take the ciphertext the stream read
// from the socket, writes append to the ciphertext it will send. Never blocks: an empty input
// is a retry (OpenSSL's WANT_READ).
struct TlsBio {
  static TlsStream& of(BIO* b) { return *static_cast<TlsStream*>(BIO_get_data(b)); }

  static int read(BIO* b, char* data, size_t len, size_t* done) {
    TlsStream& t = of(b);
    BIO_clear_retry_flags(b);
    size_t n = std::min(len, t.in_end_ - t.in_begin_);
    *done = n;
    if (n == 0) {
      BIO_set_retry_read(b);
      return 0;
    }
    std::memcpy(data, t.in_.get() + t.in_begin_, n);
    t.in_begin_ += n;
    return 1;
  }

  static int write(BIO* b, const char* data, size_t len, size_t* done) {
    TlsStream& t = of(b);
    BIO_clear_retry_flags(b);
    auto* bytes = reinterpret_cast<const uint8_t*>(data);  // same type both sides: a memcpy
    t.out_.insert(t.out_.end(), bytes, bytes + len);
    *done = len;
    return 1;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_PENDING:
        return static_cast<long>(of(b).in_end_ - of(b).in_begin_);
      case BIO_CTRL_WPENDING:
        return static_cast<long>(of(b).out_.size());
      default:
        return 0;
    }
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ipsx tls");
      if (bm == nullptr) throw std::bad_alloc();
      BIO_meth_set_read_ex(bm, read);
      BIO_meth_set_write_ex(bm, write);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      return bm;
    }();
    return m;
  }
};

namespace {

// A sending buffer grown by a burst is not kept.
constexpr size_t kKeepSendingBytes = 4 * 1024 * 1024;

}  // namespace

TlsStream::TlsStream(tcp::socket socket, asio::ssl::context& ctx)
    : socket_(std::move(socket)),
      ssl_(SSL_new(ctx.native_handle()), SSL_free),
      in_(std::make_unique_for_overwrite<uint8_t[]>(kTlsHandshakeReadBytes)),
      flushed_(socket_.get_executor()) {
  BIO* bio = BIO_new(TlsBio::method());
  if (!ssl_ || bio == nullptr) throw std::bad_alloc();
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio);  // one BIO both ways; the SSL object owns it
}

TlsStream::~TlsStream() = default;

boost::system::error_code TlsStream::ssl_error(int ret) {
  int err = SSL_get_error(ssl_.get(), ret);
  boost::system::error_code ec;
  if (err == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;
  } else if (err == SSL_ERROR_SSL) {
    ec = boost::system::error_code(static_cast<int>(ERR_get_error()),
                                   asio::error::get_ssl_category());
  } else {
    ec = asio::ssl::error::stream_truncated;
  }
  ERR_clear_error();
  return ec;
}

awaitable<boost::system::error_code> TlsStream::handshake(Role role) {
  if (role == Role::client)
    SSL_set_connect_state(ssl_.get());
  else
    SSL_set_accept_state(ssl_.get());
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    bool want_read = r != 1 && SSL_get_error(ssl_.get(), r) == SSL_ERROR_WANT_READ;
    boost::system::error_code failed;
    if (r != 1 && !want_read) failed = ssl_error(r);
    // Our flight (or the alert that says why we failed) goes out before we wait or give up.
    auto ec = co_await flush(true);
    if (failed) co_return failed;
    if (!ec && r == 1) grow_input();
    if (ec || r == 1) co_return ec;
    if (auto read = co_await fill()) co_return read;
  }
}

awaitable<size_t> TlsStream::read_some(asio::mutable_buffer buf, boost::system::error_code& ec) {
  ec = {};
  auto* p = static_cast<uint8_t*>(buf.data());
  size_t got = 0;
  while (got < buf.size()) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), p + got, buf.size() - got, &n);
    if (r == 1) {
      got += n;
      continue;
    }
    if (got > 0) break;  // what we have now; an error shows on the next call
    if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) {
      ec = ssl_error(r);
      co_return 0;
    }
    if (ec = co_await fill(); ec) co_return 0;
  }
  // Records read can call for an answer (a key update): sent now unless the writer is sending,
  // which then sends it too. Not waiting for the writer keeps two peers whose writers are both
  // blocked on full sockets reading.
  if (!out_.empty())
    if (ec = co_await flush(false); ec) co_return 0;
  co_return got;
}

awaitable<boost::system::error_code> TlsStream::write(ByteView data) {
  ERR_clear_error();
  size_t n = 0;
  if (!data.empty() && SSL_write_ex(ssl_.get(), data.data(), data.size(), &n) != 1)
    co_return ssl_error(0);
  co_return co_await flush(true);
}

void TlsStream::grow_input() {
  auto bigger = std::make_unique_for_overwrite<uint8_t[]>(kTlsReadBytes);
  std::memcpy(bigger.get(), in_.get() + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
  in_ = std::move(bigger);
  in_size_ = kTlsReadBytes;
}

awaitable<boost::system::error_code> TlsStream::fill() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == in_size_) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  boost::system::error_code ec;
  size_t n = co_await socket_.async_read_some(asio::buffer(in_.get() + in_end_, in_size_ - in_end_),
                                              use_ec(ec));
  in_end_ += n;
  co_return ec;
}

awaitable<boost::system::error_code> TlsStream::flush(bool wait_for_others) {
  while (!out_.empty() || flushing_) {
    if (flushing_) {
      if (!wait_for_others) break;
      flushed_.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await flushed_.async_wait(use_ec(ignored));
      continue;
    }
    flushing_ = true;
    std::swap(out_, sending_);
    boost::system::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(sending_), use_ec(ec));
    sending_.clear();
    if (sending_.capacity() > kKeepSendingBytes) Bytes().swap(sending_);
    flushing_ = false;
    flushed_.cancel();
    if (ec) co_return ec;
  }
  co_return boost::system::error_code{};
}

}  // namespace ipsx::net
