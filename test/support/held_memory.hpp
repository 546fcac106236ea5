#pragma once

// A download held in memory, as the fetcher keeps one that fits its budget
// (scheduler/download_memory.hpp): for tests of what consumes slices of it.

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "download_memory.hpp"
#include "number_result.hpp"

namespace factorial::testing {

inline std::shared_ptr<const scheduler::HeldFile> HeldInMemory(std::string_view bytes) {
  static scheduler::DownloadMemory memory(std::size_t{256} << 20);
  auto block = memory.Take(bytes.size());
  if (!block) throw std::runtime_error("no memory for a test download");
  std::memcpy(block->data(), bytes.data(), bytes.size());
  return std::make_shared<const scheduler::HeldFile>(std::move(*block), bytes.size());
}

}  // namespace factorial::testing
