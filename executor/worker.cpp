#include "worker.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <gmp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "compute.hpp"
#include "factorial/sizing.hpp"
#include "frf_file.hpp"
#include "worker_protocol.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define FACTORIAL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FACTORIAL_ASAN 1
#endif
#endif

namespace factorial::executor {
namespace {

namespace wp = worker_protocol;

// Requests are a few dozen bytes plus a path.
constexpr std::uint64_t kMaxRequestPayload = 1 << 16;

bool WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool ReadExactly(int fd, char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void Answer(wp::Kind kind, std::string_view payload) {
  std::string frame = wp::EncodeFrame(kind, payload);
  WriteAll(wp::kResultFd, frame.data(), frame.size());
}

// The cap the current number runs under, as its request gave it (for the message below).
std::atomic<std::uint64_t> number_cap_bytes{0};

// An allocation failed: GMP's own handler would abort(), which the executor could only guess
// about. Say so plainly and end: the worker's heap may be in any state, so it serves no other
// number. The first failing thread answers; any other waits for _exit.
[[noreturn]] void OutOfMemory(std::size_t bytes) {
  static std::atomic_flag answered = ATOMIC_FLAG_INIT;
  if (!answered.test_and_set()) {
    std::string what = bytes > 0 ? "an allocation of " + std::to_string(bytes >> 20) + " MiB" : std::string("an allocation");
    std::string message = "out of memory: " + what + " failed under the task's cap of " +
                          std::to_string(number_cap_bytes.load() >> 20) + " MiB";
    Answer(wp::Kind::kOutOfMemory, message);
    ::_exit(3);
  }
  for (;;) ::pause();
}

void* GmpAllocate(std::size_t size) {
  void* p = std::malloc(size);
  if (p == nullptr) OutOfMemory(size);
  return p;
}

void* GmpReallocate(void* old, std::size_t /*old_size*/, std::size_t new_size) {
  void* p = std::realloc(old, new_size);
  if (p == nullptr) OutOfMemory(new_size);
  return p;
}

void GmpFree(void* p, std::size_t /*size*/) { std::free(p); }

// What this process holds as RLIMIT_DATA counts it (VmData: private writable mappings), or 0
// if /proc cannot say.
std::uint64_t DataBytes() {
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[4096];
  ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (got <= 0) return 0;
  text[got] = '\0';
  const char* line = std::strstr(text, "\nVmData:");
  return line == nullptr ? 0 : std::strtoull(line + 8, nullptr, 10) << 10;  // in kB
}

// RLIMIT_DATA, not RLIMIT_AS: since Linux 4.7 it counts private writable mappings, that is
// memory the worker can actually dirty (heap, large blocks, thread stacks), but not address
// space merely reserved (the 64 MiB PROT_NONE heaps glibc reserves per thread arena), which
// made RLIMIT_AS fail 10^7! with 8 threads long before the task used its memory.
//
// Only the soft limit is set: a process may lower and raise it again within the hard limit,
// so one worker serves numbers of any size, each under its own cap. `bytes` is what a fresh
// worker may hold for the number (FactorialMemoryBytes counts the worker's own data);
// whatever earlier numbers left behind in this one beyond a fresh worker's data (glibc's
// cached thread stacks and per-thread arenas, a few MiB that the next number reuses) is
// added, so a number gets neither less nor more room than in a fresh worker.
class MemoryCap {
 public:
  MemoryCap() : fresh_bytes_(DataBytes()) {}

  bool Set(std::uint64_t bytes) {
    number_cap_bytes.store(bytes);
#if defined(FACTORIAL_ASAN)
    // AddressSanitizer's shadow memory is writable private address space: any cap would stop
    // the worker at once. Sanitizer builds run uncapped.
    (void)bytes;
    return true;
#else
    rlimit rl{};
    if (::getrlimit(RLIMIT_DATA, &rl) != 0) return false;
    rlim_t cap = rl.rlim_max;
    if (bytes > 0) {
      std::uint64_t held = DataBytes();
      std::uint64_t left_over = held > fresh_bytes_ ? held - fresh_bytes_ : 0;
      cap = std::min<rlim_t>(rl.rlim_max, bytes + left_over);
    }
    rl.rlim_cur = cap;
    return ::setrlimit(RLIMIT_DATA, &rl) == 0;
#endif
  }

 private:
  std::uint64_t fresh_bytes_;
};

// Reads the next request; nullopt at end of file (the executor is done with this worker) or
// on a malformed request, which is answered (kError) first.
std::optional<ComputeRequest> ReadRequest(bool* malformed) {
  *malformed = false;
  char header[wp::kHeaderBytes];
  if (!ReadExactly(wp::kResultFd, header, sizeof header)) return std::nullopt;
  *malformed = true;
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < 4; ++i) length |= std::uint64_t{static_cast<unsigned char>(header[1 + i])} << (8 * i);
  if (length > kMaxRequestPayload) {
    Answer(wp::Kind::kError, "worker: request too large");
    return std::nullopt;
  }
  std::string frame(header, sizeof header);
  frame.resize(sizeof header + length);
  if (!ReadExactly(wp::kResultFd, frame.data() + sizeof header, length)) return std::nullopt;
  auto decoded = wp::DecodeFrame(frame, kMaxRequestPayload);
  if (!decoded.ok() || decoded->kind != wp::Kind::kRequest) {
    Answer(wp::Kind::kError, "worker: " + (decoded.ok() ? std::string("not a request") : decoded.error().message));
    return std::nullopt;
  }
  auto request = wp::DecodeRequest(decoded->payload);
  if (!request.ok()) {
    Answer(wp::Kind::kError, "worker: " + request.error().message);
    return std::nullopt;
  }
  *malformed = false;
  return *request;
}

// Computes one request and answers it; false if this worker must end (it answered an error).
bool Serve(const ComputeRequest& request) {
  try {
    std::string answer = ComputeAnswer(request);
    bool ok = answer[0] == static_cast<char>(wp::Kind::kInline) || answer[0] == static_cast<char>(wp::Kind::kFile);
    return WriteAll(wp::kResultFd, answer.data(), answer.size()) && ok;
  } catch (const std::bad_alloc&) {
    OutOfMemory(0);
  } catch (const std::system_error& e) {
    // std::thread reports a thread it could not create (no memory for its stack) this way.
    if (e.code() == std::errc::resource_unavailable_try_again || e.code() == std::errc::not_enough_memory) {
      OutOfMemory(0);
    }
    Answer(wp::Kind::kError, std::string("worker: ") + e.what());
    return false;
  }
}

}  // namespace

std::string ComputeAnswer(const ComputeRequest& request) {
  Mpz f = Factorial(request.n);
  std::string digits = ToDecimal(f, request.threads);
  f.Release();
  if (request.framed_file) {
    // A batch's big number: a result file of one entry, named on a `file` line.
    auto file = FrfFile::Create(request.result_path);
    Status written = file.ok() ? file.value()->Append(request.n, digits) : Status(file.error());
    auto finished = written.ok() ? file.value()->Finish() : Result<WrittenFile>(written.error());
    if (!finished.ok()) {
      bool storage = IsStorageError(finished.error());
      return wp::EncodeFrame(storage ? wp::Kind::kStorage : wp::Kind::kError, finished.error().message);
    }
    return wp::EncodeFrame(wp::Kind::kFile, wp::EncodeFileResult({finished->size, finished->digest}));
  }
  if (digits.size() <= request.inline_limit) return wp::EncodeFrame(wp::Kind::kInline, digits);
  // Raw digits over the inline limit. No batch asks for them (a batch sized inline that gets a
  // file reports an error and removes it, batch.cpp), so nothing fetches this file; its digest
  // is XXH3-128 all the same, the one kind a kFile answer carries.
  wp::FileResult result{digits.size(), Xxh3Hex(digits)};
  std::string tmp = request.result_path + ".tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // No fsync: a file lost in a crash costs a retry, never a wrong answer, and fsync took ~10 ms
  // per result.
  bool ok = out >= 0 && WriteAll(out, digits.data(), digits.size());
  int error = errno;
  if (out >= 0) ::close(out);
  if (ok && ::rename(tmp.c_str(), request.result_path.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return wp::EncodeFrame(IsStorageErrno(error) ? wp::Kind::kStorage : wp::Kind::kError,
                           "cannot write " + request.result_path + ": " + std::strerror(error));
  }
  return wp::EncodeFrame(wp::Kind::kFile, wp::EncodeFileResult(result));
}

int RunComputeWorker() {
  // Die with the executor: an orphaned worker would compute for nobody.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Conversion threads get a small stack: all of it counts against the cap (GMP allocates
  // anything over 32 KiB of scratch on the heap, so recursion stays far below this).
  pthread_attr_t stack;
  if (::pthread_attr_init(&stack) == 0) {
    ::pthread_attr_setstacksize(&stack, kConversionThreadStackBytes);
    ::pthread_setattr_default_np(&stack);
    ::pthread_attr_destroy(&stack);
  }
  // Blocks over 128 KiB get their own mapping, returned to the system when freed. glibc's
  // default raises this threshold as blocks are freed, after which freed blocks stay in each
  // thread's heap: with 8 conversion threads 10^7! then peaked at 423 MiB resident instead
  // of 298 MiB.
  ::mallopt(M_MMAP_THRESHOLD, 128 << 10);
  mp_set_memory_functions(GmpAllocate, GmpReallocate, GmpFree);
  std::set_new_handler([] { OutOfMemory(0); });  // on every thread, not only this one
  MemoryCap cap;
  // One number at a time until the executor closes its end: a worker is started once and
  // serves every number of every task that comes its way.
  for (;;) {
    bool malformed = false;
    auto request = ReadRequest(&malformed);
    if (!request) return malformed ? 2 : 0;
    if (!cap.Set(request->memory_limit_bytes)) {
      Answer(wp::Kind::kError, std::string("worker: cannot cap memory: ") + std::strerror(errno));
      return 2;
    }
    if (!Serve(*request)) return 1;
  }
}

}  // namespace factorial::executor
