// The executor <-> compute worker frames (executor/worker_protocol.hpp).

#include "worker_protocol.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace wp = factorial::executor::worker_protocol;
using factorial::executor::ComputeRequest;

TEST_CASE("a frame is kind, 4-byte little-endian length, payload", "[worker_protocol]") {
  std::string frame = wp::EncodeFrame(wp::Kind::kInline, "3628800");
  CHECK(frame == std::string("I\x07\x00\x00\x00", 5) + "3628800");
  auto decoded = wp::DecodeFrame(frame, 100);
  REQUIRE(decoded.ok());
  CHECK(decoded->kind == wp::Kind::kInline);
  CHECK(decoded->payload == "3628800");

  std::string big(70000, '7');
  auto round = wp::DecodeFrame(wp::EncodeFrame(wp::Kind::kInline, big), big.size());
  REQUIRE(round.ok());
  CHECK(round->payload == big);
  CHECK(wp::EncodeFrame(wp::Kind::kError, "").size() == wp::kHeaderBytes);
}

TEST_CASE("malformed frames are errors that say what is wrong", "[worker_protocol]") {
  std::string good = wp::EncodeFrame(wp::Kind::kError, "boom");
  auto message = [](const std::string& bytes, std::uint64_t max = 100) {
    auto r = wp::DecodeFrame(bytes, max);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == factorial::Errc::kCorruption);
    return r.error().message;
  };
  CHECK(message("") == "worker pipe: no message");
  CHECK(message(good.substr(0, 3)) == "worker pipe: truncated header (3 bytes)");
  CHECK(message(good.substr(0, 7)) == "worker pipe: truncated payload (2 of 4 bytes)");
  CHECK(message(good + "x") == "worker pipe: 1 bytes after the message");
  CHECK(message("Z" + good.substr(1)) == "worker pipe: unknown message kind 90");
  CHECK(message(good, 3) == "worker pipe: payload of 4 bytes is over the limit of 3");
  CHECK(message(std::string("I\xff\xff\xff\xff", 5), ~0ull) ==
        "worker pipe: truncated payload (0 of 4294967295 bytes)");
}

TEST_CASE("a request survives the round trip", "[worker_protocol]") {
  ComputeRequest r;
  r.n = 10000000;
  r.threads = 8;
  r.memory_limit_bytes = 5ull << 30;
  r.inline_limit = 65536;
  r.result_path = "/sandbox/task 1.result";
  auto decoded = wp::DecodeRequest(wp::EncodeRequest(r));
  REQUIRE(decoded.ok());
  CHECK(decoded->n == r.n);
  CHECK(decoded->threads == 8);
  CHECK(decoded->memory_limit_bytes == r.memory_limit_bytes);
  CHECK(decoded->inline_limit == 65536);
  CHECK(decoded->result_path == r.result_path);
  CHECK_FALSE(decoded->framed_file);
  r.framed_file = true;
  auto framed = wp::DecodeRequest(wp::EncodeRequest(r));
  REQUIRE(framed.ok());
  CHECK(framed->framed_file);
  CHECK(framed->result_path == r.result_path);

  std::string payload = wp::EncodeRequest(r);
  CHECK_FALSE(wp::DecodeRequest(payload.substr(0, 28)).ok());
  std::string bad_flag = payload;
  bad_flag[28] = 2;
  REQUIRE_FALSE(wp::DecodeRequest(bad_flag).ok());
  CHECK(wp::DecodeRequest(bad_flag).error().message == "worker pipe: request has a framed_file flag of 2");
  std::string no_threads = payload;
  no_threads.replace(8, 4, std::string(4, '\0'));
  auto bad = wp::DecodeRequest(no_threads);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "worker pipe: request asks for 0 threads");
}

TEST_CASE("a file result carries its size and an XXH3-128", "[worker_protocol]") {
  wp::FileResult f{5565709, "81cfb5250fa7512cff4537629c355650"};
  auto decoded = wp::DecodeFileResult(wp::EncodeFileResult(f));
  REQUIRE(decoded.ok());
  CHECK(decoded->size == 5565709);
  CHECK(decoded->digest == f.digest);
  CHECK_FALSE(wp::DecodeFileResult(wp::EncodeFileResult({1, "abc"})).ok());
  CHECK_FALSE(wp::DecodeFileResult(wp::EncodeFileResult({1, std::string(32, 'G')})).ok());
  // Both ends are one binary: a SHA-256's 64 digits are not what a worker sends.
  CHECK(wp::DecodeFileResult(wp::EncodeFileResult({1, std::string(64, 'a')})).error().message ==
        "worker pipe: file result without an XXH3-128");
  CHECK_FALSE(wp::DecodeFileResult("1234").ok());
}
