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

// The first `bytes` bytes of a file (fewer if it is shorter): a poll of a big file's start
// that costs the same whatever the file's size.
inline std::string ReadPrefix(const std::filesystem::path& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string out(bytes, '\0');
  in.read(out.data(), static_cast<std::streamsize>(bytes));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

}  // namespace factorial::testing
