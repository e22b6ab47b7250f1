// scfm.embed / classify / map / metrics on arrays in hand: the C++ cores the command line runs
// (tasks/*.h), with the GIL released while they compute. Options carry the command line's names
// (max_length for --max-length, ...); defaults are the command line's.
#include <pybind11/stl.h>

#include "convert.h"
#include "scfm/tasks/classify.h"
#include "scfm/tasks/embed.h"
#include "scfm/tasks/map.h"
#include "scfm/tasks/metrics.h"

namespace scfm::python {
namespace {

py::tuple embed(const std::string& model_dir, const py::tuple& matrix, const std::vector<std::string>& genes,
                const std::string& name, const py::kwargs& kwargs) {
  tasks::EmbedOptions o;
  o.model_dir = model_dir;
  Options opt(kwargs, "embed");
  opt.get("key", o.key);
  opt.get("max_length", o.max_length);
  opt.get("batch_size", o.batch_size);
  opt.get("block_cells", o.block_cells);
  opt.get("pool", o.pool);
  opt.get("normalize_l2", o.normalize_l2);
  opt.get("sample", o.sample);
  opt.get("seed", o.seed);
  opt.get("allow_partial", o.allow_partial);
  opt.finish();
  Rows rows = rows_of(matrix, name);
  tasks::CellEmbedding e;
  {
    py::gil_scoped_release release;
    e = tasks::embed_cells(o, *rows.source, genes, name);
  }
  return py::make_tuple(to_numpy(e.x, e.n, e.width), to_python(e.summary), to_python(e.uns));
}

py::tuple classify(const py::array& x, const std::vector<std::string>& labels, const std::string& name,
                   const py::object& counts, bool predict_cells, const py::kwargs& kwargs) {
  tasks::ClassifyOptions o;
  Options opt(kwargs, "classify");
  opt.get("embedding", o.embedding);
  opt.get("label_col", o.label_col);
  opt.get("out_dir", o.out_dir);
  opt.get("trials", o.trials);
  opt.get("train_ratio", o.train_ratio);
  opt.get("valid_ratio", o.valid_ratio);
  opt.get("k", o.knn.k);
  opt.get("epochs", o.linear.epochs);
  opt.get("eval_every", o.linear.eval_every);
  opt.get("lr", o.linear.lr);
  opt.get("batch_size", o.linear.batch_size);
  std::string probe_input = "standardized";
  opt.get("probe_input", probe_input);
  opt.get("n_top_genes", o.pca.n_top_genes);
  opt.get("n_comps", o.pca.n_comps);
  opt.finish();
  if (probe_input != "standardized" && probe_input != "raw")
    throw Error("classify: probe_input '" + probe_input + "': expected standardized or raw");
  o.standardize = probe_input == "standardized";
  o.baseline = !counts.is_none();
  const eval::Embedded emb = embedded_of(x, name, o.embedding, labels, true);
  Rows rows;
  if (o.baseline) rows = rows_of(counts.cast<py::tuple>(), name + ".X");
  tasks::ClassifyRun run;
  {
    py::gil_scoped_release release;
    run = tasks::classify_embedded(o, emb, rows.source.get(), predict_cells);
  }
  return py::make_tuple(to_python(run.results), run.knn_pred, run.knn_split);
}

py::tuple map(const py::array& ref_x, const std::vector<std::string>& ref_labels, const std::string& ref_name,
              const py::array& query_x, const py::object& query_labels, const std::string& query_name,
              const py::kwargs& kwargs) {
  tasks::MapOptions o;
  Options opt(kwargs, "map");
  opt.get("key", o.key);
  opt.get("label_col", o.label_col);
  opt.get("k", o.k);
  std::string index = "auto", vote = "majority", metric = "cosine";
  opt.get("index", index);
  opt.get("vote", vote);
  opt.get("metric", metric);
  opt.get("save_index", o.save_index);
  opt.get("index_file", o.index_file);
  opt.get("report_dir", o.report_dir);
  opt.get("seed", o.seed);
  opt.finish();
  o.index = tasks::parse_map_index(index);
  o.vote = tasks::parse_map_vote(vote);
  o.metric = tasks::parse_map_metric(metric);
  eval::Embedded ref = embedded_of(ref_x, ref_name, o.key, ref_labels, true);
  const bool q_labelled = !query_labels.is_none();
  const eval::Embedded qry = embedded_of(
      query_x, query_name, o.key, q_labelled ? query_labels.cast<std::vector<std::string>>() : std::vector<std::string>{},
      q_labelled);
  tasks::MapResult r;
  {
    py::gil_scoped_release release;
    r = tasks::map_embedded(o, std::move(ref), qry);
  }
  py::array_t<int32_t> codes(static_cast<py::ssize_t>(r.label.size()));
  std::copy(r.label.begin(), r.label.end(), codes.mutable_data());
  py::array_t<float> share(static_cast<py::ssize_t>(r.share.size())), dist(static_cast<py::ssize_t>(r.distance.size()));
  std::copy(r.share.begin(), r.share.end(), share.mutable_data());
  std::copy(r.distance.begin(), r.distance.end(), dist.mutable_data());
  return py::make_tuple(r.classes, codes, share, dist, to_python(r.settings), to_python(r.summary));
}

py::tuple metrics(int64_t n, const std::vector<std::pair<std::string, py::array>>& embeddings,
                  const py::object& batch, const std::vector<std::string>& labels, const std::string& name,
                  const py::object& counts, const py::kwargs& kwargs) {
  tasks::MetricsOptions o;
  Options opt(kwargs, "metrics");
  opt.get("batch_col", o.batch_col);
  opt.get("label_col", o.label_col);
  opt.get("out_dir", o.out_dir);
  opt.get("pseudo_batches", o.pseudo_batches);
  opt.get("n_top_genes", o.pca.n_top_genes);
  opt.get("n_comps", o.pca.n_comps);
  opt.get("harmony_theta", o.harmony.theta);
  opt.get("harmony_lambda", o.harmony.lambda);
  opt.get("harmony_clusters", o.harmony.n_clusters);
  opt.get("harmony_max_iter", o.harmony.max_iter_harmony);
  opt.get("n_neighbors", o.scib.n_neighbors);
  opt.get("resolutions", o.scib.resolutions);
  opt.get("seed", o.scib.leiden_seed);
  opt.finish();
  o.harmony.seed = o.scib.leiden_seed;
  o.baselines = !counts.is_none();
  tasks::MetricsInput in;
  in.name = name;
  in.n = n;
  if (o.pseudo_batches <= 0) {
    if (batch.is_none()) throw Error("metrics: " + name + ": no batch column");
    in.batch = eval::required_codes(name, o.batch_col, batch.cast<std::vector<std::string>>(), "batch");
  }
  in.label = eval::required_codes(name, o.label_col, labels, "label");
  for (const auto& [key, x] : embeddings) {
    eval::Embedded e = embedded_of(x, name, key, {}, false);
    if (e.n != n) throw FormatError(name, "obsm/" + key, "expected a 2-D array with one row per cell (" + std::to_string(n) + ")");
    in.embeddings.push_back({key, std::move(e.x), e.dim});
  }
  Rows rows;
  if (o.baselines) {
    rows = rows_of(counts.cast<py::tuple>(), name + ".X");
    in.counts = rows.source.get();
  }
  tasks::MetricsRun run;
  {
    py::gil_scoped_release release;
    run = tasks::integration_metrics(o, std::move(in));
  }
  py::list methods;
  for (const auto& m : run.methods)
    methods.append(py::make_tuple(m.name, m.key, to_numpy(m.x, run.n, m.dim), m.clusters));
  return py::make_tuple(to_python(run.results), methods);
}

}  // namespace

void bind_tasks(py::module_& m) {
  m.def("embed", &embed, py::arg("model_dir"), py::arg("matrix"), py::arg("genes"), py::arg("name"));
  m.def("classify", &classify, py::arg("x"), py::arg("labels"), py::arg("name"), py::arg("counts"),
        py::arg("predict_cells"));
  m.def("map", &map, py::arg("ref_x"), py::arg("ref_labels"), py::arg("ref_name"), py::arg("query_x"),
        py::arg("query_labels"), py::arg("query_name"));
  m.def("metrics", &metrics, py::arg("n"), py::arg("embeddings"), py::arg("batch"), py::arg("labels"),
        py::arg("name"), py::arg("counts"));
}

}  // namespace scfm::python
