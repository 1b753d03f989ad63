// Many streams over one pair channel (the gateway's client connections to one exit), so a
// crawler's thousands of short requests share one TLS session instead of paying a handshake
// each. Frames are pair_frame.h's; each stream has credit-based flow control (a receiver grants
// the sender at most kStreamWindow unconsumed bytes), so a slow client or destination holds back
// only its own stream and memory stays bounded: streams * (window + what read_chunks takes).
//
// Single-threaded: a channel and its streams live on one io_context thread, like everything of
// the exit and the gateway.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "net/asio.h"
#include "net/pair_frame.h"
#include "net/tls_stream.h"

namespace ipsx::net {

inline constexpr size_t kStreamWindow = 256 * 1024;
inline constexpr size_t kDefaultMaxStreams = 16384;

class MuxChannel;

class MuxStream {
 public:
  MuxStream(asio::any_io_executor ex, std::weak_ptr<MuxChannel> channel, uint32_t id);
  uint32_t id() const { return id_; }

  // Waits for bytes and takes the next chunk as it arrived (no copy, no buffer while idle). An
  // empty chunk means the peer finished (FIN); channel_closed means the stream was reset or the
  // channel went down.
  awaitable<Result<Bytes>> read_chunk();
  // The same for as many chunks as are queued, up to `max_bytes` (at least one chunk): one
  // gathered write for the caller. Empty: FIN.
  awaitable<Result<std::vector<Bytes>>> read_chunks(size_t max_bytes);
  // Sends all of `data`, waiting for credit as needed.
  awaitable<Result<void>> write(ByteView data);
  // Sends what the stream's credit and the channel's queue take now, without waiting, straight
  // from `data` into the channel's output; returns how many bytes (0 once reset or finished).
  size_t write_some(ByteView data);
  // Sends all of `data` now, or nothing (false) when the stream's credit or the channel's queue
  // cannot take it: for datagrams, which are dropped rather than queued.
  bool try_write(ByteView data);
  // No more data from this side (once; later calls do nothing).
  void finish();
  // Aborts the stream both ways and tells the peer.
  void reset();
  bool closed() const { return reset_; }

  // Gateway side: waits for the exit's answer to OPEN (opened, or the error it gave).
  awaitable<Result<void>> wait_opened(Millis timeout);

 private:
  friend class MuxChannel;
  void on_data(Bytes bytes);
  void on_fin();
  void on_reset(const Error& why);
  void on_credit(uint32_t n);
  void on_open_result(Result<void> r);
  Bytes take_front();
  void wake_reader();
  void wake_writer();

  std::weak_ptr<MuxChannel> channel_;
  uint32_t id_;
  std::deque<Bytes> inbound_;
  size_t inbound_bytes_ = 0;
  size_t consumed_uncredited_ = 0;
  uint64_t send_credit_ = kStreamWindow;
  bool peer_fin_ = false;
  bool local_fin_ = false;
  bool reset_ = false;
  std::optional<Error> reset_reason_;
  std::optional<Result<void>> open_result_;
  asio::steady_timer read_wake_;
  asio::steady_timer write_wake_;
};

class MuxChannel : public std::enable_shared_from_this<MuxChannel> {
 public:
  // `opener`: the side that opens streams (the gateway). `leftover`: bytes already read past the
  // handshake frames.
  MuxChannel(std::unique_ptr<TlsStream> stream, bool opener, Bytes leftover = {});
  ~MuxChannel();

  // Starts the reader and the writer.
  void start();

  // Gateway: a new stream; OPEN with `payload` is sent at once. Fails (overloaded) at
  // max_streams.
  Result<std::shared_ptr<MuxStream>> open(Bytes payload);
  // Exit: called for each OPEN; answer with accept_open or refuse_open.
  std::function<void(std::shared_ptr<MuxStream>, Bytes payload)> on_open;
  void accept_open(uint32_t id);
  void refuse_open(uint32_t id, Bytes payload);

  // Stream-0 frames (invoice, proof, cut, ping...). pings are answered here.
  std::function<void(const Frame&)> on_control;
  // Called once when the channel goes down, with why.
  std::function<void(const Error&)> on_closed;

  void send_control(FrameType type, Bytes payload);
  // Closes the channel: every stream is reset with `why`.
  void close(const Error& why);
  bool is_open() const { return open_; }
  size_t stream_count() const { return streams_.size(); }
  // How many reads have brought bytes from the peer: a count that stops moving while pings go
  // out is a peer that cannot be heard (a NAT on the way lost its mapping, a relay hung).
  uint64_t reads() const { return reads_; }
  size_t max_streams = kDefaultMaxStreams;
  TlsStream& tls() { return *stream_; }

 private:
  friend class MuxStream;
  void send(FrameType type, uint32_t stream, ByteView payload);
  void forget(uint32_t id);
  awaitable<void> reader();
  awaitable<void> writer();
  void dispatch(Frame f);

  std::unique_ptr<TlsStream> stream_;
  bool opener_;
  bool open_ = true;
  std::unique_ptr<uint8_t[]> in_;  // plaintext read, frames parsed from the front
  size_t in_capacity_ = 0;
  size_t in_size_ = 0;
  Bytes out_;                      // frames not yet handed to the socket
  std::vector<uint32_t> blocked_;  // streams waiting for out_ to drain
  size_t out_bytes_ = 0;
  asio::steady_timer out_wake_;
  std::unordered_map<uint32_t, std::shared_ptr<MuxStream>> streams_;
  uint32_t next_id_ = 1;
  uint64_t reads_ = 0;
};

// Reads one whole frame from `stream`, keeping bytes past it in `buffer`; for the handshake
// before a MuxChannel takes over. Errors: the parse error, channel_closed, timed_out.
awaitable<Result<Frame>> read_one_frame(TlsStream& stream, Bytes& buffer, Millis timeout);
awaitable<Result<void>> write_one_frame(TlsStream& stream, const Frame& frame, Millis timeout);

}  // namespace ipsx::net
