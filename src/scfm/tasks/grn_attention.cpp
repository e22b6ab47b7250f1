#include "scfm/tasks/grn_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "scfm/data/random.h"
#include "scfm/eval/dataset.h"
#include "scfm/eval/plot.h"
#include "scfm/eval/report.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/tasks/grn_genes.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"
#include "scfm/util/one_blas_thread.h"

namespace scfm::tasks {
namespace {

namespace fs = std::filesystem;

// NumPy's .npy format 1.0: float32 little-endian, C order.
std::string npy_float32(const std::vector<float>& v, const std::vector<int64_t>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t unpadded = 10 + header.size() + 1;  // magic, version, length, header, '\n'
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  const size_t start = out.size();
  out.resize(start + v.size() * sizeof(float));
  std::memcpy(out.data() + start, v.data(), v.size() * sizeof(float));  // x86-64 and aarch64: little-endian
  return out;
}

struct Edge {
  int32_t source, target;
  double score;
};

// Each source's (column j's) top_k targets i != j by m[i * n + j], descending; ties: lower i.
std::vector<Edge> top_targets(const std::vector<double>& m, int64_t n, int64_t top_k) {
  std::vector<Edge> edges;
  std::vector<std::pair<double, int32_t>> col;
  for (int64_t j = 0; j < n; ++j) {
    col.clear();
    for (int64_t i = 0; i < n; ++i)
      if (i != j) col.emplace_back(m[i * n + j], static_cast<int32_t>(i));
    const size_t k = std::min<size_t>(static_cast<size_t>(top_k), col.size());
    std::partial_sort(col.begin(), col.begin() + static_cast<std::ptrdiff_t>(k), col.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (size_t r = 0; r < k; ++r) edges.push_back({static_cast<int32_t>(j), col[r].second, col[r].first});
  }
  return edges;
}

// The `most` strongest edges of all pairs i != j (by score, or by |score| when signed).
std::vector<Edge> strongest(const std::vector<double>& m, int64_t n, size_t most, bool by_magnitude) {
  std::vector<Edge> all;
  all.reserve(static_cast<size_t>(n * (n - 1)));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (i != j) all.push_back({static_cast<int32_t>(j), static_cast<int32_t>(i), m[i * n + j]});
  auto key = [&](const Edge& e) { return by_magnitude ? std::abs(e.score) : e.score; };
  const size_t k = std::min(most, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), [&](const Edge& a, const Edge& b) {
    if (key(a) != key(b)) return key(a) > key(b);
    return a.source != b.source ? a.source < b.source : a.target < b.target;
  });
  all.resize(k);
  return all;
}

eval::Network network_of(const std::vector<Edge>& edges, const std::vector<std::string>& names, double offset) {
  std::set<std::string> used;
  for (const Edge& e : edges) {
    used.insert(names[e.source]);
    used.insert(names[e.target]);
  }
  eval::Network net;
  net.nodes.assign(used.begin(), used.end());
  auto index = [&](int32_t g) {
    return static_cast<int>(std::lower_bound(net.nodes.begin(), net.nodes.end(), names[g]) - net.nodes.begin());
  };
  for (const Edge& e : edges) net.edges.push_back({index(e.source), index(e.target), e.score - offset});
  return net;
}

}  // namespace

std::vector<double> normalise_attention(const float* logits, int64_t H, int64_t T, const std::string& mode) {
  if (mode != "rank" && mode != "softmax") throw Error("grn attention: --normalize '" + mode + "': expected rank or softmax");
  const size_t TT = static_cast<size_t>(T * T);
  std::vector<double> per_head(static_cast<size_t>(H) * TT);
  at::parallel_for(0, H, 1, [&](int64_t h0, int64_t h1) {
    std::vector<int32_t> order(static_cast<size_t>(T)), row_rank(TT), count(static_cast<size_t>(T) + 1);
    for (int64_t h = h0; h < h1; ++h) {
      const float* s = logits + h * TT;
      double* out = per_head.data() + h * TT;
      if (mode == "softmax") {
        for (int64_t i = 0; i < T; ++i) {
          const float* r = s + i * T;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j < T; ++j) mx = std::max(mx, static_cast<double>(r[j]));
          double sum = 0;
          for (int64_t j = 0; j < T; ++j) sum += (out[i * T + j] = std::isinf(r[j]) && r[j] < 0 ? 0.0 : std::exp(r[j] - mx));
          for (int64_t j = 0; j < T; ++j) out[i * T + j] /= sum;
        }
        continue;
      }
      // by row: ordinal ranks, ties by key position (a stable argsort of argsort)
      for (int64_t i = 0; i < T; ++i) {
        const float* r = s + i * T;
        for (int64_t j = 0; j < T; ++j) order[j] = static_cast<int32_t>(j);
        std::sort(order.begin(), order.end(), [r](int32_t a, int32_t b) { return r[a] < r[b] || (r[a] == r[b] && a < b); });
        for (int64_t p = 0; p < T; ++p) row_rank[i * T + order[p]] = static_cast<int32_t>(p);
      }
      // by column, on the row ranks (integers 0..T-1): a stable counting sort
      for (int64_t j = 0; j < T; ++j) {
        std::fill(count.begin(), count.end(), 0);
        for (int64_t i = 0; i < T; ++i) ++count[row_rank[i * T + j] + 1];
        for (int64_t v = 1; v <= T; ++v) count[v] += count[v - 1];
        for (int64_t i = 0; i < T; ++i) out[i * T + j] = static_cast<double>(count[row_rank[i * T + j]]++) / static_cast<double>(T);
      }
    }
  });
  std::vector<double> mean(TT, 0.0);
  for (int64_t h = 0; h < H; ++h)  // in head order, whatever thread computed each
    for (size_t e = 0; e < TT; ++e) mean[e] += per_head[h * TT + e];
  for (double& v : mean) v /= static_cast<double>(H);
  return mean;
}

