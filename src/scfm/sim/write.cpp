#include "scfm/sim/write.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <thread>

#include "scfm/io/hdf5.h"
#include "scfm/store/writer.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"

namespace scfm::sim {

namespace {

// Calls `sink(start, block, labels)` for consecutive blocks in cell order; blocks are generated
// `threads` at a time.
void for_each_block(const SimDesign& d, const WriteOptions& o,
                    const std::function<void(int64_t, const io::CsrMatrix&, const std::vector<CellLabels>&)>& sink) {
  const int64_t n = d.options.n_cells;
  const int64_t block = std::max<int64_t>(1, o.block_cells);
  const int threads = std::max(1, o.threads);
  std::vector<io::CsrMatrix> blocks(threads);
  std::vector<std::vector<CellLabels>> labels(threads);
  for (int64_t start = 0; start < n; start += block * threads) {
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(threads);
    int used = 0;
    for (int t = 0; t < threads; ++t) {
      const int64_t s = start + t * block;
      if (s >= n) break;
      ++used;
      const int64_t c = std::min(block, n - s);
      auto work = [&, t, s, c] {
        try {
          blocks[t] = simulate_block(d, s, c, &labels[t]);
        } catch (...) {
          errors[t] = std::current_exception();
        }
      };
      if (threads == 1) work();
      else pool.emplace_back(work);
    }
    for (auto& th : pool) th.join();
    for (int t = 0; t < used; ++t) {
      if (errors[t]) std::rethrow_exception(errors[t]);
      sink(start + t * block, blocks[t], labels[t]);
    }
  }
}

io::Node f32_matrix(const std::vector<std::vector<double>>& rows, size_t n_cols) {
  std::vector<float> v;
  v.reserve(rows.size() * n_cols);
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return io::make_array(io::Array::from(v, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(n_cols)}));
}

// A 1-d chunked, extendible dataset appended to block by block.
class Appender {
 public:
  Appender(hid_t group, const std::string& name, hid_t file_type, hid_t mem_type, hsize_t chunk)
      : mem_type_(mem_type) {
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunks[1] = {chunk};
    io::h5::Handle space(H5Screate_simple(1, dims, maxdims));
    io::h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl, 1, chunks);
    ds_ = io::h5::Handle(H5Dcreate2(group, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    if (!ds_.valid()) io::h5::fail(group, name, "cannot create the dataset");
  }
  void append(const void* data, hsize_t n) {
    if (n == 0) return;
    hsize_t new_size[1] = {size_ + n};
    if (H5Dset_extent(ds_, new_size) < 0) io::h5::fail(ds_, "", "cannot extend the dataset");
    io::h5::Handle fspace(H5Dget_space(ds_));
    hsize_t start[1] = {size_}, count[1] = {n};
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
    io::h5::Handle mspace(H5Screate_simple(1, count, nullptr));
    if (H5Dwrite(ds_, mem_type_, mspace, fspace, H5P_DEFAULT, data) < 0) io::h5::fail(ds_, "", "cannot write");
    size_ += n;
  }
  // Closes the dataset, throwing if a write HDF5 held back (its chunk cache) fails now.
  void finish() { ds_.close(); }

 private:
  io::h5::Handle ds_;
  hid_t mem_type_;
  hsize_t size_ = 0;
};

std::vector<std::string> batch_names(const SimDesign& d) {
  std::vector<std::string> v;
  for (int b = 0; b < d.options.n_batches; ++b) v.push_back("batch" + std::to_string(b));
  return v;
}

}  // namespace

io::Node design_uns(const SimDesign& d, const nlohmann::ordered_json& provenance) {
  const auto& o = d.options;
  const size_t n_genes = d.model.genes.size();
  io::Node u = io::make_dict();
  u.set("seed", io::make_scalar<uint64_t>(o.seed));
  u.set("n_cells", io::make_scalar<int64_t>(o.n_cells));
  u.set("n_batches", io::make_scalar<int64_t>(o.n_batches));
  u.set("batch_strength", io::make_scalar<double>(o.batch_strength));
  u.set("n_perturb_genes", io::make_scalar<int64_t>(o.n_perturb_genes));
  u.set("program_size", io::make_scalar<int64_t>(o.program_size));
  u.set("program_strength", io::make_scalar<double>(o.program_strength));
  u.set("min_dispersion", io::make_scalar<double>(d.model.fit.min_dispersion));
  u.set("max_dispersion", io::make_scalar<double>(d.model.fit.max_dispersion));
  u.set("zero_inflation", io::make_scalar<bool>(d.model.fit.zero_inflation));
  u.set("provenance", io::make_string(provenance.dump()));
  std::vector<std::string> names;
  std::vector<double> prop, lm, ls;
  std::vector<int64_t> nref;
  std::vector<std::vector<double>> rel, disp, drop;
  for (const auto& t : d.model.types) {
    names.push_back(t.name);
    prop.push_back(t.proportion);
    lm.push_back(t.log_library_mean);
    ls.push_back(t.log_library_sd);
    nref.push_back(t.n_reference_cells);
    rel.push_back(t.rel_mean);
    disp.push_back(t.dispersion);
    drop.push_back(t.dropout);
  }
  u.set("cell_types", io::make_string_array(names));
  u.set("type_proportion", io::make_array(io::Array::from(prop)));
  u.set("type_reference_cells", io::make_array(io::Array::from(nref)));
  u.set("log_library_mean", io::make_array(io::Array::from(lm)));
  u.set("log_library_sd", io::make_array(io::Array::from(ls)));
  u.set("rel_mean", f32_matrix(rel, n_genes));
  u.set("dispersion", f32_matrix(disp, n_genes));
  u.set("dropout", f32_matrix(drop, n_genes));
  u.set("batches", io::make_string_array(batch_names(d)));
  u.set("batch_log_effect", f32_matrix(d.batch_log_effect, n_genes));
  io::Node p = io::make_dict();
  std::vector<std::string> targets;
  std::vector<int64_t> target_idx;
  std::vector<double> kd;
  std::vector<int32_t> pg;
  std::vector<float> pfc;
  const int64_t size = d.perturbations.empty() ? 0 : static_cast<int64_t>(d.perturbations[0].program_genes.size());
  for (const auto& q : d.perturbations) {
    targets.push_back(d.model.genes[q.target]);
    target_idx.push_back(q.target);
    kd.push_back(q.knockdown);
    pg.insert(pg.end(), q.program_genes.begin(), q.program_genes.end());
    pfc.insert(pfc.end(), q.program_log_fc.begin(), q.program_log_fc.end());
  }
  const int64_t n_p = static_cast<int64_t>(d.perturbations.size());
  p.set("targets", io::make_string_array(targets));
  p.set("target_index", io::make_array(io::Array::from(target_idx)));
  p.set("knockdown", io::make_array(io::Array::from(kd)));
  p.set("program_genes", io::make_array(io::Array::from(pg, {n_p, size})));
  p.set("program_log_fc", io::make_array(io::Array::from(pfc, {n_p, size})));
  if (!d.combinations.empty()) {
    std::vector<int64_t> pairs;
    std::vector<std::string> names;
    for (size_t k = 0; k < d.combinations.size(); ++k) {
      pairs.push_back(d.combinations[k].first);
      pairs.push_back(d.combinations[k].second);
      names.push_back(perturbation_name(d, static_cast<int32_t>(d.perturbations.size() + k)));
    }
    p.set("combinations", io::make_string_array(names));
    p.set("combination_pairs", io::make_array(io::Array::from(pairs, {static_cast<int64_t>(d.combinations.size()), 2})));
    p.set("interaction_strength", io::make_scalar<double>(d.options.interaction_strength));
  }
  u.set("perturbations", std::move(p));
  if (!d.modules.empty()) {  // also var["module"]
    std::vector<int32_t> mg;
    for (const auto& m : d.modules) mg.insert(mg.end(), m.begin(), m.end());
    io::Node m = io::make_dict();
    m.set("genes", io::make_array(io::Array::from(mg, {static_cast<int64_t>(d.modules.size()), static_cast<int64_t>(d.modules[0].size())})));
    m.set("strength", io::make_scalar<double>(d.options.module_strength));
    u.set("modules", std::move(m));
  }
  return u;
}

void write_simulated_h5ad(const SimDesign& d, const std::string& path, const WriteOptions& o) {
  const int64_t n = d.options.n_cells;
  const int64_t n_genes = static_cast<int64_t>(d.model.genes.size());
  // obs first: the labels are cheap (no gene draws)
  std::vector<std::string> index(n), types(n), batches(n), perts(n), conditions(n);
  std::vector<double> library(n);
  const auto bnames = batch_names(d);
  char name[32];
  for (int64_t i = 0; i < n; ++i) {
    const CellLabels l = cell_labels(d, i);
    std::snprintf(name, sizeof name, "sim%09lld", static_cast<long long>(i));
    index[i] = name;
    types[i] = d.model.types[l.type].name;
    batches[i] = bnames[l.batch];
    perts[i] = perturbation_name(d, l.perturbation);
    conditions[i] = condition_name(d, l.perturbation);
    library[i] = l.library;
  }
  io::AnnData ad;
  ad.path = path;
  ad.root.is_group = true;
  ad.root.set_attr("encoding-type", io::Array::string_scalar("anndata"));
  ad.root.set_attr("encoding-version", io::Array::string_scalar("0.1.0"));
  ad.root.set("layers", io::make_dict());
  io::Node obs = io::make_dataframe("_index", std::move(index));
  io::dataframe_set_column(obs, "cell_type", io::make_categorical_from_labels(types));
  io::dataframe_set_column(obs, "batch", io::make_categorical_from_labels(batches));
  io::dataframe_set_column(obs, "perturbation", io::make_categorical_from_labels(perts));
  io::dataframe_set_column(obs, "library_size", io::make_array(io::Array::from(library)));
  // GEARS's layout: obs condition ("ctrl", "A+ctrl", "A+B") and var gene_name
  io::dataframe_set_column(obs, "condition", io::make_categorical_from_labels(conditions));
  conditions.clear();
  types.clear();
  batches.clear();
  perts.clear();
  ad.root.set("obs", std::move(obs));
  ad.root.set("obsm", io::make_dict());
  ad.root.set("obsp", io::make_dict());
  io::Node uns = io::make_dict();
  uns.set("simulate", design_uns(d, o.provenance));
  ad.root.set("uns", std::move(uns));
  io::Node var = io::make_dataframe("_index", d.model.genes);
  io::dataframe_set_column(var, "gene_name", io::make_array(io::Array::from_strings(d.model.genes)));
  if (!d.modules.empty()) {  // the planted co-expression module of each gene, -1 outside them
    std::vector<int32_t> module(static_cast<size_t>(n_genes), -1);
    for (size_t m = 0; m < d.modules.size(); ++m)
      for (int32_t g : d.modules[m]) module[g] = static_cast<int32_t>(m);
    io::dataframe_set_column(var, "module", io::make_array(io::Array::from(module)));
  }
  ad.root.set("var", std::move(var));
  ad.root.set("varm", io::make_dict());
  ad.root.set("varp", io::make_dict());

  util::AtomicPath out(path);
  io::write_h5ad(ad, out.temp());
  ad = io::AnnData();
  {
    io::h5::Handle file = io::h5::open_file(out.temp(), true);
    io::h5::Handle x = io::h5::create_group(file, "X");
    io::h5::write_attr_string(x, "encoding-type", "csr_matrix");
    io::h5::write_attr_string(x, "encoding-version", "0.1.0");
    io::h5::write_attr(x, "shape", io::Array::from(std::vector<int64_t>{n, n_genes}));
    Appender data(x, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1 << 18);
    // One index width for both arrays, as scipy keeps them (a CSR with int64 indptr and int32
    // indices fails scipy's column indexing, adata[:, genes]): int32 while nnz <= cells x genes fits
    const bool wide = n * n_genes >= static_cast<int64_t>(INT32_MAX);
    Appender indices(x, "indices", wide ? H5T_STD_I64LE : H5T_STD_I32LE, H5T_NATIVE_INT32, 1 << 18);
    Appender indptr(x, "indptr", wide ? H5T_STD_I64LE : H5T_STD_I32LE, H5T_NATIVE_INT64, 1 << 16);
    int64_t nnz = 0;
    const int64_t zero = 0;
    indptr.append(&zero, 1);
    std::vector<int64_t> ptr;
    for_each_block(d, o, [&](int64_t, const io::CsrMatrix& m, const std::vector<CellLabels>&) {
      data.append(m.data.data(), m.data.size());
      indices.append(m.indices.data(), m.indices.size());
      ptr.assign(m.indptr.begin() + 1, m.indptr.end());
      for (auto& p : ptr) p += nnz;
      indptr.append(ptr.data(), ptr.size());
      nnz += m.nnz();
    });
    data.finish();
    indices.finish();
    indptr.finish();
    x.close();
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw Error(path + ": cannot flush the output file");
    file.close();
  }
  out.commit();
}

int64_t write_simulated_store(const SimDesign& d, const io::Vocab& vocab, const std::string& path,
                              const WriteOptions& o) {
  const int64_t n_genes = static_cast<int64_t>(d.model.genes.size());
  // gene -> vocab id; var order need not be id order, so each row is re-sorted
  std::vector<int32_t> id(n_genes);
  int64_t n_unmatched = 0;
  for (int64_t g = 0; g < n_genes; ++g) {
    id[g] = vocab.id(d.model.genes[g]);
    if (id[g] < 0) ++n_unmatched;
  }
  store::StoreWriterOptions so;
  so.shard_cells = o.shard_cells;
  so.overwrite = o.overwrite;
  store::StoreWriter w(path, vocab, {"dataset", "barcode", "cell_type", "batch", "perturbation"}, so);
  const auto bnames = batch_names(d);
  std::vector<std::pair<int32_t, float>> row;
  std::vector<int32_t> ids;
  std::vector<float> values;
  std::vector<std::string> obs(5);
  obs[0] = "simulated";
  int64_t n_empty = 0;
  char name[32];
  for_each_block(d, o, [&](int64_t start, const io::CsrMatrix& m, const std::vector<CellLabels>& labels) {
    for (int64_t r = 0; r < m.n_rows; ++r) {
      row.clear();
      for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k)
        if (id[m.indices[k]] >= 0) row.emplace_back(id[m.indices[k]], m.data[k]);
      std::sort(row.begin(), row.end());
      ids.clear();
      values.clear();
      for (const auto& [i, v] : row) {
        if (!ids.empty() && ids.back() == i) values.back() += v;  // two genes, one vocab id
        else {
          ids.push_back(i);
          values.push_back(v);
        }
      }
      if (ids.empty()) {
        ++n_empty;
        continue;
      }
      std::snprintf(name, sizeof name, "sim%09lld", static_cast<long long>(start + r));
      obs[1] = name;
      obs[2] = d.model.types[labels[r].type].name;
      obs[3] = bnames[labels[r].batch];
      obs[4] = perturbation_name(d, labels[r].perturbation);
      w.add(ids.data(), values.data(), static_cast<int64_t>(ids.size()), obs);
    }
  });
  nlohmann::ordered_json info = o.provenance;
  info["simulate"] = {{"seed", d.options.seed},
                      {"n_cells", d.options.n_cells},
                      {"n_cells_all_zero", n_empty},
                      {"n_genes", n_genes},
                      {"n_genes_not_in_vocab", n_unmatched},
                      {"n_batches", d.options.n_batches},
                      {"batch_strength", d.options.batch_strength},
                      {"cell_types", nlohmann::ordered_json::array()},
                      {"perturbations", nlohmann::ordered_json::array()}};
  for (const auto& t : d.model.types)
    info["simulate"]["cell_types"].push_back(
        {{"name", t.name}, {"proportion", t.proportion}, {"log_library_mean", t.log_library_mean},
         {"log_library_sd", t.log_library_sd}});
  for (const auto& p : d.perturbations) {
    nlohmann::ordered_json prog = nlohmann::ordered_json::array();
    for (size_t j = 0; j < p.program_genes.size(); ++j)
      prog.push_back({{"gene", d.model.genes[p.program_genes[j]]}, {"log_fc", p.program_log_fc[j]}});
    info["simulate"]["perturbations"].push_back(
        {{"target", d.model.genes[p.target]}, {"knockdown", p.knockdown}, {"program", prog}});
  }
  if (!d.modules.empty()) {
    info["simulate"]["modules"] = nlohmann::ordered_json::array();
    for (const auto& m : d.modules) {
      nlohmann::ordered_json genes = nlohmann::ordered_json::array();
      for (int32_t g : m) genes.push_back(d.model.genes[g]);
      info["simulate"]["modules"].push_back(genes);
    }
  }
  w.set_ingest_info(info);
  const int64_t n_cells = w.n_cells();
  w.commit();
  return n_cells;
}

}  // namespace scfm::sim
