#include "http.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <sstream>

namespace factorial::sim {

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string HttpDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

void Text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Date", HttpDate());
  res.set_content(body, kText);
}

void PostRoute(httplib::Server& server, const std::string& pattern,
               std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  server.Post(pattern, [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                      const httplib::ContentReader& read) {
    httplib::Request with_body = req;
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      read([&](const char* data, std::size_t size) {
        with_body.body.append(data, size);
        return true;
      });
    }
    handler(with_body, res);
  });
}

void NotAllowed(const httplib::Request& req, httplib::Response& res) {
  res.set_header("Allow", "POST");
  Text(res, 405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received '" + req.method + "'.");
}

void Accepted(httplib::Response& res) {
  res.status = 202;
  res.set_header("Date", HttpDate());
  res.set_header("Content-Length", "0");
}

bool AcceptsJson(const httplib::Request& req) {
  if (!req.has_header("Accept")) return true;
  std::string accept = req.get_header_value("Accept");
  int best_rank = -1;
  double best_q = 0;
  std::stringstream entries(accept);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    std::string type = entry.substr(0, entry.find(';'));
    type.erase(0, type.find_first_not_of(" \t"));
    type.erase(type.find_last_not_of(" \t") + 1);
    double q = 1;
    if (auto qpos = entry.find("q="); qpos != std::string::npos) q = std::atof(entry.c_str() + qpos + 2);
    int rank = type == kJson ? 2 : type == "application/*" ? 1 : type == "*/*" ? 0 : -1;
    if (rank > best_rank) {
      best_rank = rank;
      best_q = q;
    }
  }
  return best_rank >= 0 && best_q > 0;
}

std::string JsonSyntaxError(const std::string& body) {
  std::size_t position = body.size();
  try {
    json parsed = json::parse(body);
    static_cast<void>(parsed);
  } catch (const json::parse_error& e) {
    position = e.byte == 0 ? 0 : std::min(body.size(), static_cast<std::size_t>(e.byte - 1));
  } catch (const json::exception&) {
  }
  // picojson stops at the first character that cannot start or continue the current token.
  std::size_t token = position;
  while (token > 0 && std::isalpha(static_cast<unsigned char>(body[token - 1]))) --token;
  if (token < position) position = token + 1 < body.size() && body[token] == 'n' ? token + 1 : token;
  int line = 1 + static_cast<int>(std::count(body.begin(), body.begin() + static_cast<long>(position), '\n'));
  return "syntax error at line " + std::to_string(line) + " near: " + body.substr(position);
}

void ServeStream(httplib::Response& res, std::shared_ptr<Stream> stream, std::function<void()> on_close,
                 const std::string& stream_id) {
  res.status = 200;
  res.set_header("Date", HttpDate());
  if (!stream_id.empty()) res.set_header("Mesos-Stream-Id", stream_id);
  res.set_chunked_content_provider(
      kJson,
      [stream](std::size_t, httplib::DataSink& sink) {
        std::unique_lock lock(stream->mu);
        stream->cv.wait_for(lock, Millis(250), [&] { return !stream->buffer.empty() || stream->closed; });
        if (!stream->buffer.empty()) {
          std::string out;
          out.swap(stream->buffer);
          lock.unlock();
          if (!sink.write(out.data(), out.size())) {
            std::lock_guard again(stream->mu);
            stream->client_gone = true;
            return false;
          }
          return true;
        }
        if (stream->closed) {
          lock.unlock();
          sink.done();
          return true;
        }
        return sink.is_writable();
      },
      [stream, on_close = std::move(on_close)](bool) {
        {
          std::lock_guard lock(stream->mu);
          stream->client_gone = true;
          stream->closed = true;
        }
        on_close();
      });
}

}  // namespace factorial::sim
