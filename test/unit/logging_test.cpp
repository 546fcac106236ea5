#include <string>

#include <catch2/catch.hpp>

#include "factorial/logging.hpp"

using factorial::Excerpt;

TEST_CASE("Excerpt keeps short text as it is", "[unit][logging]") {
  CHECK(Excerpt("factorial-5-1") == "factorial-5-1");
  CHECK(Excerpt("") == "");
  CHECK(Excerpt(std::string(256, 'a')) == std::string(256, 'a'));
}

TEST_CASE("Excerpt cuts long text and says how much is left out", "[unit][logging]") {
  std::string huge(60u << 20, 'x');
  std::string quoted = Excerpt(huge);
  CHECK(quoted == std::string(256, 'x') + "... (" + std::to_string(huge.size() - 256) + " more bytes)");
  CHECK(Excerpt("abcdef", 4) == "abcd... (2 more bytes)");
}

TEST_CASE("Excerpt never splits a UTF-8 character", "[unit][logging]") {
  // "é" is two bytes: a cut after 2 bytes of "aé" would leave half of it.
  CHECK(Excerpt("a\xC3\xA9z", 2) == "a... (3 more bytes)");
  CHECK(Excerpt("a\xC3\xA9z", 3) == "a\xC3\xA9... (1 more byte)");
}

TEST_CASE("Excerpt escapes control characters so a peer cannot forge log lines", "[unit][logging]") {
  CHECK(Excerpt("id\n2026-01-01 E fake line") == "id\\n2026-01-01 E fake line");
  CHECK(Excerpt(std::string("a\0b\x1b[31m\r\t\x7f", 11)) == "a\\x00b\\x1B[31m\\r\\t\\x7F");
}
