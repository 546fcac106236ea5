#include "factorial/resources.hpp"

namespace factorial {

double ScalarTotal(const std::vector<v1::Resource>& resources, std::string_view name) {
  double total = 0;
  for (const auto& r : resources) {
    if (r.name == name && r.scalar) total += *r.scalar;
  }
  return total;
}

}  // namespace factorial
