#include "resources.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace factorial::sim {
namespace {

bool PortIn(const std::vector<v1::Range>& ranges, std::uint64_t p) {
  return std::any_of(ranges.begin(), ranges.end(), [p](const v1::Range& r) { return p >= r.begin && p <= r.end; });
}

// Mesos keeps three decimal digits of precision (§4.4).
bool Le(double a, double b) { return std::llround(a * 1000) <= std::llround(b * 1000); }

}  // namespace

Res Res::From(const std::vector<v1::Resource>& resources) {
  Res r;
  for (const auto& x : resources) {
    if (x.name == "cpus" && x.scalar) r.cpus += *x.scalar;
    if (x.name == "mem" && x.scalar) r.mem += *x.scalar;
    if (x.name == "disk" && x.scalar) r.disk += *x.scalar;
    if (x.name == "ports" && x.ranges) {
      for (const auto& range : *x.ranges) r.ports.push_back(range);
    }
  }
  return r;
}

bool Res::Contains(const Res& o) const {
  if (!Le(o.cpus, cpus) || !Le(o.mem, mem) || !Le(o.disk, disk)) return false;
  for (const auto& r : o.ports) {
    for (std::uint64_t p = r.begin; p <= r.end; ++p) {
      if (!PortIn(ports, p)) return false;
    }
  }
  return true;
}

void Res::Add(const Res& o) {
  cpus += o.cpus;
  mem += o.mem;
  disk += o.disk;
  ports.insert(ports.end(), o.ports.begin(), o.ports.end());
  Normalize();
}

void Res::Subtract(const Res& o) {
  cpus = std::max(0.0, cpus - o.cpus);
  mem = std::max(0.0, mem - o.mem);
  disk = std::max(0.0, disk - o.disk);
  std::vector<v1::Range> out;
  for (const auto& r : ports) {
    std::uint64_t start = r.begin;
    for (std::uint64_t p = r.begin; p <= r.end + 1; ++p) {
      bool removed = p <= r.end && PortIn(o.ports, p);
      if (p == r.end + 1 || removed) {
        if (p > start) out.push_back({start, p - 1});
        start = p + 1;
      }
    }
  }
  ports = out;
  Normalize();
}

void Res::Normalize() {
  std::sort(ports.begin(), ports.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
  std::vector<v1::Range> merged;
  for (const auto& r : ports) {
    if (!merged.empty() && r.begin <= merged.back().end + 1) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  ports = merged;
  cpus = std::round(cpus * 1000) / 1000;
  mem = std::round(mem * 1000) / 1000;
  disk = std::round(disk * 1000) / 1000;
}

std::vector<v1::Resource> Res::ToResources(const std::string& role, bool multi_role) const {
  std::vector<v1::Resource> out;
  auto offered = [&](const char* name, v1::ValueType type) -> v1::Resource& {
    v1::Resource& r = out.emplace_back();
    r.name = name;
    r.type = type;
    r.role = "*";
    if (multi_role) r.allocation_role = role;
    return r;
  };
  for (auto [name, value] : {std::pair{"cpus", cpus}, std::pair{"mem", mem}, std::pair{"disk", disk}}) {
    if (value > 0) offered(name, v1::ValueType::kScalar).scalar = value;
  }
  if (!ports.empty()) offered("ports", v1::ValueType::kRanges).ranges = ports;
  return out;
}

std::string Res::ToString() const {
  std::ostringstream s;
  s << "cpus:" << cpus << "; mem:" << mem << "; disk:" << disk;
  return s.str();
}

}  // namespace factorial::sim
