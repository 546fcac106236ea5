#include "factorial/master_url.hpp"
#include "factorial/url_query.hpp"

#include <catch2/catch.hpp>
#include <map>

using factorial::Errc;
using factorial::MakeError;
using factorial::MasterSpec;
using factorial::ParseMasterSpec;
using factorial::Result;
using factorial::ZooKeeperSpec;

namespace {

// file:// contents served from memory.
factorial::FileReader Files(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path) -> Result<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return MakeError(Errc::kInvalidArgument, "cannot read '" + path + "'");
    return it->second;
  };
}

std::string ErrorOf(std::string_view text, const factorial::FileReader& files = Files({})) {
  auto spec = ParseMasterSpec(text, files);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.error().code == Errc::kInvalidArgument);
  return spec.error().message;
}

}  // namespace

TEST_CASE("static master forms become base URLs", "[master_url]") {
  CHECK(ParseMasterSpec("10.0.0.1:5050")->urls == std::vector<std::string>{"http://10.0.0.1:5050"});
  CHECK(ParseMasterSpec("https://m1:5050/")->urls == std::vector<std::string>{"https://m1:5050"});
  CHECK(ParseMasterSpec("master@10.0.0.2:5050")->urls == std::vector<std::string>{"http://10.0.0.2:5050"});
  CHECK(ParseMasterSpec("[::1]:5050,mesos_master:5050")->urls ==
        std::vector<std::string>{"http://[::1]:5050", "http://mesos_master:5050"});
  CHECK(ParseMasterSpec(" m1:5050, http://m2:5051/master ,,m3:5052\n")->urls ==
        std::vector<std::string>{"http://m1:5050", "http://m2:5051", "http://m3:5052"});
  CHECK_FALSE(ParseMasterSpec("m1:5050")->zookeeper);
}

TEST_CASE("mesos:// (Spark's spelling) names the same masters", "[master_url]") {
  CHECK(ParseMasterSpec("mesos://10.0.0.1:5050")->urls == std::vector<std::string>{"http://10.0.0.1:5050"});
  CHECK(ParseMasterSpec("mesos://m1:5050,m2:5050")->urls ==
        std::vector<std::string>{"http://m1:5050", "http://m2:5050"});
  auto zk = ParseMasterSpec("mesos://zk://z1:2181,z2:2181/mesos");
  REQUIRE(zk.ok());
  REQUIRE(zk->zookeeper);
  CHECK(zk->zookeeper->servers == std::vector<std::string>{"z1:2181", "z2:2181"});
  CHECK(zk->zookeeper->path == "/mesos");
  CHECK(ErrorOf("mesos://mesos://m1:5050") == "--master: mesos:// is followed by host:port or zk://, not 'mesos://'");
  CHECK(ErrorOf("mesos://file:///etc/x") == "--master: mesos:// is followed by host:port or zk://, not 'file://'");
}

TEST_CASE("zk:// names the ensemble, the group path and optional digest credentials", "[master_url]") {
  auto one = ParseMasterSpec("zk://127.0.0.1:2181/mesos");
  REQUIRE(one.ok());
  CHECK(one->urls.empty());
  REQUIRE(one->zookeeper);
  CHECK(*one->zookeeper == ZooKeeperSpec{{"127.0.0.1:2181"}, "/mesos", std::nullopt});
  CHECK(one->zookeeper->ServerList() == "127.0.0.1:2181");

  auto three = ParseMasterSpec("zk://zk1:2181,zk2:2182,[::1]:2183/prod/mesos");
  REQUIRE(three.ok());
  CHECK(three->zookeeper->servers == std::vector<std::string>{"zk1:2181", "zk2:2182", "[::1]:2183"});
  CHECK(three->zookeeper->path == "/prod/mesos");
  CHECK(three->zookeeper->ServerList() == "zk1:2181,zk2:2182,[::1]:2183");

  auto auth = ParseMasterSpec("zk://mesos:s3cr@t:x@zk1:2181,zk2:2181/mesos");
  REQUIRE(auth.ok());
  CHECK(auth->zookeeper->digest == std::pair<std::string, std::string>{"mesos", "s3cr@t:x"});
  CHECK(auth->zookeeper->servers == std::vector<std::string>{"zk1:2181", "zk2:2181"});
  // Logs never carry the password.
  CHECK(auth->zookeeper->ToString() == "zk://mesos:***@zk1:2181,zk2:2181/mesos");
}

TEST_CASE("file:// holds any other form", "[master_url]") {
  auto files = Files({{"/etc/mesos/zk", "zk://10.0.0.1:2181,10.0.0.2:2181/mesos\n"},
                      {"/etc/mesos/masters", "  m1:5050,m2:5050  \n"},
                      {"relative/zk", "zk://z:2181/m"}});
  auto zk = ParseMasterSpec("file:///etc/mesos/zk", files);
  REQUIRE(zk.ok());
  CHECK(zk->zookeeper->servers == std::vector<std::string>{"10.0.0.1:2181", "10.0.0.2:2181"});
  CHECK(ParseMasterSpec("file:///etc/mesos/masters", files)->urls ==
        std::vector<std::string>{"http://m1:5050", "http://m2:5050"});
  // As Mesos: whatever follows "file://" is the path.
  CHECK(ParseMasterSpec("file://relative/zk", files)->zookeeper->path == "/m");
}

