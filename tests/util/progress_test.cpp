// util/progress: the line it draws (bar, share, counts, rate, ETA) and that it draws nothing
// when stderr is not a terminal or progress is switched off (--quiet).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "scfm/util/progress.h"

using scfm::util::Progress;

TEST(Progress, FormatsBarCountsRateAndEta) {
  EXPECT_EQ(Progress::format("ingest", 2500, 10000, "cells", 5.0, "", 10),
            "ingest [##........]  25%  2,500/10,000 cells  500 cells/s  ETA 0:15");
  EXPECT_EQ(Progress::format("pretrain", 3, 4, "steps", 1.5, "loss 0.4", 4), "pretrain [###.]  75%  3/4 steps  2.0 steps/s  ETA 0:01  loss 0.4");
  // done: the elapsed time instead of an ETA
  EXPECT_EQ(Progress::format("umap", 200, 200, "epochs", 3725.0, "", 4), "umap [####] 100%  200/200 epochs  0.1 epochs/s  1:02:05");
  // no total: a counter
  EXPECT_EQ(Progress::format("embed", 1234567, 0, "cells", 0.0, "", 10), "embed  1,234,567 cells");
}

TEST(Progress, SilentWithoutATerminalAndWhenQuiet) {
  // ctest runs tests with stderr on a pipe or file: never a terminal
  Progress p("x", 100);
  EXPECT_FALSE(p.shown());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { for (int i = 0; i < 1000; ++i) p.advance(); });
  for (auto& t : threads) t.join();
  p.finish();
  scfm::util::set_progress_enabled(false);
  EXPECT_FALSE(scfm::util::progress_enabled());
  Progress q("y", 10);
  EXPECT_FALSE(q.shown());
  scfm::util::set_progress_enabled(true);
}
