#include "scfm/tasks/map.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/VectorTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <optional>
#include <thread>

#include <dlfcn.h>
#include <omp.h>

#include "scfm/eval/dataset.h"
#include "scfm/eval/metrics.h"
#include "scfm/eval/report.h"
#include "scfm/io/h5ad.h"
#include "scfm/util/atomic_file.h"
#include "scfm/tasks/uns.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"
#include "scfm/util/splitmix.h"

namespace scfm::tasks {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// names

MapMetric parse_map_metric(const std::string& s) {
  if (s == "cosine") return MapMetric::Cosine;
  if (s == "l2") return MapMetric::L2;
  throw Error("map: --metric must be cosine or l2, not '" + s + "'");
}
MapIndexKind parse_map_index(const std::string& s) {
  if (s == "flat") return MapIndexKind::Flat;
  if (s == "ivfpq") return MapIndexKind::IvfPq;
  if (s == "auto") return MapIndexKind::Auto;
  throw Error("map: --index must be flat, ivfpq or auto, not '" + s + "'");
}
MapVote parse_map_vote(const std::string& s) {
  if (s == "majority") return MapVote::Majority;
  if (s == "weighted") return MapVote::Weighted;
  throw Error("map: --vote must be majority or weighted, not '" + s + "'");
}
std::string to_string(MapMetric m) { return m == MapMetric::Cosine ? "cosine" : "l2"; }
std::string to_string(MapIndexKind k) {
  return k == MapIndexKind::Flat ? "flat" : k == MapIndexKind::IvfPq ? "ivfpq" : "auto";
}
std::string to_string(MapVote v) { return v == MapVote::Majority ? "majority" : "weighted"; }

// ---------------------------------------------------------------------------------------------
// plan

std::string IndexPlan::description() const {
  if (kind == MapIndexKind::Flat) return "Flat";
  std::string s;
  if (pca_dim > 0) s += (pca_rotation ? "PCAR" : "PCA") + std::to_string(pca_dim) + ",";
  s += "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(pq_m);
  if (pq_bits != 8 || fast_scan) s += "x" + std::to_string(pq_bits);
  return fast_scan ? s + "fs" : s;
}

IndexPlan plan_index(int64_t n, int64_t dim, MapIndexKind kind) {
  if (n <= 0) throw Error("map: the reference has no labelled cells to index");
  if (dim <= 0) throw Error("map: the embedding has no columns");
  IndexPlan p;
  if (kind == MapIndexKind::Auto) kind = n < kAutoFlatBelow ? MapIndexKind::Flat : MapIndexKind::IvfPq;
  p.kind = kind;
  if (kind == MapIndexKind::Flat) return p;
  // PQ trains 256 centroids per sub-quantizer: faiss wants >= 39 points per centroid.
  if (n < 10000)
    throw Error("map: --index ivfpq needs at least 10000 reference cells (product quantiser training), the "
                "reference has " + std::to_string(n) + "; use --index flat");
  p.pca_dim = dim > 64 ? 64 : 0;
  const int64_t width = p.pca_dim > 0 ? p.pca_dim : dim;
  for (int64_t m = std::min<int64_t>(32, width); m >= 1; --m)
    if (width % m == 0) {
      p.pq_m = m;
      break;
    }
  int64_t nlist = static_cast<int64_t>(std::llround(4.0 * std::sqrt(static_cast<double>(n))));
  nlist = std::clamp<int64_t>(nlist, 16, 65536);
  nlist = std::min<int64_t>(nlist, std::max<int64_t>(1, n / 39));
  p.nlist = nlist;
  p.train_size = std::min<int64_t>(n, std::max<int64_t>(64 * nlist, 50000));
  return p;
}

// ---------------------------------------------------------------------------------------------
// helpers

namespace {

// The first `count` entries of a seeded permutation of 0..n-1 (partial Fisher-Yates, SplitMix64).
std::vector<int64_t> seeded_sample(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  uint64_t state = util::splitmix64(seed ^ 0x6D61702D73616D70ULL);  // "map-samp"
  for (int64_t i = 0; i < count && i < n - 1; ++i) {
    state = util::splitmix64(state);
    const int64_t j = i + static_cast<int64_t>(state % static_cast<uint64_t>(n - i));
    std::swap(perm[i], perm[j]);
  }
  perm.resize(static_cast<size_t>(std::min(count, n)));
  return perm;
}

std::vector<float> normalized_copy(const float* x, int64_t n, int64_t dim) {
  std::vector<float> y(x, x + n * dim);
  faiss::fvec_renorm_L2(static_cast<size_t>(dim), static_cast<size_t>(n), y.data());
  return y;
}

// OpenBLAS on one thread for the guard's lifetime. faiss' IVF search calls BLAS (the coarse
// quantizer) from inside its own OpenMP threads; a multi-threaded OpenBLAS (Debian's pthread
// build) then fights faiss' spinning OpenMP threads for the cores, measured 100x slower on a
// loaded 2-core machine. faiss parallelises over queries itself, so nothing is lost.
class BlasOneThread {
 public:
  BlasOneThread() {
    set_ = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (set_ && get) {
      saved_ = get();
      if (saved_ > 1) set_(1);
    }
  }
  ~BlasOneThread() {
    if (set_ && saved_ > 1) set_(saved_);
  }
  BlasOneThread(const BlasOneThread&) = delete;
  BlasOneThread& operator=(const BlasOneThread&) = delete;

