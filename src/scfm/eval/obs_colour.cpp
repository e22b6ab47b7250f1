#include "scfm/eval/obs_colour.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "scfm/io/h5ad.h"
#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

bool is_hex_colour(const std::string& c) {
  if ((c.size() != 7 && c.size() != 9) || c[0] != '#') return false;
  return std::all_of(c.begin() + 1, c.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; });
}

}  // namespace

void colour_by_obs(const io::AnnData& ad, const std::string& col, Scatter& s) {
  const auto cols = io::dataframe_columns(ad.obs());
  if (std::find(cols.begin(), cols.end(), col) == cols.end()) {
    std::string have;
    for (const auto& c : cols) have += (have.empty() ? "" : ", ") + c;
    throw FormatError(ad.path, "obs/" + col, "no such column (obs has: " + (have.empty() ? std::string("nothing") : have) + ")");
  }
  const io::Column info = io::describe_column(ad.obs(), col);
  if (info.length != ad.n_obs())
    throw FormatError(ad.path, "obs/" + col,
                      "holds " + std::to_string(info.length) + " values for " + std::to_string(ad.n_obs()) + " cells");
  s.legend = col;
  s.categories.clear();
  s.codes.clear();
  s.colors.clear();
  s.values.clear();
  const std::vector<std::string> values = io::column_strings(ad.obs(), col);
  const bool numeric = (info.encoding == "array" || info.encoding == "nullable-integer") &&
                       (io::dtype_is_float(info.dtype) || io::dtype_is_integer(info.dtype)) && info.dtype != io::DType::Bool;
  if (numeric) {
    s.values.reserve(values.size());
    for (const auto& v : values) {
      char* end = nullptr;
      const double d = v.empty() ? NAN : std::strtod(v.c_str(), &end);
      s.values.push_back(end != nullptr && *end == '\0' ? d : NAN);
    }
    return;
  }
  if (info.encoding == "categorical") {
    const io::Node* node = ad.obs().child(col);
    const io::Node* cats = node ? node->child("categories") : nullptr;
    if (cats != nullptr && !cats->is_group) s.categories = io::array_strings(cats->data);
  }
  if (s.categories.empty()) {
    s.categories = values;
    std::sort(s.categories.begin(), s.categories.end());
    s.categories.erase(std::unique(s.categories.begin(), s.categories.end()), s.categories.end());
    s.categories.erase(std::remove(s.categories.begin(), s.categories.end(), std::string()), s.categories.end());
  }
  s.codes.reserve(values.size());
  for (const auto& v : values) {
    const auto it = std::lower_bound(s.categories.begin(), s.categories.end(), v);
    if (info.encoding == "categorical") {
      const auto f = std::find(s.categories.begin(), s.categories.end(), v);
      s.codes.push_back(v.empty() || f == s.categories.end() ? -1 : static_cast<int>(f - s.categories.begin()));
    } else {
      s.codes.push_back(it != s.categories.end() && *it == v ? static_cast<int>(it - s.categories.begin()) : -1);
    }
  }
  // scanpy keeps the colours it chose in uns['<col>_colors']; a file that carries them is drawn so
  const io::Node* uns = ad.root.child("uns");
  const io::Node* stored = uns ? uns->child(col + "_colors") : nullptr;
  if (stored != nullptr && !stored->is_group && stored->loaded && stored->data.dtype == io::DType::String) {
    const std::vector<std::string> c = io::array_strings(stored->data);
    if (c.size() == s.categories.size() && std::all_of(c.begin(), c.end(), is_hex_colour)) s.colors = c;
  }
}

}  // namespace scfm::eval
