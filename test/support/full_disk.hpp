#pragma once

// A sandbox that is full for some result files, with no root and no filesystem of our own: an
// executor script that links their temporary names to /dev/full (every write fails with
// ENOSPC) in $MESOS_SANDBOX, then runs the real executor in its place. The agent, mesos-sim or
// a real one, starts it like any executor.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace factorial::testing {

// Writes the script into `dir` and returns its path. `files`: names in the sandbox, e.g.
// "factorial-1000000-1.1000000.frf.tmp" (what the first attempt at 1000000! writes first).
inline std::filesystem::path FullDiskExecutor(const std::filesystem::path& dir, const std::string& executor,
                                              const std::vector<std::string>& files) {
  std::filesystem::path script = dir / "full-disk-executor";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n";
    for (const auto& file : files) out << "ln -s /dev/full \"$MESOS_SANDBOX/" << file << "\"\n";
    out << "exec '" << executor << "' \"$@\"\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
  return script;
}

}  // namespace factorial::testing
