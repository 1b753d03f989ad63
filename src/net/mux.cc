#include "net/mux.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "net/io_util.h"
#include "net/net_error.h"
#include "net/pair_messages.h"

namespace ipsx::net {
namespace {

// The channel's writer queue: above the high mark, streams wait before queueing more data.
constexpr size_t kQueueHighBytes = 1024 * 1024;
// The reader's buffer: room for the largest frame, and for many records' plaintext per read.
constexpr size_t kReadBufferBytes = 128 * 1024;
static_assert(kReadBufferBytes >= kFrameHeaderBytes + kMaxFramePayload);

Bytes be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

void park(asio::steady_timer& t) {
  t.expires_at(asio::steady_timer::time_point::max());
}

}  // namespace

// ---- MuxStream ---------------------------------------------------------------------------------

MuxStream::MuxStream(asio::any_io_executor ex, std::weak_ptr<MuxChannel> channel, uint32_t id)
    : channel_(std::move(channel)), id_(id), read_wake_(ex), write_wake_(ex) {}

void MuxStream::wake_reader() {
  read_wake_.cancel();
}
void MuxStream::wake_writer() {
  write_wake_.cancel();
}

// The oldest queued chunk (there is one), credited back to the sender.
Bytes MuxStream::take_front() {
  Bytes chunk = std::move(inbound_.front());
  inbound_.pop_front();
  inbound_bytes_ -= chunk.size();
  consumed_uncredited_ += chunk.size();
  if (consumed_uncredited_ >= kStreamWindow / 4 && !reset_) {
    if (auto ch = channel_.lock())
      ch->send(FrameType::credit, id_, be32(static_cast<uint32_t>(consumed_uncredited_)));
    consumed_uncredited_ = 0;
  }
  return chunk;
}

// Waits as read_chunk does, in its own frame rather than by awaiting read_chunk: an idle
// stream's reader then holds one coroutine frame fewer (bytes_per_idle_conn).
awaitable<Result<std::vector<Bytes>>> MuxStream::read_chunks(size_t max_bytes) {
  for (;;) {
    if (inbound_bytes_ > 0) {
      std::vector<Bytes> chunks;
      size_t total = 0;
      do {
        total += inbound_.front().size();
        chunks.push_back(take_front());
      } while (inbound_bytes_ > 0 && total + inbound_.front().size() <= max_bytes);
      co_return chunks;
    }
    if (reset_)
      co_return std::unexpected(
          reset_reason_.value_or(Error(NetErrc::channel_closed, "stream reset")));
    if (peer_fin_) co_return std::vector<Bytes>{};
    park(read_wake_);
    boost::system::error_code ec;
    co_await read_wake_.async_wait(use_ec(ec));
  }
}

awaitable<Result<Bytes>> MuxStream::read_chunk() {
  for (;;) {
    if (inbound_bytes_ > 0) co_return take_front();
    if (reset_)
      co_return std::unexpected(
          reset_reason_.value_or(Error(NetErrc::channel_closed, "stream reset")));
    if (peer_fin_) co_return Bytes{};
    park(read_wake_);
    boost::system::error_code ec;
    co_await read_wake_.async_wait(use_ec(ec));
  }
}

awaitable<Result<void>> MuxStream::write(ByteView data) {
  for (;;) {
    if (reset_)
      co_return std::unexpected(
          reset_reason_.value_or(Error(NetErrc::channel_closed, "stream reset")));
    auto ch = channel_.lock();
    if (!ch || !ch->is_open()) co_return fail(NetErrc::channel_closed, "pair channel closed");
    if (local_fin_) co_return fail(NetErrc::invalid_argument, "write after finish");
    data = data.subspan(write_some(data));
    if (data.empty()) co_return Result<void>{};
    if (!ch->is_open()) continue;
    // Out of credit (woken by CREDIT), or the channel's queue is full (woken when it drains).
    if (send_credit_ != 0) ch->blocked_.push_back(id_);
    park(write_wake_);
    boost::system::error_code ec;
    ch.reset();
    co_await write_wake_.async_wait(use_ec(ec));
  }
}

size_t MuxStream::write_some(ByteView data) {
  if (reset_ || local_fin_) return 0;
  auto ch = channel_.lock();
  size_t sent = 0;
  while (ch && ch->is_open() && sent < data.size() && send_credit_ > 0 &&
         ch->out_bytes_ <= kQueueHighBytes) {
    size_t n = std::min({data.size() - sent, kMaxDataPayload, static_cast<size_t>(send_credit_)});
    ch->send(FrameType::data, id_, data.subspan(sent, n));
    send_credit_ -= n;
    sent += n;
  }
  return sent;
}

bool MuxStream::try_write(ByteView data) {
  if (reset_ || local_fin_) return false;
  auto ch = channel_.lock();
  if (!ch || !ch->is_open() || data.size() > send_credit_ || ch->out_bytes_ > kQueueHighBytes)
    return false;
  while (!data.empty()) {
    size_t n = std::min(data.size(), kMaxDataPayload);
    ch->send(FrameType::data, id_, data.first(n));
    send_credit_ -= n;
    data = data.subspan(n);
  }
  return true;
}

void MuxStream::finish() {
  if (local_fin_ || reset_) return;
  local_fin_ = true;
  if (auto ch = channel_.lock()) {
    ch->send(FrameType::fin, id_, {});
    if (peer_fin_) ch->forget(id_);
  }
}

void MuxStream::reset() {
  if (reset_) return;
  reset_ = true;
  reset_reason_ = Error(NetErrc::channel_closed, "stream reset");
  if (auto ch = channel_.lock()) {
    if (ch->is_open()) ch->send(FrameType::reset, id_, {});
    ch->forget(id_);
  }
  wake_reader();
  wake_writer();
}

awaitable<Result<void>> MuxStream::wait_opened(Millis timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!open_result_) {
    if (reset_)
      co_return std::unexpected(
          reset_reason_.value_or(Error(NetErrc::channel_closed, "stream reset")));
    if (std::chrono::steady_clock::now() >= deadline) {
      reset();
      co_return fail(NetErrc::timed_out,
                     fmt::format("the exit did not answer within {} ms", timeout.count()));
    }
    read_wake_.expires_at(deadline);
    boost::system::error_code ec;
    co_await read_wake_.async_wait(use_ec(ec));
  }
  co_return *open_result_;
}

