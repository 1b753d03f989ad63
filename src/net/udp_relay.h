// SOCKS5 UDP ASSOCIATE (RFC 1928 §7): a UDP relay for one client, alive while the client's TCP
// control connection is. The client sends datagrams with the §7 header to the relay's port; the
// relay sends each payload on to its destination through an upstream (the exit: from the deal's
// leased IP, under the destination policy; the gateway: over the pair channel to the exit), and
// wraps what comes back with the header naming its source.
//
// The relay takes datagrams only from the client's address: the control connection's peer IP,
// and the port the request named (or, when it named port 0, the port of the first datagram).
// Fragments (FRAG != 0) are dropped, as the RFC allows a relay that does not reassemble. What
// cannot be sent now (a refused destination, a full queue) is dropped: UDP's own semantics.
// Nothing is queued beyond one datagram per direction; an idle association holds no buffer.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "core/error.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "net/io_util.h"
#include "net/mux.h"
#include "net/pair_messages.h"
#include "net/proxy_front.h"

namespace ipsx::net {

using udp = asio::ip::udp;

// One datagram: its peer (destination going out, source coming back) and payload.
using UdpDatagram = DatagramRecord;

// Where an association's datagrams go.
class UdpUpstream {
 public:
  virtual ~UdpUpstream() = default;
  // Sends one datagram on, or drops it (refused destination, name that does not resolve, queue
  // full). Never waits for more than its own resolution.
  virtual awaitable<void> send(const UdpDatagram& datagram) = 0;
  // The next datagram back. An error: the upstream ended.
  virtual awaitable<Result<UdpDatagram>> receive() = 0;
  // Ends at once; a pending receive fails.
  virtual void abort() = 0;
};

// Checks a destination address before anything is sent to it (the exit's DestinationPolicy).
using UdpAllow = std::function<Result<void>(const asio::ip::address&)>;

// The exit's upstream: one UDP socket bound to `from` (the leased IP, port chosen by the
// system). Names are resolved here; only addresses of `from`'s family that `allow` accepts are
// sent to; port 0 is dropped. Datagrams back are taken only from endpoints this association
// has sent to (at most 256, the oldest forgotten first). `on_bytes(up, down)` meters payloads.
Result<std::unique_ptr<UdpUpstream>> exit_udp_upstream(
    asio::any_io_executor ex, asio::ip::address from, UdpAllow allow,
    std::function<void(uint64_t, uint64_t)> on_bytes);

// The gateway's upstream: datagram records on a pair-channel stream the exit opened as UDP.
// A datagram the stream cannot take now (no credit, a full channel queue) is dropped.
std::unique_ptr<UdpUpstream> stream_udp_upstream(std::shared_ptr<MuxStream> stream,
                                                 std::function<void(uint64_t, uint64_t)> on_bytes);

// The exit's end of a UDP stream: records from `stream` are sent on through `upstream`, and
// what comes back is written to `stream` as records (dropped when it cannot take them), until
// the stream ends, the registry's idle sweep or `ctl->abort()` ends it.
awaitable<void> relay_udp_stream(std::shared_ptr<MuxStream> stream,
                                 std::unique_ptr<UdpUpstream> upstream, SpliceRegistry& registry,
                                 std::shared_ptr<SpliceControl> ctl = nullptr);

// Serves an authenticated UDP ASSOCIATE request on `control`: binds the relay's UDP socket on
// the address the client reached (`control`'s local address), answers the SOCKS5 success with
// it (within `timeout`), and relays until `control` closes, the registry's idle sweep or
// `ctl->abort()` ends it. The caller closes `control`.
awaitable<void> serve_udp_associate(tcp::socket& control, const FrontRequest& request,
                                    std::unique_ptr<UdpUpstream> upstream, SpliceRegistry& registry,
                                    std::shared_ptr<SpliceControl> ctl, Millis timeout);

}  // namespace ipsx::net
