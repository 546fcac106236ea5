// A Catch2 listener that remembers whether the running test case has failed, for the
// support code that keeps a failed test's logs (test/support/daemon.hpp).

#define CATCH_CONFIG_EXTERNAL_INTERFACES  // TestEventListenerBase
#include <catch2/catch.hpp>

#include "support/daemon.hpp"

namespace factorial::testing {
namespace {

bool current_test_failed = false;

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    current_test_failed = false;
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) current_test_failed = true;
    return true;
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(FailureListener)

bool CurrentTestFailed() { return current_test_failed; }

}  // namespace factorial::testing