 private:
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  SetFn set_ = nullptr;
  int saved_ = 0;
};

// The innermost index under IndexPreTransform wrappers.
const faiss::Index* innermost(const faiss::Index* idx) {
  while (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(idx)) idx = pt->index;
  return idx;
}

bool starts_with_normalization(const faiss::Index* idx) {
  auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(idx);
  return pt && !pt->chain.empty() && dynamic_cast<const faiss::NormalizationTransform*>(pt->chain.front());
}

// faiss' raw distances -> the reported units (see the header).
float to_distance(float raw, MapMetric metric, bool inner_product) {
  if (inner_product) return 1.0f - raw;                                       // cosine, flat
  if (metric == MapMetric::Cosine) return 0.5f * std::max(0.0f, raw);         // |a-b|^2 / 2 = 1 - cos
  return std::sqrt(std::max(0.0f, raw));                                      // l2
}

// Scales one row to unit L2 norm (a zero row stays zero). Not faiss::fvec_renorm_L2: that one
// opens an OpenMP parallel region per call, far too costly for a single row.
void normalize_row(float* x, int64_t dim) {
  double s = 0;
  for (int64_t d = 0; d < dim; ++d) s += static_cast<double>(x[d]) * x[d];
  if (s <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int64_t d = 0; d < dim; ++d) x[d] *= inv;
}

// Exact distance between two rows in the reported units; for cosine the rows are unit vectors.
float exact_distance(const float* a, const float* b, int64_t dim, MapMetric metric) {
  if (metric == MapMetric::Cosine) return 1.0f - faiss::fvec_inner_product(a, b, static_cast<size_t>(dim));
  return std::sqrt(faiss::fvec_L2sqr(a, b, static_cast<size_t>(dim)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// exact search, re-ranking, recall

Neighbors exact_neighbors(const float* ref, int64_t n, const float* queries, int64_t nq, int64_t dim, int64_t k,
                          MapMetric metric) {
  Neighbors out;
  out.nq = nq;
  out.k = k;
  out.ids.assign(static_cast<size_t>(nq * k), -1);
  out.distance.assign(static_cast<size_t>(nq * k), std::numeric_limits<float>::infinity());
  if (nq == 0 || n == 0 || k == 0) return out;
  const int64_t kk = std::min(k, n);
  std::vector<float> d(static_cast<size_t>(nq * kk));
  std::vector<int64_t> ids(static_cast<size_t>(nq * kk));
  if (metric == MapMetric::Cosine) {
    const std::vector<float> r = normalized_copy(ref, n, dim), q = normalized_copy(queries, nq, dim);
    faiss::knn_inner_product(q.data(), r.data(), dim, nq, n, kk, d.data(), ids.data());
  } else {
    faiss::knn_L2sqr(queries, ref, dim, nq, n, kk, d.data(), ids.data());
  }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < kk; ++j) {
      out.ids[i * k + j] = ids[i * kk + j];
      out.distance[i * k + j] = to_distance(d[i * kk + j], metric, metric == MapMetric::Cosine);
    }
  return out;
}

Neighbors rerank_exact(const Neighbors& c, const float* ref, int64_t dim, const float* queries, int64_t k,
                       MapMetric metric) {
  Neighbors out;
  out.nq = c.nq;
  out.k = k;
  out.ids.assign(static_cast<size_t>(c.nq * k), -1);
  out.distance.assign(static_cast<size_t>(c.nq * k), std::numeric_limits<float>::infinity());
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> q(static_cast<size_t>(dim)), r(static_cast<size_t>(dim));
    std::vector<std::pair<float, int64_t>> cand;
    for (int64_t i = begin; i < end; ++i) {
      std::copy(queries + i * dim, queries + (i + 1) * dim, q.begin());
      if (metric == MapMetric::Cosine) normalize_row(q.data(), dim);
      cand.clear();
      for (int64_t j = 0; j < c.k; ++j) {
        const int64_t id = c.ids[i * c.k + j];
        if (id < 0) continue;
        std::copy(ref + id * dim, ref + (id + 1) * dim, r.begin());
        if (metric == MapMetric::Cosine) normalize_row(r.data(), dim);
        cand.emplace_back(exact_distance(q.data(), r.data(), dim, metric), id);
      }
      std::sort(cand.begin(), cand.end());
      cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
      for (int64_t j = 0; j < k && j < static_cast<int64_t>(cand.size()); ++j) {
        out.ids[i * k + j] = cand[j].second;
        out.distance[i * k + j] = cand[j].first;
      }
    }
  };
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), c.nq / 256));
  if (threads == 1) {
    work(0, c.nq);
    return out;
  }
  std::vector<std::thread> pool;
  const int64_t step = (c.nq + threads - 1) / threads;
  for (int64_t t = 0; t < threads; ++t)
    pool.emplace_back(work, std::min(c.nq, t * step), std::min(c.nq, (t + 1) * step));
  for (auto& t : pool) t.join();
  return out;
}

