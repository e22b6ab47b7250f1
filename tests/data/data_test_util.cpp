#include "data_test_util.h"

#include <memory>
#include <sstream>
#include <stdexcept>

#include "scfm/io/h5ad.h"
#include "scfm/store/ingest.h"
#include "test_util.h"

namespace scfm::data::testing {

const PbmcStore& pbmc_store() {
  static test::TempDir* dir = new test::TempDir();  // lives for the process
  static const std::unique_ptr<PbmcStore> s = [] {
    const std::string path = test::real_data("pbmc_small.h5ad");
    io::Vocab vocab = io::Vocab::build({io::read_h5ad(path, {0}).var_names()});
    store::IngestOptions o;
    o.obs_columns = {"groups", "RNA_snn_res_1"};
    store::ingest({path}, vocab, *dir / "store", o);
    return std::unique_ptr<PbmcStore>(new PbmcStore{std::move(vocab), store::CellStore::open(*dir / "store")});
  }();
  return *s;
}

std::vector<CellInput> store_inputs(const store::CellStore& store, const std::vector<int64_t>& cells) {
  std::vector<CellInput> out;
  for (int64_t c : cells) {
    const store::CellRow r = store.row(c);
    out.push_back(CellInput{c, r.ids, r.values, r.n});
  }
  return out;
}

std::map<std::string, std::vector<double>> run_numpy_reference(const std::string& args) {
  const test::CommandResult r = test::run_python("data/numpy_reference.py", args);
  if (r.exit_code != 0) throw std::runtime_error("numpy_reference.py " + args + " failed:\n" + r.output);
  std::map<std::string, std::vector<double>> out;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string name;
    int64_t n = 0;
    if (!(ls >> name >> n)) continue;
    std::vector<double> v(static_cast<size_t>(n));
    for (auto& x : v) ls >> x;
    if (!ls) throw std::runtime_error("numpy_reference.py: bad line for " + name);
    out[name] = std::move(v);
  }
  return out;
}

BatchOptions default_options(const io::Vocab& vocab, int64_t max_len) {
  BatchOptions o;
  o.tokenizer.max_len = max_len;
  o.tokenizer.cls_id = vocab.cls_id();
  o.tokenizer.pad_id = vocab.pad_id();
  o.tokenizer.pad_value = -2.0f;
  o.mask.mask_ratio = 0.4;
  o.seed = 42;
  return o;
}

}  // namespace scfm::data::testing
