#include "factorial/digest.hpp"

#include <new>
#include <utility>

#include <openssl/evp.h>
#include <xxhash.h>

#include "factorial/digits.hpp"

namespace factorial {
namespace {

XXH3_state_t* State(void* state) { return static_cast<XXH3_state_t*>(state); }

std::string CanonicalHex(XXH128_hash_t hash) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  return LowerHex(std::span<const unsigned char>(canonical.digest, sizeof(canonical.digest)));
}

}  // namespace

// ---- Sha256Stream ----------------------------------------------------------------------

struct Sha256Stream::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Impl() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Impl() { EVP_MD_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

Sha256Stream::Sha256Stream() : impl_(std::make_unique<Impl>()) {}
Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;

void Sha256Stream::Update(std::string_view bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size());
}

std::string Sha256Stream::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(impl_->ctx, digest, &length);
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  return LowerHex(std::span(digest, length));
}

std::string Sha256Stream::PeekHex() const {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_MD_CTX_copy_ex(copy, impl_->ctx);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(copy, digest, &length);
  EVP_MD_CTX_free(copy);
  return LowerHex(std::span(digest, length));
}

// ---- Xxh3Stream ------------------------------------------------------------------------

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  if (state_ == nullptr) throw std::bad_alloc();
  XXH3_128bits_reset(State(state_));
}

Xxh3Stream::~Xxh3Stream() {
  if (state_ != nullptr) XXH3_freeState(State(state_));
}

Xxh3Stream::Xxh3Stream(Xxh3Stream&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}

Xxh3Stream& Xxh3Stream::operator=(Xxh3Stream&& other) noexcept {
  std::swap(state_, other.state_);
  return *this;
}

void Xxh3Stream::Update(std::string_view bytes) {
  if (!bytes.empty()) XXH3_128bits_update(State(state_), bytes.data(), bytes.size());
}

std::string Xxh3Stream::FinishHex() {
  std::string hex = PeekHex();
  XXH3_128bits_reset(State(state_));
  return hex;
}

std::string Xxh3Stream::PeekHex() const {
  // XXH3's digest reads the state without changing it.
  return CanonicalHex(XXH3_128bits_digest(State(state_)));
}

std::string Xxh3Hex(std::string_view bytes) { return CanonicalHex(XXH3_128bits(bytes.data(), bytes.size())); }

// ---- DigestStream ----------------------------------------------------------------------

std::string_view DigestName(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::kSha256 ? "SHA-256" : "XXH3-128";
}

DigestStream::DigestStream(DigestAlgorithm algorithm)
    : stream_(algorithm == DigestAlgorithm::kSha256 ? decltype(stream_)(Sha256Stream())
                                                    : decltype(stream_)(Xxh3Stream())) {}

std::string DigestStream::FinishHex() {
  return std::visit([](auto& stream) { return stream.FinishHex(); }, stream_);
}

std::string DigestStream::PeekHex() const {
  return std::visit([](const auto& stream) { return stream.PeekHex(); }, stream_);
}

DigestAlgorithm DigestStream::algorithm() const {
  return std::holds_alternative<Sha256Stream>(stream_) ? DigestAlgorithm::kSha256 : DigestAlgorithm::kXxh3_128;
}

}  // namespace factorial
