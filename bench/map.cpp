// bench/map: the compressed reference index of `scfm map` at atlas scale.
//
//   bench_map [--n 1000000] [--queries 10000] [--dim 256] [--k 10] [--clusters 100] [--latent 32]
//             [--spread 0.5] [--noise 0.05] [--metric cosine|l2] [--threads 2] [--seed 1]
//             [--nprobe P (default: calibrated)] [--index-out FILE]
//             [--pca D] [--m M] [--nlist L] [--no-rotation] [--fs]   (overrides of the plan, experiments)
//
// Simulates N reference embeddings with cluster structure: cells live in a `latent`-dimensional
// space (embeddings of a foundation model have a low intrinsic dimension) where each of
// `clusters` cell types is a Gaussian around a random centre (N(0, 1) per latent dimension) with
// its own anisotropic covariance (`spread` per latent dimension on average; types overlap), and
// cluster sizes fall off as 1 / (c + 5) (a few large types, many small ones). A fixed random map
// with near-orthonormal columns takes the latent space to `dim` dimensions, and isotropic noise
// (`noise` per dimension) is added. The queries come from the same distribution.
// Builds the ivfpq index scfm map builds for this reference (tasks::plan_index +
// NeighborIndex::build, nprobe calibrated), searches the queries (k = 10) and compares with exact
// search (brute force, for the queries only). Prints one JSON line and one human line.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "scfm/runtime/threads.h"
#include "scfm/tasks/map.h"
#include "scfm/util/splitmix.h"

using namespace scfm;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Sim {
  int64_t dim, clusters, latent;
  double spread, noise;
  std::vector<float> centres, shape, embed;  // clusters x latent, clusters x latent x latent, dim x latent
};

Sim make_sim(int64_t dim, int64_t clusters, int64_t latent, double spread, double noise, uint64_t seed) {
  Sim s{dim, clusters, latent, spread, noise, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  s.centres.resize(clusters * latent);
  s.shape.resize(clusters * latent * latent);
  s.embed.resize(dim * latent);
  for (auto& v : s.centres) v = g(rng);
  // each cluster its own anisotropic covariance: spread^2 per latent coordinate on average
  for (auto& v : s.shape) v = g(rng) * static_cast<float>(spread / std::sqrt(static_cast<double>(latent)));
  // latent -> embedding: a random map with near-orthonormal columns (norms kept)
  for (auto& v : s.embed) v = g(rng) / static_cast<float>(std::sqrt(static_cast<double>(dim)));
  return s;
}

// Rows [0, n) drawn with a per-row generator keyed by (seed, row): the result does not depend on threads.
void draw(const Sim& s, int64_t n, uint64_t seed, float* out, int threads) {
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> z(s.latent), u(s.latent);
    for (int64_t i = begin; i < end; ++i) {
      std::mt19937_64 rng(util::splitmix64(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(i)));
      std::normal_distribution<float> g;
      // cluster sizes vary (a few large types, many small ones): P(cluster c) ~ 1 / (c + 5)
      const double r = std::uniform_real_distribution<double>(0, 1)(rng);
      int64_t c = static_cast<int64_t>(5.0 * std::exp(r * std::log((s.clusters + 5.0) / 5.0)) - 5.0);
      c = std::min<int64_t>(std::max<int64_t>(c, 0), s.clusters - 1);
      for (auto& v : z) v = g(rng);
      for (int64_t a = 0; a < s.latent; ++a) {
        float v = s.centres[c * s.latent + a];
        const float* row = s.shape.data() + (c * s.latent + a) * s.latent;
        for (int64_t b = 0; b < s.latent; ++b) v += row[b] * z[b];
        u[a] = v;
      }
      float* x = out + i * s.dim;
      for (int64_t d = 0; d < s.dim; ++d) {
        float v = static_cast<float>(s.noise) * g(rng);
        const float* row = s.embed.data() + d * s.latent;
        for (int64_t a = 0; a < s.latent; ++a) v += row[a] * u[a];
        x[d] = v;
      }
    }
  };
  std::vector<std::thread> pool;
  const int64_t step = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work, std::min(n, t * step), std::min(n, (t + 1) * step));
  for (auto& t : pool) t.join();
}

