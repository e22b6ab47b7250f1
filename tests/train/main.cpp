// Test driver for tests/train: also the child process of the multi-rank tests. When
// SCFM_TEST_DIST_CHILD names a scenario, this binary runs that rank's part and exits.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

int run_dist_child(const char* scenario);

int main(int argc, char** argv) {
  if (const char* scenario = std::getenv("SCFM_TEST_DIST_CHILD")) return run_dist_child(scenario);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
