#include "scfm/tasks/incremental.h"

#include <ATen/ops/index_select.h>
#include <ATen/ops/tensor.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "scfm/data/gene_importance.h"
#include "scfm/data/random.h"
#include "scfm/io/sparse.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/factory.h"
#include "scfm/store/reader.h"
#include "scfm/tasks/incremental_eval.h"
#include "scfm/util/error.h"
#include "scfm/util/json_file.h"

namespace scfm::tasks {

namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const std::string& path) { return util::read_json_file(path); }

void write_json(const std::string& path, const nlohmann::json& j) { eval::write_text(path, j.dump(1) + "\n"); }

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The cells: a keyed eval share held out, stage 0's share of the rest, the remainder evenly over the
// later stages (the first stages one more when it does not divide, as split_and_create_datasets).
struct CellSplit {
  std::vector<int64_t> eval;
  std::vector<std::vector<int64_t>> stages;
};

CellSplit split_cells(int64_t n, int stages, double eval_ratio, double base_cells, int64_t max_eval, uint64_t seed) {
  const std::vector<int64_t> perm = data::keyed_permutation(n, seed, 0, 0x1CE11);
  const int64_t n_eval = std::max<int64_t>(1, std::llround(eval_ratio * static_cast<double>(n)));
  if (n_eval >= n) throw Error("incremental: " + std::to_string(n) + " cells leave none for training after the eval share");
  CellSplit s;
  s.eval.assign(perm.begin(), perm.begin() + std::min(n_eval, max_eval));
  s.eval = sorted(s.eval);
  const int64_t n_train = n - n_eval;
  const int64_t base = stages == 1 ? n_train : static_cast<int64_t>(std::floor(static_cast<double>(n_train) * base_cells));
  s.stages.resize(static_cast<size_t>(stages));
  s.stages[0].assign(perm.begin() + n_eval, perm.begin() + n_eval + base);
  const int64_t rest = n_train - base;
  int64_t start = n_eval + base;
  for (int k = 1; k < stages; ++k) {
    const int64_t size = rest / (stages - 1) + (k - 1 < rest % (stages - 1) ? 1 : 0);
    s.stages[static_cast<size_t>(k)].assign(perm.begin() + start, perm.begin() + start + size);
    start += size;
  }
  for (auto& v : s.stages) {
    v = sorted(v);
    if (v.empty()) throw Error("incremental: a stage has no cells (" + std::to_string(n) + " cells in the store)");
  }
  return s;
}

std::vector<int32_t> present_genes(const store::CellStore& s) {
  std::vector<uint8_t> seen(static_cast<size_t>(s.vocab_size()), 0);
  for (int64_t i = 0; i < s.n_cells(); ++i) {
    const store::CellRow r = s.row(i);
    for (int64_t j = 0; j < r.n; ++j) seen[static_cast<size_t>(r.ids[j])] = 1;
  }
  std::vector<int32_t> out;
  for (size_t g = 0; g < seen.size(); ++g)
    if (seen[g]) out.push_back(static_cast<int32_t>(g));
  return out;
}

// Per importance group (sorted by name): the genes ranked by F across the labels of that group's
// training cells, the first importance_top with a defined F.
struct Importance {
  std::vector<std::string> groups;
  std::vector<std::vector<int32_t>> rankings;
};

