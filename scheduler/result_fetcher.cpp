#include "result_fetcher.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

#include "factorial/sha256.hpp"
#include "factorial/sizing.hpp"

namespace factorial::scheduler {
namespace {

std::string EscapeQuery(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.') {
      escaped.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      escaped += buf;
    }
  }
  return escaped;
}

}  // namespace

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ResultFetcher::ResultFetcher(EventLoop& loop, TlsOptions tls,
                             std::optional<std::pair<std::string, std::string>> credential)
    : loop_(loop), tls_(std::move(tls)), credential_(std::move(credential)) {}

ResultFetcher::~ResultFetcher() {
  for (auto id : in_flight_) loop_.Cancel(id);
}

void ResultFetcher::LearnAgent(const v1::Offer& offer) {
  if (!offer.url) return;
  const auto& a = offer.url->address;
  agent_urls_[offer.agent_id.value] =
      offer.url->scheme + "://" + a.ip.value_or(a.hostname.value_or(offer.hostname)) + ":" + std::to_string(a.port);
}

void ResultFetcher::Fetch(const std::string& agent_id, const ResultFileSlice& file, std::uint64_t n, Done done) {
  auto url = agent_urls_.find(agent_id);
  if (url == agent_urls_.end()) {
    done(Error{Errc::kNotFound, "no address known for agent " + agent_id});
    return;
  }
  HttpRequest request;
  request.method = "GET";
  request.url = url->second + "/files/download?path=" + EscapeQuery(file.path);
  request.timeout = std::chrono::minutes(10);
  request.tls = tls_;
  request.basic_auth = credential_;  // agents with --authenticate_http_readonly ask for it
  auto id = std::make_shared<EventLoop::RequestId>(0);
  *id = loop_.Send(std::move(request), [this, id, file, n, done = std::move(done)](Result<HttpResponse> result) {
    in_flight_.erase(*id);
    std::string problem;
    std::string digits;
    if (!result.ok()) {
      problem = result.error().message;
    } else if (result.value().status != 200) {
      problem = "HTTP " + std::to_string(result.value().status);
    } else if (std::string& body = result.value().body; body.size() < file.offset + file.size) {
      problem = "size or SHA-256 mismatch (the file has " + std::to_string(body.size()) + " bytes)";
    } else {
      digits = file.offset == 0 && body.size() == file.size ? std::move(body) : body.substr(file.offset, file.size);
      if (Sha256Hex(digits) != file.sha256) {
        problem = "size or SHA-256 mismatch";
      } else if (digits.size() != FactorialDigits(n) || !AllDigits(digits)) {
        problem = "not the digits of " + std::to_string(n) + "!";
      }
    }
    if (!problem.empty()) {
      done(Error{Errc::kCorruption, problem});
    } else {
      done(std::move(digits));
    }
  });
  in_flight_.insert(*id);
}

}  // namespace factorial::scheduler
