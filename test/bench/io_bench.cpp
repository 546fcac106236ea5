// factorial-io-bench: the scheduler's input and output side at the scale of the benchmark
// workloads (W1, W2: test/bench/workload.c) and of 10^7 numbers, as a table.
//   factorial-io-bench [input|sink|digits|frf|all] [--quick]
// input: parses 10^6 and 10^7 numbers (W1-like: uniform in [0, 1000]; all distinct: a
//   shuffled [0, N)) from a file, each in a fresh child process, and reports wall time and
//   the peak resident bytes per number the parse added (VmHWM after minus VmRSS before).
//   Fails (exit 1) past 24 bytes per number: the scheduler's memory budget is 64 MB plus 24 B
//   per pending number, so that 10^7 pending numbers fit in about 300 MB.
// sink: writes W1 (10^6 lines, 1001 distinct, 1.18 GB, real digits) and W2-shaped output
//   (20,000 distinct results of n!'s length) through a ResultSink, results arriving shuffled:
//   MB/s to a file and to /dev/null, in input order, with spilling forced, and in completion
//   order.
// digits: FactorialDecimalDigits (n!'s length from n, once per distinct number) over every n
//   below 10^7 and the 10^6 numbers below 10^9: CPU ns per call and how many it declined.
// frf: a W2-sized result file (300 MB of digits in 36,500-digit entries; 30 MB with --quick)
//   written and parsed as FRF1 (SHA-256) and FRF2 (XXH3-128), rounds alternated: CPU seconds,
//   MB/s and the FRF1/FRF2 ratio of each, and the two hashes alone over the same bytes.
// Not part of the test suite; the README keeps the latest figures.

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmp.h>

#include "factorial/digest.hpp"
#include "factorial/result_file.hpp"
#include "factorial_digits.hpp"
#include "result_sink.hpp"
#include "workload.hpp"

namespace {

using factorial::scheduler::LineFormat;
using factorial::scheduler::NumberResult;
using factorial::scheduler::OutputOrder;
using factorial::scheduler::ResultSink;
using factorial::scheduler::SinkOptions;
using factorial::scheduler::Workload;
using factorial::scheduler::WorkloadBuilder;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// splitmix64, as test/bench/workload.c: W1 here is the same list.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t Next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t Below(std::uint64_t bound) {
    std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    std::uint64_t x;
    do x = Next();
    while (x >= limit);
    return x % bound;
  }
};

std::vector<std::uint64_t> W1Like(std::size_t n) {
  SplitMix random{1};
  std::vector<std::uint64_t> out(n);
  for (auto& v : out) v = random.Below(1001);
  return out;
}

std::vector<std::uint64_t> Shuffled(std::size_t n, std::uint64_t seed) {
  std::vector<std::uint64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = i;
  SplitMix random{seed};
  for (std::size_t i = n - 1; i > 0; --i) std::swap(out[i], out[random.Below(i + 1)]);
  return out;
}

std::string TempDir() {
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

// kB from a "Name:   1234 kB" line of /proc/self/status.
std::uint64_t StatusKb(const char* name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name, 0) == 0) return std::stoull(line.substr(std::strlen(name)));
  }
  return 0;
}

// ---- input ----------------------------------------------------------------------------------

// In the child: parse `path`, print "parse_s fingerprint_s rss_before_kB hwm_after_kB
// workload_bytes size distinct".
int InputChild(const char* path) {
  std::uint64_t rss_before = StatusKb("VmRSS:");
  auto start = Clock::now();
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 2;
  WorkloadBuilder builder;
  if (!builder.ReadLines(fd).ok()) return 2;
  ::close(fd);
  auto workload = builder.Finish();
  if (!workload.ok()) return 2;
  double parse = Since(start);
  std::uint64_t hwm = StatusKb("VmHWM:");
  start = Clock::now();
  std::string fingerprint = workload->Fingerprint();
  double fingerprint_s = Since(start);
  std::printf("%.3f %.3f %llu %llu %zu %zu %zu\n", parse, fingerprint_s, static_cast<unsigned long long>(rss_before),
              static_cast<unsigned long long>(hwm), workload->MemoryBytes(), workload->size(), workload->distinct());
  return 0;
}