double recall_at_k(const Neighbors& approx, const Neighbors& exact, int64_t k) {
  if (approx.nq != exact.nq) throw Error("recall_at_k: query counts differ");
  if (approx.nq == 0 || k == 0) return 1.0;
  if (approx.k < k || exact.k < k) throw Error("recall_at_k: fewer than k neighbours");
  double total = 0;
  for (int64_t i = 0; i < approx.nq; ++i) {
    const int64_t* e = exact.ids.data() + i * exact.k;
    const int64_t* a = approx.ids.data() + i * approx.k;
    int64_t hit = 0;
    for (int64_t j = 0; j < k; ++j)
      if (a[j] >= 0 && std::find(e, e + k, a[j]) != e + k) ++hit;
    total += static_cast<double>(hit) / static_cast<double>(k);
  }
  return total / static_cast<double>(approx.nq);
}

// ---------------------------------------------------------------------------------------------
// votes

VoteResult vote(const int64_t* ids, const float* distance, int64_t k, const std::vector<int32_t>& ref_codes,
                int32_t n_classes, MapVote rule) {
  std::vector<double> score(static_cast<size_t>(n_classes), 0.0), dsum(static_cast<size_t>(n_classes), 0.0);
  double total = 0;
  int64_t found = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t id = ids[j];
    if (id < 0) continue;
    if (id >= static_cast<int64_t>(ref_codes.size())) throw Error("map: neighbour id out of range of the reference");
    const int32_t c = ref_codes[static_cast<size_t>(id)];
    if (c < 0 || c >= n_classes) continue;
    const double d = distance[j];
    const double w = rule == MapVote::Majority ? 1.0 : 1.0 / (std::max(0.0, d) + static_cast<double>(kVoteEps));
    score[c] += w;
    dsum[c] += d;
    total += w;
    ++found;
  }
  VoteResult r;
  if (found == 0) return r;
  for (int32_t c = 0; c < n_classes; ++c) {
    if (score[c] <= 0) continue;
    if (r.label < 0 || score[c] > score[r.label] ||
        (rule == MapVote::Majority && score[c] == score[r.label] && dsum[c] < dsum[r.label]))
      r.label = c;  // equal score and equal summed distance: the lower code (seen first) stays
  }
  r.share = static_cast<float>(score[r.label] / total);
  return r;
}

// ---------------------------------------------------------------------------------------------
// the index

