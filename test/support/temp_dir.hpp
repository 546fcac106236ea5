#pragma once

// A fresh directory for one test: made with mkdtemp under $TMPDIR (or /tmp), so parallel
// test processes never share one, and removed with everything in it when the object goes
// away, unless Keep() was called (TestDirectory in daemon.hpp keeps a failed test's logs).

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace factorial::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "factorial-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + ".XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  void Keep() { keep_ = true; }
  bool kept() const { return keep_; }

  // Writes `content` to the file `name` in the directory; returns its path.
  std::string File(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }
  // The names of the entries at the top of the directory, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace factorial::testing
