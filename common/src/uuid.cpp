#include "factorial/uuid.hpp"

#include <array>
#include <cstdint>
#include <random>

namespace factorial {
namespace {
std::mt19937_64& Engine() {
  thread_local std::mt19937_64 engine([] {
    std::random_device device;
    std::seed_seq seq{device(), device(), device(), device()};
    return std::mt19937_64(seq);
  }());
  return engine;
}
}  // namespace

std::string RandomUuidBytes() {
  std::string bytes(16, '\0');
  std::uint64_t a = Engine()();
  std::uint64_t b = Engine()();
  for (int i = 0; i < 8; ++i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>((a >> (8 * i)) & 0xFF);
    bytes[static_cast<std::size_t>(i + 8)] = static_cast<char>((b >> (8 * i)) & 0xFF);
  }
  bytes[6] = static_cast<char>((static_cast<unsigned char>(bytes[6]) & 0x0F) | 0x40);
  bytes[8] = static_cast<char>((static_cast<unsigned char>(bytes[8]) & 0x3F) | 0x80);
  return bytes;
}

std::string RandomUuidText() { return UuidBytesToText(RandomUuidBytes()); }

bool IsValidUuidBytes(std::string_view bytes) {
  if (bytes.size() != 16) return false;
  int version = static_cast<unsigned char>(bytes[6]) >> 4;
  return version >= 1 && version <= 5;
}

std::string UuidBytesToText(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    auto c = static_cast<unsigned char>(bytes[i]);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace factorial
