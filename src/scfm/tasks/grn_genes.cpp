#include "scfm/tasks/grn_genes.h"

#include <algorithm>
#include <map>

#include "scfm/pp/hvg.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/util/error.h"

namespace scfm::tasks {

io::CsrMatrix select_columns(const io::CsrMatrix& m, const std::vector<int32_t>& keep) {
  std::vector<int32_t> slot(static_cast<size_t>(m.n_cols), -1);
  for (size_t k = 0; k < keep.size(); ++k) slot[keep[k]] = static_cast<int32_t>(k);
  io::CsrMatrix out;
  out.n_rows = m.n_rows;
  out.n_cols = static_cast<int64_t>(keep.size());
  out.indptr.reserve(static_cast<size_t>(m.n_rows) + 1);  // holds its leading 0
  std::vector<std::pair<int32_t, float>> row;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    // keep's order need not be ascending: sort the row by its new column
    row.clear();
    for (int64_t e = m.indptr[r]; e < m.indptr[r + 1]; ++e)
      if (slot[m.indices[e]] >= 0) row.emplace_back(slot[m.indices[e]], m.data[e]);
    std::sort(row.begin(), row.end());
    for (const auto& [c, v] : row) {
      out.indices.push_back(c);
      out.data.push_back(v);
    }
    out.indptr.push_back(static_cast<int64_t>(out.indices.size()));
  }
  return out;
}

std::string joined(const std::vector<std::string>& names, size_t most) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < most; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > most) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

GrnGenes select_grn_genes(const io::Vocab& vocab, const GrnGeneRequest& q) {
  const std::string verb = q.verb;
  if (q.hvg < 0) throw Error(verb + ": --hvg must be >= 0");
  if (q.hvg > 0 && q.data == nullptr) throw Error(verb + ": --hvg needs --in (the genes' counts)");
  GrnGenes out;
  if (q.data == nullptr) {
    std::vector<std::string> missing;
    for (const std::string& g : q.genes)
      if (vocab.id(g) < 0) missing.push_back(g);
    if (!missing.empty())
      throw Error(verb + ": " + std::to_string(missing.size()) + " of the --genes are not in the model's vocabulary (" +
                  q.vocab_path + "): " + joined(missing, 50));
    for (const std::string& g : q.genes)
      if (std::find(out.names.begin(), out.names.end(), g) == out.names.end()) out.names.push_back(g);
    for (const std::string& g : out.names) out.ids.push_back(vocab.id(g));
    out.source = "--genes";
    return out;
  }
  const io::AnnData& ad = *q.data;
  const io::GeneMatch match = match_model_genes(vocab, ad, q.gene_col, q.input, q.verb);
  out.var_to_id = match.var_to_id;
  const std::vector<std::string> var = io::gene_names(ad, q.gene_col);
  std::map<std::string, int32_t> column_of;
  for (size_t j = 0; j < var.size(); ++j)
    if (match.var_to_id[j] >= 0) column_of.emplace(var[j], static_cast<int32_t>(j));  // first occurrence
  if (!q.genes.empty()) {
    std::vector<std::string> not_vocab, not_file;
    for (const std::string& g : q.genes) {
      if (vocab.id(g) < 0) not_vocab.push_back(g);
      else if (column_of.count(g) == 0) not_file.push_back(g);
    }
    if (!not_vocab.empty() || !not_file.empty())
      throw Error(verb + ": " +
                  (not_vocab.empty() ? std::string()
                                     : std::to_string(not_vocab.size()) + " of the --genes are not in the model's vocabulary (" +
                                           q.vocab_path + "): " + joined(not_vocab, 50)) +
                  (!not_vocab.empty() && !not_file.empty() ? "; " : "") +
                  (not_file.empty() ? std::string()
                                    : std::to_string(not_file.size()) + " are not genes of " + q.input + ": " + joined(not_file, 50)));
    for (const std::string& g : q.genes)
      if (std::find(out.names.begin(), out.names.end(), g) == out.names.end()) {
        out.names.push_back(g);
        out.columns.push_back(column_of.at(g));
      }
    out.source = "--genes";
  } else {
    for (size_t j = 0; j < var.size(); ++j)
      if (match.var_to_id[j] >= 0 && column_of.at(var[j]) == static_cast<int32_t>(j)) {
        out.names.push_back(var[j]);
        out.columns.push_back(static_cast<int32_t>(j));
      }
    out.source = q.hvg > 0 ? "hvg (seurat_v3) of --in" : "all genes of --in in the vocabulary";
  }
  io::CsrMatrix all = ad.matrix_csr(q.layer);
  out.counts = select_columns(all, out.columns);
  if (q.keep_matrix) out.matrix = std::move(all);
  if (q.hvg > 0 && q.hvg < static_cast<int64_t>(out.names.size())) {
    pp::HighlyVariableGenesOptions ho;
    ho.flavor = pp::HvgFlavor::SeuratV3;
    ho.n_top_genes = q.hvg;
    const pp::HighlyVariableGenes hv = pp::highly_variable_genes(out.counts, ho);
    std::vector<std::string> kept_names;
    std::vector<int32_t> kept_columns, local;
    for (size_t k = 0; k < out.names.size(); ++k)
      if (hv.highly_variable[k]) {
        kept_names.push_back(out.names[k]);
        kept_columns.push_back(out.columns[k]);
        local.push_back(static_cast<int32_t>(k));
      }
    out.counts = select_columns(out.counts, local);
    out.names = std::move(kept_names);
    out.columns = std::move(kept_columns);
  }
  for (const std::string& g : out.names) out.ids.push_back(vocab.id(g));
  return out;
}

}  // namespace scfm::tasks