TEST_CASE("file:// reads a real file", "[master_url]") {
  auto missing = ParseMasterSpec("file:///nonexistent/factorial-master-url");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "--master: cannot read '/nonexistent/factorial-master-url'");
}

TEST_CASE("every malformed --master is refused with a reason", "[master_url]") {
  CHECK(ErrorOf("") == "--master: no master given");
  CHECK(ErrorOf(" , ") == "--master: no master given");
  CHECK(ErrorOf("ftp://m1:5050") == "--master: unsupported scheme 'ftp'");
  CHECK(ErrorOf("m1") == "--master: 'm1' is not host:port");
  CHECK(ErrorOf(":5050") == "--master: ':5050' is not host:port");
  CHECK(ErrorOf("m1:0") == "--master: 'm1:0' has no valid port");
  CHECK(ErrorOf("m1:65536") == "--master: 'm1:65536' has no valid port");
  CHECK(ErrorOf("m1:50x") == "--master: 'm1:50x' has no valid port");
  CHECK(ErrorOf("m 1:5050") == "--master: 'm 1' is not a host name or address");
  CHECK(ErrorOf("-m1:5050") == "--master: '-m1' is not a host name or address");
  CHECK(ErrorOf("user@m1:5050") == "--master: 'user@m1' is not a host name or address");
  CHECK(ErrorOf("[::1:5050") == "--master: '[::1' is not a host name or address");
  CHECK(ErrorOf("m1:5050,zk://z:2181/mesos") ==
        "--master: 'zk://z:2181/mesos' cannot be part of a list; give it as the whole --master");
  CHECK(ErrorOf("m1:5050,file:///x") ==
        "--master: 'file:///x' cannot be part of a list; give it as the whole --master");

  CHECK(ErrorOf("zk://z:2181") == "--master: a zk:// URL needs the masters' group path, e.g. zk://host:2181/mesos");
  CHECK(ErrorOf("zk://z:2181/") == "--master: a zk:// URL needs the masters' group path, e.g. zk://host:2181/mesos");
  CHECK(ErrorOf("zk:///mesos") == "--master: zk:// URL names no ZooKeeper server");
  CHECK(ErrorOf("zk://user:pw@/mesos") == "--master: zk:// URL names no ZooKeeper server");
  CHECK(ErrorOf("zk://z1:2181,,z2:2181/mesos") == "--master: empty ZooKeeper server in the zk:// URL");
  CHECK(ErrorOf("zk://z1:2181,/mesos") == "--master: empty ZooKeeper server in the zk:// URL");
  CHECK(ErrorOf("zk://z1/mesos") == "--master: ZooKeeper server 'z1' is not host:port");
  CHECK(ErrorOf("zk://z1:99999/mesos") == "--master: ZooKeeper server 'z1:99999' has no valid port");
  CHECK(ErrorOf("zk://z 1:2181/mesos") == "--master: ZooKeeper server 'z 1' is not a host name or address");
  CHECK(ErrorOf("zk://nopassword@z1:2181/mesos") == "--master: zk:// credentials must be user:password@");
  CHECK(ErrorOf("zk://:pw@z1:2181/mesos") == "--master: zk:// credentials must be user:password@");
  CHECK(ErrorOf("zk://z1:2181/mesos/") == "--master: '/mesos/' is not a valid ZooKeeper path");
  CHECK(ErrorOf("zk://z1:2181/a//b") == "--master: '/a//b' is not a valid ZooKeeper path");
  CHECK(ErrorOf("zk://z1:2181/a/../b") == "--master: '/a/../b' is not a valid ZooKeeper path");
  CHECK(ErrorOf("zk://z1:2181/a/./b") == "--master: '/a/./b' is not a valid ZooKeeper path");
  CHECK(ErrorOf(std::string("zk://z1:2181/a\x01"
                            "b")) == "--master: the ZooKeeper path contains a control character");

  auto files = Files({{"/empty", " \n"}, {"/loop", "file:///loop"}, {"/bad", "zk://z1:2181"}});
  CHECK(ErrorOf("file://", files) == "--master: file:// names no file");
  CHECK(ErrorOf("file:///absent", files) == "--master: cannot read '/absent'");
  CHECK(ErrorOf("file:///empty", files) == "--master: '/empty' is empty");
  CHECK(ErrorOf("file:///loop", files) == "--master: '/loop' holds another file:// URL");
  CHECK(ErrorOf("file:///bad", files) ==
        "--master: a zk:// URL needs the masters' group path, e.g. zk://host:2181/mesos (read from '/bad')");
}

TEST_CASE("a query value keeps letters, digits and /-_. and percent-encodes every other byte", "[url]") {
  CHECK(factorial::EscapeQueryValue("/var/lib/mesos/slaves/S0/runs/r-1_a.frf") ==
        "/var/lib/mesos/slaves/S0/runs/r-1_a.frf");
  CHECK(factorial::EscapeQueryValue("a b&c=d?e#f%g+h") == "a%20b%26c%3Dd%3Fe%23f%25g%2Bh");
  CHECK(factorial::EscapeQueryValue(std::string("\x00\x7f\x80\xff", 4)) == "%00%7F%80%FF");
  CHECK(factorial::EscapeQueryValue("").empty());
}