NeighborIndex NeighborIndex::build(const float* x, int64_t n, int64_t dim, const IndexPlan& plan,
                                   const IndexBuildOptions& o) {
  if (n <= 0) throw Error("map: cannot build an index on an empty reference");
  NeighborIndex ni;
  ni.metric_ = o.metric;
  ni.kind_ = plan.kind;
  const int d = static_cast<int>(dim);
  try {
    if (plan.kind == MapIndexKind::Flat) {
      if (o.metric == MapMetric::Cosine) {
        auto* pt = new faiss::IndexPreTransform(new faiss::NormalizationTransform(d, 2.0f), new faiss::IndexFlatIP(d));
        pt->own_fields = true;
        ni.index_.reset(pt);
      } else {
        ni.index_.reset(new faiss::IndexFlatL2(d));
      }
      ni.index_->add(n, x);
      return ni;
    }
    if (plan.kind != MapIndexKind::IvfPq) throw Error("map: internal: index plan without a kind");
    std::unique_ptr<faiss::Index> idx(faiss::index_factory(d, plan.description().c_str(), faiss::METRIC_L2));
    if (o.metric == MapMetric::Cosine) {
      if (auto* pt = dynamic_cast<faiss::IndexPreTransform*>(idx.get())) {
        pt->prepend_transform(new faiss::NormalizationTransform(d, 2.0f));
      } else {
        auto* w = new faiss::IndexPreTransform(new faiss::NormalizationTransform(d, 2.0f), idx.release());
        w->own_fields = true;
        idx.reset(w);
      }
    }
    // train on a seeded sample (rows in increasing order: the sample's content, not its order, is keyed)
    const int64_t ntrain = plan.train_size > 0 ? std::min(plan.train_size, n) : n;
    std::vector<int64_t> rows = seeded_sample(n, ntrain, o.seed);
    std::sort(rows.begin(), rows.end());
    std::vector<float> train(static_cast<size_t>(ntrain * dim));
    for (int64_t i = 0; i < ntrain; ++i) std::copy(x + rows[i] * dim, x + (rows[i] + 1) * dim, train.begin() + i * dim);
    faiss::IndexIVF* ivf = faiss::ivflib::extract_index_ivf(idx.get());
    ivf->cp.seed = static_cast<int>(o.seed % 1000003ULL) + 1234;
    // index_factory turns on polysemous training (code reordering for Hamming filtering, which
    // scfm does not use); it costs minutes and changes nothing in the distances.
    // PQ training: 64 points per centroid (16,384 per sub-quantizer) and 15 k-means iterations
    // instead of faiss' 256 and 25; the codebooks of 2-dimensional sub-spaces converge well before.
    if (auto* pq = dynamic_cast<faiss::IndexIVFPQ*>(ivf)) {
      pq->do_polysemous_training = false;
      // Codes of the (PCA-reduced) vectors themselves, not of their residuals to the list centroid:
      // one look-up table per query instead of one per (query, list). The per-list tables are read
      // from an nlist x M x 256 precomputed table (131 MB at 1M cells), which made 10k queries
      // memory-bound: 2.16 s at 1M cells, 0.96 s without. The index alone then finds fewer of
      // the true 10 (recall 0.86 -> 0.75 at 1M), but scfm map re-ranks its candidates with exact
      // distances and keeps recall@10 0.957 (bench/map, docs/map.md).
      pq->by_residual = false;
      pq->pq.cp.max_points_per_centroid = 64;
      pq->pq.cp.niter = 15;
      pq->pq.cp.seed = ivf->cp.seed;
    }
    auto t0 = std::chrono::steady_clock::now();
    idx->train(ntrain, train.data());
    ni.stats_.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train.clear();
    train.shrink_to_fit();
    t0 = std::chrono::steady_clock::now();
    const int64_t chunk = 65536;
    util::Progress bar("map: index", n, "cells");
    for (int64_t s = 0; s < n; s += chunk) {
      idx->add(std::min(chunk, n - s), x + s * dim);
      bar.advance(std::min(chunk, n - s));
    }
    ni.stats_.add_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ni.index_.reset(idx.release());
  } catch (const faiss::FaissException& e) {
    throw Error(std::string("map: faiss could not build the index: ") + e.what());
  }
  if (plan.nprobe > 0) {
    ni.set_nprobe(plan.nprobe);
    return ni;
  }
  // Calibrate nprobe on reference cells used as queries (each one's own id removed from both lists):
  // powers of two up from 1 until recall@k reaches the target, or stops improving (< 0.002 per
  // doubling: the codes, not the probes, limit it), or nlist.
  const auto t_cal = std::chrono::steady_clock::now();
  const int64_t k = std::min<int64_t>(o.calibration_k, n - 1);
  const int64_t nq = std::min<int64_t>(o.calibration_queries, n);
  if (k <= 0 || nq <= 0) {
    ni.set_nprobe(1);
    return ni;
  }
  std::vector<int64_t> qrows = seeded_sample(n, nq, o.seed + 1);
  std::vector<float> q(static_cast<size_t>(nq * dim));
  for (int64_t i = 0; i < nq; ++i) std::copy(x + qrows[i] * dim, x + (qrows[i] + 1) * dim, q.begin() + i * dim);
  auto drop_self = [&](const Neighbors& nb) {
    Neighbors out;
    out.nq = nb.nq;
    out.k = k;
    out.ids.assign(static_cast<size_t>(nb.nq * k), -1);
    out.distance.assign(static_cast<size_t>(nb.nq * k), 0.0f);
    for (int64_t i = 0; i < nb.nq; ++i) {
      int64_t w = 0;
      for (int64_t j = 0; j < nb.k && w < k; ++j) {
        const int64_t id = nb.ids[i * nb.k + j];
        if (id == qrows[i]) continue;
        out.ids[i * k + w] = id;
        out.distance[i * k + w] = nb.distance[i * nb.k + j];
        ++w;
      }
    }
    return out;
  };
  const Neighbors exact = drop_self(exact_neighbors(x, n, q.data(), nq, dim, k + 1, o.metric));
  const int64_t nlist = faiss::ivflib::extract_index_ivf(ni.index_.get())->nlist;
  int64_t best = 1;
  double best_recall = -1;
  for (int64_t p = 1;; p *= 2) {
    const int64_t probe = std::min(p, nlist);
    ni.set_nprobe(probe);
    const double r =
        o.rerank_factor > 0
            ? recall_at_k(drop_self(rerank_exact(ni.search(q.data(), nq, std::min(n, o.rerank_factor * (k + 1))), x,
                                                 dim, q.data(), k + 1, o.metric)),
                          exact, k)
            : recall_at_k(drop_self(ni.search(q.data(), nq, k + 1)), exact, k);
    if (best_recall >= 0 && r < best_recall + 0.002) break;  // plateau: keep the smaller nprobe
    best = probe;
    best_recall = r;
    if (r >= o.target_recall || probe >= nlist) break;
  }
  ni.set_nprobe(best);
  ni.calibration_recall_ = best_recall;
  ni.stats_.calibrate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cal).count();
  return ni;
}

