#include "sandbox_reader.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "factorial/logging.hpp"
#include "factorial/url_query.hpp"

namespace factorial::scheduler {
namespace {

// Bytes of one answer as they stream in, cut off past the bound.
struct Answer {
  std::string body;
  bool too_large = false;
};

}  // namespace

Result<FilesRead> ParseFilesRead(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return MakeError(Errc::kCorruption, "the files answer is not a JSON object: " + Excerpt(body, 64));
  }
  auto data = json.find("data");
  auto offset = json.find("offset");
  if (data == json.end() || !data->is_string()) return MakeError(Errc::kCorruption, "the files answer has no \"data\"");
  if (offset == json.end() || !offset->is_number_integer() || offset->get<std::int64_t>() < 0) {
    return MakeError(Errc::kCorruption, "the files answer has no \"offset\"");
  }
  return FilesRead{data->get<std::string>(), offset->get<std::int64_t>()};
}

std::string LastStderrLine(std::string_view tail, bool from_file_start) {
  if (!from_file_start) {
    // The tail starts inside a line: that piece says nothing whole.
    auto newline = tail.find('\n');
    tail = newline == std::string_view::npos ? std::string_view() : tail.substr(newline + 1);
  }
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!tail.empty() && blank(tail.back())) tail.remove_suffix(1);
  auto start = tail.rfind('\n');
  std::string_view line = start == std::string_view::npos ? tail : tail.substr(start + 1);
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  return std::string(line);
}

SandboxReader::SandboxReader(EventLoop& loop, TlsOptions tls,
                             std::optional<std::pair<std::string, std::string>> credential)
    : loop_(loop), tls_(std::move(tls)), credential_(std::move(credential)) {}

SandboxReader::~SandboxReader() {
  for (auto id : in_flight_) loop_.Cancel(id);
}

std::string SandboxReader::ReadQuery(const std::string& path, std::int64_t offset, std::optional<std::size_t> length) {
  std::string query = "/files/read?path=" + EscapeQueryValue(path) + "&offset=" + std::to_string(offset);
  if (length) query += "&length=" + std::to_string(*length);
  return query;
}

void SandboxReader::ReadTail(const std::string& agent_url, const std::string& framework_id,
                             const std::string& executor_id, const std::string& file, Done done) {
  std::string path = "/frameworks/" + framework_id + "/executors/" + executor_id + "/runs/latest/" + file;
  Get(agent_url + ReadQuery(path, -1, std::nullopt), [this, agent_url, path, done](Result<FilesRead> size) {
    if (!size.ok()) {
      done(size.error());
      return;
    }
    std::int64_t from = std::max<std::int64_t>(0, size->offset - static_cast<std::int64_t>(kTailBytes));
    Get(agent_url + ReadQuery(path, from, kTailBytes), [done, from](Result<FilesRead> tail) {
      if (!tail.ok()) {
        done(tail.error());
        return;
      }
      done(std::pair{std::move(tail->data), from == 0});
    });
  });
}

void SandboxReader::Get(const std::string& url, std::function<void(Result<FilesRead>)> done) {
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  request.connect_timeout = kTimeout;
  request.timeout = kTimeout;
  request.tls = tls_;
  request.basic_auth = credential_;  // agents with --authenticate_http_readonly ask for it
  auto answer = std::make_shared<Answer>();
  auto id = std::make_shared<EventLoop::RequestId>(0);
  StreamCallbacks callbacks;
  callbacks.on_head = [](const HttpResponse&) { return true; };
  callbacks.on_data = [answer](std::string_view bytes) {
    if (answer->body.size() + bytes.size() > kMaxAnswerBytes) {
      answer->too_large = true;
      return false;
    }
    answer->body.append(bytes);
    return true;
  };
  callbacks.on_done = [this, id, answer, done = std::move(done)](Result<HttpResponse> result) {
    in_flight_.erase(*id);
    if (answer->too_large) {
      done(Error{Errc::kCorruption, "the agent's answer is over " + std::to_string(kMaxAnswerBytes) + " bytes"});
    } else if (!result.ok()) {
      done(result.error());
    } else if (result->status != 200) {
      done(Error{Errc::kUnavailable, "the agent answered " + std::to_string(result->status) +
                                         (answer->body.empty() ? "" : " " + Excerpt(answer->body, 64))});
    } else {
      done(ParseFilesRead(answer->body));
    }
  };
  *id = loop_.OpenStream(std::move(request), std::move(callbacks));
  in_flight_.insert(*id);
}

}  // namespace factorial::scheduler
