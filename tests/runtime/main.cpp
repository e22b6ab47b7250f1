// scfm_test_runtime's main: like scfm's own main(), choose the BLAS core first (this may
// re-execute the binary once), then run the tests.
#include <gtest/gtest.h>

#include "scfm/runtime/blas.h"

int main(int argc, char** argv) {
  scfm::runtime::select_blas_core(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
