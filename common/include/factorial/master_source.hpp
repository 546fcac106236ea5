#pragma once

// Where a Mesos connection learns which master leads. A static list needs none: it tries the
// masters in turn and follows 307s. A detector (ZooKeeper) tells the connection each time the
// leader changes, so it can resubscribe there with its framework ID.

#include <functional>
#include <optional>
#include <string>

#include "factorial/status.hpp"

namespace factorial {

class MasterSource {
 public:
  struct Callbacks {
    // The leader changed (or was first found): its base URL, e.g. "http://10.0.0.2:5050".
    std::function<void(const std::string& url)> on_leader;
    // No leader could be found by the deadline (wrong path, empty group, unreachable or
    // refused ensemble): the reason. Detection goes on; a later leader is still reported.
    std::function<void(const Error& error)> on_error;
  };

  virtual ~MasterSource() = default;
  // Starts detection. Callbacks run on the event loop thread, never on another thread.
  virtual void Start(Callbacks callbacks) = 0;
  // The last leader reported through `on_leader`, if any.
  virtual std::optional<std::string> current() const = 0;
  // What is being watched, for logs ("zk://host:2181/mesos").
  virtual std::string Describe() const = 0;
};

}  // namespace factorial