NeighborIndex NeighborIndex::load(const std::string& path, int64_t expected_dim, int64_t expected_n,
                                  MapMetric metric) {
  if (!fs::exists(path)) throw Error(path + ": no such index file");
  faiss::Index* raw = nullptr;
  try {
    raw = faiss::read_index(path.c_str());
  } catch (const faiss::FaissException& e) {
    std::string what = e.what();
    throw FormatError(path, "index", "not a faiss index written by `scfm map --save-index` (" +
                                         what.substr(0, what.find('\n')) + ")");
  }
  NeighborIndex ni;
  ni.index_.reset(raw);
  if (expected_dim >= 0 && raw->d != expected_dim)
    throw FormatError(path, "index", "built for " + std::to_string(raw->d) + "-dimensional embeddings, but the " +
                                         "embeddings have " + std::to_string(expected_dim) + " dimensions");
  if (expected_n >= 0 && raw->ntotal != expected_n)
    throw FormatError(path, "index", "holds " + std::to_string(raw->ntotal) + " reference cells, but the reference has " +
                                         std::to_string(expected_n) + " labelled cells (was it built on another reference?)");
  const faiss::Index* inner = innermost(raw);
  ni.kind_ = dynamic_cast<const faiss::IndexFlat*>(inner) ? MapIndexKind::Flat : MapIndexKind::IvfPq;
  if (ni.kind_ == MapIndexKind::IvfPq && !dynamic_cast<const faiss::IndexIVF*>(inner))
    throw FormatError(path, "index", "an index type scfm does not build (expected a flat or an IVF-PQ index)");
  ni.metric_ = starts_with_normalization(raw) ? MapMetric::Cosine : MapMetric::L2;
  if (ni.metric_ != metric)
    throw FormatError(path, "index", "built for --metric " + to_string(ni.metric_) + ", but --metric " +
                                         to_string(metric) + " was asked for");
  return ni;
}