nlohmann::json grn_attention(const GrnAttentionOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  const char* verb = "grn attention";
  if (o.input.empty()) throw Error("grn attention: --in X.h5ad is required (the cells whose attention is averaged)");
  if (o.group_col.empty()) throw Error("grn attention: --group-col is required (the obs column whose groups are averaged)");
  if (o.normalize != "rank" && o.normalize != "softmax")
    throw Error("grn attention: --normalize '" + o.normalize + "': expected rank or softmax");
  if (o.top_k < 1) throw Error("grn attention: --top-k must be >= 1");
  if (o.max_cells < 0) throw Error("grn attention: --max-cells must be >= 0 (0 = all)");
  if (o.network_edges < 0) throw Error("grn attention: --network-edges must be >= 0");
  if (!o.compare.empty() && (o.compare.size() != 2 || o.compare[0] == o.compare[1]))
    throw Error("grn attention: --compare takes two different groups, A,B (the difference A - B)");
  const std::string vocab_path = o.model_dir + "/vocab.json";
  const io::Vocab vocab = io::Vocab::load(vocab_path);
  const io::AnnData ad = io::read_h5ad(o.input);

  GrnGeneRequest request;
  request.verb = verb;
  request.vocab_path = vocab_path;
  request.genes = o.genes;
  request.data = &ad;
  request.input = o.input;
  request.gene_col = o.gene_col;
  request.layer = o.layer;
  request.hvg = o.hvg;
  request.keep_matrix = true;  // each cell's log1p values are normalised over all its genes
  const GrnGenes selected = select_grn_genes(vocab, request);
  const std::vector<std::string>& names = selected.names;
  const int64_t n_genes = static_cast<int64_t>(names.size());
  if (n_genes < 2) throw Error("grn attention: " + std::to_string(n_genes) + " gene(s) selected; a network needs at least 2");

  // ---- groups: every one named must have cells
  const eval::Encoded codes = eval::required_codes(o.input, ad, o.group_col, "group");
  std::vector<std::string> wanted = o.groups.empty() ? codes.classes : o.groups;
  for (const std::string& c : o.compare)
    if (std::find(wanted.begin(), wanted.end(), c) == wanted.end()) wanted.push_back(c);
  std::vector<std::string> missing;
  std::vector<int32_t> group_code;
  for (const std::string& g : wanted) {
    const auto it = std::find(codes.classes.begin(), codes.classes.end(), g);
    if (it == codes.classes.end()) missing.push_back(g);
    else if (std::find(group_code.begin(), group_code.end(), static_cast<int32_t>(it - codes.classes.begin())) == group_code.end())
      group_code.push_back(static_cast<int32_t>(it - codes.classes.begin()));
  }
  if (!missing.empty())
    throw Error("grn attention: " + std::to_string(missing.size()) + " group(s) have no cells in obs/" + o.group_col + " of " +
                o.input + ": " + joined(missing, 20) + " (groups with cells: " + joined(codes.classes, 20) + ")");
  std::vector<std::string> group_names;
  for (int32_t c : group_code) group_names.push_back(codes.classes[c]);
  const int64_t n_groups = static_cast<int64_t>(group_code.size());

  // cells of each group, ascending; --max-cells keeps those with the smallest key of (seed, cell)
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(n_groups));
  std::vector<int64_t> group_total(static_cast<size_t>(n_groups), 0);
  for (int64_t c = 0; c < static_cast<int64_t>(codes.codes.size()); ++c)
    for (int64_t g = 0; g < n_groups; ++g)
      if (codes.codes[c] == group_code[g]) members[g].push_back(c);
  for (int64_t g = 0; g < n_groups; ++g) {
    group_total[g] = static_cast<int64_t>(members[g].size());
    if (o.max_cells > 0 && group_total[g] > o.max_cells) {
      std::vector<std::pair<uint64_t, int64_t>> keyed;
      for (int64_t c : members[g])
        keyed.emplace_back(data::splitmix64((o.seed * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(c) * 0xD1B54A32D192ED03ULL)), c);
      std::sort(keyed.begin(), keyed.end());
      keyed.resize(static_cast<size_t>(o.max_cells));
      members[g].clear();
      for (const auto& kc : keyed) members[g].push_back(kc.second);
      std::sort(members[g].begin(), members[g].end());
    }
  }

  // ---- the model, per cell
  auto model = model::load_pretrain_model(o.model_dir, o.allow_partial);
  model->module().eval();
  const model::InputConventions conv = model::input_conventions(model->args());
  const CellInput input(vocab, conv, selected.var_to_id, conv.max_len, /*sample=*/false, o.seed);
  const std::vector<int32_t>& panel = selected.ids;
  const io::CsrMatrix& x = selected.matrix;
  const int64_t T = n_genes + 1;
  std::vector<std::vector<double>> mean(static_cast<size_t>(n_groups));
  int64_t heads = 0;
  {  // the head count, and the layer and structure checks, before the long part
    torch::NoGradGuard no_grad;
    const CellTokens t = input.panel_tokens(x, {members[0][0]}, {members[0][0]}, panel);
    heads = model->attention_logits(t.genes, t.values, t.padding, o.attention_layer).size(1);
  }
  // Each cell's forward runs on one thread (LibTorch does not thread inside a parallel region, and
  // OneBlasThread keeps OpenBLAS from splitting a product): a threaded product's last bits can
  // follow the thread count (docs/blas.md), so the cells are spread over the threads instead, in
  // chunks, and summed in cell order.
  const int64_t chunk = std::max<int64_t>(1, at::get_num_threads());
  for (int64_t g = 0; g < n_groups; ++g) {
    std::vector<double> sum(static_cast<size_t>(T * T), 0.0);
    const std::vector<int64_t>& cells = members[g];
    for (size_t c0 = 0; c0 < cells.size(); c0 += static_cast<size_t>(chunk)) {
      const size_t cn = std::min(static_cast<size_t>(chunk), cells.size() - c0);
      std::vector<std::vector<double>> part(cn);
      std::vector<std::string> errors(cn);
      at::parallel_for(0, static_cast<int64_t>(cn), 1, [&](int64_t i0, int64_t i1) {
        torch::NoGradGuard no_grad;  // thread-local
        util::OneBlasThread one;
        for (int64_t i = i0; i < i1; ++i) {
          try {
            const int64_t c = cells[c0 + i];
            const CellTokens t = input.panel_tokens(x, {c}, {c}, panel);
            const at::Tensor s = model->attention_logits(t.genes, t.values, t.padding, o.attention_layer).to(at::kFloat).contiguous();
            part[i] = normalise_attention(s.data_ptr<float>(), heads, T, o.normalize);
          } catch (const std::exception& e) {
            errors[i] = e.what();
          }
        }
      });
      for (size_t i = 0; i < cn; ++i) {
        if (!errors[i].empty()) throw Error("grn attention: cell " + std::to_string(cells[c0 + i]) + ": " + errors[i]);
        for (size_t e = 0; e < sum.size(); ++e) sum[e] += part[i][e];
      }
    }
    // drop <cls> (token 0)
    std::vector<double>& m = mean[g];
    m.resize(static_cast<size_t>(n_genes * n_genes));
    const double n = static_cast<double>(members[g].size());
    for (int64_t i = 0; i < n_genes; ++i)
      for (int64_t j = 0; j < n_genes; ++j) m[i * n_genes + j] = sum[(i + 1) * T + (j + 1)] / n;
  }

  // ---- edges
  eval::Table edges_csv;
  edges_csv.columns = {"group", "source", "target", "score", "rank"};
  nlohmann::json out;
  out["settings"] = {{"model", o.model_dir}, {"structure", model->structure()}, {"input", o.input},
                     {"gene_source", selected.source}, {"hvg", o.hvg}, {"layer", o.attention_layer},
                     {"normalize", o.normalize}, {"top_k", o.top_k}, {"max_cells", o.max_cells}, {"seed", o.seed},
                     {"group_col", o.group_col}, {"compare", o.compare}};
  out["n_genes"] = n_genes;
  out["heads"] = heads;
  out["groups"] = nlohmann::json::array();
  eval::Report report;
  report.title = "Attention gene network: " + o.model_dir;
  eval::Table groups_table;
  groups_table.title = "Groups of " + o.group_col;
  groups_table.columns = {"group", "cells", "cells used"};
  for (int64_t g = 0; g < n_groups; ++g) {
    out["groups"].push_back({{"name", group_names[g]}, {"cells", group_total[g]}, {"cells_used", members[g].size()}});
    groups_table.rows.push_back({group_names[g], std::to_string(group_total[g]), std::to_string(members[g].size())});
  }
  report.tables.push_back(groups_table);
  constexpr size_t kShown = 15;
  out["top_edges"] = nlohmann::json::object();
  for (int64_t g = 0; g < n_groups; ++g) {
    const std::vector<Edge> edges = top_targets(mean[g], n_genes, o.top_k);
    for (size_t e = 0; e < edges.size(); ++e)
      edges_csv.rows.push_back({group_names[g], names[edges[e].source], names[edges[e].target], eval::cell(edges[e].score, 6),
                                std::to_string(e % static_cast<size_t>(std::min<int64_t>(o.top_k, n_genes - 1)) + 1)});
    eval::Table t;
    t.title = "Strongest edges in " + group_names[g] + " (source's key attended by the target's query)";
    t.columns = {"source", "target", "score"};
    nlohmann::json j = nlohmann::json::array();
    for (const Edge& e : strongest(mean[g], n_genes, kShown, false)) {
      t.rows.push_back({names[e.source], names[e.target], eval::cell(e.score, 4)});
      j.push_back({{"source", names[e.source]}, {"target", names[e.target]}, {"score", e.score}});
    }
    out["top_edges"][group_names[g]] = j;
    report.tables.push_back(t);
  }
  std::vector<std::pair<std::string, std::string>> files{{"edges.csv", edges_csv.csv()}};
  eval::Network net;
  if (!o.compare.empty()) {
    const auto ia = std::find(group_names.begin(), group_names.end(), o.compare[0]) - group_names.begin();
    const auto ib = std::find(group_names.begin(), group_names.end(), o.compare[1]) - group_names.begin();
    std::vector<double> d(mean[ia].size());
    for (size_t e = 0; e < d.size(); ++e) d[e] = mean[ia][e] - mean[ib][e];
    eval::Table diff_csv;
    diff_csv.columns = {"source", "target", "difference", "score_a", "score_b", "rank"};
    const std::vector<Edge> edges = top_targets(d, n_genes, o.top_k);
    const size_t per = static_cast<size_t>(std::min<int64_t>(o.top_k, n_genes - 1));
    for (size_t e = 0; e < edges.size(); ++e) {
      const size_t at = static_cast<size_t>(edges[e].target * n_genes + edges[e].source);
      diff_csv.rows.push_back({names[edges[e].source], names[edges[e].target], eval::cell(edges[e].score, 6),
                               eval::cell(mean[ia][at], 6), eval::cell(mean[ib][at], 6), std::to_string(e % per + 1)});
    }
    files.emplace_back("diff_edges.csv", diff_csv.csv());
    eval::Table t;
    t.title = "Largest increases, " + o.compare[0] + " - " + o.compare[1];
    t.columns = {"source", "target", "difference", o.compare[0], o.compare[1]};
    nlohmann::json j = nlohmann::json::array();
    for (const Edge& e : strongest(d, n_genes, kShown, false)) {
      const size_t at = static_cast<size_t>(e.target * n_genes + e.source);
      t.rows.push_back({names[e.source], names[e.target], eval::cell(e.score, 4), eval::cell(mean[ia][at], 4), eval::cell(mean[ib][at], 4)});
      j.push_back({{"source", names[e.source]}, {"target", names[e.target]}, {"difference", e.score}});
    }
    out["difference"] = {{"a", o.compare[0]}, {"b", o.compare[1]}, {"top_edges", j}};
    report.tables.push_back(t);
    net = network_of(strongest(d, n_genes, static_cast<size_t>(o.network_edges), true), names, 0.0);
    net.title = "Attention network: " + o.compare[0] + " - " + o.compare[1];
    net.legend = "difference of " + o.normalize + "-normalised attention";
  } else {
    double avg = 0;
    for (int64_t i = 0; i < n_genes; ++i)
      for (int64_t j = 0; j < n_genes; ++j)
        if (i != j) avg += mean[0][i * n_genes + j];
    avg /= static_cast<double>(n_genes * (n_genes - 1));
    net = network_of(strongest(mean[0], n_genes, static_cast<size_t>(o.network_edges), false), names, avg);
    net.title = "Attention network: " + group_names[0];
    net.legend = o.normalize + "-normalised attention minus its mean over gene pairs (" + eval::cell(avg, 4) + ")";
  }
  net.subtitle = std::to_string(net.edges.size()) + " strongest edges of " + std::to_string(n_genes) + " genes; " + o.model_dir;

  eval::Table genes_csv;
  genes_csv.columns = {"index", "gene"};
  for (int64_t i = 0; i < n_genes; ++i) genes_csv.rows.push_back({std::to_string(i), names[i]});
  files.emplace_back("genes.csv", genes_csv.csv());
  std::vector<float> stacked;
  stacked.reserve(static_cast<size_t>(n_groups * n_genes * n_genes));
  for (const auto& m : mean)
    for (double v : m) stacked.push_back(static_cast<float>(v));
  files.emplace_back("attention.npy", npy_float32(stacked, {n_groups, n_genes, n_genes}));

  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.results = out;
  report.svgs.emplace_back("network.svg", eval::network_svg(net));
  report.notes = {std::to_string(n_genes) + " genes (" + selected.source + ") after <cls>, zeros included, for every cell; layer " +
                      std::to_string(o.attention_layer) + "'s q k^T / sqrt(d) over " + std::to_string(heads) + " heads, " +
                      (o.normalize == "rank" ? "rank-normalised by row then by column (scGPT's Tutorial_Attention_GRN)"
                                             : "softmax by row (the attention probabilities)") +
                      ", averaged over heads and the cells of each group.",
                  "An edge source -> target has score A[target][source]: how much the target's query attends to the source's "
                  "key (the tutorial reads a perturbed gene's column). edges.csv: the top " + std::to_string(o.top_k) +
                      " targets of every source; attention.npy: the matrices (groups x genes x genes, rows = targets). docs/grn.md."};

  fs::path target(o.out_dir);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  util::AtomicPath folder(o.out_dir);
  const std::string tmp = folder.make_folder();
  eval::write_report(tmp, report);
  for (const auto& [name, content] : files) eval::write_text(tmp + "/" + name, content);
  folder.commit();
  return out;
}

}  // namespace scfm::tasks