void MuxStream::on_data(Bytes bytes) {
  if (bytes.empty()) return;
  inbound_bytes_ += bytes.size();
  inbound_.push_back(std::move(bytes));
  wake_reader();
}

void MuxStream::on_fin() {
  peer_fin_ = true;
  wake_reader();
}

void MuxStream::on_reset(const Error& why) {
  if (reset_) return;
  reset_ = true;
  reset_reason_ = why;
  wake_reader();
  wake_writer();
}

void MuxStream::on_credit(uint32_t n) {
  send_credit_ += n;
  wake_writer();
}

void MuxStream::on_open_result(Result<void> r) {
  open_result_ = std::move(r);
  if (!*open_result_) on_reset(open_result_->error());
  wake_reader();
}

// ---- MuxChannel --------------------------------------------------------------------------------

MuxChannel::MuxChannel(std::unique_ptr<TlsStream> stream, bool opener, Bytes leftover)
    : stream_(std::move(stream)),
      opener_(opener),
      in_capacity_(std::max(kReadBufferBytes, leftover.size())),
      in_size_(leftover.size()),
      out_wake_(stream_->get_executor()) {
  in_ = std::make_unique_for_overwrite<uint8_t[]>(in_capacity_);
  std::copy(leftover.begin(), leftover.end(), in_.get());
}

MuxChannel::~MuxChannel() = default;

void MuxChannel::start() {
  auto self = shared_from_this();
  asio::co_spawn(
      stream_->get_executor(), [self]() { return self->reader(); }, asio::detached);
  asio::co_spawn(
      stream_->get_executor(), [self]() { return self->writer(); }, asio::detached);
}

