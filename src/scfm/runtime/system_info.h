// What `scfm info --system` reports: the CPU, LibTorch's threads, and the BLAS behind it.
// No LibTorch headers here: cli/ includes this file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace scfm::runtime {

// A JSON object with these keys (all present; strings are "" and numbers 0 when unknown):
//   cpu:   model_name, vendor, family, model, stepping, hypervisor (bool),
//          cores (CPUs this process may use), logical_cpus (hardware_concurrency),
//          flags {sse3, ssse3, sse4_1, sse4_2, avx, avx2, fma, f16c, avx512f, avx512bw, avx512vl,
//                 avx512dq, avx512cd, avx512_vnni, avx512_bf16, avx512_fp16, amx_tile, amx_bf16,
//                 amx_int8: bool, from cpuid},
//          os_avx, os_avx512 (bool: XGETBV shows the OS saves that register state),
//          cpuinfo_flags [the flags of interest that /proc/cpuinfo lists, kernel spelling]
//   torch: version, threads (at::get_num_threads), interop_threads
//   blas:  library (file sgemm_ comes from), backend (file of OpenBLAS itself), is_openblas,
//          version, config (openblas_get_config), core (openblas_get_corename), requested_core
//          (OPENBLAS_CORETYPE), candidates [cores that suit this CPU, best first], parallel,
//          threads, chosen_by, note, fallbacks [..], execs, verified (bool),
//          sgemm_gflops (n=512, measured when `measure_gemm`, else 0)
// Never throws for a missing piece of information; throws scfm::Error only when no BLAS at all
// is loaded.
nlohmann::json system_info(bool measure_gemm = false);

// The same as a block of aligned "Label   value" lines for people, ending in a newline.
// Tolerates missing keys (prints what is there).
std::string format_system_info(const nlohmann::json& info);

}  // namespace scfm::runtime
