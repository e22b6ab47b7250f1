// scfm report RUN_OR_TASK_DIR... [--h5ad X.h5ad...] --out report.html
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/report.h"

namespace scfm::cli {

void add_report(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "report", "One self-contained HTML page: settings, loss curves, task tables and figures, UMAPs of cells");
  auto o = std::make_shared<tasks::ReportOptions>();
  cmd->add_option("dirs", o->dirs, "Run and task folders (pretrain runs, classify/map/integrate/perturb/grn outputs)");
  cmd->add_option("--h5ad", o->h5ads, "Files whose cells to draw (UMAP from obsm['X_umap'], else computed)")->delimiter(',');
  cmd->add_option("--embedding", o->embedding, "obsm key to lay out when a file has no X_umap")->capture_default_str();
  cmd->add_option("--color", o->colors, "obs columns to colour by (default: the label and batch columns found)")
      ->delimiter(',');
  cmd->add_option("--title", o->title, "Page title")->capture_default_str();
  cmd->add_option("--seed", o->umap.seed, "UMAP seed")->capture_default_str();
  cmd->add_option("--out", o->out, "Output .html")->required();
  cmd->callback([o] {
    const nlohmann::json r = tasks::write_report(*o);
    std::cout << "report: " << o->out << " (" << r["sections"].size() << " sections, " << r["figures"].get<int64_t>()
              << " figures, " << (r["bytes"].get<int64_t>() + 1023) / 1024 << " KiB; "
              << eval::cell(r["seconds"].get<double>(), 1) << " s)\n";
  });
}

}  // namespace scfm::cli
