#pragma once

// The systemd notification protocol (sd_notify(3)) without libsystemd: one datagram per
// message to the AF_UNIX socket named by $NOTIFY_SOCKET ('@' = abstract namespace).
// Every function is a no-op when the process is not run by systemd.

#include <chrono>
#include <optional>
#include <string>

namespace factorial {

// Sends e.g. "READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1". Returns true iff sent.
bool SdNotify(const std::string& message);

// The watchdog period systemd expects keep-alives within ($WATCHDOG_USEC, if $WATCHDOG_PID is
// unset or this process), or nothing.
std::optional<std::chrono::microseconds> SdWatchdogPeriod();

}  // namespace factorial
