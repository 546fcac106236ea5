#pragma once

// The forms of `--master` / `MESOS_MASTER` that Mesos' own tools accept, parsed without
// touching the network:
//
//   host:port, http(s)://host:port[/...], master@host:port    one master
//   any of those, comma-separated                              a static list
//   zk://[user:password@]host:port[,host:port...]/path         a ZooKeeper ensemble and group
//   file:///path                                               a file holding one of the above
//   mesos://host:port, mesos://zk://...                        Spark's spelling of the same
//
// Every problem is reported in the returned error, naming the offending part.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "factorial/status.hpp"

namespace factorial {

struct ZooKeeperSpec {
  std::vector<std::string> servers;  // "host:port", in the order given
  std::string path;                  // the masters' group, e.g. "/mesos"; never "/"
  // ZooKeeper "digest" authentication (user, password), from `user:password@`.
  std::optional<std::pair<std::string, std::string>> digest;

  // "host:port,host:port", as zookeeper_init() takes it.
  std::string ServerList() const;
  // The URL without the password, for logs and errors.
  std::string ToString() const;
  friend bool operator==(const ZooKeeperSpec&, const ZooKeeperSpec&) = default;
};

// Exactly one of the two is set.
struct MasterSpec {
  std::vector<std::string> urls;            // base URLs "http(s)://host:port"
  std::optional<ZooKeeperSpec> zookeeper;   // leader found through ZooKeeper
  friend bool operator==(const MasterSpec&, const MasterSpec&) = default;
};

// Reads a whole file (for `file://`); replaceable in tests.
using FileReader = std::function<Result<std::string>(const std::string& path)>;
Result<std::string> ReadWholeFile(const std::string& path);

// Parses any form above. `file://` content is trimmed and must hold a non-file form.
Result<MasterSpec> ParseMasterSpec(std::string_view text, const FileReader& read_file = ReadWholeFile);

// Just the zk:// form (the text must start with "zk://").
Result<ZooKeeperSpec> ParseZooKeeperUrl(std::string_view text);

}  // namespace factorial
