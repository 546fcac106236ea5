#pragma once

// Detects the leading Mesos master through ZooKeeper, as the Mesos libraries do: watch the
// children of the group path, elect the member with the smallest sequence (zk_group.hpp),
// read its MasterInfo, report its URL; repeat on every change.
//
// Threads: the ZooKeeper C client runs its own I/O and completion threads; its watchers only
// wake this detector's worker thread, which makes the (blocking) ZooKeeper calls. Results
// reach the caller only through EventLoop::Post, so callbacks run on the loop thread.
//
// Session loss (ZooKeeper unreachable) reports nothing: the current leader stays current
// until the caller's own connection to it fails. An expired session is replaced by a new one.
// Until a first leader is found, each problem is remembered, and when `deadline` passes with
// no leader the last one is reported through `on_error`.
//
// Lifetime: construct and destroy on the loop thread (or before it runs); `loop` must outlive
// this. Destruction stops the worker and closes the session; no callback runs afterwards.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "factorial/duration.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/master_url.hpp"
#include "factorial/mesos_connection.hpp"

namespace factorial {

struct ZooKeeperDetectorOptions {
  Duration session_timeout = std::chrono::seconds(10);  // as Mesos' detector
  Duration deadline = std::chrono::seconds(10);         // for the first leader
  std::string scheme = "http";                          // of the URLs reported
};

class ZooKeeperDetector final {
 public:
  struct Callbacks {
    // The leader changed (or was first found): its base URL, e.g. "http://10.0.0.2:5050".
    std::function<void(const std::string& url)> on_leader;
    // No leader could be found by the deadline (wrong path, empty group, unreachable or
    // refused ensemble): the reason. Detection goes on; a later leader is still reported.
    std::function<void(const Error& error)> on_error;
  };

  ZooKeeperDetector(EventLoop& loop, ZooKeeperSpec spec, ZooKeeperDetectorOptions options = {});
  ~ZooKeeperDetector();
  ZooKeeperDetector(const ZooKeeperDetector&) = delete;
  ZooKeeperDetector& operator=(const ZooKeeperDetector&) = delete;

  // Starts detection. Callbacks run on the loop thread, never on another thread.
  void Start(Callbacks callbacks);
  // The last leader reported through `on_leader`, if any.
  std::optional<std::string> current() const;
  // What is watched, without the password: "zk://host:2181/mesos".
  std::string Describe() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A MesosConnection's masters, from ZooKeeper: Current() is the last leader detected (none
// before the first). A failed subscription does not move to another master: the leader stays
// current until ZooKeeper names a new one, which `callbacks.on_leader` reports (the owner's
// cue to MesosConnection::Reconnect). Detection starts at construction.
class ZooKeeperMasterSource final : public MasterSource {
 public:
  ZooKeeperMasterSource(EventLoop& loop, ZooKeeperSpec spec, ZooKeeperDetector::Callbacks callbacks,
                        ZooKeeperDetectorOptions options = {});
  std::optional<std::string> Current() override { return detector_.current(); }
  void Failed(const std::string& /*url*/) override {}

 private:
  ZooKeeperDetector detector_;
};

}  // namespace factorial
