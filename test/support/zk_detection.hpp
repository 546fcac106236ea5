#pragma once

// Shared by the ZooKeeper tests: one real ZooKeeper server per test process (the test is
// skipped, with the reason, where it cannot run), and a detector on its own loop thread whose
// reports are recorded.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "factorial/zk_detector.hpp"
#include "support/e2e.hpp"
#include "support/zk_server.hpp"

namespace factorial::testing {

// Exits with ctest's SKIP_RETURN_CODE (77) after printing why.
[[noreturn]] inline void Skip(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(77);
}

// The process's ZooKeeper server, started on first use.
inline ZooKeeperServer& Server() {
  if (auto why = ZooKeeperServer::Unavailable()) Skip(*why);
  static ZooKeeperServer server;
  static bool reported = [] {
    std::fprintf(stderr, "ZooKeeper server up on %s in %lld ms\n", server.address().c_str(),
                 static_cast<long long>(server.startup_time().count()));
    return true;
  }();
  static_cast<void>(reported);
  return server;
}

// What the detector reported, in order, recorded on the loop thread.
class Recorder {
 public:
  factorial::ZooKeeperDetector::Callbacks Callbacks() {
    return {[this](const std::string& url) {
              std::lock_guard lock(mu_);
              leaders_.push_back(url);
            },
            [this](const factorial::Error& error) {
              std::lock_guard lock(mu_);
              errors_.push_back(error.message);
            }};
  }
  std::vector<std::string> leaders() {
    std::lock_guard lock(mu_);
    return leaders_;
  }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> leaders_, errors_;
};

// A detector living on a loop thread, as the scheduler's would.
class Detection {
 public:
  explicit Detection(const std::string& url, ZooKeeperDetectorOptions options = {}) {
    auto spec = factorial::ParseMasterSpec(url);
    REQUIRE(spec.ok());
    REQUIRE(spec->zookeeper);
    lt_.Run([&] {
      detector_ = std::make_unique<ZooKeeperDetector>(lt_.loop(), *spec->zookeeper, options);
      detector_->Start(recorder_.Callbacks());
      return 0;
    });
  }
  ~Detection() {
    lt_.Run([&] {
      detector_.reset();
      return 0;
    });
  }
  Recorder& recorder() { return recorder_; }
  std::optional<std::string> current() {
    return lt_.Run([&] { return detector_->current(); });
  }

 private:
  LoopThread lt_;
  Recorder recorder_;
  std::unique_ptr<ZooKeeperDetector> detector_;
};

}  // namespace factorial::testing