bool InputCase(const char* shape, const std::vector<std::uint64_t>& numbers) {
  std::string path = TempDir() + "/factorial-io-bench-input";
  {
    std::FILE* out = std::fopen(path.c_str(), "w");
    for (std::uint64_t n : numbers) std::fprintf(out, "%llu\n", static_cast<unsigned long long>(n));
    std::fclose(out);
  }
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return false;
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::execl("/proc/self/exe", "factorial-io-bench", "--input-child", path.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  char text[512] = {};
  std::size_t got = 0;
  for (ssize_t n; got < sizeof text - 1 && (n = ::read(pipe_fds[0], text + got, sizeof text - 1 - got)) > 0;) {
    got += static_cast<std::size_t>(n);
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::unlink(path.c_str());
  double parse = 0, fingerprint = 0;
  unsigned long long rss = 0, hwm = 0;
  std::size_t bytes = 0, size = 0, distinct = 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(text, "%lf %lf %llu %llu %zu %zu %zu", &parse, &fingerprint, &rss, &hwm, &bytes, &size, &distinct) != 7) {
    std::printf("%-12s %10zu  child failed (status %d)\n", shape, numbers.size(), status);
    return false;
  }
  double per_number = static_cast<double>(hwm - rss) * 1024 / static_cast<double>(size);
  bool ok = per_number <= 24;
  std::printf("%-12s %10zu %9zu %8.2f %9.1f %8.2f %9.1f %9.1f %s\n", shape, size, distinct, parse,
              static_cast<double>(size) / parse / 1e6, fingerprint, per_number,
              static_cast<double>(bytes) / static_cast<double>(size), ok ? "ok" : "OVER 24 B");
  return ok;
}

bool InputBench(bool quick) {
  std::printf("# input: parse from a file in a fresh process; peak = (VmHWM after - VmRSS before) / numbers\n");
  std::printf("%-12s %10s %9s %8s %9s %8s %9s %9s\n", "shape", "numbers", "distinct", "parse_s", "M_num/s",
              "sha_s", "peak_B/n", "kept_B/n");
  bool ok = true;
  std::vector<std::size_t> sizes = quick ? std::vector<std::size_t>{1000000} : std::vector<std::size_t>{1000000, 10000000};
  for (std::size_t n : sizes) {
    ok = InputCase("W1-like", W1Like(n)) && ok;
    ok = InputCase("all-distinct", Shuffled(n, 3)) && ok;
  }
  return ok;
}

// ---- sink -----------------------------------------------------------------------------------

struct SinkCase {
  const char* name;
  OutputOrder order;
  std::size_t hold_bytes;
  bool to_null;
};

// A file in $TMPDIR without a name, or /dev/null.
int OpenOutput(bool to_null) {
  return to_null ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
                 : ::open(TempDir().c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
}

void Row(const char* shape, const char* name, double mb, double seconds, std::size_t most_held, std::size_t spilled,
         std::uint64_t reread) {
  std::printf("%-4s %-30s %9.1f %8.2f %8.0f %10.1f %9zu %9llu\n", shape, name, mb, seconds, mb / seconds,
              static_cast<double>(most_held) / 1e6, spilled, static_cast<unsigned long long>(reread));
}

// The same number of bytes written in 1 MiB write(2) calls, without a sink: what the file
// system allows here (the page cache of this VM varies from run to run).
void BareWrite(const char* shape, std::uint64_t bytes) {
  std::vector<char> block(std::size_t{1} << 20, '7');
  double best = 1e100;
  for (int rep = 0; rep < 3; ++rep) {
    int fd = OpenOutput(false);
    auto start = Clock::now();
    for (std::uint64_t left = bytes; left > 0;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block.size()));
      if (::write(fd, block.data(), n) != static_cast<ssize_t>(n)) std::abort();
      left -= n;
    }
    best = std::min(best, Since(start));
    ::close(fd);
  }
  Row(shape, "write(2) only, file", static_cast<double>(bytes) / 1e6, best, 0, 0, 0);
}

// Best of three runs.
void SinkRun(const char* shape, const std::shared_ptr<const Workload>& workload, const std::vector<NumberResult>& results,
             const SinkCase& c, std::uint64_t expected_bytes) {
  double best = 1e100;
  std::size_t most_held = 0, spilled = 0;
  std::uint64_t reread = 0;
  for (int rep = 0; rep < 3; ++rep) {
    int fd = OpenOutput(c.to_null);
    if (fd < 0) {
      std::printf("%-4s %-30s cannot open the output: %s\n", shape, c.name, std::strerror(errno));
      return;
    }
    SinkOptions options;
    options.order = c.order;
    options.hold_bytes = c.hold_bytes;
    options.flush_each_add = false;
    ResultSink sink(workload, LineFormat::kText, fd, "bench", options);
    auto start = Clock::now();
    for (const auto& r : results) {
      if (!sink.Add(r).ok()) std::abort();
      most_held = std::max(most_held, sink.held_bytes());
    }
    if (!sink.Finish().ok()) std::abort();
    best = std::min(best, Since(start));
    // Every byte accounted for: the file holds exactly the lines' bytes.
    if (!c.to_null && static_cast<std::uint64_t>(::lseek(fd, 0, SEEK_END)) != expected_bytes) std::abort();
    ::close(fd);
    spilled = sink.spilled_results();
    reread = sink.spill_reads();
  }
  Row(shape, c.name, static_cast<double>(expected_bytes) / 1e6, best, most_held, spilled, reread);
}

