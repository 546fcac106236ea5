// The base-10^19 arithmetic of executor/decimal_run.hpp, every path checked against GMP.

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gmp.h>

#include "decimal_run.hpp"
#include "support/expected.hpp"

using factorial::executor::DecimalNumber;
using factorial::executor::FactorialRun;
using factorial::executor::kDecimalBase;
using factorial::executor::PackFactors;
using factorial::testing::IndependentFactorial;

namespace {

std::string GmpText(const mpz_t x) {
  std::string s(mpz_sizeinbase(x, 10) + 2, '\0');
  mpz_get_str(s.data(), 10, x);
  s.resize(std::char_traits<char>::length(s.c_str()));
  return s;
}

// value * m with GMP, from decimal text.
std::string GmpProduct(const std::string& value, std::uint64_t m) {
  mpz_t x;
  mpz_init_set_str(x, value.c_str(), 10);
  mpz_mul_ui(x, x, m);
  std::string s = GmpText(x);
  mpz_clear(x);
  return s;
}

std::string RandomDigits(std::mt19937_64& rng, std::size_t length) {
  std::string s(length, '0');
  for (char& c : s) c = static_cast<char>('0' + rng() % 10);
  if (s[0] == '0') s[0] = '7';
  return s;
}

// Texts whose limbs sit at the edges: all nines, powers of ten, zero limbs inside.
std::vector<std::string> EdgeTexts() {
  std::vector<std::string> texts = {"1", "9", "10", "999999999999999999", "9999999999999999999",
                                    "10000000000000000000", "18446744073709551615"};
  for (std::size_t length : {18u, 19u, 20u, 37u, 38u, 39u, 57u, 190u}) {
    texts.push_back(std::string(length, '9'));
    texts.push_back("1" + std::string(length, '0'));
    texts.push_back("1" + std::string(length, '0') + "1");
  }
  return texts;
}

}  // namespace

TEST_CASE("a DecimalNumber from a uint64 prints as the number") {
  CHECK(DecimalNumber().ToDigits() == "0");
  CHECK(DecimalNumber(0).limbs().empty());
  for (std::uint64_t v : {std::uint64_t{1}, std::uint64_t{9}, std::uint64_t{10}, kDecimalBase - 1, kDecimalBase,
                          kDecimalBase + 1, std::uint64_t{UINT64_MAX}}) {
    DecimalNumber x(v);
    CHECK(x.ToDigits() == std::to_string(v));
    CHECK(x.DigitCount() == std::to_string(v).size());
  }
  CHECK(DecimalNumber(kDecimalBase).limbs() == std::vector<std::uint64_t>{0, 1});
}

TEST_CASE("decimal text round-trips through limbs, leading zeros dropped") {
  CHECK(DecimalNumber::FromDigits("0").ToDigits() == "0");
  CHECK(DecimalNumber::FromDigits("000").limbs().empty());
  CHECK(DecimalNumber::FromDigits("00000000000000000000000042").ToDigits() == "42");
  CHECK(DecimalNumber::FromDigits("12345678901234567890").limbs() ==
        std::vector<std::uint64_t>{2345678901234567890ULL, 1});
  for (const auto& text : EdgeTexts()) {
    DecimalNumber x = DecimalNumber::FromDigits(text);
    CHECK(x.ToDigits() == text);
    CHECK(x.DigitCount() == text.size());
  }
  std::mt19937_64 rng(25);
  for (int i = 0; i < 300; ++i) {
    std::string text = RandomDigits(rng, 1 + rng() % 400);
    REQUIRE(DecimalNumber::FromDigits(text).ToDigits() == text);
  }
}

TEST_CASE("FromMpz gives GMP's digits") {
  mpz_t x;
  mpz_init(x);
  mpz_fac_ui(x, 777);
  CHECK(DecimalNumber::FromMpz(x).ToDigits() == IndependentFactorial(777));
  mpz_set_ui(x, 0);
  CHECK(DecimalNumber::FromMpz(x).ToDigits() == "0");
  mpz_clear(x);
}

TEST_CASE("AppendTo appends after what the string holds") {
  std::string out = "720 d ";
  DecimalNumber::FromDigits("100000000000000000000000000000000000001").AppendTo(&out);
  CHECK(out == "720 d 100000000000000000000000000000000000001");
}

TEST_CASE("MultiplyBy matches GMP for every multiplier up to 10^19") {
  std::mt19937_64 rng(19);
  std::vector<std::uint64_t> multipliers = {0, 1, 2, 3, 9, 10, 99, 1000000007ULL, 999999999999999999ULL,
                                            kDecimalBase - 1, kDecimalBase};
  for (int i = 0; i < 20; ++i) multipliers.push_back(1 + rng() % kDecimalBase);
  std::vector<std::string> texts = EdgeTexts();
  for (int i = 0; i < 40; ++i) texts.push_back(RandomDigits(rng, 1 + rng() % 300));
  for (const auto& text : texts) {
    for (std::uint64_t m : multipliers) {
      DecimalNumber x = DecimalNumber::FromDigits(text);
      x.MultiplyBy(m);
      INFO(text << " * " << m);
      REQUIRE(x.ToDigits() == GmpProduct(text, m));
      REQUIRE(x == DecimalNumber::FromDigits(x.ToDigits()));  // canonical: no zero top limb
    }
  }
}

