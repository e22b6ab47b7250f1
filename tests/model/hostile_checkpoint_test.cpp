// A checkpoint is data, never code: >= 100 hostile torch.save archives (tests/model/hostile_checkpoints.py:
// dangerous globals, opcode tricks, deep / cyclic / exponentially shared structures, hostile
// tensor views, zip bombs and damaged archives) are all refused with scfm's error naming the
// file, nothing they ask for runs (the marker file they would create never appears), and the
// real state dicts torch.save writes in the same run all load.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "scfm/model/checkpoint.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
namespace fs = std::filesystem;

TEST(HostileCheckpoints, AllRefusedNothingRunsRealOnesLoad) {
  test::TempDir dir;
  const std::string marker = dir / "MARKER";
  const auto gen = test::run_python("model/hostile_checkpoints.py", dir.path() + " " + marker);
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  int hostile = 0, real = 0;
  for (const auto& e : fs::directory_iterator(dir / "hostile")) {
    const std::string path = e.path().string();
    SCOPED_TRACE(path);
    ++hostile;
    try {
      model::load_state_dict(path);
      ADD_FAILURE() << "loaded a hostile checkpoint";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();  // the file is named
    } catch (const std::exception& err) {
      ADD_FAILURE() << "not scfm's error: " << err.what();
    }
  }
  EXPECT_GE(hostile, 100);
  EXPECT_FALSE(fs::exists(marker)) << "a payload ran";
  for (const auto& e : fs::directory_iterator(dir / "real")) {
    SCOPED_TRACE(e.path().string());
    ++real;
    EXPECT_NO_THROW({
      const model::StateDict sd = model::load_state_dict(e.path().string());
      EXPECT_FALSE(sd.empty());
    });
  }
  EXPECT_GE(real, 15);
  std::cout << "hostile " << hostile << " refused, real " << real << " loaded\n";
}
