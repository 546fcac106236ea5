// What an operator sees when the master is not what it should be, and when input or options
// are typed as Mesos users type them: the real scheduler against mesos-sim or a scripted fake
// master on loopback. Each run is bounded by the child's deadline, so a hang fails its case.

#include "sim.hpp"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/curl_global.hpp"
#include "support/e2e.hpp"
#include "support/expected.hpp"
#include "support/fake_master.hpp"
#include "support/sim_e2e.hpp"
#include "support/timeouts.hpp"

using namespace factorial::testing;
using factorial::sim::MesosSim;
namespace fs = std::filesystem;

TEST_CASE("a master that streams heartbeats and never SUBSCRIBED ends the run at --connect-timeout",
          "[e2e][connection]") {
  std::string heartbeat = Framed(R"({"type":"HEARTBEAT"})");
  FakeMaster master(
      [&](int) {
        std::vector<std::string> chunks;
        for (int i = 0; i < 600; ++i) {  // a minute of heartbeats, every 100 ms
          chunks.push_back(heartbeat);
          chunks.emplace_back();
        }
        return chunks;
      },
      true);
  auto start = std::chrono::steady_clock::now();
  Process p(SimSchedulerArgs(master.url(), {"--connect-timeout", "2", "5"}), kSmallRun);
  CHECK(p.Wait() == 1);
  CHECK_FALSE(p.timed_out());
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished"});
  CHECK_THAT(p.Stderr(), Catch::Contains("no subscription within 2 s: " + master.url() +
                                         " connected but no answer to SUBSCRIBE"));
  CHECK_THAT(p.Stderr(), !Catch::Contains("subscribed as framework"));
}

TEST_CASE("a master whose stream breaks right after SUBSCRIBED: backoff grows and the same error ends the run",
          "[e2e][connection]") {
  FakeMaster master([](int) { return std::vector<std::string>{Framed(SubscribedRecord()), "999999999999\n"}; },
                        true);
  Process p(SimSchedulerArgs(master.url(), {"5"}), kSmallRun);
  CHECK(p.Wait() == 1);
  CHECK_FALSE(p.timed_out());
  CHECK(master.subscribes() == 5);
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished"});
  std::string log = p.Stderr();
  CHECK_THAT(log, Catch::Contains("the same error 5 times in a row from " + master.url() +
                                  ": corrupt event stream: RecordIO record of 999999999999 bytes exceeds the limit "
                                  "of 67108864"));
  CHECK(log.size() < 16 * 1024);
}

TEST_CASE("input errors quote every byte escaped, the whole message, and a BOM is accepted", "[e2e][connection]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  fs::path dir = fs::path(sim.work_dir()) / "inputs";
  fs::create_directories(dir);
  fs::path hostile = dir / "hostile.txt";
  std::ofstream(hostile, std::ios::binary) << std::string("1\n\x1b]0;pwned\x07\x1b[31mRED\n3\nab\0cd\nzz\n", 31);
  Process bad(SimSchedulerArgs(sim.master_url(), {"--input", hostile.string()}), kSettled);
  CHECK(bad.Wait() == 2);
  CHECK(bad.Stdout().empty());
  std::string log = bad.Stderr();
  CHECK(log == "factorial-scheduler: 3 bad numbers: input line 2 '\\x1B]0;pwned\\x07\\x1B[31mRED' is not a non-negative "
               "decimal integer; input line 4 'ab\\x00cd' is not a non-negative decimal integer; input line 5 'zz' is "
               "not a non-negative decimal integer\n");
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK(log.find('\x07') == std::string::npos);
  CHECK(log.find('\0') == std::string::npos);

  // Windows editors start UTF-8 files with a byte order mark: it carries no content.
  fs::path bom = dir / "bom.txt";
  std::ofstream(bom, std::ios::binary) << "\xEF\xBB\xBF" "5\n7\n";
  Process ok(SimSchedulerArgs(sim.master_url(), {"--input", bom.string()}), kSmallRun);
  CHECK(ok.Wait() == 0);
  CHECK(Lines(ok.Stdout()) == std::vector<std::string>{"5! = 120", "7! = 5040"});

  Process negative(SimSchedulerArgs(sim.master_url(), {"--batch-size", "-1", "5"}), kSettled);
  CHECK(negative.Wait() == 2);
  CHECK_THAT(negative.Stderr(), Catch::Contains("not '-1'"));
  CHECK_THAT(negative.Stderr(), !Catch::Contains("1.84467e+19"));
}

