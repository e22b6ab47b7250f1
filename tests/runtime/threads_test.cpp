#include "scfm/runtime/threads.h"

#include <gtest/gtest.h>

#include <thread>

#include "scfm/util/error.h"

namespace scfm::runtime {
namespace {

TEST(Threads, SetAndGet) {
  const int before = num_threads();
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_EQ(num_threads(), 1);
  EXPECT_EQ(set_threads(2), 2);
  EXPECT_EQ(num_threads(), 2);
  const int all = set_threads(0);
  EXPECT_EQ(all, available_cores());
  EXPECT_EQ(num_threads(), all);
  set_threads(before);
}

TEST(Threads, AllCoresIsTheAffinityCount) {
  const int cores = available_cores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Threads, NegativeIsAnError) { EXPECT_THROW(set_threads(-1), scfm::Error); }

}  // namespace
}  // namespace scfm::runtime
