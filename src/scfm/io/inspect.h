// What is in a single-cell file, at a glance: the data behind `scfm info`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace scfm::io {

// Describes an .h5ad, a 10x MEX folder or a 10x .h5 without loading its matrices whole
// (the value kind is judged from the first `sample_rows` cells). Keys: path, format, n_obs,
// n_vars, nnz, density, x_encoding (csr_matrix|csc_matrix|array|null), x_dtype, value_kind
// (raw counts|log1p|normalized|continuous|empty), obs_columns and var_columns (lists of
// {name, dtype, encoding, n_categories, top}), layers, obsm, varm, obsp (lists of {name, shape,
// encoding, dtype}), uns (keys), has_raw.
nlohmann::json describe_file(const std::string& path, int64_t sample_rows = 2000);

// The human-readable form of describe_file's result.
std::string format_description(const nlohmann::json& d);

}  // namespace scfm::io
