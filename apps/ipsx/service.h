// Telling a service manager how the program is doing (systemd's sd_notify protocol): a datagram
// such as `READY=1` to the Unix socket named by NOTIFY_SOCKET. Nothing happens when the variable
// is not set, so the long-running commands call it unconditionally (docs/operations.md).
#pragma once

#include <string_view>

namespace ipsx::cli {

// Sends `state` (newline-separated `KEY=VALUE` assignments: READY=1, STOPPING=1, STATUS=...) to
// the service manager, if one asked for it. Returns false if it could not be sent.
bool notify_service(std::string_view state);

}  // namespace ipsx::cli
