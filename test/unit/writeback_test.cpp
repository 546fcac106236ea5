#include "writeback.hpp"

#include <cerrno>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "result_sink.hpp"
#include "support/files.hpp"
#include "support/sink_results.hpp"
#include "support/temp_dir.hpp"

using factorial::scheduler::LineFormat;
using factorial::scheduler::ResultSink;
using factorial::scheduler::Writeback;
using factorial::testing::Done;
using factorial::testing::Order;
using factorial::testing::ReadFile;
using factorial::testing::TempDir;

namespace {

constexpr std::uint64_t kEvery = 1 << 20;

struct File {
  explicit File(const std::string& path) : fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) {
    REQUIRE(fd >= 0);
  }
  ~File() { ::close(fd); }
  void Write(std::uint64_t bytes) {
    std::string chunk(static_cast<std::size_t>(bytes), '7');
    REQUIRE(::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
  }
  int fd;
};

}  // namespace

TEST_CASE("Writeback starts a file's writeback once `every` bytes more were written, and not before") {
  TempDir dir;
  File file((dir / "out").string());
  file.Write(kEvery - 1);
  {
    Writeback writeback(file.fd, kEvery);
    writeback.Wrote(kEvery - 1);
    writeback.Stop();
    CHECK(writeback.started() == 0);
    CHECK_FALSE(writeback.refused());
  }
  file.Write(1);
  Writeback writeback(file.fd, kEvery);
  writeback.Wrote(kEvery);
  writeback.Wrote(kEvery + kEvery / 2);  // not `every` more than at the last request: nothing new
  writeback.Stop();  // waits for the request made: exactly one start
  CHECK(writeback.started() == 1);
  CHECK_FALSE(writeback.refused());
  writeback.Wrote(8 * kEvery);  // after Stop: ignored
  CHECK(writeback.started() == 1);
}

TEST_CASE("Writeback starts a whole region's writeback, each region once, in the order told") {
  TempDir dir;
  File file((dir / "out").string());
  file.Write(3 * kEvery);
  Writeback writeback(file.fd, kEvery);
  writeback.Whole(kEvery, kEvery);
  writeback.Whole(0, kEvery);
  writeback.Stop();  // waits for the regions told
  CHECK(writeback.started() == 2);
  CHECK_FALSE(writeback.refused());
}

TEST_CASE("Writeback of a pipe is refused once, quietly, and not tried again") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  Writeback writeback(fds[1], kEvery);
  writeback.Wrote(kEvery);
  writeback.Whole(0, kEvery);
  writeback.Stop();
  CHECK(writeback.refused());
  CHECK(writeback.started() == 0);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_CASE("ResultSink counts every byte it writes to its output, which a file's writeback follows") {
  TempDir dir;
  std::string out = (dir / "out.txt").string();
  auto sink = ResultSink::OpenFile(Order({5, 3, 5, 10}), LineFormat::kText, out);
  REQUIRE(sink.ok());
  CHECK((*sink)->synced_at_end());
  CHECK((*sink)->bytes_out() == 0);
  REQUIRE((*sink)->Add(Done(5, "120")).ok());
  REQUIRE((*sink)->Add(Done(3, "6")).ok());
  REQUIRE((*sink)->Flush().ok());
  CHECK((*sink)->bytes_out() == std::string("5! = 120\n3! = 6\n5! = 120\n").size());
  REQUIRE((*sink)->Add(Done(10, "3628800")).ok());
  REQUIRE((*sink)->Finish().ok());
  std::string expected = "5! = 120\n3! = 6\n5! = 120\n10! = 3628800\n";
  CHECK(ReadFile(out) == expected);
  CHECK((*sink)->bytes_out() == expected.size());
}

namespace {

using factorial::scheduler::Syncer;

// A stand-in for fdatasync: records the descriptors, fails the one named, and holds the first
// call until the test opens the gate.
struct FakeSync {
  std::mutex mu;
  std::vector<int> synced;
  int failing = -1;
  std::promise<void> entered;
  std::shared_future<void> gate;
  bool first = true;
  int operator()(int fd) {
    bool wait = false;
    {
      std::lock_guard lock(mu);
      synced.push_back(fd);
      if (std::exchange(first, false)) {
        entered.set_value();
        wait = gate.valid();
      }
    }
    if (wait) gate.wait();
    if (fd == failing) {
      errno = EIO;
      return -1;
    }
    return 0;
  }
};

}  // namespace

TEST_CASE("Syncer syncs a commit's files in order off the caller's thread, and says when it ended") {
  FakeSync fake;
  std::promise<void> open;
  fake.gate = open.get_future().share();
  auto entered = fake.entered.get_future();
  Syncer syncer([&](int fd) { return fake(fd); });
  std::promise<std::thread::id> ended;
  auto ended_on = ended.get_future();
  syncer.Start({{3, "results.partial"}, {-1, "nothing"}, {5, "journal"}},
               [&] { ended.set_value(std::this_thread::get_id()); });
  entered.wait();  // the first sync runs, held: Start returned meanwhile
  CHECK(ended_on.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);
  open.set_value();
  CHECK(ended_on.get() != std::this_thread::get_id());
  CHECK(syncer.Finish().ok());
  std::lock_guard lock(fake.mu);
  CHECK(fake.synced == std::vector<int>{3, 5});
}

TEST_CASE("Syncer stops a commit at the first failed sync, names the file, and reports it once") {
  FakeSync fake;
  fake.failing = 3;
  Syncer syncer([&](int fd) { return fake(fd); });
  std::promise<void> ended;
  syncer.Start({{4, "results.partial"}, {3, "state/journal"}, {5, "other"}}, [&] { ended.set_value(); });
  ended.get_future().wait();
  auto finished = syncer.Finish();
  REQUIRE_FALSE(finished.ok());
  CHECK(finished.error().message == "cannot sync state/journal: Input/output error");
  CHECK(syncer.failed_file() == 1);
  CHECK(syncer.Finish().ok());  // taken once
  std::lock_guard lock(fake.mu);
  CHECK(fake.synced == std::vector<int>{4, 3});  // 5 never synced
}

TEST_CASE("a Syncer destroyed while a commit syncs waits for it to end") {
  FakeSync fake;
  std::promise<void> open;
  fake.gate = open.get_future().share();
  auto entered = fake.entered.get_future();
  int ended = 0;
  std::thread opener;
  {
    Syncer syncer([&](int fd) { return fake(fd); });
    syncer.Start({{7, "journal"}}, [&] { ++ended; });
    entered.wait();
    opener = std::thread([&] { open.set_value(); });  // opens while the destructor waits (or before)
  }
  opener.join();
  CHECK(ended == 1);
}
