#pragma once

// Reads protobuf-shaped JSON the way Mesos' stout parser does (mesos-v1-api.md §3.2):
// unknown keys ignored, null = unset, numbers and bools also accepted as strings, a single
// value accepted for a repeated field. Missing required fields are collected as paths and a
// type mismatch records the first error; nothing throws.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace factorial::v1::detail {

using json = nlohmann::json;

struct ReadContext {
  std::vector<std::string> missing;  // paths of missing required fields
  std::optional<std::string> error;  // first type error
  void Fail(const std::string& path, const std::string& what) {
    if (!error) error = "Failed to parse '" + path + "': " + what;
  }
};

void Read(const json& j, const std::string& path, ReadContext& ctx, std::string& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, bool& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, double& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, std::int64_t& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, std::uint64_t& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, std::int32_t& out);
void Read(const json& j, const std::string& path, ReadContext& ctx, std::uint32_t& out);
// A `bytes` field: base64 text decoded to raw bytes.
void ReadBytes(const json& j, const std::string& path, ReadContext& ctx, std::string& out);

// A view of one JSON object being read into a message.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string path, ReadContext& ctx);

  // Returns the member, or nullptr when absent, null, or this is not an object.
  const json* Find(const char* key) const;
  std::string PathOf(const char* key) const {
    return path_.empty() ? std::string(key) : path_ + "." + key;
  }

  template <class T>
  void Required(const char* key, T& out) {
    if (const json* v = Find(key)) {
      Read(*v, PathOf(key), ctx_, out);
    } else if (ok_) {
      ctx_.missing.push_back(PathOf(key));
    }
  }
  template <class T>
  void Optional(const char* key, std::optional<T>& out) {
    if (const json* v = Find(key)) {
      out.emplace();
      Read(*v, PathOf(key), ctx_, *out);
    }
  }
  template <class T>
  void Default(const char* key, T& out) {
    if (const json* v = Find(key)) Read(*v, PathOf(key), ctx_, out);
  }
  template <class T>
  void Repeated(const char* key, std::vector<T>& out) {
    const json* v = Find(key);
    if (v == nullptr) return;
    std::string path = PathOf(key);
    if (!v->is_array()) {  // a single value is accepted as a one-element list
      out.emplace_back();
      Read(*v, path, ctx_, out.back());
      return;
    }
    out.resize(v->size());
    for (std::size_t i = 0; i < v->size(); ++i) {
      Read((*v)[i], path + "[" + std::to_string(i) + "]", ctx_, out[i]);
    }
  }
  void RequiredBytes(const char* key, std::string& out);
  void OptionalBytes(const char* key, std::optional<std::string>& out);

  ReadContext& ctx() { return ctx_; }

 private:
  const json& j_;
  std::string path_;
  ReadContext& ctx_;
  bool ok_;
};

}  // namespace factorial::v1::detail