Importance store_importance(const store::CellStore& s, const std::vector<int64_t>& train, const IncrementalOptions& o,
                            const data::ValueTransform& transform, const io::Vocab& vocab) {
  Importance imp;
  const int label_col = s.obs_column_index(o.importance_label);
  if (label_col < 0)
    throw Error(s.path() + ": --importance-label '" + o.importance_label + "' is not an obs column of the store");
  int group_col = -1;
  if (!o.importance_group.empty()) {
    group_col = s.obs_column_index(o.importance_group);
    if (group_col < 0)
      throw Error(s.path() + ": --importance-group '" + o.importance_group + "' is not an obs column of the store");
  }
  std::map<std::string, std::vector<int64_t>> by_group;
  for (int64_t c : train) by_group[group_col < 0 ? std::string("all") : std::string(s.obs(group_col, c))].push_back(c);
  for (auto& [name, cells] : by_group) {
    // a keyed sample of the group's cells
    const std::vector<int64_t> perm = data::keyed_permutation(static_cast<int64_t>(cells.size()), o.stages.seed, 0, 0x1A9);
    std::vector<int64_t> pick;
    for (size_t k = 0; k < perm.size() && static_cast<int64_t>(pick.size()) < o.importance_cells; ++k) pick.push_back(cells[perm[k]]);
    pick = sorted(pick);
    io::CsrMatrix x;
    x.n_cols = s.vocab_size();
    std::vector<int32_t> labels;
    std::map<std::string, int32_t> label_ids;
    std::vector<float> v;
    for (int64_t c : pick) {
      const store::CellRow r = s.row(c);
      v.assign(r.values, r.values + r.n);
      transform(data::CellInput{c, r.ids, r.values, r.n}, 0, v);
      x.indices.insert(x.indices.end(), r.ids, r.ids + r.n);
      x.data.insert(x.data.end(), v.begin(), v.end());
      x.indptr.push_back(static_cast<int64_t>(x.indices.size()));
      ++x.n_rows;
      const std::string label(s.obs(label_col, c));
      labels.push_back(label_ids.emplace(label, static_cast<int32_t>(label_ids.size())).first->second);
    }
    if (label_ids.size() < 2) {
      std::cerr << "incremental: importance group '" << name << "' has one label only; skipped\n";
      continue;
    }
    const std::vector<double> f = data::anova_f(x, labels);
    std::vector<int32_t> rank;
    for (int32_t g : data::rank_by_score(f, -1)) {
      if (std::isnan(f[g]) || vocab.is_special(g)) continue;
      rank.push_back(g);
      if (static_cast<int64_t>(rank.size()) >= o.importance_top) break;
    }
    imp.groups.push_back(name);
    imp.rankings.push_back(rank);
  }
  return imp;
}

// The user's stage file: a JSON list of gene-name lists, the base first.
data::GeneStages stages_from_file(const std::string& path, const io::Vocab& vocab, const std::vector<int32_t>& specials,
                                  const data::GeneStagesOptions& o) {
  const nlohmann::json j = read_json(path);
  if (!j.is_array() || j.empty()) throw FormatError(path, "(top level)", "a non-empty list of gene-name lists, the base first");
  if (o.keep_base_id) throw Error(path + ": --keep-base-id applies to the keyed split only (a stage file lists every stage)");
  data::GeneStages st;
  std::vector<std::string> unknown;
  std::set<int32_t> seen;
  for (size_t s = 0; s < j.size(); ++s) {
    if (!j[s].is_array()) throw FormatError(path, "[" + std::to_string(s) + "]", "a list of gene names");
    std::vector<int32_t> ids;
    for (const auto& g : j[s]) {
      if (!g.is_string()) throw FormatError(path, "[" + std::to_string(s) + "]", "gene names (strings)");
      const int32_t id = vocab.id(g.get<std::string>());
      if (id < 0 || vocab.is_special(id)) {
        unknown.push_back(g.get<std::string>());
        continue;
      }
      if (!seen.insert(id).second) throw FormatError(path, "[" + std::to_string(s) + "]", "gene " + g.get<std::string>() + " is in two stages");
      ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    st.added.push_back(ids);
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t k = 0; k < unknown.size() && k < 20; ++k) list += (k ? ", " : "") + unknown[k];
    throw FormatError(path, "genes", std::to_string(unknown.size()) + " names are not genes of the vocabulary: " + list +
                                         (unknown.size() > 20 ? ", ..." : ""));
  }
  if (static_cast<int>(st.added.size()) != o.num_stages)
    throw FormatError(path, "(top level)", std::to_string(st.added.size()) + " stages listed, --stages is " + std::to_string(o.num_stages));
  std::vector<int32_t> acc;
  for (size_t s = 0; s < st.added.size(); ++s) {
    std::vector<int32_t> vis;
    if (o.incre_only && s > 0) {
      vis = st.added[s];
    } else {
      acc.insert(acc.end(), st.added[s].begin(), st.added[s].end());
      vis = acc;
    }
    vis.insert(vis.end(), specials.begin(), specials.end());
    std::sort(vis.begin(), vis.end());
    st.visible.push_back(vis);
  }
  return st;
}

