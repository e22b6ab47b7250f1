// The scfm command line: main.cpp builds one CLI11 app and each verb registers itself from its
// own file. A verb only parses flags and calls the library; errors are scfm::Error.
#pragma once

#include <CLI/CLI.hpp>

namespace scfm::cli {

// Flags every verb shares, declared once in main.cpp.
struct GlobalOptions {
  int threads = 0;  // --threads: 0 = all cores
};

void add_info(CLI::App& app, GlobalOptions& global);
void add_vocab(CLI::App& app, GlobalOptions& global);
void add_pp(CLI::App& app, GlobalOptions& global);

}  // namespace scfm::cli
