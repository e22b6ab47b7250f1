// scfm: single-cell foundation models in one native tool. See README.md and docs/DESIGN.md.
#include <iostream>

#include "commands.h"
#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"
#include "scfm/util/error.h"

int main(int argc, char** argv) {
  // Before anything touches BLAS: choose OpenBLAS kernels that suit this CPU (may re-exec once).
  scfm::runtime::select_blas_core(argc, argv);

  CLI::App app{"scfm: single-cell transcriptomics foundation models (scGPT / scBenchmark in C++)"};
  app.set_version_flag("--version", "scfm 0.1.0");
  app.require_subcommand(1);
  scfm::cli::GlobalOptions global;
  app.add_option("--threads", global.threads, "Threads for LibTorch/OpenMP (0 = all cores)")
      ->check(CLI::NonNegativeNumber);

  scfm::cli::add_info(app, global);
  scfm::cli::add_vocab(app, global);
  scfm::cli::add_pp(app, global);
  scfm::cli::add_launch(app, global);
  scfm::cli::add_pretrain(app, global);
  scfm::cli::add_embed(app, global);
  scfm::cli::add_simulate(app, global);
  scfm::cli::add_ingest(app, global);
  scfm::cli::add_store(app, global);
  scfm::cli::add_model(app, global);
  scfm::cli::add_classify(app, global);
  scfm::cli::add_finetune_annotate(app, global);
  scfm::cli::add_map(app, global);
  scfm::cli::add_metrics(app, global);
  scfm::cli::add_integrate(app, global);
  scfm::cli::add_perturb(app, global);
  scfm::cli::add_incremental(app, global);

  // Threads are set once flags are known and before any verb runs.
  app.parse_complete_callback([&global] { scfm::runtime::set_threads(global.threads); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const scfm::Error& e) {
    std::cerr << "scfm: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "scfm: internal error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