void NeighborIndex::save(const std::string& path) const {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  util::AtomicPath out(path);
  try {
    faiss::write_index(index_.get(), out.temp().c_str());
  } catch (const faiss::FaissException& e) {
    throw Error(path + ": cannot write the index (" + std::string(e.what()) + ")");
  }
  out.commit();
}

Neighbors NeighborIndex::search(const float* queries, int64_t nq, int64_t k) const {
  Neighbors out;
  out.nq = nq;
  out.k = k;
  out.ids.assign(static_cast<size_t>(nq * k), -1);
  out.distance.assign(static_cast<size_t>(nq * k), std::numeric_limits<float>::infinity());
  if (nq == 0 || k == 0) return out;
  std::vector<float> raw(static_cast<size_t>(nq * k));
  try {
    std::optional<BlasOneThread> one;
    if (kind_ == MapIndexKind::IvfPq) one.emplace();
    index_->search(nq, queries, k, raw.data(), out.ids.data());
  } catch (const faiss::FaissException& e) {
    throw Error(std::string("map: faiss search failed: ") + e.what());
  }
  const bool ip = innermost(index_.get())->metric_type == faiss::METRIC_INNER_PRODUCT;
  for (size_t i = 0; i < raw.size(); ++i)
    if (out.ids[i] >= 0) out.distance[i] = to_distance(raw[i], metric_, ip);
  return out;
}

int64_t NeighborIndex::size() const { return index_ ? index_->ntotal : 0; }
int64_t NeighborIndex::dim() const { return index_ ? index_->d : 0; }

int64_t NeighborIndex::nprobe() const {
  const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get());
  return ivf ? static_cast<int64_t>(ivf->nprobe) : 0;
}

void NeighborIndex::set_nprobe(int64_t nprobe) {
  faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get());
  if (!ivf) throw Error("map: nprobe applies to ivfpq indexes only");
  if (nprobe < 1) throw Error("map: nprobe must be at least 1");
  ivf->nprobe = static_cast<size_t>(std::min<int64_t>(nprobe, static_cast<int64_t>(ivf->nlist)));
}

int64_t NeighborIndex::code_bytes_per_cell() const {
  const faiss::Index* inner = innermost(index_.get());
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner)) return static_cast<int64_t>(ivf->code_size);
  return static_cast<int64_t>(sizeof(float)) * dim();
}

std::string NeighborIndex::description() const {
  std::string s = metric_ == MapMetric::Cosine ? "L2norm," : "";
  const faiss::Index* idx = index_.get();
  if (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(idx)) {
    for (const auto* t : pt->chain)
      if (dynamic_cast<const faiss::PCAMatrix*>(t))
        s += (dynamic_cast<const faiss::PCAMatrix*>(t)->random_rotation ? "PCAR" : "PCA") + std::to_string(t->d_out) + ",";
  }
  const faiss::Index* inner = innermost(idx);
  if (auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(inner))
    s += "IVF" + std::to_string(pq->nlist) + ",PQ" + std::to_string(pq->pq.M) + " nprobe=" + std::to_string(pq->nprobe);
  else if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner))
    s += "IVF" + std::to_string(ivf->nlist) + "," + std::to_string(ivf->code_size) + "-byte codes nprobe=" +
         std::to_string(ivf->nprobe);
  else if (inner->metric_type == faiss::METRIC_INNER_PRODUCT)
    s += "FlatIP";
  else
    s += "FlatL2";
  return s;
}

// ---------------------------------------------------------------------------------------------
// the task

namespace {

std::string default_report_dir(const std::string& output) {
  fs::path p(output);
  std::string stem = p.filename().string();
  if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".h5ad") == 0) stem.resize(stem.size() - 5);
  return (p.parent_path() / (stem + "_map")).string();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

namespace {

void check_options(const MapOptions& o) {
  if (o.k < 1) throw Error("map: --k must be at least 1");
  if (o.label_col.empty()) throw Error("map: --label-col is required (the reference's label column)");
}

}  // namespace

