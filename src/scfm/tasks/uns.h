// A task's flat settings (a JSON object of strings, numbers and booleans) as the uns dict of an
// .h5ad: strings as strings, booleans as bool scalars, integers as int64, other numbers as float64;
// nulls, arrays and objects are left out. The Python module turns the same JSON into the dict it
// puts in adata.uns, so a file written by the CLI and an AnnData filled in a notebook agree.
#pragma once

#include <nlohmann/json.hpp>

#include "scfm/io/h5ad.h"

namespace scfm::tasks {

io::Node uns_dict(const nlohmann::json& flat);

}  // namespace scfm::tasks
