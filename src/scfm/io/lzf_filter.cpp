#include "scfm/io/lzf_filter.h"

#include <hdf5.h>
#ifdef SCFM_HAVE_LZF
#include <liblzf/lzf.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace scfm::io::h5 {
#ifdef SCFM_HAVE_LZF
namespace {

size_t lzf_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes, size_t* buf_size,
                  void** buf) {
  if (flags & H5Z_FLAG_REVERSE) {
    // decompress: h5py records the chunk's uncompressed size in cd_values[2]
    size_t out_size = (cd_nelmts >= 3 && cd_values[2] != 0) ? cd_values[2] : *buf_size;
    for (int attempt = 0; attempt < 16; ++attempt) {
      void* out = std::malloc(out_size);
      if (out == nullptr) return 0;
      unsigned n = lzf_decompress(*buf, static_cast<unsigned>(nbytes), out, static_cast<unsigned>(out_size));
      if (n > 0) {
        std::free(*buf);
        *buf = out;
        *buf_size = out_size;
        return n;
      }
      std::free(out);
      if (errno != E2BIG) return 0;  // corrupt data
      out_size *= 2;
    }
    return 0;
  }
  // compress; returning 0 tells HDF5 to store the chunk uncompressed (the filter is optional)
  size_t out_size = nbytes;
  void* out = std::malloc(out_size);
  if (out == nullptr) return 0;
  unsigned n = lzf_compress(*buf, static_cast<unsigned>(nbytes), out, static_cast<unsigned>(out_size));
  if (n == 0) {
    std::free(out);
    return 0;
  }
  std::free(*buf);
  *buf = out;
  *buf_size = out_size;
  return n;
}

}  // namespace

void register_lzf_filter() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const H5Z_class2_t cls = {H5Z_CLASS_T_VERS, kLzfFilterId, 1, 1, "lzf (h5py-compatible, liblzf)",
                                     nullptr, nullptr, lzf_filter};
    H5Zregister(&cls);
  });
}

#else
void register_lzf_filter() {}  // built without liblzf: lzf datasets are refused as a missing filter
#endif

}  // namespace scfm::io::h5
