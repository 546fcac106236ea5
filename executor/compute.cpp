#include "compute.hpp"

#include <exception>
#include <system_error>
#include <thread>


namespace factorial::executor {
namespace {

// Below this many digits a split costs more than it saves.
constexpr std::size_t kMinParallelDigits = 20000;

// Appends the digits of `x` to `*out`, left-padded with zeros to `width` (0: no padding).
void Convert(const Mpz& x, int threads, std::size_t width, std::string* out) {
  std::size_t digits = mpz_sizeinbase(x.get(), 10);  // exact or one too many
  if (threads <= 1 || digits < kMinParallelDigits) {
    std::string s = x.ToString();
    if (s.size() < width) out->append(width - s.size(), '0');
    out->append(s);
    return;
  }
  std::size_t low_digits = digits / 2;
  Mpz power;
  mpz_ui_pow_ui(power.get(), 10, low_digits);
  Mpz high, low;
  mpz_tdiv_qr(high.get(), low.get(), x.get(), power.get());
  power.Release();  // free it before the halves allocate

  int high_threads = threads / 2;
  int low_threads = threads - high_threads;
  std::string low_text;
  std::size_t high_width = width > low_digits ? width - low_digits : 0;
  std::thread worker;
  std::exception_ptr low_error;  // rethrown here: an exception must not end the process
  try {
    worker = std::thread([&] {
      try {
        Convert(low, low_threads, low_digits, &low_text);
      } catch (...) {
        low_error = std::current_exception();
      }
    });
  } catch (const std::system_error&) {
    // No thread to be had (a memory cap counts its stack): the same digits, one half at a time.
    Convert(high, high_threads, high_width, out);
    Convert(low, low_threads, low_digits, &low_text);
    out->append(low_text);
    return;
  }
  try {
    Convert(high, high_threads, high_width, out);
  } catch (...) {
    worker.join();
    throw;
  }
  worker.join();
  if (low_error) std::rethrow_exception(low_error);
  out->append(low_text);
}

}  // namespace

std::string Mpz::ToString() const {
  std::string s(mpz_sizeinbase(v_, 10) + 2, '\0');
  mpz_get_str(s.data(), 10, v_);
  s.resize(std::char_traits<char>::length(s.c_str()));
  return s;
}

Mpz Factorial(std::uint64_t n) {
  Mpz f;
  mpz_fac_ui(f.get(), static_cast<unsigned long>(n));
  return f;
}

std::string ToDecimal(const Mpz& x, int threads) {
  std::string out;
  out.reserve(mpz_sizeinbase(x.get(), 10));
  Convert(x, threads, 0, &out);
  return out;
}


}  // namespace factorial::executor
