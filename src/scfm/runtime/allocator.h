// glibc malloc settings for tensor-heavy work.
//
// LibTorch's CPU allocator takes every activation buffer from malloc; glibc serves requests over
// 128 KiB with fresh mmap()s and returns them on free, so each training or inference step maps
// and page-faults its large buffers again (about a third of a 6-layer transformer step here,
// docs/bench_model.md). keep_freed_memory() makes glibc serve them from the heap and keep freed
// memory for reuse: faster steps, at the price of RSS staying at its peak. Called by the verbs
// that run models (pretrain, embed), not by streaming ones (ingest, pp) whose memory must stay flat.
#pragma once

namespace scfm::runtime {

void keep_freed_memory();

}  // namespace scfm::runtime
