#pragma once

// Resource arithmetic as the master does it for unreserved resources: cpus, mem and disk
// scalars kept to three decimal digits (§4.4), and ports as merged ranges.

#include <string>
#include <vector>

#include "factorial/messages.hpp"

namespace factorial::sim {

struct Res {
  double cpus = 0, mem = 0, disk = 0;
  std::vector<v1::Range> ports;  // sorted, merged

  static Res From(const std::vector<v1::Resource>& resources);

  // True iff every scalar and every port of `o` is within this.
  bool Contains(const Res& o) const;
  void Add(const Res& o);
  void Subtract(const Res& o);  // scalars stop at 0; ports of `o` are cut out
  // --min_allocatable_resources default "cpus:0.01|mem:32".
  bool Allocatable() const { return cpus >= 0.01 || mem >= 32; }
  bool Empty() const { return cpus <= 0 && mem <= 0 && disk <= 0 && ports.empty(); }

  // Offered form: pre-refinement "role" on each resource; allocation_info for MULTI_ROLE (§4.3).
  std::vector<v1::Resource> ToResources(const std::string& role, bool multi_role) const;
  // "cpus:1; mem:128; disk:0", as task validation errors show resources.
  std::string ToString() const;

 private:
  void Normalize();
};

}  // namespace factorial::sim
