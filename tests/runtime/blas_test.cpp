#include "scfm/runtime/blas.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace scfm::runtime {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

CpuFeatures avx512_cpu(bool bf16) {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.sse3 = f.ssse3 = f.sse4_1 = f.sse4_2 = true;
  f.avx = f.avx2 = f.fma = f.os_avx = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512cd = f.os_avx512 = true;
  f.avx512_bf16 = bf16;
  return f;
}

TEST(BlasChoice, CandidatesFollowCpuFeatures) {
  EXPECT_EQ(candidate_cores(avx512_cpu(true)),
            (std::vector<std::string>{"Cooperlake", "SkylakeX", "Haswell", "Prescott"}));
  EXPECT_EQ(candidate_cores(avx512_cpu(false)),
            (std::vector<std::string>{"SkylakeX", "Haswell", "Prescott"}));

  CpuFeatures no_os_zmm = avx512_cpu(true);
  no_os_zmm.os_avx512 = false;  // the OS does not save ZMM state: AVX-512 unusable
  EXPECT_EQ(candidate_cores(no_os_zmm), (std::vector<std::string>{"Haswell", "Prescott"}));

  CpuFeatures avx2 = avx512_cpu(false);
  avx2.avx512f = avx2.avx512bw = avx2.avx512vl = avx2.avx512dq = avx2.avx512cd = false;
  EXPECT_EQ(candidate_cores(avx2), (std::vector<std::string>{"Haswell", "Prescott"}));

  CpuFeatures no_fma = avx2;
  no_fma.fma = false;
  EXPECT_EQ(candidate_cores(no_fma), (std::vector<std::string>{"Prescott"}));

  EXPECT_TRUE(candidate_cores(CpuFeatures{}).empty());  // not x86
}

TEST(BlasChoice, SaferChainEndsAtPrescott) {
  EXPECT_EQ(safer_core("Cooperlake"), "SkylakeX");
  EXPECT_EQ(safer_core("SKYLAKEX"), "Haswell");
  EXPECT_EQ(safer_core("haswell"), "Prescott");
  EXPECT_EQ(safer_core("Zen"), "Prescott");
  EXPECT_EQ(safer_core("Prescott"), "");
  EXPECT_EQ(safer_core("NoSuchCore"), "Prescott");
}

TEST(BlasChoice, CoreTiers) {
  EXPECT_EQ(core_tier("Prescott"), 0);
  EXPECT_EQ(core_tier("Nehalem"), 0);
  EXPECT_EQ(core_tier("Sandybridge"), 1);
  EXPECT_EQ(core_tier("Haswell"), 2);
  EXPECT_EQ(core_tier("ZEN"), 2);
  EXPECT_EQ(core_tier("SkylakeX"), 3);
  EXPECT_EQ(core_tier("cooperlake"), 3);
  EXPECT_EQ(core_tier("NoSuchCore"), -1);
}

TEST(BlasChoice, CpuFeaturesAgreeWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) {
      flags = " " + line.substr(line.find(':') + 1) + " ";
      break;
    }
  if (flags.empty()) GTEST_SKIP() << "no flags line in /proc/cpuinfo";
  auto has = [&](const char* f) { return flags.find(std::string(" ") + f + " ") != std::string::npos; };
  const CpuFeatures& cpu = cpu_features();
  EXPECT_FALSE(cpu.vendor.empty());
  // The kernel hides flags whose register state it does not enable, so it can only list less.
  EXPECT_EQ(has("avx2"), cpu.avx2 && cpu.os_avx);
  EXPECT_EQ(has("fma"), cpu.fma && cpu.os_avx);
  EXPECT_EQ(has("avx512f"), cpu.avx512f && cpu.os_avx512);
  EXPECT_EQ(has("avx512bw"), cpu.avx512bw && cpu.os_avx512);
  EXPECT_EQ(has("avx512_bf16"), cpu.avx512_bf16 && cpu.os_avx512);
}

TEST(Blas, ChosenCoreIsTheOneOpenBlasRuns) {
  const BlasInfo info = blas_info();
  if (!info.is_openblas) GTEST_SKIP() << "the BLAS loaded is not OpenBLAS: " << info.library;
  ASSERT_FALSE(info.core.empty());
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  if (info.chosen_by == "none" || set == nullptr)
    GTEST_SKIP() << "core left to OpenBLAS (" << info.chosen_by << ")";
  // select_blas_core leaves OPENBLAS_CORETYPE naming the core it made OpenBLAS load.
  EXPECT_EQ(lower(info.core), lower(set)) << info.note;
  if (info.chosen_by == "auto") {
    const auto candidates = candidate_cores(cpu_features());
    ASSERT_FALSE(candidates.empty());
    EXPECT_EQ(core_tier(info.core), core_tier(candidates.front())) << info.note;
  }
  EXPECT_TRUE(info.verified);
}

TEST(Blas, InfoNamesTheLibrary) {
  const BlasInfo info = blas_info();
  EXPECT_NE(info.library.find(".so"), std::string::npos) << info.library;
  if (info.is_openblas) {
    EXPECT_EQ(info.config.rfind("OpenBLAS ", 0), 0u) << info.config;
    EXPECT_FALSE(info.version.empty());
    EXPECT_NE(info.backend.find("openblas"), std::string::npos) << info.backend;
    EXPECT_TRUE(info.parallel == "pthreads" || info.parallel == "openmp" ||
                info.parallel == "sequential")
        << info.parallel;
  }
}

TEST(Blas, VerifyPasses) { EXPECT_TRUE(verify_blas()); }

TEST(Blas, RowMajorSgemmMatchesLoop) {
  const int n = 37, m = 29, k = 53;
  std::vector<float> a(n * k), b(k * m), c(n * m, -1.0f);
  for (int i = 0; i < n * k; ++i) a[i] = std::sin(0.1f * i);
  for (int i = 0; i < k * m; ++i) b[i] = std::cos(0.07f * i);
  sgemm_row_major(n, m, k, a.data(), b.data(), c.data());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) {
      double ref = 0;
      for (int p = 0; p < k; ++p) ref += double(a[i * k + p]) * b[p * m + j];
      EXPECT_NEAR(c[i * m + j], ref, 1e-4) << i << "," << j;
    }
}

TEST(Blas, MeasuresThroughput) {
  double gflops = measure_sgemm_gflops(128, 0.01);
  EXPECT_GT(gflops, 0.1);
  EXPECT_LT(gflops, 1e6);
}

}  // namespace
}  // namespace scfm::runtime
