// The on-disk layout of a cell store. A store is a folder:
//
//   STORE/manifest.json        written last; a folder without it is not a store (see manifest.h)
//   STORE/vocab.json           the vocabulary the gene ids refer to (scGPT's layout)
//   STORE/shard_00000.bin ...  the cells, in global order, split into shards
//
// A shard file is little-endian and starts with a 64-byte header (ShardHeader). Every section
// starts at an offset that is a multiple of 64 (kAlign); bytes between sections are zero. In
// file order:
//
//   header   ShardHeader                        64 bytes at offset 0
//   indptr   int64[n_cells + 1]                 indptr[0] == 0, non-decreasing, indptr[n_cells] == nnz
//   ids      int32[nnz]                         vocab gene ids; within a row strictly ascending, in [0, vocab_size)
//   values   float32[nnz]                       never 0.0f (explicit zeros are dropped at write time)
//   obs dir  ObsColumnEntry[n_obs_columns]      one per obs column, in the manifest's obs_columns order
//   per obs column, in order:
//     offsets int64[n_cells + 1]                byte offsets into the column's string bytes, offsets[0] == 0
//     bytes   uint8[offsets[n_cells]]           UTF-8 strings, concatenated, no terminators
//
// The file ends with the last byte of the last section (no trailing padding); the manifest records
// its size and CRC-32s (zlib's crc32) of the whole file and of every 64 KiB block.
#pragma once

#include <cstdint>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the cell store is read and written by mapping little-endian data directly; big-endian hosts are not supported"
#endif

namespace scfm::store {

inline constexpr char kShardMagic[8] = {'S', 'C', 'F', 'M', 'S', 'H', 'R', 'D'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr int64_t kAlign = 64;
inline constexpr int64_t kBlockSize = 64 * 1024;  // bytes per block checksum
inline constexpr const char* kManifestName = "manifest.json";
inline constexpr const char* kVocabName = "vocab.json";
inline constexpr const char* kFormatName = "scfm-cell-store";

struct ShardHeader {
  char magic[8];            // kShardMagic
  uint32_t version;         // kFormatVersion
  uint32_t n_obs_columns;
  int64_t n_cells;
  int64_t nnz;
  int64_t indptr_offset;    // byte offsets from the start of the file
  int64_t ids_offset;
  int64_t values_offset;
  int64_t obs_offset;       // the obs directory
};
static_assert(sizeof(ShardHeader) == 64, "ShardHeader must be 64 bytes");

struct ObsColumnEntry {
  int64_t offsets_offset;  // int64[n_cells + 1]
  int64_t bytes_offset;
  int64_t bytes_size;      // == offsets[n_cells]
};
static_assert(sizeof(ObsColumnEntry) == 24, "ObsColumnEntry must be 24 bytes");

inline constexpr int64_t align_up(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

}  // namespace scfm::store
