#include "scfm/store/verify.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "scfm/io/vocab.h"
#include "scfm/store/checksum.h"
#include "scfm/store/format.h"
#include "scfm/store/manifest.h"
#include "scfm/store/mmap.h"
#include "scfm/util/error.h"

namespace scfm::store {
namespace fs = std::filesystem;

namespace {

std::string hex32(uint32_t x) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", x);
  return buf;
}

// Structural checks of a shard whose bytes match the manifest. Adds problems; stops at the first
// one per section (later ones usually follow from it).
void check_content(const Manifest& man, int64_t k, const MappedFile& map, std::vector<StoreProblem>& out) {
  const ShardInfo& info = man.shards[static_cast<size_t>(k)];
  auto fail = [&](int64_t offset, const std::string& what) { out.push_back({k, info.file, offset, what}); };
  ShardHeader h{};
  std::memcpy(&h, map.data(), sizeof(h));
  const int64_t size = map.size();
  const int64_t n_cols = static_cast<int64_t>(man.obs_columns.size());
  if (std::memcmp(h.magic, kShardMagic, 8) != 0) return fail(0, "header magic is not SCFMSHRD");
  if (h.version != kFormatVersion) return fail(8, "header version " + std::to_string(h.version));
  if (h.n_cells != info.n_cells || h.nnz != info.nnz || static_cast<int64_t>(h.n_obs_columns) != n_cols)
    return fail(12, "header counts disagree with the manifest");
  auto fits = [&](int64_t off, int64_t count, int64_t elem) {
    return off >= 64 && off % kAlign == 0 && off <= size && count >= 0 && count <= (size - off) / elem;
  };
  if (!fits(h.indptr_offset, h.n_cells + 1, 8) || !fits(h.ids_offset, h.nnz, 4) || !fits(h.values_offset, h.nnz, 4) ||
      !fits(h.obs_offset, n_cols, static_cast<int64_t>(sizeof(ObsColumnEntry))))
    return fail(32, "header section offsets do not fit the file");
  const auto* indptr = reinterpret_cast<const int64_t*>(map.data() + h.indptr_offset);
  const auto* ids = reinterpret_cast<const int32_t*>(map.data() + h.ids_offset);
  const auto* values = reinterpret_cast<const float*>(map.data() + h.values_offset);
  if (indptr[0] != 0 || indptr[h.n_cells] != h.nnz)
    return fail(h.indptr_offset, "indptr must run from 0 to nnz " + std::to_string(h.nnz));
  for (int64_t r = 0; r < h.n_cells; ++r) {
    const int64_t a = indptr[r], b = indptr[r + 1];
    if (b < a || b > h.nnz)
      return fail(h.indptr_offset + 8 * (r + 1), "row " + std::to_string(r) + ": indptr[" + std::to_string(r + 1) + "] = " +
                                                     std::to_string(b) + " outside [" + std::to_string(a) + ", nnz " +
                                                     std::to_string(h.nnz) + "]");
    for (int64_t e = a; e < b; ++e) {
      if (ids[e] < 0 || ids[e] >= man.vocab_size)
        return fail(h.ids_offset + 4 * e, "row " + std::to_string(r) + ": gene id " + std::to_string(ids[e]) + " outside [0, " +
                                              std::to_string(man.vocab_size) + ")");
      if (e > a && ids[e] <= ids[e - 1])
        return fail(h.ids_offset + 4 * e, "row " + std::to_string(r) + ": gene ids not strictly ascending");
      if (values[e] == 0.0f) return fail(h.values_offset + 4 * e, "row " + std::to_string(r) + ": an explicit zero value");
    }
  }
  for (int64_t c = 0; c < n_cols; ++c) {
    ObsColumnEntry e{};
    std::memcpy(&e, map.data() + h.obs_offset + c * static_cast<int64_t>(sizeof(e)), sizeof(e));
    const std::string name = man.obs_columns[static_cast<size_t>(c)];
    if (!fits(e.offsets_offset, h.n_cells + 1, 8) || !fits(e.bytes_offset, e.bytes_size, 1)) {
      fail(h.obs_offset + c * static_cast<int64_t>(sizeof(e)), "obs column " + name + ": sections do not fit the file");
      continue;
    }
    const auto* off = reinterpret_cast<const int64_t*>(map.data() + e.offsets_offset);
    if (off[0] != 0 || off[h.n_cells] != e.bytes_size) {
      fail(e.offsets_offset, "obs column " + name + ": offsets must run from 0 to " + std::to_string(e.bytes_size));
      continue;
    }
    for (int64_t r = 0; r < h.n_cells; ++r)
      if (off[r + 1] < off[r]) {
        fail(e.offsets_offset + 8 * (r + 1), "obs column " + name + ": offsets decrease at row " + std::to_string(r));
        break;
      }
  }
}

}  // namespace

