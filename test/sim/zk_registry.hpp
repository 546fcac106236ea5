#pragma once

// Announces mesos-sim's masters in a real ZooKeeper the way Mesos masters do, so that
// `zk://` detection can be tested end to end: each master contends with an ephemeral
// sequential "json.info_" child of the group path holding its MasterInfo as JSON, and the
// smallest sequence leads (common/include/factorial/zk_group.hpp).
//
// Blocking calls on the caller's thread; not thread-safe (the caller serializes). One
// ZooKeeper session holds every node: destroying the registry removes them all at once, as
// ZooKeeper does when a master process dies.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

typedef struct _zhandle zhandle_t;  // NOLINT(modernize-use-using): ZooKeeper's C typedef

namespace factorial {
struct ZooKeeperSpec;
}

namespace factorial::sim {

class ZkRegistry {
 public:
  // Opens a session with the ensemble of `zk_url` (zk://[user:password@]host:port,.../path)
  // and creates the group path and its parents if missing. Throws std::runtime_error with the
  // reason if the URL is wrong or no session is established within `timeout`.
  explicit ZkRegistry(const std::string& zk_url, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~ZkRegistry();
  ZkRegistry(const ZkRegistry&) = delete;
  ZkRegistry& operator=(const ZkRegistry&) = delete;

  // Registers masters in index order (so master 0 leads); `master_infos` are their
  // MasterInfo JSONs (MasterInfoJson()).
  void RegisterMasters(const std::vector<std::string>& master_infos);
  // Makes master `index` the leader, or none with -1: every master registered before it
  // withdraws (newest first, so no other master leads in between) and contends again, as a
  // Mesos master that loses leadership restarts and rejoins. -1 withdraws every master.
  void SetLeader(int index);

  // For tests: creates a child of the group path (a sequential one gets ZooKeeper's suffix)
  // and returns its name; deletes one; lists them.
  std::string CreateChild(const std::string& name, const std::string& data, bool sequential, bool ephemeral = true);
  void DeleteChild(const std::string& name);
  std::vector<std::string> Children();
  const std::string& path() const { return path_; }

  // A MasterInfo as a Mesos 1.12 master writes it into ZooKeeper.
  static std::string MasterInfoJson(const std::string& id, const std::string& ip, int port,
                                    const std::string& hostname);

 private:
  static int SequenceOf(const std::string& node);
  // Authenticates and creates the group path.
  void Prepare(const ZooKeeperSpec& spec);

  zhandle_t* zh_ = nullptr;
  std::string path_;
  bool digest_ = false;
  std::vector<std::string> infos_;
  std::vector<std::optional<std::string>> nodes_;  // each master's current node
};

}  // namespace factorial::sim
