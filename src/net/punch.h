// A hole punched through two NATs: TCP's simultaneous open. Each side has learnt, from a relay
// both reach, the public endpoint (address and port) the other's NAT gave its connection to the
// relay; each then connects to the other's, from the local port of that connection, at the same
// time. Each SYN leaving a NAT opens the mapping the other's SYN needs to come in, and when the
// two cross, TCP joins them into one connection (RFC 793's simultaneous open; RFC 5128 section
// 3.3 on NATs). It works when each side's NAT keeps one outside port for a local port whatever
// the destination (endpoint-independent mapping: most home routers, Linux's masquerade when the
// port is free); behind a NAT that gives each destination a port of its own (symmetric), the
// endpoint the relay saw is not the one the peer's SYN would need, and the punch fails.
#pragma once

#include "core/clock.h"
#include "core/error.h"
#include "net/asio.h"

namespace ipsx::net {

// Connects to `to` from `local` (port 0: any), the socket bound with SO_REUSEADDR and
// SO_REUSEPORT, so that a punch can later leave from the same local port while this connection
// is still open. Errors: timed_out, exit_failed, with the addresses in the message.
awaitable<Result<tcp::socket>> dial_reusable(asio::any_io_executor ex, tcp::endpoint to,
                                             tcp::endpoint local, Millis timeout);

// The punch: connects from `local` to `peer` again and again (a refused or unanswered attempt
// is retried at once, from the same port) until a connection opens or `timeout` passes.
// Errors: timed_out ("no punched path ..."), exit_failed (the local port cannot be bound).
awaitable<Result<tcp::socket>> punch(asio::any_io_executor ex, tcp::endpoint local,
                                     tcp::endpoint peer, Millis timeout);

}  // namespace ipsx::net
