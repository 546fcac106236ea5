#include "zk_registry.hpp"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include <arpa/inet.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "factorial/master_url.hpp"
#include "factorial/zk_group.hpp"

namespace factorial::sim {

namespace {

struct Connection {
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
};

void OnSession(zhandle_t* /*zh*/, int type, int state, const char* /*path*/, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* connection = static_cast<Connection*>(context);
  std::lock_guard lock(connection->mu);
  connection->connected = state == ZOO_CONNECTED_STATE;
  connection->cv.notify_all();
}

// Set only by the constructor and read by OnSession until the handle is closed.
Connection& SessionState(zhandle_t* zh) {
  return *static_cast<Connection*>(const_cast<void*>(zoo_get_context(zh)));
}

void ZooKeeperLog(const char* message) { spdlog::debug("zookeeper client: {}", message); }

std::runtime_error Failure(const std::string& what, int rc) {
  return std::runtime_error("ZooKeeper: " + what + ": " + zerror(rc));
}

}  // namespace

ZkRegistry::ZkRegistry(const std::string& zk_url, std::chrono::milliseconds timeout) {
  auto spec = ParseZooKeeperUrl(zk_url);
  if (!spec.ok()) throw std::runtime_error(spec.error().message);
  path_ = spec->path;
  auto* connection = new Connection();
  zh_ = zookeeper_init2(spec->ServerList().c_str(), &OnSession, 10000, nullptr, connection, 0, &ZooKeeperLog);
  if (zh_ == nullptr) {
    delete connection;
    throw std::runtime_error("ZooKeeper: cannot start a session with " + spec->ServerList());
  }
  {
    std::unique_lock lock(connection->mu);
    if (!connection->cv.wait_for(lock, timeout, [&] { return connection->connected; })) {
      lock.unlock();
      zookeeper_close(zh_);
      delete connection;
      throw std::runtime_error("ZooKeeper: no session with " + spec->ServerList() + " within " +
                               std::to_string(timeout.count()) + " ms");
    }
  }
  try {
    Prepare(*spec);
  } catch (...) {
    zookeeper_close(zh_);
    delete connection;
    throw;
  }
}

void ZkRegistry::Prepare(const ZooKeeperSpec& spec) {
  if (spec.digest) {
    std::string credentials = spec.digest->first + ":" + spec.digest->second;
    int rc = zoo_add_auth(zh_, "digest", credentials.data(), static_cast<int>(credentials.size()), nullptr, nullptr);
    if (rc != ZOK) throw Failure("digest authentication", rc);
    digest_ = true;
  }
  // The group path and its parents, persistent, as the first Mesos master creates them.
  for (std::size_t slash = 1; slash != std::string::npos;) {
    slash = path_.find('/', slash + 1);
    std::string prefix = path_.substr(0, slash);
    int rc = zoo_create(zh_, prefix.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) throw Failure("creating " + prefix, rc);
  }
}

ZkRegistry::~ZkRegistry() {
  if (zh_ == nullptr) return;
  Connection* connection = &SessionState(zh_);
  zookeeper_close(zh_);  // deletes the session's ephemeral nodes on the server
  delete connection;
}

std::string ZkRegistry::CreateChild(const std::string& name, const std::string& data, bool sequential,
                                    bool ephemeral) {
  // With credentials: anyone reads, only this session's user changes (as Mesos does).
  ACL read_and_creator[] = {{ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}, {ZOO_PERM_ALL, ZOO_AUTH_IDS}};
  ACL_vector restricted = {2, read_and_creator};
  const ACL_vector* acl = digest_ ? &restricted : &ZOO_OPEN_ACL_UNSAFE;
  std::string path = path_ + "/" + name;
  std::vector<char> created(path.size() + 32);
  int flags = (ephemeral ? ZOO_EPHEMERAL : 0) | (sequential ? ZOO_SEQUENCE : 0);
  int rc = zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), acl, flags, created.data(),
                      static_cast<int>(created.size()));
  if (rc != ZOK) throw Failure("creating " + path, rc);
  std::string full(created.data());
  return full.substr(full.rfind('/') + 1);
}

void ZkRegistry::DeleteChild(const std::string& name) {
  std::string path = path_ + "/" + name;
  int rc = zoo_delete(zh_, path.c_str(), -1);
  if (rc != ZOK && rc != ZNONODE) throw Failure("deleting " + path, rc);
}

std::vector<std::string> ZkRegistry::Children() {
  String_vector children{};
  int rc = zoo_get_children(zh_, path_.c_str(), 0, &children);
  if (rc != ZOK) throw Failure("listing " + path_, rc);
  std::vector<std::string> names(children.data, children.data + children.count);
  deallocate_String_vector(&children);
  return names;
}

int ZkRegistry::SequenceOf(const std::string& node) {
  auto member = zk::ParseMember(node);
  return member ? member->sequence : -1;
}

void ZkRegistry::RegisterMasters(const std::vector<std::string>& master_infos) {
  infos_ = master_infos;
  nodes_.assign(infos_.size(), std::nullopt);
  for (std::size_t i = 0; i < infos_.size(); ++i) {
    nodes_[i] = CreateChild(std::string(zk::kJsonInfoLabel) + "_", infos_[i], /*sequential=*/true);
  }
}

void ZkRegistry::SetLeader(int index) {
  auto contend = [&](std::size_t i) {
    nodes_[i] = CreateChild(std::string(zk::kJsonInfoLabel) + "_", infos_[i], /*sequential=*/true);
  };
  if (index < 0) {
    for (auto& node : nodes_) {
      if (node) DeleteChild(*node);
      node.reset();
    }
    spdlog::info("every master withdrew from ZooKeeper {}", path_);
    return;
  }
  auto leader = static_cast<std::size_t>(index);
  if (leader >= nodes_.size()) throw std::runtime_error("no master " + std::to_string(index));
  if (!nodes_[leader]) contend(leader);
  int leader_sequence = SequenceOf(*nodes_[leader]);
  std::vector<std::size_t> older;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (i != leader && nodes_[i] && SequenceOf(*nodes_[i]) < leader_sequence) older.push_back(i);
  }
  std::sort(older.begin(), older.end(),
            [&](std::size_t a, std::size_t b) { return SequenceOf(*nodes_[a]) > SequenceOf(*nodes_[b]); });
  for (std::size_t i : older) DeleteChild(*nodes_[i]);
  for (std::size_t i : older) contend(i);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]) contend(i);  // masters that had withdrawn rejoin behind the leader
  }
  spdlog::info("master {} leads in ZooKeeper {} ({})", index, path_, *nodes_[leader]);
}

std::string ZkRegistry::MasterInfoJson(const std::string& id, const std::string& ip, int port,
                                       const std::string& hostname) {
  in_addr addr{};
  ::inet_pton(AF_INET, ip.c_str(), &addr);
  nlohmann::json info = {
      {"address", {{"hostname", hostname}, {"ip", ip}, {"port", port}}},
      {"hostname", hostname},
      {"id", id},
      {"ip", addr.s_addr},  // network byte order, read as a host integer: Mesos' packing
      {"pid", "master@" + ip + ":" + std::to_string(port)},
      {"port", port},
      {"version", "1.12.0"},
      {"capabilities", nlohmann::json::array({{{"type", "AGENT_UPDATE"}}, {{"type", "AGENT_DRAINING"}},
                                              {{"type", "QUOTA_V2"}}})},
  };
  return info.dump();
}

}  // namespace factorial::sim
