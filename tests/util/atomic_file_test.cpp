#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"
#include "test_util.h"

using scfm::util::AtomicPath;
namespace fs = std::filesystem;

namespace {
// A pid that ran and runs no more: a child that exited and was reaped (-1 if fork failed).
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  if (child < 0) return -1;
  int status = 0;
  return waitpid(child, &status, 0) == child ? child : -1;
}
}  // namespace

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
  const pid_t child = dead_pid();
  ASSERT_GT(child, 0);
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

// A folder replaces a non-empty folder in one swap (renameat2 RENAME_EXCHANGE): afterwards the
// target holds only the new files and the old folder is gone.
TEST(AtomicPath, FolderReplacesAFolderWhole) {
  scfm::test::TempDir dir;
  const std::string target = dir / "model";
  fs::create_directories(target);
  scfm::test::write_text(target + "/best_model.pt", "old");
  scfm::test::write_text(target + "/cls_head.pt", "old");
  {
    AtomicPath p(target);
    fs::create_directories(p.temp());
    scfm::test::write_text(p.temp() + "/best_model.pt", "new");
    EXPECT_EQ(scfm::test::read_text(target + "/best_model.pt"), "old");
    p.commit();
  }
  EXPECT_EQ(scfm::test::read_text(target + "/best_model.pt"), "new");
  EXPECT_FALSE(fs::exists(target + "/cls_head.pt"));  // the old folder's file went with it
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

// What a kill -9 left while writing the same target is removed by the next writer of it; another
// target's temporaries and a live process's are not touched.
TEST(AtomicPath, NextWriterRemovesWhatAKilledOneLeft) {
  scfm::test::TempDir dir;
  const pid_t child = dead_pid();
  ASSERT_GT(child, 0);
  const std::string dead_same = dir / ("emb.h5ad.tmp." + std::to_string(child));
  const std::string dead_other = dir / ("other.h5ad.tmp." + std::to_string(child));
  const std::string live_same = dir / ("emb.h5ad.tmp." + std::to_string(getppid()));
  fs::create_directories(dead_same);  // a folder, as a cell store's
  scfm::test::write_text(dead_same + "/shard_00000.bin", "x");
  for (const auto& p : {dead_other, live_same}) scfm::test::write_text(p, "x");
  {
    AtomicPath p(dir / "emb.h5ad");
    EXPECT_FALSE(fs::exists(dead_same));
    EXPECT_TRUE(fs::exists(dead_other));
    EXPECT_TRUE(fs::exists(live_same));
  }
}

TEST(AtomicPath, MakeFolderStartsEmptyAndIsRemovedUnlessCommitted) {
  scfm::test::TempDir dir;
  const std::string target = dir / "model";
  {
    AtomicPath p(target);
    fs::create_directories(p.temp());
    scfm::test::write_text(p.temp() + "/stale.pt", "x");  // what an earlier run with our pid left
    EXPECT_EQ(p.make_folder(), p.temp());
    EXPECT_TRUE(fs::is_directory(p.temp()));
    EXPECT_TRUE(fs::is_empty(p.temp()));
    scfm::test::write_text(p.temp() + "/args.json", "{}");
  }  // not committed
  EXPECT_FALSE(fs::exists(target));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
  scfm::test::write_text(dir / "file", "x");
  AtomicPath blocked(dir / "file/model");  // its parent is a file: the folder cannot be made
  EXPECT_THROW(blocked.make_folder(), scfm::Error);
}
