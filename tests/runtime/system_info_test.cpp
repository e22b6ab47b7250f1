#include "scfm/runtime/system_info.h"

#include <gtest/gtest.h>

#include "scfm/runtime/threads.h"

namespace scfm::runtime {
namespace {

TEST(SystemInfo, HasTheDocumentedKeys) {
  const nlohmann::json info = system_info();
  for (const char* section : {"cpu", "torch", "blas"}) ASSERT_TRUE(info.contains(section)) << section;
  for (const char* key : {"model_name", "vendor", "family", "model", "stepping", "hypervisor",
                          "cores", "logical_cpus", "flags", "os_avx", "os_avx512", "cpuinfo_flags"})
    EXPECT_TRUE(info["cpu"].contains(key)) << "cpu." << key;
  for (const char* flag : {"sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c",
                           "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd",
                           "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
                           "amx_int8"})
    EXPECT_TRUE(info["cpu"]["flags"][flag].is_boolean()) << "cpu.flags." << flag;
  for (const char* key : {"version", "threads", "interop_threads"})
    EXPECT_TRUE(info["torch"].contains(key)) << "torch." << key;
  for (const char* key : {"library", "backend", "is_openblas", "version", "config", "core",
                          "requested_core", "candidates", "parallel", "threads", "chosen_by",
                          "note", "fallbacks", "execs", "verified", "sgemm_gflops"})
    EXPECT_TRUE(info["blas"].contains(key)) << "blas." << key;

  EXPECT_FALSE(info["cpu"]["model_name"].get<std::string>().empty());
  EXPECT_EQ(info["cpu"]["cores"].get<int>(), available_cores());
  EXPECT_EQ(info["torch"]["threads"].get<int>(), num_threads());
  EXPECT_EQ(info["torch"]["version"].get<std::string>().substr(0, 2), "1.");
  EXPECT_TRUE(info["blas"]["verified"].get<bool>());
  EXPECT_EQ(info["blas"]["sgemm_gflops"].get<double>(), 0.0);  // not measured unless asked
}

TEST(SystemInfo, MeasuresGemmWhenAsked) {
  const nlohmann::json info = system_info(true);
  EXPECT_GT(info["blas"]["sgemm_gflops"].get<double>(), 0.1);
}

TEST(SystemInfo, FormatsForPeople) {
  const nlohmann::json info = system_info();
  const std::string text = format_system_info(info);
  for (const char* label : {"CPU", "Features", "LibTorch", "BLAS", "BLAS core", "Verified"})
    EXPECT_NE(text.find(label), std::string::npos) << label << "\n" << text;
  EXPECT_NE(text.find(info["blas"]["core"].get<std::string>()), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(SystemInfo, FormatToleratesMissingKeys) {
  EXPECT_NO_THROW(format_system_info(nlohmann::json::object()));
  EXPECT_NO_THROW(format_system_info(nlohmann::json{{"blas", {{"core", 3}}}}));
}

}  // namespace
}  // namespace scfm::runtime
