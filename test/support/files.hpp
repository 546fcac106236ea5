#pragma once

// A file's whole contents, for tests that check what was written.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace factorial::testing {

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace factorial::testing
