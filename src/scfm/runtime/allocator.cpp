#include "scfm/runtime/allocator.h"

#include <malloc.h>

namespace scfm::runtime {

void keep_freed_memory() {
  mallopt(M_MMAP_MAX, 0);                    // large blocks from the heap, not fresh mappings
  mallopt(M_TRIM_THRESHOLD, 1 << 30);       // keep up to 1 GiB of freed heap for reuse
}

}  // namespace scfm::runtime
