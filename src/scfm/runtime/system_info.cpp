#include "scfm/runtime/system_info.h"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"

namespace scfm::runtime {

namespace {

using nlohmann::json;

// (our key, /proc/cpuinfo's spelling) of the flags worth reporting.
const std::vector<std::pair<const char*, const char*>>& flags_of_interest() {
  static const std::vector<std::pair<const char*, const char*>> flags = {
      {"sse3", "pni"},          {"ssse3", "ssse3"},         {"sse4_1", "sse4_1"},
      {"sse4_2", "sse4_2"},     {"avx", "avx"},             {"avx2", "avx2"},
      {"fma", "fma"},           {"f16c", "f16c"},           {"avx512f", "avx512f"},
      {"avx512bw", "avx512bw"}, {"avx512vl", "avx512vl"},   {"avx512dq", "avx512dq"},
      {"avx512cd", "avx512cd"}, {"avx512_vnni", "avx512_vnni"}, {"avx512_bf16", "avx512_bf16"},
      {"avx512_fp16", "avx512_fp16"}, {"amx_tile", "amx_tile"}, {"amx_bf16", "amx_bf16"},
      {"amx_int8", "amx_int8"}};
  return flags;
}

// "model name" and "flags" of the first processor in /proc/cpuinfo ("" when unreadable).
std::pair<std::string, std::set<std::string>> read_proc_cpuinfo() {
  std::pair<std::string, std::set<std::string>> out;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  bool have_flags = false;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && out.first.empty()) out.first = value;
    if (key == "flags" && !have_flags) {
      std::istringstream words(value);
      std::string w;
      while (words >> w) out.second.insert(w);
      have_flags = true;
    }
    if (!out.first.empty() && have_flags) break;
  }
  return out;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

// "1 thread", "2 threads" ("? threads" when unknown).
std::string threads_text(const std::string& count) {
  if (count.empty()) return "? threads";
  return count + (count == "1" ? " thread" : " threads");
}

std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return yes_no(v.get<bool>());
  if (v.is_null()) return "";
  return v.dump();
}

}  // namespace

json system_info(bool measure_gemm) {
  const CpuFeatures& f = cpu_features();
  auto [proc_model, proc_flags] = read_proc_cpuinfo();

  json flags = json::object();
  const bool values[] = {f.sse3,        f.ssse3,       f.sse4_1,     f.sse4_2,   f.avx,
                         f.avx2,        f.fma,         f.f16c,       f.avx512f,  f.avx512bw,
                         f.avx512vl,    f.avx512dq,    f.avx512cd,   f.avx512_vnni,
                         f.avx512_bf16, f.avx512_fp16, f.amx_tile,   f.amx_bf16, f.amx_int8};
  json cpuinfo_flags = json::array();
  for (size_t i = 0; i < flags_of_interest().size(); ++i) {
    flags[flags_of_interest()[i].first] = values[i];
    if (proc_flags.count(flags_of_interest()[i].second) != 0)
      cpuinfo_flags.push_back(flags_of_interest()[i].second);
  }

  json cpu = {{"model_name", !f.brand.empty() ? f.brand : proc_model},
              {"vendor", f.vendor},
              {"family", f.family},
              {"model", f.model},
              {"stepping", f.stepping},
              {"hypervisor", f.hypervisor},
              {"cores", available_cores()},
              {"logical_cpus", static_cast<int>(std::thread::hardware_concurrency())},
              {"flags", flags},
              {"os_avx", f.os_avx},
              {"os_avx512", f.os_avx512},
              {"cpuinfo_flags", cpuinfo_flags}};

  json torch = {{"version", TORCH_VERSION},
                {"threads", at::get_num_threads()},
                {"interop_threads", at::get_num_interop_threads()}};

  const BlasInfo b = blas_info();
  json blas = {{"library", b.library},
               {"backend", b.backend},
               {"is_openblas", b.is_openblas},
               {"version", b.version},
               {"config", b.config},
               {"core", b.core},
               {"requested_core", b.requested_core},
               {"candidates", candidate_cores(f)},
               {"parallel", b.parallel},
               {"threads", b.blas_threads},
               {"chosen_by", b.chosen_by},
               {"note", b.note},
               {"fallbacks", b.fallbacks},
               {"execs", b.execs},
               {"verified", b.verified},
               {"sgemm_gflops", measure_gemm ? measure_sgemm_gflops(512, 0.2) : 0.0}};

  return {{"cpu", cpu}, {"torch", torch}, {"blas", blas}};
}

