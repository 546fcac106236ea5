#pragma once

#include <string>
#include <string_view>

namespace factorial {

// 16 random bytes shaped as an RFC 4122 version-4 UUID: what Mesos expects in
// TaskStatus.uuid and Call.Acknowledge.uuid (raw bytes, base64 on the wire).
std::string RandomUuidBytes();

// The same, in the canonical 36-character text form (stream IDs, master IDs).
std::string RandomUuidText();

// True iff `bytes` is exactly 16 bytes with a version nibble of 1..5 (id::UUID::fromBytes).
bool IsValidUuidBytes(std::string_view bytes);

// Canonical text form of 16 raw bytes.
std::string UuidBytesToText(std::string_view bytes);

}  // namespace factorial
