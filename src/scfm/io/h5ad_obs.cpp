#include "scfm/io/h5ad_obs.h"

#include "scfm/io/h5ad.h"
#include "scfm/io/hdf5.h"

namespace scfm::io {
namespace {

// One obs element (the index or a column), opened for block reads.
struct ObsElement {
  enum class Kind { Values, Index, Categorical, Nullable };
  Kind kind = Kind::Values;
  std::string where;        // its HDF5 path
  std::string codes_where;  // a categorical's codes, for messages
  h5::Handle values;        // the values, or a categorical's codes
  h5::Handle mask;          // nullable-* only
  std::vector<std::string> categories;
  int64_t length = 0;
};

}  // namespace

struct H5adObsReader::Impl {
  std::string path;
  h5::Handle file, obs;
  std::vector<std::string> columns;
  ObsElement index;
  std::vector<ObsElement> elements;  // per column

  [[noreturn]] void bad(const std::string& where, const std::string& what) const {
    throw FormatError(path, where, what);
  }

  // The length of a 1-D dataset holding `what`; its dtype must not be strings unless `strings_ok`.
  int64_t length_of(hid_t d, const std::string& where, const std::string& what, bool strings_ok) const {
    h5::check_filters(d);
    const h5::DatasetInfo info = h5::dataset_info(d);
    if (info.shape.size() != 1)
      bad(where, std::to_string(info.shape.size()) + "-D dataset; expected a 1-D array of " + what);
    if (!strings_ok && info.dtype == DType::String) bad(where, "unsupported dtype str; expected " + what);
    return info.shape[0];
  }

  std::string column_list() const {
    std::string list;
    if (h5::has_attr(obs, "column-order")) {
      const Array order = h5::read_attr(obs, "column-order");
      if (order.is_string())
        for (const std::string& c : order.strings) list += (list.empty() ? "" : ", ") + c;
    }
    return list.empty() ? "(none)" : list;
  }

  ObsElement open(const std::string& name, bool is_index) const {
    ObsElement e;
    e.where = "/obs/" + name;
    if (h5::is_dataset(obs, name)) {
      e.values = h5::open_dataset(obs, name);
      if (h5::attr_is_reference(e.values, "categories")) {  // anndata 0.7 categorical
        e.kind = ObsElement::Kind::Categorical;
        e.codes_where = e.where;
        e.categories = array_strings(h5::read_dataset(h5::deref_attr(e.values, "categories")));
      } else {
        e.kind = is_index ? ObsElement::Kind::Index : ObsElement::Kind::Values;
        e.length = length_of(e.values, e.where, "values", true);
        return e;
      }
    } else if (h5::is_group(obs, name)) {
      h5::Handle g = h5::open_group(obs, name);
      const std::string enc = h5::attr_string_or(g, "encoding-type", "");
      if (enc == "categorical") {
        e.kind = ObsElement::Kind::Categorical;
        e.codes_where = e.where + "/codes";
        e.values = h5::open_dataset(g, "codes");
        e.categories = array_strings(h5::read_dataset(h5::open_dataset(g, "categories")));
      } else if (enc.rfind("nullable-", 0) == 0) {
        e.kind = ObsElement::Kind::Nullable;
        e.values = h5::open_dataset(g, "values");
        e.mask = h5::open_dataset(g, "mask");
        e.length = length_of(e.values, e.where + "/values", "values", true);
        const int64_t n_mask = length_of(e.mask, e.where + "/mask", "booleans", false);
        if (n_mask != e.length)
          bad(e.where + "/mask", "has " + std::to_string(n_mask) + " entries; expected " + std::to_string(e.length) +
                                     " (the length of values)");
        return e;
      } else {
        bad(e.where, "a group of encoding '" + enc + "'; expected a dataframe column: a dataset, or a categorical, "
                     "nullable-integer, nullable-boolean or nullable-string-array group");
      }
    } else if (is_index) {
      bad(e.where, "missing; the obs dataframe's _index attribute names it");
    } else {
      bad(e.where, "no such obs column; the obs columns are: " + column_list());
    }
    const DType codes = h5::dataset_info(e.values).dtype;
    if (!dtype_is_integer(codes))
      bad(e.codes_where, std::string("unsupported dtype ") + dtype_name(codes) + "; expected integer codes");
    e.length = length_of(e.values, e.codes_where, "integer codes", false);
    return e;
  }

  std::vector<std::string> decode(const ObsElement& e, int64_t start, int64_t count) const {
    if (count == 0) return {};
    const Array v = h5::read_rows(e.values, start, count);
    switch (e.kind) {
      case ObsElement::Kind::Values: return array_strings(v);
      case ObsElement::Kind::Index: return index_strings(v);
      case ObsElement::Kind::Categorical: {
        const std::string wrong = codes_out_of_range(v, static_cast<int64_t>(e.categories.size()), start);
        if (!wrong.empty()) bad(e.codes_where, wrong);
        return categorical_strings(v, e.categories);
      }
      case ObsElement::Kind::Nullable: {
        std::vector<std::string> out = array_strings(v);
        blank_masked(out, h5::read_rows(e.mask, start, count));
        return out;
      }
    }
    return {};
  }
};

H5adObsReader::H5adObsReader(const std::string& path, const std::vector<std::string>& columns)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.columns = columns;
  m.file = h5::open_file(path);
  if (!h5::is_group(m.file, "obs")) m.bad("/obs", "missing; expected the obs dataframe");
  m.obs = h5::open_group(m.file, "obs");
  m.index = m.open(h5::attr_string_or(m.obs, "_index", "_index"), true);
  for (const std::string& c : columns) {
    m.elements.push_back(m.open(c, false));
    const ObsElement& e = m.elements.back();
    if (e.length != m.index.length)
      m.bad(e.where, "has " + std::to_string(e.length) + " rows; expected " + std::to_string(m.index.length) +
                         " (the length of the index)");
  }
}

H5adObsReader::~H5adObsReader() = default;

int64_t H5adObsReader::n_rows() const { return impl_->index.length; }
const std::vector<std::string>& H5adObsReader::columns() const { return impl_->columns; }

H5adObsBlock H5adObsReader::read(int64_t start, int64_t count) {
  const Impl& m = *impl_;
  if (start < 0 || count < 0 || start + count > m.index.length)
    throw Error(m.path + ": /obs: rows [" + std::to_string(start) + ", " + std::to_string(start + count) +
                ") are outside the " + std::to_string(m.index.length) + " rows");
  H5adObsBlock block;
  block.index = m.decode(m.index, start, count);
  for (const ObsElement& e : m.elements) block.columns.push_back(m.decode(e, start, count));
  return block;
}

}  // namespace scfm::io