nlohmann::json map_cells(const MapOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  check_options(options);
  MapOptions o = options;
  if (o.report_dir.empty()) o.report_dir = default_report_dir(o.output);
  eval::Embedded ref = eval::read_embedded(o.reference, o.key, o.label_col);
  eval::Embedded qry = eval::read_embedded(o.query, o.key, o.label_col, /*labels_optional=*/true);
  const MapResult r = map_embedded(o, std::move(ref), qry);
  io::update_h5ad(o.query, o.output, [&](io::AnnData& ad) {
    if (ad.n_obs() != qry.n) throw FormatError(o.query, "obs", "changed while mapping");
    io::Node& obs = ad.obs();
    io::dataframe_set_column(obs, "scfm_map_label", io::make_categorical(r.label, io::make_string_array(r.classes)));
    io::dataframe_set_column(obs, "scfm_map_vote_share", io::make_array(io::Array::from(r.share)));
    io::dataframe_set_column(obs, "scfm_map_distance", io::make_array(io::Array::from(r.distance)));
    io::Node* uns = ad.root.child("uns");
    if (uns == nullptr) uns = &ad.root.set("uns", io::make_dict());
    uns->set("scfm_map", uns_dict(r.settings));
  });
  nlohmann::json summary = r.summary;
  summary["output"] = o.output;
  summary["seconds"] = seconds_since(t_start);
  return summary;
}