std::vector<std::string> names(const io::Vocab& vocab, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(vocab.token(id));
  return out;
}

// The gene embedding table: scBenchmark's `embedding.weight`, scGPT's `encoder.embedding.weight`.
at::Tensor gene_embedding(torch::nn::Module& m, int64_t vocab_size) {
  for (const char* name : {"embedding.weight", "encoder.embedding.weight"}) {
    auto params = m.named_parameters();
    if (at::Tensor* t = params.find(name); t != nullptr && t->dim() == 2 && t->size(0) == vocab_size) return *t;
  }
  throw Error("incremental: --freeze old-genes: the model has no gene embedding table of " + std::to_string(vocab_size) + " rows");
}

void load_weights(torch::nn::Module& m, const std::string& path) {
  const model::StateDict sd = model::load_state_dict(path);
  torch::NoGradGuard g;
  for (auto& [name, dst] : model::module_state(m)) {
    const at::Tensor* t = model::find(sd, name);
    if (t == nullptr) throw FormatError(path, name, "missing from the stage checkpoint");
    if (t->sizes() != dst.sizes()) throw FormatError(path, name, "shape differs from the model's");
    at::Tensor d = dst;
    d.copy_(*t);
  }
}

struct Method {
  std::string name;
  std::vector<std::vector<int32_t>> visible;  // per stage (sorted)
  std::vector<std::vector<int64_t>> cells;    // per stage
  bool carry = false, freeze = false;
  std::string stage0_from;                    // another method whose stage 0 this one shares
};

}  // namespace

