// How scanpy colours cells by an obs column (sc.pl.embedding(color=COL)): a categorical or
// string column by category, in the categorical's own order (sorted for plain strings, as
// pandas makes them categorical), with uns['<col>_colors'] when the file carries them; a numeric
// column by value.
#pragma once

#include <string>
#include <vector>

#include "scfm/eval/scatter.h"

namespace scfm::io {
class AnnData;
}

namespace scfm::eval {

// Fills s.categories / s.codes / s.colors or s.values, and s.legend, from obs[col] of `ad`.
// Throws a FormatError naming the file and obs/<col> when the column is missing (listing those
// there are) or its length is not n_obs.
void colour_by_obs(const io::AnnData& ad, const std::string& col, Scatter& s);

}  // namespace scfm::eval
