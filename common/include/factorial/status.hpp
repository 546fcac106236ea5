#pragma once

// Error values for expected failures (network, HTTP, malformed input, bad environment).
// Exceptions never cross module boundaries; invariants use assert.

#include <cassert>  // kept: files that include this header use assert
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace factorial {

enum class Errc {
  kInvalidArgument,   // the caller's input is wrong
  kCorruption,        // bytes from the network do not parse
  kUnavailable,       // transport failure; retrying may help
  kDeadlineExceeded,  // a timeout fired
  kHttp,              // an unexpected HTTP status
  kNotFound,
  kInternal,
};

std::string_view ErrcName(Errc code);

struct Error {
  Errc code;
  std::string message;

  // "<code name>: <message>", for logs.
  std::string ToString() const;
};

inline Error MakeError(Errc code, std::string message) { return Error{code, std::move(message)}; }

namespace detail {
// Print why and abort, in every build type (like stout's Try::get()): reading the value of a
// failed Result is a bug, and a clear crash beats an uncaught bad_variant_access.
[[noreturn]] void AbortOnValueOfError(const Error& error);
[[noreturn]] void AbortOnErrorOfValue();
}  // namespace detail

// Holds a T or an Error. Accessing the wrong alternative is a programming error: value() on an
// error aborts with the error's text, error() on a value aborts too.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    CheckOk();
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    CheckOk();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    CheckOk();
    return std::move(*std::get_if<0>(&v_));
  }
  const Error& error() const {
    if (ok()) detail::AbortOnErrorOfValue();
    return *std::get_if<1>(&v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void CheckOk() const {
    if (!ok()) detail::AbortOnValueOfError(*std::get_if<1>(&v_));
  }

  std::variant<T, Error> v_;
};

using Status = Result<std::monostate>;
inline Status OkStatus() { return Status(std::monostate{}); }

}  // namespace factorial
