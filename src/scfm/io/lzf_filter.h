// h5py's LZF compression as an HDF5 filter (id 32000), on Debian's liblzf.
//
// anndata 0.7 wrote its files (and python3-anndata's test archives) with compression="lzf",
// which h5py implements itself; libhdf5 has no such filter. Debian's hdf5-plugin-lzf package
// cannot be loaded (its lzf_compress/lzf_decompress symbols are left unresolved), so scfm
// registers this small filter over liblzf instead. The chunk layout is h5py's: raw LZF data, with
// the uncompressed chunk size in cd_values[2]; chunks LZF could not shrink are stored as they
// are (the filter is optional on write, as in h5py).
#pragma once

#include <hdf5.h>

namespace scfm::io::h5 {

constexpr H5Z_filter_t kLzfFilterId = 32000;
// Registers the filter with HDF5 once per process (thread-safe, idempotent).
void register_lzf_filter();

}  // namespace scfm::io::h5
