// scfm: single-cell foundation models in one native tool. See README.md and docs/DESIGN.md.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "commands.h"
#include "scfm/runtime/blas.h"
#include "scfm/runtime/supervisor.h"
#include "scfm/runtime/threads.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

int main(int argc, char** argv) {
  // Before anything touches BLAS: choose OpenBLAS kernels that suit this CPU (may re-exec once).
  scfm::runtime::select_blas_core(argc, argv);
  // Then the work runs in a supervised child: a crash or hang inside HDF5 on a hostile file becomes
  // a one-line error here, never a dead scfm (runtime/supervisor.h).
  if (std::optional<int> status = scfm::runtime::supervise(argc, argv)) return *status;

  CLI::App app{"scfm: single-cell transcriptomics foundation models (scGPT / scBenchmark in C++)"};
  app.set_version_flag("--version", "scfm 0.1.0");
  app.require_subcommand(1);
  scfm::cli::GlobalOptions global;
  app.add_option("--threads", global.threads, "Threads for LibTorch/OpenMP (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", global.quiet, "No progress bars (they show only on a terminal anyway)");
  bool trusted = false;  // read by runtime::supervise before parsing; declared so CLI11 accepts it
  app.add_flag("--trusted-input", trusted,
               "Read input files in this process: no supervisor, no memory or HDF5 time limit (runtime/supervisor.h)");

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
  scfm::cli::add_grn(app, global);
  scfm::cli::add_umap(app, global);
  scfm::cli::add_report(app, global);

  // Threads are set once flags are known and before any verb runs.
  app.parse_complete_callback([&global] {
    scfm::runtime::set_threads(global.threads);
    scfm::util::set_progress_enabled(!global.quiet);
  });

  int status = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    status = app.exit(e);
  } catch (const scfm::Error& e) {
    std::cerr << "scfm: " << e.what() << "\n";
    status = 1;
  } catch (const std::exception& e) {
    std::cerr << "scfm: internal error: " << e.what() << "\n";
    status = 2;
  }
  // Every file is closed and committed by now. Exit without the libraries' exit handlers: HDF5's
  // H5_term_library walks its internal state once more and crashes on some damaged files after the
  // error was reported (CVE-2025-6269 reproducers); LibTorch's static teardown is slow and adds
  // nothing.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);
}
