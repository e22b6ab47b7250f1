// scfm info PATH [--json] | scfm info --system [--json]
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "scfm/io/inspect.h"
#include "scfm/runtime/system_info.h"
#include "scfm/util/error.h"

namespace scfm::cli {

void add_info(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("info", "What is in an .h5ad, a 10x folder or a 10x .h5 (or, with --system, this machine)");
  auto path = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto system = std::make_shared<bool>(false);
  cmd->add_option("path", *path, "An .h5ad file, a 10x MEX folder or a 10x .h5 file");
  cmd->add_flag("--json", *json_out, "Print one JSON object");
  cmd->add_flag("--system", *system, "Describe this machine: CPU features, threads, BLAS library and kernels");
  cmd->callback([=] {
    if (*system) {
      auto info = runtime::system_info();
      std::cout << (*json_out ? info.dump(2) + "\n" : runtime::format_system_info(info));
      return;
    }
    if (path->empty()) throw Error("info: give a PATH (an .h5ad, a 10x folder, a 10x .h5 or a cell store) or --system");
    if (std::filesystem::is_regular_file(*path + "/manifest.json")) {
      print_store_info(*path, *json_out);
      return;
    }
    auto d = io::describe_file(*path);
    std::cout << (*json_out ? d.dump(2) + "\n" : io::format_description(d));
  });
}

}  // namespace scfm::cli
