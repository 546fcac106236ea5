#pragma once

// Reading Mesos resources, shared by the scheduler's planner and the executor.

#include <string_view>
#include <vector>

#include "factorial/messages.hpp"

namespace factorial {

// Sum of the scalar values of every resource called `name` (all roles and reservations).
double ScalarTotal(const std::vector<v1::Resource>& resources, std::string_view name);

}  // namespace factorial