Result<std::shared_ptr<MuxStream>> MuxChannel::open(Bytes payload) {
  if (!open_) return fail(NetErrc::channel_closed, "pair channel closed");
  if (!opener_) return fail(NetErrc::invalid_argument, "only the gateway opens streams");
  if (streams_.size() >= max_streams)
    return fail(NetErrc::overloaded,
                fmt::format("the pair channel already carries {} streams", streams_.size()));
  uint32_t id = next_id_;
  next_id_ = next_id_ == 0x7fffffff ? 1 : next_id_ + 1;
  auto s = std::make_shared<MuxStream>(stream_->get_executor(), weak_from_this(), id);
  streams_[id] = s;
  send(FrameType::open, id, payload);
  return s;
}

void MuxChannel::accept_open(uint32_t id) {
  if (open_ && streams_.contains(id)) send(FrameType::opened, id, {});
}

void MuxChannel::refuse_open(uint32_t id, Bytes payload) {
  if (!open_) return;
  send(FrameType::open_failed, id, payload);
  auto it = streams_.find(id);
  if (it != streams_.end()) {
    it->second->on_reset(Error(NetErrc::channel_closed, "open refused"));
    streams_.erase(it);
  }
}

void MuxChannel::send_control(FrameType type, Bytes payload) {
  send(type, 0, payload);
}

void MuxChannel::send(FrameType type, uint32_t stream, ByteView payload) {
  if (!open_) return;
  // Frames are written straight into the pending output: one copy from the caller's bytes.
  size_t before = out_.size();
  if (auto ok = write_frame(type, stream, payload, out_); !ok) {
    out_.resize(before);
    close(ok.error());
    return;
  }
  out_bytes_ = out_.size();
  out_wake_.cancel();
}

void MuxChannel::forget(uint32_t id) {
  streams_.erase(id);
}

void MuxChannel::close(const Error& why) {
  if (!open_) return;
  open_ = false;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->on_reset(why);
  out_.clear();
  out_.shrink_to_fit();
  out_bytes_ = 0;
  out_wake_.cancel();
  boost::system::error_code ec;
  stream_->next_layer().shutdown(tcp::socket::shutdown_both, ec);
  stream_->next_layer().close(ec);
  if (on_closed) {
    auto cb = std::move(on_closed);
    on_closed = nullptr;
    cb(why);
  }
  on_open = nullptr;
  on_control = nullptr;
}

awaitable<void> MuxChannel::reader() {
  auto self = shared_from_this();
  while (open_) {
    size_t off = 0;
    while (open_) {
      auto r = parse_frame(ByteView(in_.get() + off, in_size_ - off));
      if (!r) {
        close(r.error().with_context("pair channel"));
        co_return;
      }
      if (!r->complete()) break;
      off += r->consumed;
      dispatch(std::move(*r->message));
    }
    if (!open_) co_return;
    // The partial frame left moves to the front, so the rest of the buffer has room for it.
    std::memmove(in_.get(), in_.get() + off, in_size_ - off);
    in_size_ -= off;
    boost::system::error_code ec;
    size_t n = co_await stream_->read_some(
        asio::buffer(in_.get() + in_size_, in_capacity_ - in_size_), ec);
    if (ec) {
      close(Error(NetErrc::channel_closed, "pair channel: " + ec.message()));
      co_return;
    }
    in_size_ += n;
    ++reads_;
  }
}

awaitable<void> MuxChannel::writer() {
  auto self = shared_from_this();
  Bytes batch;
  while (open_) {
    if (out_.empty()) {
      park(out_wake_);
      boost::system::error_code ec;
      co_await out_wake_.async_wait(use_ec(ec));
      continue;
    }
    // Whatever is pending goes out in one write; new frames collect meanwhile.
    batch.clear();
    std::swap(batch, out_);
    out_bytes_ = 0;
    auto ec = co_await stream_->write(batch);
    if (ec) {
      close(Error(NetErrc::channel_closed, "pair channel: " + ec.message()));
      co_return;
    }
    if (batch.capacity() > 4 * kQueueHighBytes) Bytes().swap(batch);  // don't keep a burst's size
    auto blocked = std::move(blocked_);
    blocked_.clear();
    for (uint32_t id : blocked)
      if (auto it = streams_.find(id); it != streams_.end()) it->second->wake_writer();
  }
}

