#include "json_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "factorial/base64.hpp"

namespace factorial::v1::detail {
namespace {

// Integers may come as JSON numbers or as decimal strings.
template <class Int>
void ReadInteger(const json& j, const std::string& path, ReadContext& ctx, Int& out) {
  if (j.is_number_integer()) {
    if (j.is_number_unsigned()) {
      auto v = j.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) {
        return ctx.Fail(path, "integer out of range");
      }
      out = static_cast<Int>(v);
    } else {
      auto v = j.get<std::int64_t>();
      if constexpr (std::is_unsigned_v<Int>) {
        if (v < 0) return ctx.Fail(path, "negative value for an unsigned field");
        if (static_cast<std::uint64_t>(v) > std::numeric_limits<Int>::max()) {
          return ctx.Fail(path, "integer out of range");
        }
      } else if (v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max()) {
        return ctx.Fail(path, "integer out of range");
      }
      out = static_cast<Int>(v);
    }
    return;
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (std::trunc(d) != d || !std::isfinite(d) ||
        d < static_cast<double>(std::numeric_limits<Int>::min()) ||
        d > static_cast<double>(std::numeric_limits<Int>::max())) {
      return ctx.Fail(path, "expected an integer");
    }
    out = static_cast<Int>(d);
    return;
  }
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    Int v{};
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
      return ctx.Fail(path, "expected an integer");
    }
    out = v;
    return;
  }
  ctx.Fail(path, "expected an integer");
}

}  // namespace

void Read(const json& j, const std::string& path, ReadContext& ctx, std::string& out) {
  if (!j.is_string()) return ctx.Fail(path, "expected a string");
  out = j.get<std::string>();
}

void Read(const json& j, const std::string& path, ReadContext& ctx, bool& out) {
  if (j.is_boolean()) {
    out = j.get<bool>();
  } else if (j.is_string() && (j == "true" || j == "false")) {
    out = j == "true";
  } else {
    ctx.Fail(path, "expected a boolean");
  }
}

void Read(const json& j, const std::string& path, ReadContext& ctx, double& out) {
  if (j.is_number()) {
    out = j.get<double>();
    return;
  }
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "Infinity") {
      out = std::numeric_limits<double>::infinity();
      return;
    }
    if (s == "-Infinity") {
      out = -std::numeric_limits<double>::infinity();
      return;
    }
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) {
      out = v;
      return;
    }
  }
  ctx.Fail(path, "expected a number");
}

void Read(const json& j, const std::string& path, ReadContext& ctx, std::int64_t& out) {
  ReadInteger(j, path, ctx, out);
}
void Read(const json& j, const std::string& path, ReadContext& ctx, std::uint64_t& out) {
  ReadInteger(j, path, ctx, out);
}
void Read(const json& j, const std::string& path, ReadContext& ctx, std::int32_t& out) {
  ReadInteger(j, path, ctx, out);
}
void Read(const json& j, const std::string& path, ReadContext& ctx, std::uint32_t& out) {
  ReadInteger(j, path, ctx, out);
}

void ReadBytes(const json& j, const std::string& path, ReadContext& ctx, std::string& out) {
  if (!j.is_string()) return ctx.Fail(path, "expected a base64 string");
  auto decoded = Base64Decode(j.get_ref<const std::string&>());
  if (!decoded.ok()) return ctx.Fail(path, "invalid base64");
  out = std::move(decoded).value();
}

ObjectReader::ObjectReader(const json& j, std::string path, ReadContext& ctx)
    : j_(j), path_(std::move(path)), ctx_(ctx), ok_(j.is_object()) {
  if (!ok_) ctx_.Fail(path_.empty() ? "<root>" : path_, "expected a JSON object");
}

const json* ObjectReader::Find(const char* key) const {
  if (!ok_) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ObjectReader::RequiredBytes(const char* key, std::string& out) {
  if (const json* v = Find(key)) {
    ReadBytes(*v, PathOf(key), ctx_, out);
  } else if (ok_) {
    ctx_.missing.push_back(PathOf(key));
  }
}

void ObjectReader::OptionalBytes(const char* key, std::optional<std::string>& out) {
  if (const json* v = Find(key)) {
    out.emplace();
    ReadBytes(*v, PathOf(key), ctx_, *out);
  }
}

}  // namespace factorial::v1::detail
