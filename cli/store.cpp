// scfm ingest INPUT... --vocab V --out STORE | scfm store info STORE | scfm store verify STORE
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "scfm/io/vocab.h"
#include "scfm/pp/binning.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"
#include "scfm/store/verify.h"
#include "scfm/util/error.h"

namespace scfm::cli {
namespace {

using Json = nlohmann::ordered_json;

struct IngestArgs {
  std::vector<std::string> inputs;
  std::string vocab;
  std::string out;
  std::vector<std::string> obs_cols;
  std::vector<std::string> dataset_names;
  store::IngestOptions opt;
  std::string feature_type = "Gene Expression";
  std::string genome;
  bool json = false;
  // values at ingest
  std::vector<std::string> normalize_total;  // --normalize-total [TARGET]: empty = median
  bool log1p = false;
  int n_bins = 0;
  std::string bin_mode = "keyed";
  bool bin_deterministic = false;
  uint64_t seed = 0;
};

// --normalize-total [TARGET], --log1p, --bin N [--bin-mode M | --bin-deterministic] [--seed S]
store::IngestValues ingest_values(const IngestArgs& a, const CLI::App& cmd) {
  store::IngestValues v;
  if (cmd.count("--normalize-total") > 0) {
    v.normalize_total = true;
    if (!a.normalize_total.empty()) {
      const std::string& t = a.normalize_total.front();
      if (!t.empty() && t != "median") {
        size_t used = 0;
        double x = 0;
        try {
          x = std::stod(t, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != t.size() || !(x > 0) || !std::isfinite(x))
          throw Error("--normalize-total: expected a positive target total (e.g. 1e4) or 'median', got '" + t +
                      "' (put the inputs before the flag when giving no target)");
        v.target_sum = x;
      }
    }
  }
  v.log1p = a.log1p;
  const bool bin_options = cmd.count("--bin-mode") > 0 || a.bin_deterministic || cmd.count("--seed") > 0;
  if (a.n_bins == 0 && bin_options) throw Error("--bin-mode, --bin-deterministic and --seed need --bin N_BINS");
  if (a.n_bins != 0) {
    if (a.n_bins < 3) throw Error("--bin: at least 3 bins (scGPT's default is 51), got " + std::to_string(a.n_bins));
    v.n_bins = a.n_bins;
    std::string mode = a.bin_mode;
    if (a.bin_deterministic) {
      if (cmd.count("--bin-mode") > 0 && mode != "deterministic")
        throw Error("--bin-deterministic contradicts --bin-mode " + mode);
      if (cmd.count("--seed") > 0) throw Error("--bin-deterministic draws nothing: --seed has no effect, drop it");
      mode = "deterministic";
    }
    if (mode == "keyed")
      v.bin_mode = pp::BinningMode::Keyed;
    else if (mode == "seeded")
      v.bin_mode = pp::BinningMode::Seeded;
    else if (mode == "deterministic")
      v.bin_mode = pp::BinningMode::Deterministic;
    else
      throw Error("--bin-mode '" + mode + "': expected keyed, seeded or deterministic");
    v.bin_seed = a.seed;
  }
  return v;
}

void run_ingest(IngestArgs& a, const CLI::App& cmd) {
  a.opt.values = ingest_values(a, cmd);
  const io::Vocab vocab = io::Vocab::load(a.vocab);
  store::reuse_freed_memory();
  a.opt.obs_columns = a.obs_cols;
  a.opt.dataset_names = a.dataset_names;
  a.opt.tenx.feature_type = a.feature_type;
  a.opt.tenx.genome = a.genome;
  const store::IngestReport r = store::ingest(a.inputs, vocab, a.out, a.opt);
  const store::Manifest& m = r.manifest;
  if (a.json) {
    Json j;
    j["store"] = a.out;
    j["n_cells"] = m.n_cells;
    j["nnz"] = m.nnz;
    j["n_shards"] = static_cast<int64_t>(m.shards.size());
    j["obs_columns"] = m.obs_columns;
    j["values"] = m.values.to_json();
    j["ingest"] = m.ingest;
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << a.out << ": " << m.n_cells << " cells, " << m.nnz << " non-zero entries, " << m.shards.size()
            << " shard" << (m.shards.size() == 1 ? "" : "s") << "; values " << m.values.describe() << "\n";
  for (const auto& in : r.inputs) {
    std::cout << "  " << in.dataset << " (" << in.path << "): " << in.n_cells_kept << " of " << in.n_cells_read
              << " cells kept (" << in.n_cells_all_zero << " all zero in the vocab's genes dropped); " << in.n_genes_matched
              << " of " << in.n_genes << " genes in the vocab";
    if (in.n_genes_dropped > 0) {
      std::cout << ", " << in.n_genes_dropped << " dropped (e.g.";
      for (size_t k = 0; k < in.genes_dropped_examples.size() && k < 5; ++k) std::cout << " " << in.genes_dropped_examples[k];
      std::cout << ")";
    }
    if (in.n_genes_merged > 0) std::cout << ", " << in.n_genes_merged << " merged into an earlier gene's id";
    std::cout << "\n";
  }
}

Json info_json(const store::CellStore& s) {
  const store::Manifest& m = s.manifest();
  Json j;
  j["path"] = s.path();
  j["format_version"] = m.format_version;
  j["n_cells"] = m.n_cells;
  j["n_genes_vocab"] = m.vocab_size;
  j["vocab_checksum"] = m.vocab_checksum;
  j["n_shards"] = s.n_shards();
  j["nnz"] = m.nnz;
  j["layer"] = m.layer;
  j["values"] = m.values.to_json();
  j["obs_columns"] = m.obs_columns;
  int64_t bytes = 0;
  Json shards = Json::array();
  for (const auto& sh : m.shards) {
    bytes += sh.bytes;
    shards.push_back({{"file", sh.file}, {"n_cells", sh.n_cells}, {"nnz", sh.nnz}, {"bytes", sh.bytes}});
  }
  j["bytes"] = bytes;
  j["shards"] = shards;
  if (m.ingest.contains("genes_dropped")) j["genes_dropped"] = m.ingest["genes_dropped"];
  if (m.ingest.contains("cells_dropped_all_zero")) j["cells_dropped_all_zero"] = m.ingest["cells_dropped_all_zero"];
  if (m.ingest.contains("inputs")) {
    Json datasets = Json::array();
    for (const auto& in : m.ingest["inputs"])
      datasets.push_back({{"dataset", in.value("dataset", "")}, {"path", in.value("path", "")},
                          {"n_cells", in.value("n_cells_kept", int64_t(0))}});
    j["datasets"] = datasets;
  }
  return j;
}

}  // namespace

void print_store_info(const std::string& path, bool json) {
  const store::CellStore s = store::CellStore::open(path);
  const Json j = info_json(s);
  if (json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << path << "\n"
            << "  cells       " << s.n_cells() << " in " << s.n_shards() << " shard" << (s.n_shards() == 1 ? "" : "s")
            << ", " << s.nnz() << " non-zero entries (" << j["bytes"].get<int64_t>() << " bytes)\n"
            << "  vocabulary  " << j["n_genes_vocab"].get<int64_t>() << " tokens, checksum " << j["vocab_checksum"].get<std::string>()
            << "\n  values      " << (s.manifest().layer.empty() ? std::string("X") : "layer " + s.manifest().layer) << ", "
            << s.manifest().values.describe() << "\n  obs         ";
  for (size_t k = 0; k < s.obs_columns().size(); ++k) std::cout << (k ? ", " : "") << s.obs_columns()[k];
  std::cout << "\n";
  if (j.contains("datasets"))
    for (const auto& d : j["datasets"])
      std::cout << "  dataset     " << d["dataset"].get<std::string>() << ": " << d["n_cells"].get<int64_t>() << " cells\n";
  if (j.contains("genes_dropped"))
    std::cout << "  dropped     " << j["genes_dropped"]["count"].get<int64_t>() << " genes not in the vocabulary, "
              << j.value("cells_dropped_all_zero", int64_t(0)) << " all-zero cells\n";
}

namespace {

void run_verify(const std::string& path, bool json) {
  const store::VerifyReport r = store::verify_store(path);
  if (json) {
    Json j;
    j["path"] = path;
    j["ok"] = r.ok();
    j["n_shards"] = r.n_shards;
    j["bytes_checked"] = r.bytes_checked;
    Json problems = Json::array();
    for (const auto& p : r.problems)
      problems.push_back({{"shard", p.shard}, {"file", p.file}, {"offset", p.offset}, {"what", p.what}});
    j["problems"] = problems;
    std::cout << j.dump(2) << "\n";
  } else {
    for (const auto& p : r.problems) {
      std::cout << path << ": ";
      if (p.shard >= 0) std::cout << "shard " << p.shard << " ";
      std::cout << "(" << p.file << ")";
      if (p.offset >= 0) std::cout << " offset " << p.offset;
      std::cout << ": " << p.what << "\n";
    }
    if (r.ok())
      std::cout << path << ": ok (" << r.n_shards << " shards, " << r.bytes_checked << " bytes checked)\n";
  }
  if (!r.ok())
    throw Error(path + ": verify found " + std::to_string(r.problems.size()) + " problem" +
                (r.problems.size() == 1 ? "" : "s"));
}

}  // namespace

void add_ingest(CLI::App& app, GlobalOptions& /*global*/) {
  auto a = std::make_shared<IngestArgs>();
  CLI::App* cmd = app.add_subcommand("ingest", "Stream .h5ad / 10x / Parquet inputs into a cell store (shards of vocab-id rows)");
  cmd->add_option("inputs", a->inputs,
                  ".h5ad files, 10x folders or .h5 files, .parquet files or folders of them, scBank folders (in order)")
      ->required();
  cmd->add_option("--from", a->opt.from,
                  "input kind: auto (by name), anndata, parquet (scBenchmark / scBank rows: genes = ids of --vocab), "
                  "scbank (an scGPT DataBank folder: ids of its gene_vocab.json, matched to --vocab by name)")
      ->capture_default_str();
  cmd->add_option("--parquet-genes", a->opt.parquet.genes, "Parquet: the list<int> column of vocab ids")->capture_default_str();
  cmd->add_option("--parquet-expressions", a->opt.parquet.expressions, "Parquet: the list<float> column of values")
      ->capture_default_str();
  cmd->add_option("--parquet-id", a->opt.parquet.id, "Parquet: the column stored as barcode (else the row number)")
      ->capture_default_str();
  cmd->add_option("--vocab", a->vocab, "vocab.json whose ids the store uses")->required();
  cmd->add_option("--out,-o", a->out, "the store folder to create")->required();
  cmd->add_option("--gene-col", a->opt.gene_col, "var column with the gene names (default: the var index)");
  cmd->add_option("--layer", a->opt.layer, ".h5ad layer to read instead of X (e.g. counts)");
  cmd->add_option("--obs-cols", a->obs_cols, "obs columns to keep, comma-separated (dataset and barcode always are)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--dataset-names", a->dataset_names, "names for the inputs' dataset column, comma-separated "
                                                       "(default: the file names)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--shard-cells", a->opt.shard_cells, "cells per shard file")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--allow-missing-obs", a->opt.allow_missing_obs, "store \"\" for an obs column an input lacks (default: error)");
  cmd->add_flag("--overwrite", a->opt.overwrite, "replace an existing store at --out");
  cmd->add_option("--feature-type", a->feature_type, "10x inputs: keep features of this type (\"\" keeps all)")
      ->capture_default_str();
  cmd->add_option("--genome", a->genome, "legacy 10x .h5 inputs with several genomes: the one to read");
  cmd->add_flag("--json", a->json, "print the ingest report as JSON");
  cmd->add_option("--normalize-total", a->normalize_total,
                   "scale each cell's stored genes to TARGET total (scanpy normalize_total); without TARGET (or "
                   "'median'): the median of the totals, found in an extra pass over the inputs")
      ->expected(0, 1)
      ->type_name("[TARGET]");
  cmd->add_flag("--log1p", a->log1p, "store ln(1 + x) (after --normalize-total)");
  cmd->add_option("--bin", a->n_bins, "store scGPT's value bins 1..N_BINS-1 per cell (after the above)")->type_name("N_BINS");
  cmd->add_option("--bin-mode", a->bin_mode,
                  "where binning's tie-breaking uniforms come from: keyed (by seed, store cell, gene; default), "
                  "seeded (numpy's stream over the store's cells in order, as scGPT), deterministic (1/2)")
      ->capture_default_str();
  cmd->add_flag("--bin-deterministic", a->bin_deterministic, "same as --bin-mode deterministic");
  cmd->add_option("--seed", a->seed, "binning seed (keyed, seeded)")->capture_default_str();
  cmd->callback([a, cmd] { run_ingest(*a, *cmd); });
}

void add_store(CLI::App& app, GlobalOptions& /*global*/) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("store", "Cell stores: info, verify");
  cmd->require_subcommand(1);
  CLI::App* info = cmd->add_subcommand("info", "Cells, shards, vocabulary and obs columns of a store");
  info->add_option("store", *path, "store folder")->required();
  info->add_flag("--json", *json, "print JSON");
  info->callback([path, json] { print_store_info(*path, *json); });
  CLI::App* verify = cmd->add_subcommand("verify", "Recompute every checksum and check every shard's structure");
  verify->add_option("store", *path, "store folder")->required();
  verify->add_flag("--json", *json, "print JSON");
  verify->callback([path, json] { run_verify(*path, *json); });
}

}  // namespace scfm::cli
