#pragma once

// Streaming digests of result bytes. Result files (result_file.hpp) are checked with XXH3-128
// since FRF2: the digest guards against accidental corruption only (it travels in a status
// update from the same executor, through the same agent, as the file it names, so it cannot
// stop a malicious agent), and SHA-256 cost the scheduler about a quarter of its CPU per byte
// of results. SHA-256 stays for FRF1 files written by older executors.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace factorial {

// Incremental SHA-256 (OpenSSL), lowercase hex at the end.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;

  void Update(std::string_view bytes);
  // The digest of everything since construction or the last Finish; starts over.
  std::string FinishHex();
  // The same digest, leaving the stream as it was (to go on hashing).
  std::string PeekHex() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Incremental XXH3-128 (xxHash, seed 0): 32 lowercase hex digits of the canonical (big-endian)
// form, as `xxh128sum` prints it. One allocation per stream (the xxHash state), none per call.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  Xxh3Stream(Xxh3Stream&& other) noexcept;
  Xxh3Stream& operator=(Xxh3Stream&& other) noexcept;

  void Update(std::string_view bytes);
  std::string FinishHex();
  std::string PeekHex() const;

 private:
  void* state_;  // XXH3_state_t, kept out of this header
};

// The XXH3-128 of `bytes` in one call, as Xxh3Stream gives it.
std::string Xxh3Hex(std::string_view bytes);

enum class DigestAlgorithm { kSha256, kXxh3_128 };

// How many hex digits a digest of `algorithm` has: 64 or 32.
constexpr std::size_t DigestHexLength(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::kSha256 ? 64 : 32;
}
// "SHA-256" or "XXH3-128", for messages.
std::string_view DigestName(DigestAlgorithm algorithm);

// One of the two streams, chosen at construction (a result file's header picks it).
class DigestStream {
 public:
  explicit DigestStream(DigestAlgorithm algorithm);

  void Update(std::string_view bytes) {
    if (auto* xxh3 = std::get_if<Xxh3Stream>(&stream_)) {
      xxh3->Update(bytes);
    } else {
      std::get<Sha256Stream>(stream_).Update(bytes);
    }
  }
  std::string FinishHex();
  std::string PeekHex() const;
  DigestAlgorithm algorithm() const;

 private:
  std::variant<Xxh3Stream, Sha256Stream> stream_;
};

}  // namespace factorial