std::uint64_t OutputBytes(const Workload& workload, const std::vector<NumberResult>& results) {
  std::uint64_t bytes = 0;
  for (const auto& r : results) {
    bytes += factorial::scheduler::EncodeLine(r, LineFormat::kText).size() * workload.occurrences(*workload.Find(r.n));
  }
  return bytes;
}

void SinkCases(const char* shape, const std::shared_ptr<const Workload>& workload,
               const std::vector<NumberResult>& results) {
  const std::vector<SinkCase> cases = {{"input order, /dev/null", OutputOrder::kInput, std::size_t{256} << 20, true},
                                       {"input order, file", OutputOrder::kInput, std::size_t{256} << 20, false},
                                       {"input order, spill all, file", OutputOrder::kInput, 0, false},
                                       {"completion order, file", OutputOrder::kCompletion, std::size_t{256} << 20, false}};
  std::uint64_t bytes = OutputBytes(*workload, results);
  BareWrite(shape, bytes);
  for (const auto& c : cases) SinkRun(shape, workload, results, c, bytes);
}

void SinkBench(bool quick) {
  std::printf("# sink: text lines, results added in shuffled order, then Finish; best of 3\n");
  std::printf("%-4s %-30s %9s %8s %8s %10s %9s %9s\n", "load", "case", "out_MB", "wall_s", "MB/s", "held_MB", "spilled",
              "reread");
  {
    auto input = W1Like(quick ? 100000 : 1000000);
    auto workload = std::make_shared<const Workload>(Workload::FromNumbers(input).value());
    std::vector<NumberResult> results;
    mpz_t f;
    mpz_init(f);
    for (auto id : Shuffled(workload->distinct(), 4)) {
      NumberResult r;
      r.n = workload->number(static_cast<Workload::Id>(id));
      r.ok = true;
      mpz_fac_ui(f, r.n);
      r.digits.resize(mpz_sizeinbase(f, 10) + 1);
      mpz_get_str(r.digits.data(), 10, f);
      r.digits.resize(std::strlen(r.digits.c_str()));
      results.push_back(std::move(r));
    }
    mpz_clear(f);
    SinkCases("W1", workload, results);
  }
  if (quick) return;
  {
    auto input = Shuffled(20000, 2);
    auto workload = std::make_shared<const Workload>(Workload::FromNumbers(input).value());
    std::vector<NumberResult> results;
    for (auto n : Shuffled(20000, 5)) {
      NumberResult r;
      r.n = n;
      r.ok = true;
      // As many digits as n! has (log10 n! = lgamma(n + 1) / ln 10); their values do not matter here.
      r.digits.assign(static_cast<std::size_t>(std::floor(std::lgamma(static_cast<double>(n) + 1) / std::log(10.0))) + 1, '7');
      results.push_back(std::move(r));
    }
    SinkCases("W2", workload, results);
  }
}

