// scfm vocab build | info | match: gene vocabularies in scGPT's vocab.json layout.
#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "scfm/io/tenx.h"
#include "scfm/io/vocab.h"

namespace scfm::cli {
namespace {

struct VocabArgs {
  std::vector<std::string> inputs;
  std::string input;
  std::string vocab;
  std::string out;
  std::string gene_col;
  std::string feature_type = "Gene Expression";
  std::string genome;
  bool json = false;
};

// Only var is needed: matrices and obs values in .h5ad files are left on disk.
io::TenxOptions read_options(const VocabArgs& a) {
  io::TenxOptions o;
  o.feature_type = a.feature_type;
  o.genome = a.genome;
  o.h5ad.lazy_matrix_elements = 0;
  o.h5ad.lazy_obs = true;
  return o;
}

void add_input_options(CLI::App* cmd, VocabArgs& a) {
  cmd->add_option("--gene-col", a.gene_col, "var column with the gene names (default: the var index)");
  cmd->add_option("--feature-type", a.feature_type,
                  "10x inputs: keep features of this type (\"\" keeps all)")
      ->capture_default_str();
  cmd->add_option("--genome", a.genome, "legacy 10x .h5 inputs with several genomes: the one to read");
}

void run_build(const VocabArgs& a) {
  std::vector<std::vector<std::string>> lists;
  int64_t total = 0;
  for (const std::string& path : a.inputs) {
    io::AnnData data = io::read_any(path, read_options(a));
    lists.push_back(io::gene_names(data, a.gene_col));
    total += static_cast<int64_t>(lists.back().size());
  }
  io::Vocab v = io::Vocab::build(lists);
  v.save(a.out);
  std::cout << a.out << ": " << v.size() << " tokens (" << v.size() - static_cast<int64_t>(v.appended_specials().size())
            << " genes from " << a.inputs.size() << " input" << (a.inputs.size() == 1 ? "" : "s") << ", " << total
            << " gene names read; specials <pad> " << v.pad_id() << ", <cls> " << v.cls_id() << ", <eoc> "
            << v.eoc_id() << "), checksum " << v.checksum() << "\n";
}

void run_info(const VocabArgs& a) {
  io::Vocab v = io::Vocab::load(a.vocab);
  const auto& appended = v.appended_specials();
  auto was_appended = [&](const std::string& s) {
    return std::find(appended.begin(), appended.end(), s) != appended.end();
  };
  if (a.json) {
    nlohmann::ordered_json j;
    j["path"] = a.vocab;
    j["size"] = v.size();
    j["size_in_file"] = v.size() - static_cast<int64_t>(appended.size());
    nlohmann::ordered_json specials = nlohmann::ordered_json::object();
    for (const std::string& s : io::Vocab::special_tokens())
      specials[s] = {{"id", v.id(s)}, {"in_file", !was_appended(s)}};
    j["specials"] = specials;
    j["appended_specials"] = appended;
    j["checksum"] = v.checksum();
    j["checksum_algorithm"] = "fnv1a64";
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << a.vocab << "\n";
  std::cout << "  tokens    " << v.size() - static_cast<int64_t>(appended.size()) << " in the file";
  if (!appended.empty()) std::cout << ", " << v.size() << " with the appended specials";
  std::cout << "\n  specials ";
  for (const std::string& s : io::Vocab::special_tokens())
    std::cout << " " << s << "=" << v.id(s) << (was_appended(s) ? " (appended)" : "");
  std::cout << "\n  checksum  " << v.checksum() << " (fnv1a64)\n";
}

void run_match(const VocabArgs& a) {
  io::Vocab v = io::Vocab::load(a.vocab);
  io::AnnData data = io::read_any(a.input, read_options(a));
  io::GeneMatch m = io::match_genes(v, data, a.gene_col);
  const int64_t n = m.n_matched + m.n_unmatched;
  const double frac = n > 0 ? static_cast<double>(m.n_matched) / static_cast<double>(n) : 0.0;
  if (a.json) {
    nlohmann::ordered_json j;
    j["vocab"] = a.vocab;
    j["input"] = a.input;
    j["gene_col"] = a.gene_col.empty() ? "(var index)" : a.gene_col;
    j["n_genes"] = n;
    j["n_matched"] = m.n_matched;
    j["n_unmatched"] = m.n_unmatched;
    j["fraction_matched"] = frac;
    j["unmatched_examples"] = m.unmatched_examples;
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << a.input << ": " << m.n_matched << " of " << n << " genes in the vocabulary ("
            << static_cast<int>(frac * 1000 + 0.5) / 10.0 << "%), " << m.n_unmatched << " not";
  if (!m.unmatched_examples.empty()) {
    std::cout << " (e.g.";
    for (size_t i = 0; i < m.unmatched_examples.size() && i < 5; ++i) std::cout << " " << m.unmatched_examples[i];
    std::cout << ")";
  }
  std::cout << "\n";
}

}  // namespace

void add_vocab(CLI::App& app, GlobalOptions& /*global*/) {
  auto args = std::make_shared<VocabArgs>();
  CLI::App* vocab = app.add_subcommand("vocab", "Gene vocabularies (scGPT vocab.json): build, info, match");
  vocab->require_subcommand(1);

  CLI::App* build = vocab->add_subcommand("build", "Build a vocab.json from the genes of .h5ad / 10x inputs");
  build->add_option("inputs", args->inputs, ".h5ad files, 10x folders or 10x .h5 files")->required();
  build->add_option("--out,-o", args->out, "vocab.json to write")->required();
  add_input_options(build, *args);
  build->callback([args] { run_build(*args); });

  CLI::App* info = vocab->add_subcommand("info", "Size, special tokens and checksum of a vocab.json");
  info->add_option("vocab", args->vocab, "vocab.json")->required();
  info->add_flag("--json", args->json, "print JSON");
  info->callback([args] { run_info(*args); });

  CLI::App* match = vocab->add_subcommand("match", "How many of an input's genes are in a vocab.json");
  match->add_option("vocab", args->vocab, "vocab.json")->required();
  match->add_option("input", args->input, ".h5ad file, 10x folder or 10x .h5 file")->required();
  add_input_options(match, *args);
  match->add_flag("--json", args->json, "print JSON");
  match->callback([args] { run_match(*args); });
}

}  // namespace scfm::cli