void MuxChannel::dispatch(Frame f) {
  auto violation = [&](std::string what) {
    close(Error(NetErrc::malformed, "pair channel: " + what));
  };
  if (is_control(f.type)) {
    if (f.type == FrameType::ping) {
      send(FrameType::pong, 0, f.payload);
      return;
    }
    if (on_control) on_control(f);
    return;
  }
  auto it = streams_.find(f.stream);
  switch (f.type) {
    case FrameType::open: {
      if (opener_) return violation("the exit may not open streams");
      if (it != streams_.end()) return violation(fmt::format("stream {} opened twice", f.stream));
      if (streams_.size() >= max_streams) {
        send(FrameType::open_failed, f.stream,
             error_payload(Error(NetErrc::overloaded, "too many streams on this channel")));
        return;
      }
      auto s = std::make_shared<MuxStream>(stream_->get_executor(), weak_from_this(), f.stream);
      streams_[f.stream] = s;
      if (on_open)
        on_open(s, std::move(f.payload));
      else
        refuse_open(f.stream, error_payload(Error(NetErrc::exit_failed, "not serving")));
      return;
    }
    case FrameType::opened:
      if (it != streams_.end()) it->second->on_open_result(Result<void>{});
      return;
    case FrameType::open_failed:
      if (it != streams_.end()) {
        auto s = it->second;
        streams_.erase(it);
        s->on_open_result(std::unexpected(parse_error_payload(f.payload)));
      }
      return;
    case FrameType::data:
      if (it == streams_.end()) return;  // reset here meanwhile: drop
      if (it->second->inbound_bytes_ + f.payload.size() > kStreamWindow)
        return violation(fmt::format("stream {} overran its window", f.stream));
      it->second->on_data(std::move(f.payload));
      return;
    case FrameType::fin:
      if (it != streams_.end()) {
        auto s = it->second;
        s->on_fin();
        if (s->local_fin_) streams_.erase(f.stream);
      }
      return;
    case FrameType::reset:
      if (it != streams_.end()) {
        auto s = it->second;
        streams_.erase(it);
        s->on_reset(Error(NetErrc::channel_closed, "stream reset by the peer"));
      }
      return;
    case FrameType::credit:
      if (it != streams_.end()) {
        uint32_t n = (uint32_t{f.payload[0]} << 24) | (uint32_t{f.payload[1]} << 16) |
                     (uint32_t{f.payload[2]} << 8) | f.payload[3];
        it->second->on_credit(n);
      }
      return;
    default:
      return;
  }
}

// ---- Handshake helpers -------------------------------------------------------------------------

awaitable<Result<Frame>> read_one_frame(TlsStream& stream, Bytes& buffer, Millis timeout) {
  Deadline deadline(stream.next_layer(), timeout);
  std::vector<uint8_t> chunk(4096);
  for (;;) {
    auto r = parse_frame(buffer);
    if (!r) co_return std::unexpected(r.error());
    if (r->complete()) {
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<long>(r->consumed));
      co_return std::move(*r->message);
    }
    boost::system::error_code ec;
    size_t n = co_await stream.read_some(asio::buffer(chunk), ec);
    if (deadline.expired()) co_return fail(NetErrc::timed_out, "pair channel handshake timed out");
    if (ec) co_return fail(NetErrc::channel_closed, "pair channel: " + ec.message());
    buffer.insert(buffer.end(), chunk.begin(), chunk.begin() + static_cast<long>(n));
  }
}

awaitable<Result<void>> write_one_frame(TlsStream& stream, const Frame& frame, Millis timeout) {
  auto bytes = write_frame(frame);
  if (!bytes) co_return std::unexpected(bytes.error());
  Deadline deadline(stream.next_layer(), timeout);
  auto ec = co_await stream.write(*bytes);
  if (deadline.expired()) co_return fail(NetErrc::timed_out, "pair channel handshake timed out");
  if (ec) co_return fail(NetErrc::channel_closed, "pair channel: " + ec.message());
  co_return Result<void>{};
}

}  // namespace ipsx::net
