#include "result_sink.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace factorial::scheduler {
namespace {

using Json = nlohmann::json;

std::string Quote(std::string_view text) {
  return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool AllDigits(const std::string& text) { return text.find_first_not_of("0123456789") == std::string::npos; }

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

std::string EncodeLine(const NumberResult& r, LineFormat format) {
  std::string n = std::to_string(r.n);
  if (format == LineFormat::kText) {
    return r.ok ? n + "! = " + r.digits + "\n" : n + "! failed: " + OneLine(r.error) + "\n";
  }
  std::string line = "{\"n\":" + n;
  if (r.ok) {
    line += ",\"status\":\"finished\",\"factorial\":";
    // Digits need no escaping; the copy through Json is skipped for results of many MB.
    line += AllDigits(r.digits) ? "\"" + r.digits + "\"" : Quote(r.digits);
  } else {
    line += ",\"status\":\"failed\",\"error\":" + Quote(r.error);
  }
  line += ",\"task_id\":" + Quote(r.task_id) + ",\"agent\":" + Quote(r.agent_id) +
          ",\"seconds\":" + Json(r.seconds).dump() + "}\n";
  return line;
}

std::string EncodeUnfinishedLine(std::uint64_t n, LineFormat format) {
  return format == LineFormat::kText ? std::to_string(n) + "! unfinished\n"
                                     : "{\"n\":" + std::to_string(n) + ",\"status\":\"unfinished\"}\n";
}

Result<NumberResult> DecodeJsonLine(std::string_view line) {
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return MakeError(Errc::kCorruption, "not a JSON object");
  if (!j.contains("n") || !j["n"].is_number_unsigned()) return MakeError(Errc::kCorruption, "no number \"n\"");
  NumberResult r;
  r.n = j["n"].get<std::uint64_t>();
  std::string status = j.value("status", "");
  const char* field = status == "finished" ? "factorial" : status == "failed" ? "error" : nullptr;
  if (field == nullptr) return MakeError(Errc::kCorruption, "status is neither \"finished\" nor \"failed\"");
  if (!j.contains(field) || !j[field].is_string()) {
    return MakeError(Errc::kCorruption, std::string("no string \"") + field + "\"");
  }
  r.ok = status == "finished";
  (r.ok ? r.digits : r.error) = j[field].get<std::string>();
  if (j.contains("task_id") && j["task_id"].is_string()) r.task_id = j["task_id"].get<std::string>();
  if (j.contains("agent") && j["agent"].is_string()) r.agent_id = j["agent"].get<std::string>();
  if (j.contains("seconds") && j["seconds"].is_number()) r.seconds = j["seconds"].get<double>();
  return r;
}

ResultSink::ResultSink(std::vector<std::uint64_t> order, LineFormat format, int fd, std::string name)
    : ResultSink(std::move(order), format, fd, std::move(name), std::string()) {}

ResultSink::ResultSink(std::vector<std::uint64_t> order, LineFormat format, int fd, std::string name,
                       std::string path)
    : order_(std::move(order)), format_(format), fd_(fd), name_(std::move(name)), path_(std::move(path)) {
  for (std::uint64_t n : order_) ++entries_[n].lines_left;
}

Result<std::unique_ptr<ResultSink>> ResultSink::OpenFile(std::vector<std::uint64_t> order, LineFormat format,
                                                         const std::string& path) {
  std::string partial = path + ".partial";
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "cannot write results to " + path + " (through " + partial + "): " + std::strerror(errno));
  }
  std::unique_ptr<ResultSink> sink(new ResultSink(std::move(order), format, fd, partial, path));
  sink->owns_fd_ = true;
  return sink;
}

ResultSink::~ResultSink() {
  if (owns_fd_) ::close(fd_);
}

Status ResultSink::Add(const NumberResult& result) {
  if (failed_) return *failed_;
  auto it = entries_.find(result.n);
  if (it == entries_.end() || it->second.added) return OkStatus();
  Entry& entry = it->second;
  entry.added = true;
  if (cursor_ < order_.size() && order_[cursor_] == result.n && entry.lines_left == 1) {
    // Due now and needed once: written without keeping a copy.
    if (auto written = Write(EncodeLine(result, format_)); !written.ok()) return written;
    ++cursor_;
    entry.lines_left = 0;
  } else {
    entry.result = result;
    ++held_;
  }
  return WriteDue(false);
}

Status ResultSink::Resume(const std::map<std::uint64_t, NumberResult>& journaled) {
  for (const auto& [n, result] : journaled) {
    if (auto added = Add(result); !added.ok()) return added;
  }
  return committed_ || path_.empty() ? OkStatus() : Commit();
}

Status ResultSink::Finish() {
  if (failed_) return *failed_;
  if (auto written = WriteDue(true); !written.ok()) return written;
  if (path_.empty()) return OkStatus();
  if (committed_) {
    if (::fdatasync(fd_) != 0) return MakeError(Errc::kInternal, "cannot sync " + path_ + ": " + std::strerror(errno));
    return OkStatus();
  }
  return Commit();
}

Status ResultSink::WriteDue(bool finishing) {
  while (cursor_ < order_.size()) {
    Entry& entry = entries_.at(order_[cursor_]);
    if (!entry.result && !finishing) break;
    std::string line = entry.result ? EncodeLine(*entry.result, format_) : EncodeUnfinishedLine(order_[cursor_], format_);
    if (auto written = Write(line); !written.ok()) return written;
    ++cursor_;
    if (--entry.lines_left == 0 && entry.result) {
      entry.result.reset();
      --held_;
    }
  }
  return OkStatus();
}

Status ResultSink::Write(const std::string& line) {
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = MakeError(Errc::kInternal,
                          "cannot write results to " + name_ + ": " + (n < 0 ? std::strerror(errno) : "nothing written"));
      return *failed_;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return OkStatus();
}

Status ResultSink::Commit() {
  if (::fdatasync(fd_) != 0) {
    failed_ = MakeError(Errc::kInternal, "cannot sync " + name_ + ": " + std::strerror(errno));
    return *failed_;
  }
  if (std::rename(name_.c_str(), path_.c_str()) != 0) {
    failed_ = MakeError(Errc::kInternal, "cannot rename " + name_ + " to " + path_ + ": " + std::strerror(errno));
    return *failed_;
  }
  committed_ = true;
  name_ = path_;
  return OkStatus();
}

}  // namespace factorial::scheduler