MapResult map_embedded(const MapOptions& o, eval::Embedded ref, const eval::Embedded& qry) {
  check_options(o);
  if (ref.dim != qry.dim)
    throw Error("map: " + ref.path + " obsm/" + o.key + " has " + std::to_string(ref.dim) + " columns but " +
                qry.path + " obsm/" + o.key + " has " + std::to_string(qry.dim) +
                "; embed both with the same model");

  // Reference cells with a label; the index holds these rows only, in file order.
  const eval::Encoded enc = eval::encode_labels(ref.labels);
  std::vector<int32_t> ref_codes;
  std::vector<float> x;
  ref_codes.reserve(enc.codes.size());
  for (int64_t i = 0; i < ref.n; ++i) {
    if (enc.codes[i] < 0) continue;
    ref_codes.push_back(enc.codes[i]);
    x.insert(x.end(), ref.x.begin() + i * ref.dim, ref.x.begin() + (i + 1) * ref.dim);
  }
  const int64_t n = static_cast<int64_t>(ref_codes.size());
  const int64_t n_unlabelled = ref.n - n;
  if (n == 0) throw FormatError(ref.path, "obs/" + o.label_col, "no reference cell has a label");
  ref.x.clear();
  ref.x.shrink_to_fit();
  const int32_t n_classes = static_cast<int32_t>(enc.classes.size());
  const int64_t k = std::min(o.k, n);

  // Index: loaded or built.
  const auto t_index = std::chrono::steady_clock::now();
  NeighborIndex index;
  IndexPlan plan;
  if (!o.index_file.empty()) {
    index = NeighborIndex::load(o.index_file, ref.dim, n, o.metric);
  } else {
    plan = plan_index(n, ref.dim, o.index);
    IndexBuildOptions bo;
    bo.metric = o.metric;
    bo.seed = o.seed;
    bo.calibration_k = k;
    index = NeighborIndex::build(x.data(), n, ref.dim, plan, bo);
  }
  const double index_seconds = seconds_since(t_index);
  if (!o.save_index.empty()) index.save(o.save_index);

  // Search: exact for flat; for ivfpq 4k candidates re-ranked with exact distances.
  const auto t_search = std::chrono::steady_clock::now();
  Neighbors nb;
  if (index.kind() == MapIndexKind::Flat) {
    nb = index.search(qry.x.data(), qry.n, k);
  } else {
    const int64_t kc = std::min(n, kRerankFactor * k);
    nb = rerank_exact(index.search(qry.x.data(), qry.n, kc), x.data(), ref.dim, qry.x.data(), k, o.metric);
  }
  const double search_seconds = seconds_since(t_search);

  std::vector<int32_t> pred(static_cast<size_t>(qry.n), -1);
  std::vector<float> share(static_cast<size_t>(qry.n), 0.0f), dist(static_cast<size_t>(qry.n));
  for (int64_t i = 0; i < qry.n; ++i) {
    const VoteResult v = vote(nb.ids.data() + i * k, nb.distance.data() + i * k, k, ref_codes, n_classes, o.vote);
    pred[i] = v.label;
    share[i] = v.share;
    dist[i] = nb.ids[i * k] >= 0 ? nb.distance[i * k] : std::numeric_limits<float>::quiet_NaN();
  }

  MapResult out;
  out.classes = enc.classes;
  out.settings = {{"reference", ref.path},
                  {"key", o.key},
                  {"label_col", o.label_col},
                  {"k", k},
                  {"metric", to_string(o.metric)},
                  {"vote", to_string(o.vote)},
                  {"index", to_string(index.kind())},
                  {"index_description", index.description()},
                  {"index_file", o.index_file},
                  {"nprobe", index.nprobe()},
                  {"n_reference", n},
                  {"n_reference_unlabelled", n_unlabelled},
                  {"seed", o.seed}};
  nlohmann::json summary = out.settings;
  summary["query"] = qry.path;
  summary["n_query"] = qry.n;
  summary["n_classes"] = n_classes;
  summary["index_seconds"] = index_seconds;
  summary["search_seconds"] = search_seconds;
  summary["code_bytes_per_cell"] = index.code_bytes_per_cell();
  if (index.calibration_recall() >= 0) summary["calibration_recall"] = index.calibration_recall();
  if (!o.save_index.empty()) summary["saved_index"] = o.save_index;

  // Accuracy when the query has the label column. Query classes the reference lacks are added
  // after the reference's (they can never be predicted, and count as errors).
  if (!qry.labels.empty()) {
    std::vector<std::string> classes = enc.classes;
    const eval::Encoded qenc = eval::encode_labels(qry.labels);
    int64_t unseen = 0;
    for (const auto& c : qenc.classes)
      if (!std::binary_search(enc.classes.begin(), enc.classes.end(), c)) {
        classes.push_back(c);
        ++unseen;
      }
    const std::vector<int32_t> truth = eval::encode_with(qry.labels, classes);
    const eval::ClassificationMetrics m = eval::classification_metrics(truth, pred, classes);
    const std::string& dir = o.report_dir;

    eval::Report r;
    r.title = "scfm map: " + fs::path(qry.path).filename().string() + " onto " + fs::path(ref.path).filename().string();
    r.results = summary;
    r.results["task"] = "map";
    r.results["metrics"] = eval::to_json(m);
    r.results["query_classes_not_in_reference"] = unseen;
    eval::Table t;
    t.title = "Label transfer";
    t.columns = {"metric", "value"};
    t.rows = {{"accuracy", eval::cell(m.accuracy)},
              {"macro_f1", eval::cell(m.macro_f1)},
              {"n_query_labelled", std::to_string(m.n)},
              {"k", std::to_string(k)},
              {"vote", to_string(o.vote)},
              {"metric", to_string(o.metric)},
              {"index", index.description()}};
    r.tables.push_back(t);
    eval::Table pc;
    pc.title = "Per class";
    pc.columns = {"class", "precision", "recall", "f1", "support"};
    for (size_t c = 0; c < m.classes.size(); ++c)
      if (m.support[c] > 0 || std::count(pred.begin(), pred.end(), static_cast<int32_t>(c)) > 0)
        pc.rows.push_back({m.classes[c], eval::cell(m.precision[c]), eval::cell(m.recall[c]), eval::cell(m.f1[c]),
                           std::to_string(m.support[c])});
    r.tables.push_back(pc);
    r.svgs.emplace_back("confusion.svg", eval::confusion_svg(m, "scfm map (" + to_string(o.vote) + ", k = " +
                                                                    std::to_string(k) + ")"));
    if (unseen > 0)
      r.notes.push_back(std::to_string(unseen) + " label(s) of the query do not occur in the reference; their cells "
                        "count as errors.");
    summary["accuracy"] = m.accuracy;
    summary["macro_f1"] = m.macro_f1;
    summary["metrics"] = r.results["metrics"];
    if (!dir.empty()) {
      eval::write_report(dir, r);
      summary["report_dir"] = dir;
    }
  }
  out.label = std::move(pred);
  out.share = std::move(share);
  out.distance = std::move(dist);
  out.summary = std::move(summary);
  return out;
}

}  // namespace scfm::tasks
