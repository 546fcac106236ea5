#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace factorial::scheduler {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;  // Castagnoli, bit-reflected

std::array<std::uint32_t, 256> MakeTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

std::uint32_t Crc32cPortable(const unsigned char* p, std::size_t n, std::uint32_t crc) {
  static const auto table = MakeTable();
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

// a(x) * b(x) modulo the polynomial, in the reflected representation (bit 31 is x^0).
std::uint32_t MultiplyModP(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (std::uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if ((a & bit) != 0) product ^= b;
    b = (b & 1) != 0 ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// x^(8 * bytes) modulo the polynomial: what appending that many bytes does to a CRC register.
std::uint32_t ShiftOfBytes(std::uint64_t bytes) {
  std::uint32_t result = 1u << 31;  // x^0
  std::uint32_t square = 1u << 23;  // x^8: one byte
  for (; bytes != 0; bytes >>= 1) {
    if ((bytes & 1) != 0) result = MultiplyModP(square, result);
    square = MultiplyModP(square, square);
  }
  return result;
}

#if defined(__x86_64__)
// The journal checksums every digit it holds. The crc32 instruction takes 3 cycles and a new
// one can start every cycle, so one chain of them runs at a third of the speed three
// independent chains do: a long input is taken as three adjacent stretches at once, whose CRCs
// are then joined by shifting (a register is linear in its start: the CRC of A then B is A's
// shifted over B's length, plus B's from zero).
constexpr std::size_t kStretch = 4096;

__attribute__((target("sse4.2"))) std::uint64_t Crc32cChain(const unsigned char* p, std::size_t words,
                                                             std::uint64_t c) {
  for (std::size_t i = 0; i < words; ++i, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  return c;
}

__attribute__((target("sse4.2"))) std::uint32_t Crc32cSse42(const unsigned char* p, std::size_t n,
                                                             std::uint32_t crc) {
  static const std::uint32_t over_stretch = ShiftOfBytes(kStretch);
  std::uint64_t c = crc;
  for (; n >= 3 * kStretch; n -= 3 * kStretch, p += 3 * kStretch) {
    std::uint64_t a = c, b = 0, d = 0;
    for (std::size_t i = 0; i < kStretch; i += 8) {
      std::uint64_t wa, wb, wd;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + kStretch + i, 8);
      std::memcpy(&wd, p + 2 * kStretch + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      d = _mm_crc32_u64(d, wd);
    }
    std::uint32_t ab = MultiplyModP(over_stretch, static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b);
    c = MultiplyModP(over_stretch, ab) ^ static_cast<std::uint32_t>(d);
  }
  c = Crc32cChain(p, n / 8, c);
  p += n / 8 * 8;
  n %= 8;
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

}  // namespace

std::uint32_t Crc32c(std::string_view data, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  crc = ~crc;
#if defined(__x86_64__)
  static const bool sse42 = __builtin_cpu_supports("sse4.2");
  crc = sse42 ? Crc32cSse42(p, data.size(), crc) : Crc32cPortable(p, data.size(), crc);
#else
  crc = Crc32cPortable(p, data.size(), crc);
#endif
  return ~crc;
}

std::uint32_t Crc32cCombine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t length_b) {
  return MultiplyModP(ShiftOfBytes(length_b), crc_a) ^ crc_b;
}

}  // namespace factorial::scheduler