VerifyReport verify_store(const std::string& path) {
  const Manifest man = Manifest::load(path);
  VerifyReport rep;
  rep.n_shards = static_cast<int64_t>(man.shards.size());
  for (size_t k = 0; k < man.shards.size(); ++k) {
    const ShardInfo& info = man.shards[k];
    const int64_t ki = static_cast<int64_t>(k);
    const std::string file = (fs::path(path) / info.file).string();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      rep.problems.push_back({ki, info.file, -1, "missing"});
      continue;
    }
    MappedFile map(file);
    rep.bytes_checked += map.size();
    if (map.size() != info.bytes) {
      rep.problems.push_back({ki, info.file, std::min(map.size(), info.bytes),
                              "size " + std::to_string(map.size()) + " bytes, the manifest records " + std::to_string(info.bytes)});
      continue;
    }
    const size_t bs = static_cast<size_t>(man.block_size);
    const std::vector<uint32_t> blocks = block_crc32(map.data(), static_cast<size_t>(map.size()), bs);
    bool bad = false;
    for (size_t b = 0; b < blocks.size(); ++b) {
      if (blocks[b] == info.block_crc32[b]) continue;
      bad = true;
      const int64_t start = static_cast<int64_t>(b * bs);
      const size_t len = std::min<size_t>(bs, static_cast<size_t>(map.size()) - b * bs);
      const auto at = locate_single_byte_change(info.block_crc32[b], blocks[b], len);
      StoreProblem p{ki, info.file, start, ""};
      p.what = "block " + std::to_string(b) + " (bytes " + std::to_string(start) + ".." + std::to_string(start + int64_t(len) - 1) +
               "): crc32 " + hex32(blocks[b]) + ", the manifest records " + hex32(info.block_crc32[b]);
      if (at) {
        p.offset = start + static_cast<int64_t>(*at);
        p.what += "; consistent with one changed byte at offset " + std::to_string(p.offset);
      }
      rep.problems.push_back(std::move(p));
    }
    const uint32_t whole = crc32(map.data(), static_cast<size_t>(map.size()));
    if (whole != info.crc32) {
      if (!bad)
        rep.problems.push_back({ki, info.file, -1,
                                "file crc32 " + hex32(whole) + ", the manifest records " + hex32(info.crc32) +
                                    " (the block checksums match: the manifest is inconsistent)"});
      continue;
    }
    if (bad) continue;
    check_content(man, ki, map, rep.problems);
  }
  const std::string vocab_path = (fs::path(path) / kVocabName).string();
  try {
    const io::Vocab v = io::Vocab::load(vocab_path);
    if (v.checksum() != man.vocab_checksum || v.size() != man.vocab_size)
      rep.problems.push_back({-1, kVocabName, -1,
                              "checksum " + v.checksum() + " and size " + std::to_string(v.size()) + ", the manifest records " +
                                  man.vocab_checksum + " and " + std::to_string(man.vocab_size)});
  } catch (const Error& e) {
    rep.problems.push_back({-1, kVocabName, -1, e.what()});
  }
  return rep;
}

}  // namespace scfm::store
