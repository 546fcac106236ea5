// factorial-costmodel: measures what one factorial costs on this machine and fits the constants
// of common/include/factorial/cost_model.hpp.
//   factorial-costmodel [--quick] [--max-n N] [--runs-only]
// Prints a table (test/bench/cost_model.txt keeps the latest run) and the fitted constants:
// GMP's n! and conversion, then the decimal runs' pass, formatting and parsing
// (executor/decimal_run.hpp; --runs-only measures just those).
//
// CPU time is the process's CPU clock (CLOCK_PROCESS_CPUTIME_ID), not wall time: the result
// does not depend on how busy the machine is, only on how fast a core is. Memory is exact and
// load-independent too: every GMP allocation (mp_set_memory_functions) and every C++ allocation
// (the replaced global operator new) updates one live-byte counter whose high-water mark is the
// peak, so the figure is the heap the computation needs, without the process's fixed floor.

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <gmp.h>

#include "compute.hpp"
#include "decimal_run.hpp"
#include "factorial/cost_model.hpp"
#include "factorial/sizing.hpp"

namespace {

// ---- allocation accounting -------------------------------------------------------------

std::atomic<std::int64_t> g_live{0};
std::atomic<std::int64_t> g_peak{0};

void Account(std::int64_t delta) {
  std::int64_t now = g_live.fetch_add(delta, std::memory_order_relaxed) + delta;
  std::int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// malloc_usable_size is what the allocator really set aside; sizes agree with what GMP and
// operator delete report closely enough, and using it on both sides keeps the counter exact.
void* CountedMalloc(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) return nullptr;
  Account(static_cast<std::int64_t>(malloc_usable_size(p)));
  return p;
}

void CountedFree(void* p) {
  if (p == nullptr) return;
  Account(-static_cast<std::int64_t>(malloc_usable_size(p)));
  std::free(p);
}

void* GmpAlloc(std::size_t size) {
  void* p = CountedMalloc(size);
  if (p == nullptr) std::abort();
  return p;
}

void* GmpRealloc(void* old, std::size_t /*old_size*/, std::size_t new_size) {
  std::int64_t before = old == nullptr ? 0 : static_cast<std::int64_t>(malloc_usable_size(old));
  void* p = std::realloc(old, new_size);
  if (p == nullptr) std::abort();
  Account(static_cast<std::int64_t>(malloc_usable_size(p)) - before);
  return p;
}

void GmpFree(void* p, std::size_t /*size*/) { CountedFree(p); }

// Resets the high-water mark to what is live now; returns the live bytes.
std::int64_t ResetPeak() {
  std::int64_t live = g_live.load();
  g_peak.store(live);
  return live;
}

// ---- measurement -----------------------------------------------------------------------

double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Sample {
  std::uint64_t n = 0;
  int reps = 0;
  double fac_cpu = 0;       // mpz_fac_ui, CPU seconds per computation
  double getstr_cpu = 0;    // mpz_get_str
  double todec_cpu = 0;     // executor's ToDecimal on 2 threads (CPU of both)
  std::int64_t fac_peak = 0;     // heap bytes at the peak of mpz_fac_ui
  std::int64_t getstr_peak = 0;  // the result + conversion + output string
  std::int64_t todec_peak = 0;
  double bits = 0;  // log2(n!)
};

constexpr int kParallelThreads = 2;

Sample Measure(std::uint64_t n, double min_cpu_seconds) {
  Sample s;
  s.n = n;
  s.bits = factorial::Log10Factorial(n) * std::log2(10.0);
  // Enough repetitions that the clock's resolution and the loop vanish; at least one.
  int reps = 1;
  {
    double t0 = CpuNow();
    factorial::executor::Mpz f = factorial::executor::Factorial(n);
    std::string text = f.ToString();
    double one = CpuNow() - t0;
    if (one < min_cpu_seconds) reps = static_cast<int>(std::min(2e6, min_cpu_seconds / std::max(one, 1e-7)));
  }
  s.reps = reps;
  double fac = 0, getstr = 0, todec = 0;
  for (int i = 0; i < reps; ++i) {
    std::int64_t base = ResetPeak();
    double t0 = CpuNow();
    factorial::executor::Mpz f = factorial::executor::Factorial(n);
    double t1 = CpuNow();
    fac += t1 - t0;
    s.fac_peak = std::max(s.fac_peak, g_peak.load() - base);

    ResetPeak();
    double t2 = CpuNow();
    std::string plain = f.ToString();
    double t3 = CpuNow();
    getstr += t3 - t2;
    s.getstr_peak = std::max(s.getstr_peak, g_peak.load() - base);

    plain = std::string();
    ResetPeak();
    double t4 = CpuNow();
    std::string parallel = factorial::executor::ToDecimal(f, kParallelThreads);
    double t5 = CpuNow();
    todec += t5 - t4;
    s.todec_peak = std::max(s.todec_peak, g_peak.load() - base);
    if (i == 0 && parallel.size() != factorial::FactorialDigits(n)) {
      std::fprintf(stderr, "n=%llu: %zu digits, sizing says %llu\n", static_cast<unsigned long long>(n),
                   parallel.size(), static_cast<unsigned long long>(factorial::FactorialDigits(n)));
      std::exit(1);
    }
  }
  s.fac_cpu = fac / reps;
  s.getstr_cpu = getstr / reps;
  s.todec_cpu = todec / reps;
  return s;
}

// ---- decimal runs ------------------------------------------------------------------------

struct RunSample {
  std::uint64_t n = 0;
  double limbs = 0;
  double digits = 0;
  double pass_per_limb = 0;    // MultiplyBy(a packed factor near n), seconds per limb
  double format_per_digit = 0;  // AppendTo
  double parse_per_digit = 0;   // FromDigits
};

// Repeats `fn` until it has used `min_cpu` seconds; CPU seconds per call. The clock is read
// once per round of calls, doubling, so its own cost (a system call) vanishes.
template <typename Fn>
double PerCall(double min_cpu, Fn fn) {
  long calls = 0;
  double t0 = CpuNow();
  double spent = 0;
  for (long round = 1; spent < min_cpu; round *= 2) {
    for (long i = 0; i < round; ++i) fn();
    calls += round;
    spent = CpuNow() - t0;
  }
  return spent / static_cast<double>(calls);
}

RunSample MeasureRun(std::uint64_t n, double min_cpu) {
  using factorial::executor::DecimalNumber;
  factorial::executor::FactorialRun run;
  run.Start(n);
  std::string digits(run.Digits());
  RunSample s;
  s.n = n;
  s.limbs = static_cast<double>(run.value().limbs().size());
  s.digits = static_cast<double>(digits.size());
  std::vector<std::uint64_t> factors;
  factorial::executor::PackFactors(n, n + 64, &factors);
  std::uint64_t factor = factors.front();  // as big as a pass near n multiplies by
  DecimalNumber x = run.value();
  // Each pass multiplies a fresh copy of n!, so the length stays n!'s; the copy (a memcpy
  // into the same storage) costs under 2% of a pass.
  s.pass_per_limb = PerCall(min_cpu, [&] {
    x = run.value();
    x.MultiplyBy(factor);
  }) / s.limbs;
  std::string text;
  text.reserve(digits.size() + 64);
  s.format_per_digit = PerCall(min_cpu, [&] {
    text.clear();
    run.value().AppendTo(&text);
  }) / s.digits;
  s.parse_per_digit = PerCall(min_cpu, [&] { x = DecimalNumber::FromDigits(digits); }) / s.digits;
  return s;
}

// The three per-unit costs, each the median over n >= 1000 (below, a call is mostly its fixed
// cost).
void MeasureRuns(bool quick) {
  double min_cpu = quick ? 0.05 : 0.2;
  std::printf("\n# decimal runs (executor/decimal_run.hpp), CPU seconds\n");
  std::printf("%10s %10s %12s %14s %16s %16s\n", "n", "limbs", "digits", "pass_s/limb", "format_s/digit",
              "parse_s/digit");
  std::vector<double> pass, format, parse;
  for (std::uint64_t n : {100u, 1000u, 5000u, 20000u, 50000u, 100000u}) {
    RunSample s = MeasureRun(n, min_cpu);
    std::printf("%10llu %10.0f %12.0f %14.3e %16.3e %16.3e\n", static_cast<unsigned long long>(n), s.limbs,
                s.digits, s.pass_per_limb, s.format_per_digit, s.parse_per_digit);
    std::fflush(stdout);
    if (n < 1000) continue;
    pass.push_back(s.pass_per_limb);
    format.push_back(s.format_per_digit);
    parse.push_back(s.parse_per_digit);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("fit: pass %.3e s/limb, format %.3e s/digit, parse %.3e s/digit (medians over n >= 1000)\n",
              median(pass), median(format), median(parse));
  // The crossover measured: advancing from (n - gap)! to n! and formatting, against n! from
  // GMP with its digits read into limbs (a run's start), beside the model's figures.
  std::printf("\nmeasured: advance from (n - gap)! vs start afresh at n\n");
  std::printf("%10s %8s %12s %12s %12s %12s %8s\n", "n", "gap", "advance_s", "start_s", "model_adv_s",
              "model_start_s", "cheaper");
  for (std::uint64_t n : {5000u, 20000u, 50000u}) {
    factorial::executor::FactorialRun fresh;
    double start_s = PerCall(min_cpu, [&] {
      fresh.Start(n);
      (void)fresh.Digits();
    });
    for (std::uint64_t gap : {250u, 500u, 1000u, 2000u, 4000u}) {
      factorial::executor::FactorialRun from;
      from.Start(n - gap);
      factorial::executor::FactorialRun run;
      double advance_s = PerCall(min_cpu, [&] {
        run = from;
        run.Advance(n);
        (void)run.Digits();
      });
      std::printf("%10llu %8llu %12.3e %12.3e %12.3e %12.3e %8s\n", static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(gap), advance_s, start_s,
                  factorial::EstimatedAdvanceSeconds(n - gap, n), factorial::EstimatedRunStartSeconds(n),
                  advance_s < start_s ? "advance" : "start");
      std::fflush(stdout);
    }
  }
  std::printf("\nthe model's crossover: advancing to n by a gap g beats starting afresh while g is below\n");
  std::printf("%10s %12s %12s\n", "n", "fresh_s", "largest_gap");
  for (std::uint64_t n : {1000u, 5000u, 20000u, 50000u, 100000u}) {
    std::uint64_t gap = 1;
    while (gap < n && factorial::AdvanceIsCheaper(n - gap * 2, n)) gap *= 2;
    std::uint64_t low = gap, high = std::min<std::uint64_t>(gap * 2, n);
    while (low + 1 < high) {  // the largest gap still cheaper, by bisection
      std::uint64_t mid = (low + high) / 2;
      (factorial::AdvanceIsCheaper(n - mid, n) ? low : high) = mid;
    }
    std::printf("%10llu %12.3e %12llu\n", static_cast<unsigned long long>(n), factorial::EstimatedRunStartSeconds(n),
                static_cast<unsigned long long>(low));
  }
}

}  // namespace

// Every C++ allocation of the process is counted too (the strings, ToDecimal's halves).
void* operator new(std::size_t size) {
  void* p = CountedMalloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }

int main(int argc, char** argv) {
  bool quick = false;
  bool runs_only = false;
  std::uint64_t max_n = 10'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
      max_n = 300'000;
    } else if (std::strcmp(argv[i], "--max-n") == 0 && i + 1 < argc) {
      max_n = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--runs-only") == 0) {
      runs_only = true;
    } else {
      std::fprintf(stderr, "usage: factorial-costmodel [--quick] [--max-n N] [--runs-only]\n");
      return 2;
    }
  }
  if (runs_only) {
    MeasureRuns(quick);
    return 0;
  }
  mp_set_memory_functions(GmpAlloc, GmpRealloc, GmpFree);

  std::vector<std::uint64_t> ns = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10'000,
                                   20'000, 50'000, 100'000, 200'000, 300'000, 500'000, 1'000'000,
                                   2'000'000, 3'000'000, 5'000'000, 10'000'000};
  double min_cpu = quick ? 0.05 : 0.3;
  std::vector<Sample> samples;
  std::printf("%10s %8s %12s %12s %12s %12s %12s %12s %12s %9s\n", "n", "reps", "fac_s", "getstr_s",
              "todec2_s", "fac_peak", "getstr_peak", "todec_peak", "n!_bytes", "peak/size");
  for (std::uint64_t n : ns) {
    if (n > max_n) break;
    Sample s = Measure(n, min_cpu);
    samples.push_back(s);
    double bytes = std::max(1.0, s.bits / 8);
    std::printf("%10llu %8d %12.3e %12.3e %12.3e %12lld %12lld %12lld %12.0f %9.2f\n",
                static_cast<unsigned long long>(n), s.reps, s.fac_cpu, s.getstr_cpu, s.todec_cpu,
                static_cast<long long>(s.fac_peak), static_cast<long long>(s.getstr_peak),
                static_cast<long long>(s.todec_peak), bytes,
                static_cast<double>(std::max({s.fac_peak, s.getstr_peak, s.todec_peak})) / bytes);
    std::fflush(stdout);
  }

  // CPU: seconds = c0 + a * B * log2(B)^q with B = log2(n!) bits. c0 is the per-number floor
  // (n <= 20 fits a limb). The local exponent of this form, 1 + q / ln B, falls as B grows,
  // as GMP's multiplication moves from Toom (B^1.4..1.5) to FFT (~B log B): a single power law
  // B^p misses both ends by 25%. a and q are fitted by least squares of
  // log((t - c0) / B) = log a + q log log2 B on n >= 1000.
  double c0 = 1e100;
  for (const Sample& s : samples) {
    if (s.n <= 20) c0 = std::min(c0, s.fac_cpu + s.getstr_cpu);
  }
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int m = 0;
  for (const Sample& s : samples) {
    double extra = s.fac_cpu + s.getstr_cpu - c0;
    if (s.n < 1000 || extra <= 0) continue;
    double lx = std::log(std::log2(s.bits)), ly = std::log(extra / s.bits);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
    ++m;
  }
  double q = m >= 2 ? (m * sxy - sx * sy) / (m * sxx - sx * sx) : 1;
  double a = m >= 2 ? std::exp((sy - q * sx) / m) : 0;

  // Memory: bytes = b * bytes(n!) + c over the largest n (the floor c is GMP's smallest
  // allocations, a few hundred bytes). b is the worst ratio among n >= 10^4: a bound, not an
  // average, because the scheduler must not under-ask.
  double b = 0;
  std::int64_t c = 0;
  for (const Sample& s : samples) {
    std::int64_t peak = std::max({s.fac_peak, s.getstr_peak, s.todec_peak});
    if (s.n < 10'000) c = std::max(c, peak);
    if (s.n >= 10'000) b = std::max(b, static_cast<double>(peak) / (s.bits / 8));
  }

  std::printf("\nfit: cpu_seconds(n) = c0 + a * B * log2(B)^q, B = log2(n!) bits (fac + mpz_get_str, one core)\n");
  std::printf("  c0 = %.4e s   a = %.4e s   q = %.4f\n", c0, a, q);
  std::printf("fit: peak_bytes(n) = b * B/8 + c (max of fac, mpz_get_str and 2-thread ToDecimal)\n");
  std::printf("  b = %.3f   c = %lld bytes\n", b, static_cast<long long>(c));
  std::printf("\n%10s %12s %12s %8s %14s %14s %14s\n", "n", "measured_s", "model_s", "err%", "peak_bytes",
              "model_bytes", "sizing_bytes");
  for (const Sample& s : samples) {
    double model = c0 + (s.bits > 1 ? a * s.bits * std::pow(std::log2(s.bits), q) : 0);
    double measured = s.fac_cpu + s.getstr_cpu;
    std::int64_t peak = std::max({s.fac_peak, s.getstr_peak, s.todec_peak});
    std::printf("%10llu %12.3e %12.3e %8.1f %14lld %14llu %14llu\n", static_cast<unsigned long long>(s.n),
                measured, factorial::EstimatedCpuSeconds(s.n), 100 * (model - measured) / measured,
                static_cast<long long>(peak),
                static_cast<unsigned long long>(factorial::PeakMemoryBytes(s.n)),
                static_cast<unsigned long long>(factorial::FactorialMemoryBytes(s.n)));
  }
  std::printf("(model_s, model_bytes: the constants compiled into cost_model.cpp; err%%: this run's fit vs measured;\n sizing_bytes: FactorialMemoryBytes, with its 32 MiB floor)\n");
  MeasureRuns(quick);
  return 0;
}
