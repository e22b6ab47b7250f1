#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "scfm/util/atomic_file.h"
#include "test_util.h"

using scfm::util::AtomicPath;
namespace fs = std::filesystem;

TEST(AtomicPath, CommitReplacesTheTarget) {
  scfm::test::TempDir dir;
  std::string target = dir / "f.txt";
  scfm::test::write_text(target, "old");
  {
    AtomicPath p(target);
    scfm::test::write_text(p.temp(), "new");
    EXPECT_EQ(scfm::test::read_text(target), "old");  // not visible before commit
    p.commit();
  }
  EXPECT_EQ(scfm::test::read_text(target), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicPath, AbandonedWriteLeavesTargetAndNoTemp) {
  scfm::test::TempDir dir;
  std::string target = dir / "f.txt";
  scfm::test::write_text(target, "old");
  try {
    AtomicPath p(target);
    scfm::test::write_text(p.temp(), "half");
    throw std::runtime_error("killed half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(scfm::test::read_text(target), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicPath, StaleTemporariesOfDeadProcessesAreRemoved) {
  scfm::test::TempDir dir;
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // reaped: that pid runs no more
  const std::string dead = dir / ("train_state.pt.tmp." + std::to_string(child));
  const std::string alive = dir / ("best_model.pt.tmp." + std::to_string(getpid()));
  const std::string other = dir / "notes.tmp.draft";
  for (const auto& p : {dead, alive, other}) scfm::test::write_text(p, "x");
  EXPECT_EQ(scfm::util::remove_stale_temporaries(dir.path()), 1);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_EQ(scfm::util::remove_stale_temporaries(dir.path() + "/missing"), 0);
}
