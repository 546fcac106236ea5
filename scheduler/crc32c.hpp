#pragma once

// CRC-32C (Castagnoli), the journal's checksum of every record.

#include <cstdint>
#include <string_view>

namespace factorial::scheduler {

// The CRC-32C of `data`, continuing from `crc` (0 to start): Crc32c(b, Crc32c(a)) is the CRC
// of a followed by b.
std::uint32_t Crc32c(std::string_view data, std::uint32_t crc = 0);

// The CRC-32C of a followed by b, from the CRCs of each and b's length, without b's bytes: a
// record whose digits are copied from a downloaded file inside the kernel gets its checksum
// from the one the fetcher took while it checked them.
std::uint32_t Crc32cCombine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b);

}  // namespace factorial::scheduler
