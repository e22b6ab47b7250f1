#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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
