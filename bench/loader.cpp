// Tokenized, masked batches per second: the data loader on real cells.
//
//   build/bench/bench_loader
//
// Store: pbmc3k_decoupler.h5ad (160 real PBMC cells, ~950 non-zero genes each) ingested into a
// temporary store once. Each iteration runs one epoch of 1,280 cells (the 160 cells 8 times,
// shuffled by the Sampler) at max_len 512 (so every cell is subsampled), batch 64, mask ratio
// 0.4, padded to 512: 20 batches. Counters: batches/s and cells/s.
//  - BM_BuildBatch: the torch-free build_batch on the calling thread (the per-batch work).
//  - BM_Loader/threads: the Loader (store reads + tokenize + mask + tensors), 1 and 2 workers,
//    consumer only draining: the ratio threads:2 / BM_BuildBatch is the loader's scaling.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "scfm/data/batch.h"
#include "scfm/data/sampler.h"
#include "scfm/data/torch/loader.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"

namespace {

namespace fs = std::filesystem;
using namespace scfm;

constexpr int64_t kMaxLen = 512;
constexpr int64_t kBatch = 64;
constexpr int64_t kRepeat = 8;

struct Fixture {
  std::string dir;
  io::Vocab vocab;
  std::unique_ptr<store::CellStore> store;
  std::vector<int64_t> epoch;
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static const std::unique_ptr<Fixture> f = [] {
    auto p = std::make_unique<Fixture>();
    Fixture& x = *p;
    std::string tmpl = (fs::temp_directory_path() / "scfm_bench_loader_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    x.dir = tmpl;
    const std::string path = std::string(SCFM_SOURCE_DIR) + "/tests/realdata/pbmc3k_decoupler.h5ad";
    x.vocab = io::Vocab::build({io::read_h5ad(path, {0}).var_names()});
    store::ingest({path}, x.vocab, x.dir + "/store");
    x.store = std::make_unique<store::CellStore>(store::CellStore::open(x.dir + "/store"));
    const int64_t n = x.store->n_cells();
    data::SamplerOptions so;
    so.seed = 1;
    data::Sampler s(n * kRepeat, so);
    for (int64_t i : s.indices(0)) x.epoch.push_back(i % n);
    return p;
  }();
  return *f;
}

data::BatchOptions batch_options(const io::Vocab& vocab) {
  data::BatchOptions o;
  o.tokenizer.max_len = kMaxLen;
  o.tokenizer.cls_id = vocab.cls_id();
  o.tokenizer.pad_id = vocab.pad_id();
  o.tokenizer.pad_value = -2.0f;
  o.mask.mask_ratio = 0.4;
  o.pad_to_max_len = true;
  o.seed = 0;
  return o;
}

void set_rates(benchmark::State& state, int64_t batches, int64_t cells) {
  state.counters["batches/s"] = benchmark::Counter(static_cast<double>(batches), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cells/s"] = benchmark::Counter(static_cast<double>(cells), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_BuildBatch(benchmark::State& state) {
  Fixture& f = fixture();
  const data::BatchOptions o = batch_options(f.vocab);
  const int64_t n_batches = static_cast<int64_t>(f.epoch.size()) / kBatch;
  int64_t epoch = 0;
  for (auto _ : state) {
    for (int64_t b = 0; b < n_batches; ++b) {
      std::vector<data::CellInput> cells;
      for (int64_t p = b * kBatch; p < (b + 1) * kBatch; ++p) {
        const store::CellRow r = f.store->row(f.epoch[p]);
        cells.push_back({f.epoch[p], r.ids, r.values, r.n});
      }
      data::Batch batch = data::build_batch(cells, o, epoch);
      benchmark::DoNotOptimize(batch.masked_values.data());
    }
    ++epoch;
  }
  set_rates(state, n_batches, n_batches * kBatch);
}

void BM_Loader(benchmark::State& state) {
  Fixture& f = fixture();
  data::LoaderOptions o;
  o.batch_size = kBatch;
  o.num_threads = static_cast<int>(state.range(0));
  o.prefetch = 4;
  o.batch = batch_options(f.vocab);
  int64_t epoch = 0, batches = 0;
  for (auto _ : state) {
    data::Loader l(*f.store, f.epoch, epoch++, o);
    batches = 0;
    while (auto b = l.next()) {
      benchmark::DoNotOptimize(b->masked_values.data_ptr());
      ++batches;
    }
  }
  state.SetLabel(std::to_string(o.num_threads) + " worker(s), max_len 512, batch 64");
  set_rates(state, batches, batches * kBatch);
}

BENCHMARK(BM_BuildBatch)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Loader)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
