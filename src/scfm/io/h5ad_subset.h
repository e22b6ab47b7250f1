// Taking cells and genes out of an AnnData tree, as `adata[obs_idx, var_idx]` does in Python.
//
// Subsets obs/var dataframes (every column encoding), X and layers (dense, csr, csc: the stored
// dtypes are kept), obsm/varm (rows), obsp/varp (both axes) and raw (cells only, as anndata
// keeps raw's genes). uns is kept as it is. The tree must be loaded (not lazy).
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/io/h5ad.h"

namespace scfm::io {

AnnData subset(const AnnData& data, const std::vector<int64_t>& obs, const std::vector<int64_t>& var);

// Indices of the true entries of a mask.
std::vector<int64_t> mask_to_indices(const std::vector<bool>& mask);

}  // namespace scfm::io
