// main() of every integration suite. gtest counts a skipped test as passed, and so would CTest:
// a suite that skipped tests because a service is absent exits 125 instead, which CTest shows
// as "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt) and scripts/test does not count as a
// pass. A failure still exits 1.
#include <gtest/gtest.h>

#include "fixture.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int status = RUN_ALL_TESTS();
  if (status != 0) return status;
  return ::rehome::testing::service_was_missing() ? 125 : 0;
}
