#include "worker.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <new>
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

// An allocation failed: GMP's own handler would abort(), which the executor could only guess
// about. Say so plainly and end. The first failing thread answers; any other waits for _exit.
[[noreturn]] void OutOfMemory(std::size_t bytes) {
  static std::atomic_flag answered = ATOMIC_FLAG_INIT;
  if (!answered.test_and_set()) {
    rlimit rl{};
    ::getrlimit(RLIMIT_DATA, &rl);
    std::string what = bytes > 0 ? "an allocation of " + std::to_string(bytes >> 20) + " MiB" : std::string("an allocation");
    std::string message = "out of memory: " + what + " failed under the task's cap of " +
                          std::to_string(rl.rlim_cur >> 20) + " MiB";
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

// RLIMIT_DATA, not RLIMIT_AS: since Linux 4.7 it counts private writable mappings, that is
// memory the worker can actually dirty (heap, large blocks, thread stacks), but not address
// space merely reserved (the 64 MiB PROT_NONE heaps glibc reserves per thread arena), which
// made RLIMIT_AS fail 10^7! with 8 threads long before the task used its memory.
bool CapMemory(std::uint64_t bytes) {
#if defined(FACTORIAL_ASAN)
  // AddressSanitizer's shadow memory is writable private address space: any cap would stop
  // the worker at once. Sanitizer builds run uncapped.
  (void)bytes;
  return true;
#else
  rlimit rl{bytes, bytes};
  return ::setrlimit(RLIMIT_DATA, &rl) == 0;
#endif
}

}  // namespace

std::string ComputeAnswer(const ComputeRequest& request) {
  Mpz f = Factorial(request.n);
  std::string digits = ToDecimal(f, request.threads);
  f.Release();
  if (request.framed_file) {
    // A batch's big number: an FRF1 file of one entry, named on a `file` line.
    auto file = FrfFile::Create(request.result_path);
    Status written = file.ok() ? file.value()->Append(request.n, digits) : Status(file.error());
    auto finished = written.ok() ? file.value()->Finish() : Result<WrittenFile>(written.error());
    if (!finished.ok()) {
      bool storage = IsStorageError(finished.error());
      return wp::EncodeFrame(storage ? wp::Kind::kStorage : wp::Kind::kError, finished.error().message);
    }
    return wp::EncodeFrame(wp::Kind::kFile, wp::EncodeFileResult({finished->size, finished->sha256}));
  }
  if (digits.size() <= request.inline_limit) return wp::EncodeFrame(wp::Kind::kInline, digits);
  wp::FileResult result{digits.size(), Sha256Hex(digits)};
  std::string tmp = request.result_path + ".tmp";
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // No fsync: a file lost in a crash costs a retry, never a wrong answer (the scheduler checks
  // size and SHA-256), and fsync took ~10 ms per result.
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
  char header[wp::kHeaderBytes];
  if (!ReadExactly(wp::kResultFd, header, sizeof header)) return 2;  // the executor went away
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < 4; ++i) length |= std::uint64_t{static_cast<unsigned char>(header[1 + i])} << (8 * i);
  if (length > kMaxRequestPayload) {
    Answer(wp::Kind::kError, "worker: request too large");
    return 2;
  }
  std::string frame(header, sizeof header);
  frame.resize(sizeof header + length);
  if (!ReadExactly(wp::kResultFd, frame.data() + sizeof header, length)) return 2;
  auto decoded = wp::DecodeFrame(frame, kMaxRequestPayload);
  if (!decoded.ok() || decoded->kind != wp::Kind::kRequest) {
    Answer(wp::Kind::kError, "worker: " + (decoded.ok() ? std::string("not a request") : decoded.error().message));
    return 2;
  }
  auto request = wp::DecodeRequest(decoded->payload);
  if (!request.ok()) {
    Answer(wp::Kind::kError, "worker: " + request.error().message);
    return 2;
  }
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
  if (request->memory_limit_bytes > 0 && !CapMemory(request->memory_limit_bytes)) {
    Answer(wp::Kind::kError, std::string("worker: cannot cap memory: ") + std::strerror(errno));
    return 2;
  }
  mp_set_memory_functions(GmpAllocate, GmpReallocate, GmpFree);
  std::set_new_handler([] { OutOfMemory(0); });  // on every thread, not only this one
  try {
    std::string answer = ComputeAnswer(*request);
    return WriteAll(wp::kResultFd, answer.data(), answer.size()) ? 0 : 1;
  } catch (const std::bad_alloc&) {
    OutOfMemory(0);
  } catch (const std::system_error& e) {
    // std::thread reports a thread it could not create (no memory for its stack) this way.
    if (e.code() == std::errc::resource_unavailable_try_again || e.code() == std::errc::not_enough_memory) {
      OutOfMemory(0);
    }
    Answer(wp::Kind::kError, std::string("worker: ") + e.what());
    return 1;
  }
}

}  // namespace factorial::executor
