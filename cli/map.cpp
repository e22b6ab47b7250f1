// scfm map --reference R.h5ad --query Q.h5ad --out OUT.h5ad [--embedding X_scfm] [--label-col cell_type]
//          [--k 10] [--index flat|ivfpq|auto] [--vote majority|weighted] [--metric cosine|l2]
//          [--save-index FILE] [--index-file FILE] [--report DIR] [--json]
#include <iostream>

#include "commands.h"
#include "scfm/tasks/map.h"

namespace scfm::cli {

void add_map(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("map", "Reference mapping: label query cells by their nearest reference cells (faiss)");
  auto o = std::make_shared<tasks::MapOptions>();
  auto index = std::make_shared<std::string>("auto");
  auto vote = std::make_shared<std::string>("majority");
  auto metric = std::make_shared<std::string>("cosine");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--reference", o->reference, "Reference .h5ad with obsm[EMBEDDING] and obs[LABEL_COL]")->required();
  cmd->add_option("--query", o->query, "Query .h5ad with obsm[EMBEDDING]")->required();
  cmd->add_option("--out", o->output, "Output .h5ad: a copy of the query with obs scfm_map_label, "
                                      "scfm_map_vote_share, scfm_map_distance")->required();
  cmd->add_option("--embedding", o->key, "obsm key of the embedding in both files")->capture_default_str();
  cmd->add_option("--label-col", o->label_col, "obs column with the reference labels (scored on the query when present)")
      ->capture_default_str();
  cmd->add_option("--k", o->k, "Neighbours that vote")->capture_default_str();
  cmd->add_option("--index", *index, "flat (exact), ivfpq (PCA + IVF + PQ) or auto (flat below 100k reference cells)")
      ->capture_default_str()->check(CLI::IsMember({"flat", "ivfpq", "auto"}));
  cmd->add_option("--vote", *vote, "majority (ties: smaller summed distance, then class name) or weighted (1/(d+1e-6))")
      ->capture_default_str()->check(CLI::IsMember({"majority", "weighted"}));
  cmd->add_option("--metric", *metric, "cosine (distance 1 - cos) or l2 (Euclidean)")
      ->capture_default_str()->check(CLI::IsMember({"cosine", "l2"}));
  cmd->add_option("--save-index", o->save_index, "Write the index built to FILE (faiss format)");
  cmd->add_option("--index-file", o->index_file, "Use this saved index instead of building one");
  cmd->add_option("--report", o->report_dir, "Report folder when the query has labels (default: OUT without .h5ad + _map/)");
  cmd->add_option("--seed", o->seed, "Seed of the index's training sample")->capture_default_str();
  cmd->add_flag("--json", *json, "Print the summary as JSON");
  cmd->callback([o, index, vote, metric, json] {
    o->index = tasks::parse_map_index(*index);
    o->vote = tasks::parse_map_vote(*vote);
    o->metric = tasks::parse_map_metric(*metric);
    const nlohmann::json s = tasks::map_cells(*o);
    if (*json) {
      std::cout << s.dump(2) << "\n";
      return;
    }
    std::cout << "map: " << s["n_query"] << " query cells onto " << s["n_reference"] << " reference cells ("
              << s["index_description"].get<std::string>() << ", k = " << s["k"] << ", " << *vote << " vote) -> "
              << o->output << "\n";
    if (s.contains("accuracy"))
      std::cout << "map: accuracy " << s["accuracy"].get<double>() << ", macro-F1 " << s["macro_f1"].get<double>()
                << "; report in " << s["report_dir"].get<std::string>() << "\n";
    if (s.contains("saved_index")) std::cout << "map: index saved to " << s["saved_index"].get<std::string>() << "\n";
  });
}

}  // namespace scfm::cli
