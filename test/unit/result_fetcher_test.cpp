#include "result_fetcher.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "factorial/digest.hpp"
#include "factorial/result_file.hpp"
#include "support/expected.hpp"
#include "support/fake_loop.hpp"

using factorial::ResultFile;
using factorial::scheduler::DigitsSlice;
using factorial::scheduler::ResultFetcher;
using factorial::testing::FakeLoop;

namespace {

std::string Frf(const std::vector<std::uint64_t>& numbers) {
  std::string bytes;
  factorial::ResultFileWriter writer([&](std::string_view b) {
    bytes.append(b);
    return factorial::OkStatus();
  });
  for (auto n : numbers) REQUIRE(writer.Append(n, factorial::testing::IndependentFactorial(n)).ok());
  REQUIRE(writer.Finish().ok());
  return bytes;
}

factorial::v1::Offer AgentOffer(const std::string& agent_id, int port) {
  factorial::v1::Offer offer;
  offer.agent_id.value = agent_id;
  offer.hostname = "agent";
  offer.url = factorial::v1::Url{"http", {std::nullopt, "127.0.0.9", port}, std::nullopt};
  return offer;
}

// The downloads asked of the loop so far: url -> request.
std::map<std::string, FakeLoop::Request*> Downloads(FakeLoop& loop) {
  std::map<std::string, FakeLoop::Request*> out;
  for (auto* r : loop.All()) {
    if (r->stream && r->http.method == "GET") out[r->http.url] = r;
  }
  return out;
}

std::string Url(int port, const std::string& path) {
  return "http://127.0.0.9:" + std::to_string(port) + "/files/download?path=" + path;
}

}  // namespace

TEST_CASE("downloads wait for their turn: two at a time from an agent, eight in all, in the order asked",
          "[result_fetcher]") {
  FakeLoop loop;
  ResultFetcher fetcher(loop, {}, std::nullopt, false, 0);
  const std::string file = Frf({1000});
  const ResultFile ref{"", file.size(), factorial::Xxh3Hex(file)};
  // Five agents, three files each, asked agent by agent.
  std::vector<std::string> delivered;
  std::vector<std::string> verdicts;
  for (int agent = 1; agent <= 5; ++agent) {
    fetcher.LearnAgent(AgentOffer("S" + std::to_string(agent), 5050 + agent));
    for (int k = 1; k <= 3; ++k) {
      ResultFile named = ref;
      named.path = "/s" + std::to_string(agent) + "." + std::to_string(k);
      fetcher.FetchFile(
          "S" + std::to_string(agent), named, [](std::uint64_t) { return std::optional<std::uint32_t>(0); },
          [&, named](std::uint32_t, std::string digits, std::optional<DigitsSlice> slice) {
            CHECK(slice.has_value() == digits.empty());
            delivered.push_back(named.path);
          },
          [&](const factorial::Status& status) { verdicts.push_back(status.ok() ? "ok" : status.error().message); });
    }
  }
  // S1..S4 two each; S5 and every third file wait.
  auto asked = Downloads(loop);
  CHECK(asked.size() == 8);
  CHECK(fetcher.downloading() == 8);
  CHECK(fetcher.waiting() == 7);
  for (int agent = 1; agent <= 4; ++agent) {
    for (int k = 1; k <= 2; ++k) {
      CHECK(asked.contains(Url(5050 + agent, "/s" + std::to_string(agent) + "." + std::to_string(k))));
    }
  }
  // S1's first ends: S1's third is next in order (S5's wait behind it), and room is used at once.
  auto* first = asked.at(Url(5051, "/s1.1"));
  REQUIRE(loop.StreamBytes(first->id, file));
  loop.EndStream(first->id);
  CHECK(verdicts == std::vector<std::string>{"ok"});
  CHECK(delivered == std::vector<std::string>{"/s1.1"});
  asked = Downloads(loop);
  CHECK(asked.size() == 9);
  CHECK(asked.contains(Url(5051, "/s1.3")));
  CHECK(fetcher.downloading() == 8);
  // A failed download frees its place as well: S2's first fails, S2's third starts.
  loop.Reply(asked.at(Url(5052, "/s2.1"))->id, 404, "no such file");
  CHECK(verdicts.size() == 2);
  CHECK(verdicts[1].find("HTTP 404") != std::string::npos);
  asked = Downloads(loop);
  CHECK(asked.contains(Url(5052, "/s2.3")));
  CHECK_FALSE(asked.contains(Url(5055, "/s5.1")));
  // Every download answered in turn: all fifteen are asked for, never more than eight at once.
  std::size_t most = 0;
  for (;;) {
    FakeLoop::Request* next = nullptr;
    for (auto* r : loop.All()) {
      if (r->stream && r->open) next = next == nullptr ? r : next;
    }
    if (next == nullptr) break;
    most = std::max(most, loop.open_streams());
    std::map<std::string, int> per_agent;  // by port
    for (auto* r : loop.All()) {
      if (r->stream && r->open) CHECK(++per_agent[r->http.url.substr(0, r->http.url.find("/files"))] <= 2);
    }
    REQUIRE(loop.StreamBytes(next->id, file));
    loop.EndStream(next->id);
  }
  CHECK(most == 8);
  CHECK(Downloads(loop).size() == 15);
  CHECK(fetcher.waiting() == 0);
  CHECK(delivered.size() == 14);
  CHECK(verdicts.size() == 15);
}