std::string format_system_info(const json& info) {
  const json empty = json::object();
  const json& cpu = info.contains("cpu") ? info.at("cpu") : empty;
  const json& torch = info.contains("torch") ? info.at("torch") : empty;
  const json& blas = info.contains("blas") ? info.at("blas") : empty;
  std::vector<std::pair<std::string, std::string>> rows;

  std::string cpu_line = str(cpu, "model_name");
  if (!str(cpu, "vendor").empty())
    cpu_line += " (" + str(cpu, "vendor") + " family " + str(cpu, "family") + " model " +
                str(cpu, "model") + (str(cpu, "hypervisor") == "yes" ? ", virtual machine)" : ")");
  rows.emplace_back("CPU", cpu_line);
  rows.emplace_back("Cores", str(cpu, "cores") + " usable of " + str(cpu, "logical_cpus"));
  std::string features;
  if (cpu.contains("flags") && cpu.at("flags").is_object())
    for (const auto& [name, on] : cpu.at("flags").items())
      if (on.is_boolean() && on.get<bool>()) features += (features.empty() ? "" : " ") + name;
  rows.emplace_back("Features", features.empty() ? "(none of interest)" : features);
  rows.emplace_back("OS state", "AVX " + str(cpu, "os_avx") + ", AVX-512 " + str(cpu, "os_avx512"));

  rows.emplace_back("LibTorch", str(torch, "version") + ", " + threads_text(str(torch, "threads")) +
                                    " (inter-op " + str(torch, "interop_threads") + ")");

  rows.emplace_back("BLAS", str(blas, "library"));
  if (str(blas, "is_openblas") == "yes") {
    rows.emplace_back("OpenBLAS", str(blas, "backend") + " (" + str(blas, "parallel") + ", " +
                                      threads_text(str(blas, "threads")) + ")");
    rows.emplace_back("Config", str(blas, "config"));
  }
  std::string core = str(blas, "core").empty() ? "(not OpenBLAS)" : str(blas, "core");
  rows.emplace_back("BLAS core", core + ", chosen by " + str(blas, "chosen_by"));
  if (!str(blas, "note").empty()) rows.emplace_back("", str(blas, "note"));
  if (blas.contains("candidates") && blas.at("candidates").is_array()) {
    std::string list;
    for (const auto& c : blas.at("candidates")) list += (list.empty() ? "" : " > ") + c.get<std::string>();
    rows.emplace_back("Candidates", list.empty() ? "(none)" : list);
  }
  if (blas.contains("fallbacks") && blas.at("fallbacks").is_array())
    for (const auto& fb : blas.at("fallbacks")) rows.emplace_back("Rejected", fb.get<std::string>());
  rows.emplace_back("Verified", str(blas, "verified") == "yes" ? "yes (64x48x80 sgemm vs double)"
                                                               : "NO: sgemm gives wrong results");
  if (blas.contains("sgemm_gflops") && blas.at("sgemm_gflops").is_number() &&
      blas.at("sgemm_gflops").get<double>() > 0) {
    std::ostringstream g;
    g.precision(1);
    g << std::fixed << blas.at("sgemm_gflops").get<double>() << " GFLOP/s (512x512x512)";
    rows.emplace_back("sgemm", g.str());
  }

  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::string out;
  for (const auto& [label, value] : rows)
    out += label + std::string(width + 2 - label.size(), ' ') + value + "\n";
  return out;
}

}  // namespace scfm::runtime
