#include "worker_protocol.hpp"

#include <algorithm>

#include "factorial/digest.hpp"

namespace factorial::executor::worker_protocol {
namespace {

void PutUint(std::string* out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Reads `bytes` little-endian bytes from the front of `*in`; false if it is too short.
bool TakeUint(std::string_view* in, int bytes, std::uint64_t* value) {
  if (in->size() < static_cast<std::size_t>(bytes)) return false;
  *value = 0;
  for (int i = 0; i < bytes; ++i) {
    *value |= static_cast<std::uint64_t>(static_cast<unsigned char>((*in)[static_cast<std::size_t>(i)])) << (8 * i);
  }
  in->remove_prefix(static_cast<std::size_t>(bytes));
  return true;
}

bool KnownKind(char c) {
  switch (static_cast<Kind>(c)) {
    case Kind::kRequest:
    case Kind::kInline:
    case Kind::kFile:
    case Kind::kError:
    case Kind::kOutOfMemory:
    case Kind::kStorage:
      return true;
  }
  return false;
}

Error Corrupt(std::string message) { return MakeError(Errc::kCorruption, "worker pipe: " + std::move(message)); }

}  // namespace

std::string EncodeFrame(Kind kind, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderBytes + payload.size());
  out.push_back(static_cast<char>(kind));
  PutUint(&out, payload.size(), 4);
  out.append(payload);
  return out;
}

Result<Frame> DecodeFrame(std::string_view bytes, std::uint64_t max_payload) {
  if (bytes.empty()) return Corrupt("no message");
  if (bytes.size() < kHeaderBytes) return Corrupt("truncated header (" + std::to_string(bytes.size()) + " bytes)");
  if (!KnownKind(bytes[0])) return Corrupt("unknown message kind " + std::to_string(static_cast<unsigned char>(bytes[0])));
  Frame frame;
  frame.kind = static_cast<Kind>(bytes[0]);
  bytes.remove_prefix(1);
  std::uint64_t length = 0;
  TakeUint(&bytes, 4, &length);
  if (length > std::min(max_payload, kMaxPayload)) {
    return Corrupt("payload of " + std::to_string(length) + " bytes is over the limit of " +
                   std::to_string(std::min(max_payload, kMaxPayload)));
  }
  if (bytes.size() < length) {
    return Corrupt("truncated payload (" + std::to_string(bytes.size()) + " of " + std::to_string(length) + " bytes)");
  }
  if (bytes.size() > length) return Corrupt(std::to_string(bytes.size() - length) + " bytes after the message");
  frame.payload.assign(bytes);
  return frame;
}

std::string EncodeRequest(const ComputeRequest& request) {
  std::string out;
  PutUint(&out, request.n, 8);
  PutUint(&out, static_cast<std::uint32_t>(std::max(request.threads, 1)), 4);
  PutUint(&out, request.memory_limit_bytes, 8);
  PutUint(&out, request.inline_limit, 8);
  PutUint(&out, request.framed_file ? 1 : 0, 1);
  out.append(request.result_path);
  return out;
}

Result<ComputeRequest> DecodeRequest(std::string_view payload) {
  ComputeRequest request;
  std::uint64_t threads = 0, inline_limit = 0, framed_file = 0;
  if (!TakeUint(&payload, 8, &request.n) || !TakeUint(&payload, 4, &threads) ||
      !TakeUint(&payload, 8, &request.memory_limit_bytes) || !TakeUint(&payload, 8, &inline_limit) ||
      !TakeUint(&payload, 1, &framed_file)) {
    return Corrupt("truncated request");
  }
  if (threads == 0 || threads > 4096) return Corrupt("request asks for " + std::to_string(threads) + " threads");
  if (framed_file > 1) return Corrupt("request has a framed_file flag of " + std::to_string(framed_file));
  request.framed_file = framed_file == 1;
  request.threads = static_cast<int>(threads);
  request.inline_limit = static_cast<std::size_t>(inline_limit);
  request.result_path.assign(payload);
  return request;
}

std::string EncodeFileResult(const FileResult& result) {
  std::string out;
  PutUint(&out, result.size, 8);
  out.append(result.digest);
  return out;
}

Result<FileResult> DecodeFileResult(std::string_view payload) {
  FileResult result;
  if (!TakeUint(&payload, 8, &result.size)) return Corrupt("truncated file result");
  bool hex = payload.size() == DigestHexLength(DigestAlgorithm::kXxh3_128) && std::all_of(payload.begin(), payload.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (!hex) return Corrupt("file result without an XXH3-128");
  result.digest.assign(payload);
  return result;
}

}  // namespace factorial::executor::worker_protocol
