# The optional compression libraries of io/ (the main build and fuzz/ share this file):
#   lzf     h5py's lzf HDF5 filter (anndata 0.7 files; liblzf-dev)
#   snappy  Parquet pages (io/parquet; libsnappy-dev)
#   zstd    Parquet pages (libzstd-dev)
# scfm_link_codecs(<target>) links each one found and defines SCFM_HAVE_<NAME>=1 on the target;
# a build without one refuses such files by name (e.g. a CUDA machine without liblzf).
find_library(LZF_LIBRARY lzf)
find_library(SNAPPY_LIBRARY snappy)
find_library(ZSTD_LIBRARY zstd)

function(scfm_link_codecs target)
  foreach(codec LZF SNAPPY ZSTD)
    if(${codec}_LIBRARY)
      target_link_libraries(${target} PUBLIC ${${codec}_LIBRARY})
      target_compile_definitions(${target} PUBLIC SCFM_HAVE_${codec}=1)
    endif()
  endforeach()
endfunction()
