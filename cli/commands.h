// The scfm command line: main.cpp builds one CLI11 app and each verb registers itself from its
// own file. A verb only parses flags and calls the library; errors are scfm::Error.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "scfm/tasks/classify.h"

namespace scfm::cli {

// Flags every verb shares, declared once in main.cpp.
struct GlobalOptions {
  int threads = 0;     // --threads: 0 = all cores
  bool quiet = false;  // --quiet: no progress bars
};

void add_info(CLI::App& app, GlobalOptions& global);
void add_vocab(CLI::App& app, GlobalOptions& global);
void add_pp(CLI::App& app, GlobalOptions& global);
void add_launch(CLI::App& app, GlobalOptions& global);
void add_pretrain(CLI::App& app, GlobalOptions& global);
void add_embed(CLI::App& app, GlobalOptions& global);
void add_simulate(CLI::App& app, GlobalOptions& global);
void add_ingest(CLI::App& app, GlobalOptions& global);
void add_store(CLI::App& app, GlobalOptions& global);
void add_model(CLI::App&, GlobalOptions&);
void add_classify(CLI::App& app, GlobalOptions& global);
void add_finetune_annotate(CLI::App& app, GlobalOptions& global);
void add_map(CLI::App& app, GlobalOptions& global);
void add_metrics(CLI::App& app, GlobalOptions& global);
void add_integrate(CLI::App& app, GlobalOptions& global);
void add_perturb(CLI::App& app, GlobalOptions& global);
void add_incremental(CLI::App& app, GlobalOptions& global);
void add_grn(CLI::App& app, GlobalOptions& global);
void add_umap(CLI::App& app, GlobalOptions& global);
void add_report(CLI::App& app, GlobalOptions& global);

// The classify table on stdout (classify, perturb classify).
void print_classify(const nlohmann::json& results, const tasks::ClassifyOptions& options);

// `scfm store info`, also reached from `scfm info STORE`.
void print_store_info(const std::string& path, bool json);

}  // namespace scfm::cli