// 1-recall@k: the share of queries whose exact nearest neighbour is among the approximate k.
double one_recall_at_k(const tasks::Neighbors& a, const tasks::Neighbors& e, int64_t k) {
  int64_t hit = 0;
  for (int64_t i = 0; i < a.nq; ++i)
    for (int64_t j = 0; j < k; ++j)
      if (a.ids[i * a.k + j] == e.ids[i * e.k]) {
        ++hit;
        break;
      }
  return static_cast<double>(hit) / static_cast<double>(a.nq);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000, nq = 10000, dim = 256, k = 10, clusters = 100, latent = 32, nprobe = 0;
  double spread = 0.5, noise = 0.05;
  int threads = 2;
  uint64_t seed = 1;
  std::string metric_name = "cosine", index_out;
  int64_t pca = -1, pq_m = 0, nlist = 0;  // overrides of the plan (experiments)
  bool rotation = true, fast_scan = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_map: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--n") n = std::stoll(next());
    else if (a == "--queries") nq = std::stoll(next());
    else if (a == "--dim") dim = std::stoll(next());
    else if (a == "--k") k = std::stoll(next());
    else if (a == "--clusters") clusters = std::stoll(next());
    else if (a == "--latent") latent = std::stoll(next());
    else if (a == "--spread") spread = std::stod(next());
    else if (a == "--noise") noise = std::stod(next());
    else if (a == "--metric") metric_name = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--nprobe") nprobe = std::stoll(next());
    else if (a == "--index-out") index_out = next();
    else if (a == "--pca") pca = std::stoll(next());
    else if (a == "--m") pq_m = std::stoll(next());
    else if (a == "--nlist") nlist = std::stoll(next());
    else if (a == "--no-rotation") rotation = false;
    else if (a == "--fs") fast_scan = true;
    else {
      std::cerr << "bench_map: unknown argument " << a << "\n";
      return 2;
    }
  }
  try {
    threads = runtime::set_threads(threads);
    const tasks::MapMetric metric = tasks::parse_map_metric(metric_name);

    auto t = Clock::now();
    const Sim sim = make_sim(dim, clusters, latent, spread, noise, seed);
    std::vector<float> ref(static_cast<size_t>(n * dim)), qry(static_cast<size_t>(nq * dim));
    draw(sim, n, seed * 2 + 1, ref.data(), threads);
    draw(sim, nq, seed * 2 + 2, qry.data(), threads);
    const double sim_s = since(t);

    tasks::IndexPlan plan = tasks::plan_index(n, dim, tasks::MapIndexKind::IvfPq);
    plan.nprobe = nprobe;
    if (pca >= 0) plan.pca_dim = pca;
    if (pq_m > 0) plan.pq_m = pq_m;
    if (nlist > 0) plan.nlist = nlist;
    plan.pca_rotation = rotation;
    if (fast_scan) {  // the same bytes per cell: twice the sub-quantizers of 4 bits, SIMD scanning
      plan.pq_m *= 2;
      plan.pq_bits = 4;
      plan.fast_scan = true;
    }
    tasks::IndexBuildOptions bo;
    bo.metric = metric;
    bo.seed = seed;
    bo.calibration_k = k;
    t = Clock::now();
    tasks::NeighborIndex index = tasks::NeighborIndex::build(ref.data(), n, dim, plan, bo);
    const double build_s = since(t);

    t = Clock::now();
    const tasks::Neighbors approx = index.search(qry.data(), nq, k);
    const double query_s = since(t);
    t = Clock::now();
    const tasks::Neighbors reranked = tasks::rerank_exact(index.search(qry.data(), nq, tasks::kRerankFactor * k),
                                                          ref.data(), dim, qry.data(), k, metric);
    const double query_rerank_s = since(t);

    t = Clock::now();
    const tasks::Neighbors exact = tasks::exact_neighbors(ref.data(), n, qry.data(), nq, dim, k, metric);
    const double exact_s = since(t);

    const std::string path = index_out.empty() ? "/tmp/bench_map_" + std::to_string(::getpid()) + ".faiss" : index_out;
    index.save(path);
    struct stat st {};
    ::stat(path.c_str(), &st);
    const double file_bytes = static_cast<double>(st.st_size);
    if (index_out.empty()) std::remove(path.c_str());

    // recall against nprobe around the calibrated value
    nlohmann::json sweep = nlohmann::json::array();
    const int64_t chosen = index.nprobe();
    for (int64_t p : {chosen / 2, chosen, chosen * 2, chosen * 4}) {
      if (p < 1) continue;
      index.set_nprobe(p);
      auto t0 = Clock::now();
      const tasks::Neighbors a = index.search(qry.data(), nq, k);
      const double s = since(t0);
      t0 = Clock::now();
      const tasks::Neighbors b = tasks::rerank_exact(index.search(qry.data(), nq, tasks::kRerankFactor * k), ref.data(),
                                                     dim, qry.data(), k, metric);
      const double s2 = since(t0);
      sweep.push_back({{"nprobe", p},
                       {"query_s", s},
                       {"recall_at_10", tasks::recall_at_k(a, exact, k)},
                       {"one_recall_at_10", one_recall_at_k(a, exact, k)},
                       {"query_rerank_s", s2},
                       {"recall_at_10_reranked", tasks::recall_at_k(b, exact, k)}});
    }
    index.set_nprobe(chosen);

    nlohmann::json j = {{"bench", "map"},
                        {"n", n},
                        {"queries", nq},
                        {"dim", dim},
                        {"k", k},
                        {"clusters", clusters},
                        {"latent", latent},
                        {"spread", spread},
                        {"noise", noise},
                        {"metric", metric_name},
                        {"threads", threads},
                        {"index", index.description()},
                        {"nlist", plan.nlist},
                        {"nprobe", chosen},
                        {"train_size", plan.train_size},
                        {"simulate_s", sim_s},
                        {"build_s", build_s},
                        {"train_s", index.build_stats().train_seconds},
                        {"add_s", index.build_stats().add_seconds},
                        {"calibrate_s", index.build_stats().calibrate_seconds},
                        {"calibration_recall", index.calibration_recall()},
                        {"query_s", query_s},
                        {"query_rerank_s", query_rerank_s},
                        {"exact_s", exact_s},
                        {"recall_at_10", tasks::recall_at_k(approx, exact, k)},
                        {"recall_at_10_reranked", tasks::recall_at_k(reranked, exact, k)},
                        {"one_recall_at_10", one_recall_at_k(approx, exact, k)},
                        {"code_bytes_per_cell", index.code_bytes_per_cell()},
                        {"file_bytes_per_cell", file_bytes / static_cast<double>(n)},
                        {"nprobe_sweep", sweep}};
    std::cout << j.dump() << "\n";
    std::printf(
        "map bench: %lld x %lld-d refs, %lld queries, %s, %d threads: build %.1f s; index alone: query %.3f s, "
        "recall@10 %.3f; as scfm map runs it (4k candidates re-ranked): query %.3f s, recall@10 %.3f; "
        "%lld code bytes/cell, %.1f file bytes/cell; exact search %.1f s\n",
        static_cast<long long>(n), static_cast<long long>(dim), static_cast<long long>(nq), index.description().c_str(),
        threads, build_s, query_s, j["recall_at_10"].get<double>(), query_rerank_s,
        j["recall_at_10_reranked"].get<double>(), static_cast<long long>(index.code_bytes_per_cell()),
        file_bytes / static_cast<double>(n), exact_s);
  } catch (const std::exception& e) {
    std::cerr << "bench_map: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