void DigitsBench() {
  struct Range {
    const char* name;
    std::uint64_t from, to;
  };
  std::printf("# digits: FactorialDecimalDigits once per n; CPU time of this thread\n");
  std::printf("%-22s %10s %8s %9s %14s\n", "n", "calls", "ns/call", "declined", "sum_of_digits");
  for (Range range : {Range{"[0, 10^7)", 0, 10'000'000}, Range{"[10^9 - 10^6, 10^9)", 999'000'000, 1'000'000'000}}) {
    timespec start{}, end{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    std::uint64_t declined = 0, sum = 0;
    for (std::uint64_t n = range.from; n < range.to; ++n) {
      std::optional<std::uint64_t> digits = factorial::scheduler::FactorialDecimalDigits(n);
      if (digits) {
        sum += *digits;
      } else {
        ++declined;
      }
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
    double seconds = static_cast<double>(end.tv_sec - start.tv_sec) + static_cast<double>(end.tv_nsec - start.tv_nsec) * 1e-9;
    std::uint64_t calls = range.to - range.from;
    std::printf("%-22s %10llu %8.1f %9llu %14llu\n", range.name, static_cast<unsigned long long>(calls),
                seconds * 1e9 / static_cast<double>(calls), static_cast<unsigned long long>(declined),
                static_cast<unsigned long long>(sum));
  }
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Writes `entries` entries of `digits` as `version` into `file`; CPU seconds.
double FrfWrite(factorial::ResultFileVersion version, const std::string& digits, std::size_t entries,
                std::string* file) {
  file->clear();
  double start = ThreadCpuSeconds();
  factorial::ResultFileWriter writer(
      [file](std::string_view bytes) {
        file->append(bytes);
        return factorial::OkStatus();
      },
      version);
  for (std::size_t i = 0; i < entries; ++i) {
    if (!writer.Append(100000 + i, digits).ok()) std::abort();
  }
  if (!writer.Finish().ok()) std::abort();
  return ThreadCpuSeconds() - start;
}

// Parses `file` in 1 MiB chunks, as downloads arrive; CPU seconds.
double FrfParse(const std::string& file) {
  std::uint64_t digits = 0;
  double start = ThreadCpuSeconds();
  factorial::ResultFileParser parser({.on_entry = {},
                                      .on_digits = [&digits](std::string_view piece) {
                                        digits += piece.size();
                                        return factorial::OkStatus();
                                      },
                                      .on_entry_end = {}});
  for (std::size_t i = 0; i < file.size(); i += 1 << 20) {
    if (!parser.Feed(std::string_view(file).substr(i, 1 << 20)).ok()) std::abort();
  }
  if (!parser.Finish().ok() || digits == 0) std::abort();
  return ThreadCpuSeconds() - start;
}

double HashSeconds(factorial::DigestAlgorithm algorithm, const std::string& bytes) {
  double start = ThreadCpuSeconds();
  factorial::DigestStream hash(algorithm);
  for (std::size_t i = 0; i < bytes.size(); i += 1 << 20) hash.Update(std::string_view(bytes).substr(i, 1 << 20));
  if (hash.FinishHex().empty()) std::abort();
  return ThreadCpuSeconds() - start;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void FrfBench(bool quick) {
  constexpr std::size_t kEntryDigits = 36500;  // W2: 730 MB over 20,000 numbers
  std::size_t entries = (quick ? 30'000'000 : 300'000'000) / kEntryDigits;
  std::string digits(kEntryDigits, '0');
  SplitMix rng{42};
  for (char& c : digits) c = static_cast<char>('0' + rng.Next() % 10);
  using factorial::ResultFileVersion;
  const ResultFileVersion versions[] = {ResultFileVersion::kFrf1, ResultFileVersion::kFrf2};
  std::vector<double> write[2], parse[2], hash[2];
  std::string file;
  file.reserve(entries * (kEntryDigits + 16) + 128);
  for (int round = 0; round < 3; ++round) {
    for (int v = 0; v < 2; ++v) {
      write[v].push_back(FrfWrite(versions[v], digits, entries, &file));
      parse[v].push_back(FrfParse(file));
      hash[v].push_back(HashSeconds(factorial::ResultFileDigest(versions[v]), file));
    }
  }
  double mb = static_cast<double>(file.size()) / 1e6;
  std::printf("# frf: %zu entries of %zu digits, %.0f MB per file; median of 3 alternated rounds, CPU seconds of this thread\n",
              entries, kEntryDigits, mb);
  std::printf("%-26s %10s %9s %10s %9s %12s\n", "step", "FRF1 s", "FRF1 MB/s", "FRF2 s", "FRF2 MB/s", "FRF1/FRF2");
  auto row = [mb](const char* name, const std::vector<double>& a, const std::vector<double>& b) {
    double x = Median(a), y = Median(b);
    std::printf("%-26s %10.3f %9.0f %10.3f %9.0f %11.2fx\n", name, x, mb / x, y, mb / y, x / y);
  };
  row("write (executor)", write[0], write[1]);
  row("parse (scheduler)", parse[0], parse[1]);
  row("hash alone (SHA / XXH3)", hash[0], hash[1]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--input-child") == 0) return InputChild(argv[2]);
  std::string section = "all";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      section = argv[i];
    }
  }
  if (section != "all" && section != "input" && section != "sink" && section != "digits" && section != "frf") {
    std::fprintf(stderr, "usage: factorial-io-bench [input|sink|digits|frf|all] [--quick]\n");
    return 2;
  }
  bool ok = true;
  if (section == "all" || section == "input") ok = InputBench(quick);
  if (section == "all" || section == "sink") SinkBench(quick);
  if (section == "all" || section == "digits") DigitsBench();
  if (section == "all" || section == "frf") FrfBench(quick);
  return ok ? 0 : 1;
}