nlohmann::json run_incremental(const IncrementalOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  if (o.optimizer != "fresh" && o.optimizer != "carry") throw Error("incremental: --optimizer '" + o.optimizer + "': expected fresh or carry");
  if (!(o.base_cells > 0 && o.base_cells < 1) && o.stages.num_stages > 1)
    throw Error("incremental: --base-cells must be in (0, 1)");
  if (!(o.eval_ratio > 0 && o.eval_ratio < 1)) throw Error("incremental: --eval-ratio must be in (0, 1)");
  if (o.stages.incre_only && o.stages.keep_base_id) throw Error("incremental: --incre-only and --keep-base-id exclude each other");
  const store::CellStore store = store::CellStore::open(o.store);
  const io::Vocab vocab = io::Vocab::load(o.store + "/vocab.json");
  nlohmann::json args = read_json(o.model_dir + "/args.json");
  if (fs::exists(o.model_dir + "/vocab.json")) {
    const io::Vocab mv = io::Vocab::load(o.model_dir + "/vocab.json");
    if (mv.tokens() != vocab.tokens())
      throw Error(o.model_dir + "/vocab.json: differs from the store's vocabulary " + o.store +
                  "/vocab.json (ingest the cells on the model's vocabulary: scfm ingest --vocab)");
  }
  const std::string stages_path = o.out_dir + "/stages.json";
  if (fs::exists(o.out_dir) && !fs::is_empty(o.out_dir) && !o.resume)
    throw Error(o.out_dir + ": not empty; pass --resume to continue that run, or choose a new --out");

  const int S = o.stages.num_stages;
  const data::ValueTransform transform = train::pretrain_value_transform(o.train, store);
  CellSplit cells = split_cells(store.n_cells(), S, o.eval_ratio, o.base_cells, o.max_eval_cells, o.stages.seed);
  std::vector<int64_t> train_cells;
  for (const auto& v : cells.stages) train_cells.insert(train_cells.end(), v.begin(), v.end());
  train_cells = sorted(train_cells);

  // the gene split
  std::vector<int32_t> specials;
  for (int64_t i = 0; i < vocab.size(); ++i)
    if (vocab.is_special(static_cast<int32_t>(i))) specials.push_back(static_cast<int32_t>(i));
  const std::vector<int32_t> genes = [&] {
    std::vector<int32_t> g;
    for (int32_t id : present_genes(store))
      if (!vocab.is_special(id)) g.push_back(id);
    return g;
  }();
  data::ImportantGenes important;
  Importance imp;
  std::vector<int64_t> held_per_stage;
  data::GeneStages st;
  if (!o.stages_file.empty()) {
    st = stages_from_file(o.stages_file, vocab, specials, o.stages);
  } else {
    if (!o.importance_label.empty() && S > 1) {
      imp = store_importance(store, train_cells, o, transform, vocab);
      important = data::select_important(imp.rankings, o.importance_top, o.keep_rank1, o.keep_rank2);
      held_per_stage = data::aggregate_counts(important.per_list, S - 1);
    }
    st = data::make_gene_stages(genes, specials, S > 1 ? important.genes : std::vector<int32_t>{}, held_per_stage, o.stages);
  }
  // every stage's gene set, and the cumulative input after each stage
  std::vector<int32_t> set_of_token(static_cast<size_t>(vocab.size()), -1);
  for (int s = 0; s < S; ++s)
    for (int32_t g : st.added[s])
      if (!vocab.is_special(g)) set_of_token[static_cast<size_t>(g)] = s;
  std::vector<std::vector<int32_t>> eval_input(static_cast<size_t>(S));
  {
    std::set<int32_t> acc(specials.begin(), specials.end());
    for (int s = 0; s < S; ++s) {
      acc.insert(st.visible[s].begin(), st.visible[s].end());
      eval_input[s].assign(acc.begin(), acc.end());
    }
  }

  nlohmann::json split = {{"num_stages", S}, {"seed", o.stages.seed}, {"base_ratio", o.stages.base_ratio},
                          {"mode", o.stages.incre_only ? "incre_only" : o.stages.keep_base_id ? "keep_base_id" : "cumulative"},
                          {"stages_file", o.stages_file}, {"n_store_genes", genes.size()}, {"eval_cells", cells.eval.size()}};
  for (int s = 0; s < S; ++s) {
    nlohmann::json js = {{"added", names(vocab, st.added[s])}, {"n_added", st.added[s].size()},
                         {"n_visible", st.visible[s].size() - specials.size()}, {"n_cells", cells.stages[s].size()}};
    split["stages"].push_back(js);
  }
  if (!imp.groups.empty()) {
    split["importance"] = {{"label", o.importance_label}, {"group", o.importance_group}, {"groups", imp.groups},
                           {"held_out", names(vocab, important.genes)}, {"per_group", important.per_list},
                           {"held_per_stage", held_per_stage}};
  }
  fs::create_directories(o.out_dir);  // only now: bad options leave nothing behind
  if (fs::exists(stages_path)) {
    const nlohmann::json before = read_json(stages_path);
    if (before != split)
      throw Error(stages_path + ": the stage split differs from the one these options give; resume with the run's options");
  } else {
    write_json(stages_path, split);
  }

  // the methods
  std::vector<Method> methods;
  Method inc{"incremental", st.visible, cells.stages, o.optimizer == "carry", o.freeze_old_genes, ""};
  methods.push_back(inc);
  if (o.baselines && S > 1 && !o.stages.incre_only) {
    Method naive{"naive", {}, cells.stages, false, false, "incremental"};
    naive.visible.push_back(st.visible[0]);
    for (int s = 1; s < S; ++s) {
      std::vector<int32_t> v = st.added[s];
      v.insert(v.end(), specials.begin(), specials.end());
      std::sort(v.begin(), v.end());
      naive.visible.push_back(v);
    }
    methods.push_back(naive);
  }
  if (o.baselines && S > 1) {
    Method joint{"joint", {eval_input[S - 1]}, {train_cells}, false, false, ""};
    methods.push_back(joint);
  }

  const model::InputConventions conv = model::input_conventions(args);
  MaskedEvalOptions eo;
  eo.max_len = o.train.batch.tokenizer.max_len;
  eo.cls_id = vocab.cls_id();
  eo.pad_id = vocab.pad_id();
  eo.cls_value = conv.cls_value;
  eo.pad_value = conv.pad_value;
  eo.mask_value = conv.mask_value;
  eo.mask_ratio = o.eval_mask_ratio;
  eo.seed = o.stages.seed ^ 0xE7A1ULL;
  eo.pad_to_max_len = o.train.batch.pad_to_max_len;
  eo.device = o.train.device;
  eo.transform = transform;

  nlohmann::json results = {{"num_stages", S}, {"split", split}, {"method_order", nlohmann::json::array()}};
  for (int s = 0; s < S; ++s)
    results["gene_sets"].push_back({{"name", s == 0 ? std::string("base") : "stage " + std::to_string(s)},
                                    {"n_genes", st.added[s].size()}});
  auto eval_json = [&](model::PretrainModel& m, int input_stage) {
    const GeneSetErrors e = masked_mse_by_gene_set(m, store, cells.eval, eval_input[input_stage], set_of_token, S, eo);
    nlohmann::json j = {{"input_stage", input_stage}, {"mse", nlohmann::json::array()}, {"n_masked", e.n}};
    double sse = 0;
    int64_t n = 0;
    for (int k = 0; k < S; ++k) {
      j["mse"].push_back(k <= input_stage && e.n[k] > 0 ? nlohmann::json(e.mse(k)) : nlohmann::json(nullptr));
      if (k <= input_stage) sse += e.sse[k], n += e.n[k];
    }
    j["mse_all"] = n > 0 ? nlohmann::json(sse / static_cast<double>(n)) : nlohmann::json(nullptr);
    return j;
  };

  for (const Method& m : methods) {
    const std::string dir = o.out_dir + "/" + m.name;
    fs::create_directories(dir);
    at::manual_seed(static_cast<int64_t>(o.train.seed));  // the same initial weights for every method
    std::unique_ptr<model::PretrainModel> model =
        o.skip_stage0 && m.name == "incremental" ? model::load_pretrain_model(o.model_dir) : model::make_pretrain_model(args, vocab);
    torch::nn::Module& module = model->module();
    nlohmann::json evals = nlohmann::json::array();
    const int n_stages = static_cast<int>(m.visible.size());
    for (int s = 0; s < n_stages; ++s) {
      const std::string stage_dir = dir + "/stage" + std::to_string(s);
      const std::string done = dir + "/model-stage" + std::to_string(s) + ".pt";
      const std::string eval_path = dir + "/eval-stage" + std::to_string(s) + ".json";
      if (s == 0 && !m.stage0_from.empty()) {
        // the shared stage 0: its weights and its evaluation
        const std::string from = o.out_dir + "/" + m.stage0_from;
        load_weights(module, from + "/model-stage0.pt");
        evals.push_back(read_json(from + "/eval-stage0.json"));
        continue;
      }
      if (fs::exists(done)) {
        load_weights(module, done);
      } else if (s == 0 && o.skip_stage0) {
        model::save_state_dict(model::module_state(module), done);  // the given base model is stage 0
      } else {
        train::PretrainOptions t = o.train;
        t.out_dir = stage_dir;
        t.train_cells = m.cells[s];
        t.valid_cells = cells.eval;
        t.batch.tokenizer.genes = m.visible[s];
        if (s > 0) t.schedule.warmup_steps = 0;  // warm-up in stage 0 only, as the original
        const int64_t per_step = t.batch_size * std::max<int64_t>(1, t.grad_accu_steps);
        t.schedule.total_steps = t.epochs * ((static_cast<int64_t>(m.cells[s].size()) + per_step - 1) / per_step);
        t.resume = true;  // a stage folder holds only this run's state (a non-empty --out needs --resume)
        if (m.carry && s > 0 && fs::exists(dir + "/stage" + std::to_string(s - 1) + "/train_state.pt"))
          t.init_optimizer_state = dir + "/stage" + std::to_string(s - 1) + "/train_state.pt";
        at::Tensor emb, rows, fixed;
        if (m.freeze && s > 0) {
          std::vector<int64_t> old;
          for (int k = 0; k < s; ++k)
            for (int32_t g : st.added[k]) old.push_back(g);
          emb = gene_embedding(module, vocab.size());
          rows = at::tensor(old, at::kLong);
          fixed = emb.index_select(0, rows.to(emb.device())).detach().clone();
          // the trainer moves the module to its device after this (the handle follows the
          // parameter), so the rows and values move on use; .to() is free on the same device
          t.before_step = [emb, rows] {
            if (emb.grad().defined()) {
              at::Tensor g = emb.grad();
              g.index_fill_(0, rows.to(g.device()), 0.0);
            }
          };
          t.after_step = [emb, rows, fixed] {
            torch::NoGradGuard ng;
            at::Tensor e = emb;
            e.index_copy_(0, rows.to(e.device()), fixed.to(e.device()));
          };
        }
        std::cerr << "incremental: " << m.name << " stage " << s << ": " << m.cells[s].size() << " cells, "
                  << m.visible[s].size() - specials.size() << " genes visible\n";
        train::pretrain(*model, store, nullptr, vocab, t);
        model::save_state_dict(model::module_state(module), done);
      }
      if (fs::exists(eval_path)) {
        evals.push_back(read_json(eval_path));
      } else {
        nlohmann::json e = eval_json(*model, m.name == "joint" ? S - 1 : s);
        write_json(eval_path, e);
        evals.push_back(e);
      }
    }
    nlohmann::json mj = {{"optimizer", m.carry ? "carry" : "fresh"}, {"freeze_old_genes", m.freeze}};
    if (m.name == "joint") {
      // the joint model on every stage's input: the reference row of each stage
      nlohmann::json rows = nlohmann::json::array();
      for (int s = 0; s < S; ++s) {
        const std::string p = dir + "/eval-input" + std::to_string(s) + ".json";
        nlohmann::json e;
        if (fs::exists(p)) {
          e = read_json(p);
        } else {
          e = eval_json(*model, s);
          write_json(p, e);
        }
        rows.push_back(e);
      }
      mj["stages"] = rows;
    } else {
      mj["stages"] = evals;
      // forgetting of set k: MSE after the last stage minus MSE after stage k
      nlohmann::json per = nlohmann::json::array();
      double sum = 0;
      int cnt = 0;
      for (int k = 0; k + 1 < S; ++k) {
        const auto& a = evals[S - 1]["mse"][k];
        const auto& b = evals[k]["mse"][k];
        if (a.is_null() || b.is_null()) {
          per.push_back(nullptr);
          continue;
        }
        per.push_back(a.get<double>() - b.get<double>());
        sum += per.back().get<double>();
        ++cnt;
      }
      if (S > 1) mj["forgetting"] = {{"per_set", per}, {"mean", cnt ? nlohmann::json(sum / cnt) : nlohmann::json(nullptr)}};
    }
    results["methods"][m.name] = mj;
    results["method_order"].push_back(m.name);
  }
  results["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  eval::write_report(o.out_dir, incremental_report(results));
  return results;
}

}  // namespace scfm::tasks