TEST_CASE("a download is checked as it arrives: a bad byte ends the transfer there, and nothing is delivered",
          "[result_fetcher]") {
  FakeLoop loop;
  ResultFetcher fetcher(loop, {}, std::nullopt, false, std::size_t{64} << 20);
  fetcher.LearnAgent(AgentOffer("S1", 5051));
  const std::string file = Frf({3000, 3001});
  std::string bad = file;
  const std::size_t at = file.size() / 3;  // inside 3000!'s digits
  REQUIRE(std::isdigit(static_cast<unsigned char>(bad[at])));
  bad[at] = 'x';
  std::vector<std::string> verdicts;
  int delivered = 0;
  fetcher.FetchFile(
      "S1", ResultFile{"/r.frf", file.size(), factorial::Xxh3Hex(file)},
      [](std::uint64_t) { return std::optional<std::uint32_t>(0); },
      [&](std::uint32_t, std::string, std::optional<DigitsSlice>) { ++delivered; },
      [&](const factorial::Status& status) { verdicts.push_back(status.ok() ? "ok" : status.error().message); });
  auto* download = loop.LastStream();
  REQUIRE(download != nullptr);
  CHECK(loop.StreamBytes(download->id, std::string_view(bad).substr(0, at)));  // fine so far
  CHECK(verdicts.empty());
  // The receiver refuses the piece with the bad byte: the rest is never asked for.
  CHECK_FALSE(loop.StreamBytes(download->id, std::string_view(bad).substr(at, 100)));
  CHECK_FALSE(download->open);
  REQUIRE(verdicts.size() == 1);
  CHECK(verdicts[0].find("entry of 3000 is shorter than its length or not digits") != std::string::npos);
  CHECK(delivered == 0);
  CHECK(fetcher.downloading() == 0);
}

TEST_CASE("a download asked for from inside a verdict waits its turn, a newer agent address is used, and waiting "
          "downloads go without a word when the fetcher does",
          "[result_fetcher]") {
  FakeLoop loop;
  auto fetcher = std::make_unique<ResultFetcher>(loop, factorial::TlsOptions{}, std::nullopt, false, 0);
  fetcher->LearnAgent(AgentOffer("S1", 5051));
  const std::string file = Frf({1000});
  std::vector<std::string> verdicts;
  std::function<void(const std::string&, bool)> fetch = [&](const std::string& path, bool again) {
    fetcher->FetchFile(
        "S1", ResultFile{path, file.size(), factorial::Xxh3Hex(file)},
        [](std::uint64_t) { return std::optional<std::uint32_t>(0); },
        [](std::uint32_t, std::string, std::optional<DigitsSlice>) {},
        [&, path, again](const factorial::Status& status) {
          verdicts.push_back(path + (status.ok() ? " ok" : " " + status.error().message));
          if (again) fetch(path + "+", false);  // the verdict asks for another file
        });
  };
  fetch("/a", true);
  fetch("/b", false);
  fetch("/c", false);
  CHECK(fetcher->downloading() == 2);
  CHECK(fetcher->waiting() == 1);
  // The agent moved (a new offer says so) while /c waits: /c goes to the new address.
  fetcher->LearnAgent(AgentOffer("S1", 6061));
  auto asked = Downloads(loop);
  REQUIRE(asked.contains(Url(5051, "/a")));
  REQUIRE(loop.StreamBytes(asked.at(Url(5051, "/a"))->id, file));
  loop.EndStream(asked.at(Url(5051, "/a"))->id);
  CHECK(verdicts == std::vector<std::string>{"/a ok"});
  // /c took /a's place; /a+, asked for from inside /a's verdict, waits behind it.
  asked = Downloads(loop);
  CHECK(asked.contains(Url(6061, "/c")));
  CHECK_FALSE(asked.contains(Url(6061, "/a+")));
  CHECK(fetcher->downloading() == 2);
  CHECK(fetcher->waiting() == 1);
  // Gone with /b and /c in flight and /a+ waiting: nothing calls back, no request is left open.
  fetcher.reset();
  loop.Pump();
  CHECK(verdicts == std::vector<std::string>{"/a ok"});
  CHECK(loop.open_streams() == 0);
}
