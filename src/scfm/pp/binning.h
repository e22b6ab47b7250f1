// scGPT's value binning (scgpt/preprocess.py: Preprocessor(binning=n_bins), binning(), _digitize()),
// and scBenchmark's "clamp" value preprocessing.
//
// Pure functions on cells x genes CSR rows (io::CsrMatrix): no files, no LibTorch. Per cell, only
// the entries with a non-zero value take part (explicit zeros are treated as absent and get bin 0).
// For a cell with k > 0 non-zero values s (ascending), as scGPT computes it:
//   edges   e_1..e_{n_bins-1} = numpy 1.24 quantile ("linear") of the non-zero values at
//           q_i = i/(n_bins-2), in float64: h = q*(k-1), lo = floor(h), g = h - lo, a = s[lo],
//           b = s[min(lo+1, k-1)], e = a + (b-a)*g if g < 0.5 else b - (b-a)*(1-g), where b-a is
//           rounded to float32 first, as numpy's _lerp does on float32 input;
//   left    = #{i : e_i <= x}  (np.digitize(x, edges)),
//   right   = #{i : e_i <  x}  (np.digitize(x, edges, right=True)), so right <= left;
//   bin     = ceil(u*(right-left) + left) for a uniform u in [0, 1): a value in [right+1, left] when
//             right < left, and left otherwise. Where left-right <= 1 the bin is left whatever u is;
//             only values equal to a repeated edge (ties, common at low counts) depend on u.
// Bins lie in 1..n_bins-1; zeros stay 0. The modes differ only in where u comes from:
//   Seeded        u from numpy's legacy global RNG after np.random.seed(seed): MT19937 (std::mt19937
//                 seeded with `seed`), each draw ((a>>5)*2^26 + (b>>6)) / 2^53 from two 32-bit
//                 outputs, one draw per non-zero entry in row order then column order, cells with
//                 no non-zero value drawing nothing. Reproduces scGPT exactly, but the result of a
//                 cell depends on every cell before it: for parity checks, not for sharded data.
//   Keyed         u = a counter-based hash of (seed, global cell index, gene column): the result of
//                 an entry depends only on those three, never on row order, batching or threads.
//                 scfm's default.
//   Deterministic u = 1/2: bin = ceil((left+right)/2), the middle of the tie range; no randomness.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::pp {

enum class BinningMode { Seeded, Keyed, Deterministic };

struct BinningOptions {
  int n_bins = 51;  // scGPT Preprocessor(binning=51); edges per cell: n_bins - 1; needs >= 3
  BinningMode mode = BinningMode::Keyed;
  // Seeded: np.random.seed(seed) (must fit in 32 bits). Keyed: the hash key; mix an epoch into it
  // (e.g. seed * 1000003 + epoch) for bins that change per epoch. Deterministic: ignored.
  uint64_t seed = 0;
};

// Result of binning a matrix of n_rows cells.
struct BinnedMatrix {
  int n_bins = 0;
  // One bin per stored entry of the input, aligned with its `data` (size nnz); 0 for zero values.
  std::vector<int32_t> bins;
  // Row-major n_rows x n_bins: scGPT's obsm["bin_edges"] = [0, e_1, ..., e_{n_bins-1}] per cell;
  // all zeros for a cell with no non-zero value.
  std::vector<double> bin_edges;
};

// numpy's legacy RandomState: seed(s) then rand(), exactly as numpy 1.24 draws doubles.
class NumpyLegacyRandom {
 public:
  explicit NumpyLegacyRandom(uint32_t seed) : mt_(seed) {}
  double rand() {
    const uint64_t a = mt_() >> 5, b = mt_() >> 6;
    return (static_cast<double>(a) * 67108864.0 + static_cast<double>(b)) / 9007199254740992.0;
  }
  std::mt19937& engine() { return mt_; }

 private:
  std::mt19937 mt_;
};

// The uniform in [0, 1) of Keyed mode for (seed, cell, gene): splitmix64 finalisers chained over
// the three keys, top 53 bits.
double keyed_uniform(uint64_t seed, int64_t cell, int64_t gene);

// The n_bins-1 quantile edges of one cell's non-zero values (any order; size k >= 1).
std::vector<double> quantile_edges(const std::vector<float>& nonzero_values, int n_bins);

// np.digitize against ascending edges: left = #{e <= x}, right = #{e < x}.
void digitize(double x, const std::vector<double>& edges, int32_t* left, int32_t* right);

// Bins every cell of `m` (values must be >= 0). `first_row` is the global index of row 0, used only
// by Keyed mode, so that a chunk of a larger matrix bins as it would in the whole. Pure: no state
// is shared between calls, so calls may run on different threads. Throws scfm::Error
// on a negative value, n_bins < 3, or a Seeded seed >= 2^32.
BinnedMatrix binning(const io::CsrMatrix& m, const BinningOptions& options = {}, int64_t first_row = 0);

// Same, with the global cell index of each row given explicitly (size n_rows; Keyed mode's key,
// ignored by the other modes): rows in any order or from any shard bin as they would in place.
BinnedMatrix binning(const io::CsrMatrix& m, const BinningOptions& options,
                     const std::vector<int64_t>& cell_ids);

// Seeded mode continuing a caller's numpy stream (e.g. one matrix processed in chunks, in order).
BinnedMatrix binning(const io::CsrMatrix& m, int n_bins, NumpyLegacyRandom& rng);

// The binned values as a CSR matrix with the same pattern (bins as floats), for the tokenizer.
io::CsrMatrix binned_csr(const io::CsrMatrix& m, const BinnedMatrix& binned);

// scBenchmark's preprocess_mode "clamp" (simpleshinobu/scbenchmark dataset_incre.py,
// incre_downstreams.py): x -> min(x, max_value), torch.clamp(x, max=args.max_clamp), default 20.
void clamp_values(io::CsrMatrix& m, double max_value = 20);

}  // namespace scfm::pp