TEST_CASE("option values are quoted escaped in argument errors, CLI11's own messages too, bounds in full",
          "[e2e][connection]") {
  const std::string red = "\x1b[31m", shown = "\\x1B[31m";
  struct Case {
    std::vector<std::string> args;
    std::string quoted;  // how the error must show the value
  };
  for (const Case& c : {Case{{"--format", "xml" + red}, "--format must be text or json, not 'xml" + shown + "'"},
                        Case{{"--order", "x\x1b]0;pwned\x07"}, "--order must be input or completion, not 'x\\x1B]0;pwned\\x07'"},
                        Case{{"--spill-dir", "/nonexistent" + red}, "--spill-dir /nonexistent" + shown + " is not a directory"},
                        Case{{"--max-retries", red}, shown}}) {
    std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", "127.0.0.1:1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back("5");
    Process p(args, kSettled);
    INFO(c.args[0]);
    CHECK(p.Wait() == 2);
    CHECK(p.Stdout().empty());
    CHECK_THAT(p.Stderr(), Catch::Contains(c.quoted));
    CHECK(p.Stderr().find('\x1b') == std::string::npos);
    CHECK(p.Stderr().find('\x07') == std::string::npos);
  }
  // Bounds in full, not in floating point.
  for (const auto& [option, bound] : {std::pair{"--hold-memory", "between 0 and 1048576, not -1"},
                                      std::pair{"--offer-wait", "between 1 and 10000000, not -1"}}) {
    Process p({FACTORIAL_SCHEDULER_BINARY, "--master", "127.0.0.1:1", option, "-1", "5"}, kSettled);
    CHECK(p.Wait() == 2);
    CHECK(p.Stderr() == std::string("factorial-scheduler: ") + option + " must be " + bound + "\n");
  }
  Process master({FACTORIAL_SCHEDULER_BINARY, "--master", "127.0.0.1:1" + red, "5"}, kSettled);
  CHECK(master.Wait() == 2);
  CHECK_THAT(master.Stderr(), Catch::Contains("'127.0.0.1:1" + shown + "' has no valid port"));
  CHECK(master.Stderr().find('\x1b') == std::string::npos);
}

TEST_CASE("a permanent misconfiguration ends the run at once, naming the likely mistake", "[e2e][connection]") {
  MesosSim sim(FastSimOptions(1));
  sim.Start();
  auto run = [](const std::string& master) {
    auto start = std::chrono::steady_clock::now();
    // --connect-timeout 300 (the default): only a diagnosis can end these runs in time.
    auto p = std::make_unique<Process>(SimSchedulerArgs(master, {"5"}), kSmallRun);
    CHECK(p->Wait() == 1);
    CHECK_FALSE(p->timed_out());
    CHECK(std::chrono::steady_clock::now() - start < 20s);
    CHECK(Lines(p->Stdout()) == std::vector<std::string>{"5! unfinished"});
    return p;
  };
  auto once = [](const std::string& log, const std::string& text) {
    std::size_t first = log.find(text);
    CHECK(first != std::string::npos);
    CHECK(log.find(text, first + 1) == std::string::npos);
  };
  SECTION("an agent's port") {
    std::string agent = sim.agent_url(0).substr(std::string("http://").size());
    auto p = run(sim.agent_url(0));
    once(p->Stderr(), "cannot subscribe: " + agent +
                          " is a Mesos agent, not a master: give the master's address (port 5050 unless changed)");
  }
  SECTION("https:// to a plain HTTP master") {
    std::string https = "https://" + sim.master_url().substr(std::string("http://").size());
    auto p = run(https);
    once(p->Stderr(), "cannot subscribe: " + https + " does not speak TLS: is it a plain http:// master?");
  }
  SECTION("another HTTP server") {
    httplib::Server other;
    other.Get("/version", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("<html>hello</html>", "text/html");
    });
    int port = other.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { other.listen_after_bind(); });
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    auto p = run(url);
    other.stop();
    serving.join();
    once(p->Stderr(), "cannot subscribe: " + url + " is not a Mesos master: it answered 404 to SUBSCRIBE and 200 to "
                      "GET /version");
  }
  SECTION("an answer that is no event stream") {
    FakeMaster master([](int) { return std::vector<std::string>{"<html>not mesos</html>"}; }, false);
    auto p = run(master.url());
    once(p->Stderr(), "cannot subscribe: " + master.url() +
                          " is not a Mesos master: its answer to SUBSCRIBE is not an event stream");
    CHECK(master.subscribes() == 1);
  }
}

TEST_CASE("a master that is down is retried quietly: one warning, then at most one every 30 s", "[e2e][connection]") {
  std::string url = "http://127.0.0.1:1";  // refused: nothing listens on a reserved port
  Process p(SimSchedulerArgs(url, {"--connect-timeout", "6", "5"}), kSmallRun);
  CHECK(p.Wait() == 1);
  CHECK_FALSE(p.timed_out());
  std::string log = p.Stderr();
  std::size_t warnings = 0;
  for (std::size_t at = log.find("subscribing to " + url + " again"); at != std::string::npos;
       at = log.find("subscribing to " + url + " again", at + 1)) {
    ++warnings;
  }
  CHECK(warnings == 1);
  std::size_t finals = 0;
  for (std::size_t at = log.find("no subscription within 6 s"); at != std::string::npos;
       at = log.find("no subscription within 6 s", at + 1)) {
    ++finals;
  }
  CHECK(finals == 1);
}

TEST_CASE("SIGTERM while no leader is known yet (zk://) ends with the unfinished lines and the summary",
          "[e2e][connection]") {
  // Nothing listens on port 1: the ZooKeeper client keeps trying, its threads running meanwhile.
  Process p(SimSchedulerArgs("zk://127.0.0.1:1/mesos", {"--connect-timeout", "60", "5", "7"}), kSmallRun);
  REQUIRE(Eventually([&] { return p.Stderr().find("no master known yet") != std::string::npos; }));
  p.Signal(SIGTERM);
  CHECK(p.Wait() == 143);
  CHECK_FALSE(p.timed_out());
  CHECK(Lines(p.Stdout()) == std::vector<std::string>{"5! unfinished", "7! unfinished"});
  CHECK_THAT(p.Stderr(), Catch::Contains("SIGTERM: stopping"));
  CHECK_THAT(p.Stderr(), Catch::Contains("0 done, 0 failed, 2 unfinished"));
}