TEST_CASE("repeated multiplication by the largest multiplier stays exact") {
  DecimalNumber x(kDecimalBase - 1);
  mpz_t y;
  mpz_init_set_str(y, "9999999999999999999", 10);
  for (int i = 0; i < 60; ++i) {
    x.MultiplyBy(i % 2 == 0 ? kDecimalBase : kDecimalBase - 1);
    mpz_mul_ui(y, y, i % 2 == 0 ? kDecimalBase : kDecimalBase - 1);
  }
  CHECK(x.ToDigits() == GmpText(y));
  mpz_clear(y);
}

TEST_CASE("PackFactors packs the numbers between into products of at most 10^19") {
  std::vector<std::uint64_t> factors = {42};
  CHECK(PackFactors(0, 0, &factors) == 0);
  CHECK(factors.empty());
  CHECK(PackFactors(0, 1, &factors) == 0);
  CHECK(PackFactors(7, 7, &factors) == 0);
  CHECK(PackFactors(1, 2, &factors) == 1);
  CHECK(factors == std::vector<std::uint64_t>{2});
  CHECK(PackFactors(0, 20, &factors) == 1);
  CHECK(factors == std::vector<std::uint64_t>{2432902008176640000ULL});  // 20!
  CHECK(PackFactors(0, 21, &factors) == 2);
  CHECK(factors == std::vector<std::uint64_t>{2432902008176640000ULL, 21});
  CHECK(PackFactors(kDecimalBase - 2, kDecimalBase, &factors) == 2);
  CHECK(factors == std::vector<std::uint64_t>{kDecimalBase - 1, kDecimalBase});
  // Four numbers near 20000 fit one product, five do not.
  CHECK(PackFactors(19990, 19998, &factors) == 2);
  CHECK(factors == std::vector<std::uint64_t>{19991ULL * 19992 * 19993 * 19994, 19995ULL * 19996 * 19997 * 19998});
  for (auto [from, to] : {std::pair<std::uint64_t, std::uint64_t>{0, 500}, {1000, 1777}, {99990, 100100}}) {
    PackFactors(from, to, &factors);
    mpz_t product, expected;
    mpz_init_set_ui(product, 1);
    mpz_init_set_ui(expected, 1);
    for (std::uint64_t f : factors) {
      REQUIRE(f <= kDecimalBase);
      REQUIRE(f > 1);
      mpz_mul_ui(product, product, f);
    }
    for (std::uint64_t i = from + 1; i <= to; ++i) mpz_mul_ui(expected, expected, i);
    CHECK(mpz_cmp(product, expected) == 0);
    mpz_clear(product);
    mpz_clear(expected);
  }
}

TEST_CASE("a FactorialRun gives n! for every n it advances to") {
  FactorialRun run;
  CHECK(run.current() == 0);
  CHECK(run.Digits() == "1");
  for (std::uint64_t n = 0; n <= 400; ++n) {
    run.Advance(n);
    REQUIRE(run.current() == n);
    REQUIRE(run.Digits() == IndependentFactorial(n));
  }
}

TEST_CASE("a FactorialRun started from GMP advances by gaps of any size") {
  FactorialRun run;
  run.Start(1000);
  CHECK(run.Digits() == IndependentFactorial(1000));
  for (std::uint64_t n : {1000u, 1001u, 1004u, 1054u, 1754u, 5000u, 5001u}) {
    run.Advance(n);
    INFO(n);
    REQUIRE(run.Digits() == IndependentFactorial(n));
  }
  run.Start(3);  // a new run may start below the last
  CHECK(run.Digits() == "6");
  run.Advance(25);
  CHECK(run.Digits() == IndependentFactorial(25));
  run.Start(0);
  CHECK(run.Digits() == "1");
  run.Start(1);
  run.Advance(2);
  CHECK(run.Digits() == "2");
}

TEST_CASE("digits of a run near 20000 match GMP on both sides of a restart") {
  FactorialRun run;
  run.Start(19990);
  run.Advance(20010);
  CHECK(run.Digits() == IndependentFactorial(20010));
  FactorialRun fresh;
  fresh.Start(20010);
  CHECK(fresh.value() == run.value());
}

TEST_CASE("Reset takes a run back to 0! whatever it held") {
  FactorialRun run;
  run.Start(500);
  run.Reset();
  CHECK(run.current() == 0);
  CHECK(run.Digits() == "1");
  run.Advance(30);
  CHECK(run.Digits() == IndependentFactorial(30));
}

TEST_CASE("every limb value formats as its decimal text") {
  // Single limbs cover the formatting of each 19-digit group, leading zeros stripped; the
  // multi-limb tests above cover the zero-padded inner groups.
  std::mt19937_64 rng(8);
  for (int i = 0; i < 200000; ++i) {
    std::uint64_t v = rng() % kDecimalBase;
    if (i % 4 == 1) v %= 100000000;  // short ones too
    if (i % 4 == 2) v = v / 100000000 * 100000000;  // zero groups inside
    REQUIRE(DecimalNumber(v).ToDigits() == std::to_string(v));
  }
}
