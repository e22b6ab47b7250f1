#include "scfm/tasks/grn.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "scfm/eval/cluster_metrics.h"
#include "scfm/eval/dataset.h"
#include "scfm/eval/gene_programs.h"
#include "scfm/eval/plot.h"
#include "scfm/eval/report.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/pp/normalize.h"
#include "scfm/tasks/grn_genes.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace fs = std::filesystem;

nlohmann::json grn_programs(const GrnProgramsOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.genes.empty() && o.input.empty()) throw Error("grn programs: give the genes (--genes) or a dataset (--in X.h5ad)");
  if (!o.write_h5ad.empty() && o.input.empty()) throw Error("grn programs: --write-h5ad needs --in");
  const io::Vocab vocab = io::Vocab::load(o.model_dir + "/vocab.json");

  // ---- the genes: names, vocab ids and (with --in) their var columns
  io::AnnData ad;
  if (!o.input.empty()) ad = io::read_h5ad(o.input);
  GrnGeneRequest request;
  request.verb = "grn programs";
  request.vocab_path = o.model_dir + "/vocab.json";
  request.genes = o.genes;
  request.data = o.input.empty() ? nullptr : &ad;
  request.input = o.input;
  request.gene_col = o.gene_col;
  request.layer = o.layer;
  request.hvg = o.hvg;
  GrnGenes selected = select_grn_genes(vocab, request);
  const std::vector<std::string>& names = selected.names;
  const std::vector<int32_t>& ids = selected.ids;
  const std::vector<int32_t>& columns = selected.columns;
  const io::CsrMatrix& counts = selected.counts;
  const int64_t n_genes = static_cast<int64_t>(names.size());
  if (n_genes < 2) throw Error("grn programs: " + std::to_string(n_genes) + " gene(s) selected; programs need at least 2");
  // scanpy's score_genes puts the genes into 25 expression bins of round(genes / 24) genes each
  const bool can_score = std::nearbyint(static_cast<double>(n_genes) / 24.0) >= 1;
  if (!can_score && !o.write_h5ad.empty())
    throw Error("grn programs: --write-h5ad: per-cell scores need at least 13 selected genes (scanpy's score_genes draws "
                "its controls from 25 expression bins), " + std::to_string(n_genes) + " selected");

  // the groups, checked before the model runs
  std::string group_col = o.group_col;
  eval::Encoded groups;
  if (!o.input.empty()) {
    const auto cols = io::dataframe_columns(ad.obs());
    if (group_col.empty() && std::find(cols.begin(), cols.end(), "cell_type") != cols.end()) group_col = "cell_type";
    if (!group_col.empty()) groups = eval::required_codes(o.input, ad, group_col, "group");
  } else if (!group_col.empty()) {
    throw Error("grn programs: --group-col needs --in");
  }

  if (o.vectors != "model" && o.vectors != "correlation")
    throw Error("grn programs: --vectors '" + o.vectors + "': expected model or correlation");
  if (o.vectors == "correlation" && o.input.empty()) throw Error("grn programs: --vectors correlation needs --in");
  std::vector<int32_t> truth;  // per selected gene
  if (!o.truth_col.empty()) {
    if (o.input.empty()) throw Error("grn programs: --truth-col needs --in");
    const auto vcols = io::dataframe_columns(ad.var());
    if (std::find(vcols.begin(), vcols.end(), o.truth_col) == vcols.end())
      throw FormatError(o.input, "var/" + o.truth_col, "no such column");
    const auto values = io::column_strings(ad.var(), o.truth_col);
    for (int32_t c : columns) {
      try {
        truth.push_back(std::stoi(values[c]));
      } catch (const std::exception&) {
        throw FormatError(o.input, "var/" + o.truth_col, "expected integers (-1 = in no program), found '" + values[c] + "'");
      }
    }
  }
  io::CsrMatrix lognorm;
  if (!o.input.empty()) {
    lognorm = counts;
    pp::NormalizeTotalOptions no;
    no.target_sum = 1e4;
    pp::normalize_total(lognorm, no);
    pp::log1p(lognorm);
  }

  // ---- gene vectors and programs
  std::string structure = "(not used: --vectors correlation)";
  std::vector<float> emb;
  int64_t width = 0;
  if (o.vectors == "correlation") {
    std::vector<int32_t> all(static_cast<size_t>(n_genes)), constant;
    std::iota(all.begin(), all.end(), 0);
    emb = eval::expression_profiles(lognorm, all, &constant);
    if (!constant.empty()) {
      std::vector<std::string> which;
      for (int32_t c : constant) which.push_back(names[c]);
      throw Error("grn programs: --vectors correlation: " + std::to_string(constant.size()) + " genes are constant over the cells of " +
                  o.input + " (" + joined(which, 20) + "); leave them out (--genes, --hvg)");
    }
    width = lognorm.n_rows;
  } else {
    auto model = model::load_pretrain_model(o.model_dir, o.allow_partial);
    model->module().eval();
    structure = model->structure();
    torch::NoGradGuard no_grad;
    std::vector<int64_t> id64(ids.begin(), ids.end());
    at::Tensor t = at::tensor(id64, at::kLong);
    at::Tensor e = model->gene_embeddings(t).to(at::kCPU, at::kFloat).contiguous();
    width = e.size(1);
    emb.assign(e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
  }
  eval::GeneProgramOptions po;
  po.n_neighbors = o.n_neighbors;
  po.resolution = o.resolution;
  po.min_size = o.min_size;
  po.seed = o.seed;
  const eval::GenePrograms gp = eval::gene_programs({emb.data(), n_genes, width}, po);
  const int64_t n_programs = static_cast<int64_t>(gp.programs.size());
  nlohmann::json truth_json;
  if (!truth.empty()) {
    // ARI over the genes of the known programs (a gene left in a small community is a class of
    // its own: "no program"), and over all genes with "in no known program" as one more class
    constexpr int32_t kNone = 1 << 30;
    std::vector<int32_t> t_in, p_in, t_all;
    for (int64_t g = 0; g < n_genes; ++g) {
      t_all.push_back(truth[g] < 0 ? kNone : truth[g]);
      if (truth[g] < 0) continue;
      t_in.push_back(truth[g]);
      p_in.push_back(gp.program_of[g] < 0 ? kNone : gp.program_of[g]);
    }
    truth_json = {{"truth_col", o.truth_col},
                  {"genes_in_known_programs", t_in.size()},
                  {"ari_known_genes", t_in.size() > 1 ? eval::ari(t_in, p_in) : 0.0},
                  {"ari_all_genes", eval::ari(t_all, gp.community)}};
  }
  std::vector<std::string> program_names;
  for (int64_t p = 0; p < n_programs; ++p) program_names.push_back("P" + std::to_string(p));

  nlohmann::json out;
  out["settings"] = {{"model", o.model_dir}, {"structure", structure}, {"input", o.input},
                     {"gene_source", selected.source},
                     {"hvg", o.hvg}, {"n_neighbors", o.n_neighbors}, {"resolution", o.resolution},
                     {"min_size", o.min_size}, {"seed", o.seed}, {"group_col", group_col}, {"vectors", o.vectors}};
  out["n_genes"] = n_genes;
  out["embedding_width"] = width;
  out["n_communities"] = gp.n_communities;
  if (!truth_json.is_null()) out["truth"] = truth_json;
  out["modularity"] = gp.modularity;
  out["n_programs"] = n_programs;
  out["genes_in_programs"] = std::count_if(gp.program_of.begin(), gp.program_of.end(), [](int32_t p) { return p >= 0; });
  out["programs"] = nlohmann::json::array();
  eval::Table table;
  table.title = "Gene programs (" + std::to_string(n_programs) + " communities of >= " + std::to_string(o.min_size) + " genes)";
  table.columns = {"program", "genes", "members"};
  for (int64_t p = 0; p < n_programs; ++p) {
    std::vector<std::string> members;
    for (int64_t g : gp.programs[p]) members.push_back(names[g]);
    out["programs"].push_back({{"name", program_names[p]}, {"genes", members}});
    std::string list;
    for (const auto& m : members) list += (list.empty() ? "" : " ") + m;
    table.rows.push_back({program_names[p], std::to_string(members.size()), list});
  }
  eval::Table genes_table;
  genes_table.columns = {"gene", "community", "program"};
  for (int64_t g = 0; g < n_genes; ++g)
    genes_table.rows.push_back({names[g], std::to_string(gp.community[g]),
                                gp.program_of[g] >= 0 ? program_names[gp.program_of[g]] : std::string()});

  // ---- scores per cell and per group
  eval::Report report;
  report.title = "Gene programs: " + o.model_dir;
  report.tables.push_back(table);
  std::vector<std::pair<std::string, std::string>> extra_files{{"genes.csv", genes_table.csv()}};
  std::vector<float> cell_scores;
  const int64_t n_cells = counts.n_rows;
  if (!o.input.empty() && n_programs > 0 && can_score) {
    const io::CsrMatrix& x = lognorm;
    std::vector<std::vector<int32_t>> sets;
    for (const auto& p : gp.programs) sets.emplace_back(p.begin(), p.end());
    const std::vector<double> s = eval::score_genes(x, sets);  // programs x cells
    cell_scores.resize(static_cast<size_t>(n_cells * n_programs));
    for (int64_t p = 0; p < n_programs; ++p)
      for (int64_t c = 0; c < n_cells; ++c) cell_scores[c * n_programs + p] = static_cast<float>(s[p * n_cells + c]);
    if (!group_col.empty()) {
      const int64_t k = static_cast<int64_t>(groups.classes.size());
      std::vector<double> mean(static_cast<size_t>(k * n_programs), 0.0);
      std::vector<int64_t> count(static_cast<size_t>(k), 0);
      for (int64_t c = 0; c < n_cells; ++c) {
        ++count[groups.codes[c]];
        for (int64_t p = 0; p < n_programs; ++p) mean[groups.codes[c] * n_programs + p] += s[p * n_cells + c];
      }
      for (int64_t g = 0; g < k; ++g)
        for (int64_t p = 0; p < n_programs; ++p) mean[g * n_programs + p] /= double(count[g]);
      eval::Table gt;
      gt.title = "Mean program score per " + group_col;
      gt.columns = {group_col, "cells"};
      for (const auto& n : program_names) gt.columns.push_back(n);
      nlohmann::json gj = nlohmann::json::object();
      eval::Table scores_csv;  // the same with 6 decimals and without the cell counts
      scores_csv.columns = {group_col};
      for (const auto& n : program_names) scores_csv.columns.push_back(n);
      for (int64_t g = 0; g < k; ++g) {
        std::vector<std::string> row{groups.classes[g], std::to_string(count[g])};
        std::vector<std::string> csv_row{groups.classes[g]};
        std::vector<double> v;
        for (int64_t p = 0; p < n_programs; ++p) {
          row.push_back(eval::cell(mean[g * n_programs + p], 3));
          csv_row.push_back(eval::cell(mean[g * n_programs + p], 6));
          v.push_back(mean[g * n_programs + p]);
        }
        gt.rows.push_back(row);
        scores_csv.rows.push_back(csv_row);
        gj[groups.classes[g]] = {{"cells", count[g]}, {"mean_scores", v}};
      }
      out["group_scores"] = gj;
      report.tables.push_back(gt);
      extra_files.emplace_back("group_scores.csv", scores_csv.csv());
      // heat map: per program, z-score of the group means
      eval::Heatmap h;
      h.title = "Gene program scores per " + group_col;
      h.subtitle = std::to_string(n_programs) + " programs of " + o.model_dir + "; colour: group mean standardised per program";
      h.rows = groups.classes;
      h.columns = program_names;
      h.values.assign(static_cast<size_t>(k * n_programs), 0.0);
      for (int64_t p = 0; p < n_programs; ++p) {
        double mu = 0, ss = 0;
        for (int64_t g = 0; g < k; ++g) mu += mean[g * n_programs + p] / double(k);
        for (int64_t g = 0; g < k; ++g) ss += (mean[g * n_programs + p] - mu) * (mean[g * n_programs + p] - mu);
        const double sd = k > 1 ? std::sqrt(ss / double(k - 1)) : 0.0;
        for (int64_t g = 0; g < k; ++g) h.values[g * n_programs + p] = sd > 0 ? (mean[g * n_programs + p] - mu) / sd : 0.0;
      }
      h.legend = "z-score";
      report.svgs.emplace_back("heatmap.svg", eval::heatmap_svg(h));
    }
  }
  out["n_cells"] = n_cells;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.results = out;
  report.notes = {std::to_string(n_genes) + " genes (" + out["settings"]["gene_source"].get<std::string>() +
                      "), gene embeddings of width " + std::to_string(width) + "; cosine " + std::to_string(o.n_neighbors) +
                      "-neighbour graph (UMAP connectivities), Leiden at resolution " + eval::cell(o.resolution, 2) + " (seed " +
                      std::to_string(o.seed) + "): " + std::to_string(gp.n_communities) + " communities, " +
                      std::to_string(n_programs) + " with >= " + std::to_string(o.min_size) + " genes.",
                  "Scores: scanpy's score_genes (50 control genes per expression bin, 25 bins, random_state 0) on "
                  "log1p(normalize_total 1e4) of the counts of the selected genes. docs/grn.md."};
  if (!o.input.empty() && !can_score)
    report.notes.push_back("No per-cell scores: " + std::to_string(n_genes) +
                           " genes are too few for score_genes' 25 expression bins (13 or more are needed).");

  // ---- write: the folder whole, then the .h5ad copy
  fs::path target(o.out_dir);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  util::AtomicPath folder(o.out_dir);
  const std::string tmp = folder.make_folder();
  eval::write_report(tmp, report);
  for (const auto& [name, content] : extra_files) eval::write_text(tmp + "/" + name, content);
  if (!o.write_h5ad.empty()) {
    io::update_h5ad(o.input, o.write_h5ad, [&](io::AnnData& a) {
      if (a.root.child("obsm") == nullptr) a.root.set("obsm", io::make_dict());
      a.root.child("obsm")->set(o.key, io::make_array(io::Array::from(cell_scores, {n_cells, n_programs})));
      if (a.root.child("uns") == nullptr) a.root.set("uns", io::make_dict());
      io::Node u = io::make_dict();
      u.set("names", io::make_string_array(program_names));
      std::vector<std::string> joined_genes;
      for (const auto& p : gp.programs) {
        std::string s;
        for (int64_t g : p) s += (s.empty() ? "" : " ") + names[g];
        joined_genes.push_back(s);
      }
      u.set("genes", io::make_string_array(joined_genes));
      u.set("model", io::make_string(o.model_dir));
      u.set("key", io::make_string(o.key));
      a.root.child("uns")->set("scfm_grn_programs", std::move(u));
    });
  }
  folder.commit();
  return out;
}

}  // namespace scfm::tasks
