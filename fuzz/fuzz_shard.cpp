// store::CellStore + verify_store: a cell store whose one shard file is the input. The manifest is
// made to agree with the input (size, CRC-32s, and the counts its header claims), so the fuzzer
// gets past the checksums into the shard's own structure: header, section offsets, indptr, ids,
// obs offsets. Every row and obs string of up to 4096 cells is read, then the store is verified.
#include <cstring>

#include "harness.h"
#include "scfm/io/vocab.h"
#include "scfm/store/checksum.h"
#include "scfm/store/format.h"
#include "scfm/store/manifest.h"
#include "scfm/store/reader.h"
#include "scfm/store/verify.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace scfm::store;
  const std::string dir = scfm::fuzz::work_dir() + "/shardstore";
  static const scfm::io::Vocab vocab = [&] {
    std::filesystem::create_directories(dir);
    std::vector<std::string> tokens;
    for (int i = 0; i < 61; ++i) tokens.push_back("G" + std::to_string(i));
    scfm::io::Vocab v = scfm::io::Vocab::from_tokens(tokens);
    v.save(dir + "/" + kVocabName);
    return v;
  }();
  ShardHeader h{};
  if (size >= sizeof h) std::memcpy(&h, data, sizeof h);
  Manifest m;
  m.format_version = kFormatVersion;
  m.vocab_checksum = vocab.checksum();
  m.vocab_size = vocab.size();
  m.block_size = kBlockSize;
  for (uint32_t c = 0; c < std::min<uint32_t>(h.n_obs_columns, 8); ++c) m.obs_columns.push_back("c" + std::to_string(c));
  ShardInfo s;
  s.file = "shard_00000.bin";
  s.n_cells = h.n_cells;
  s.nnz = h.nnz;
  s.bytes = static_cast<int64_t>(size);
  s.crc32 = crc32(data, size);
  s.block_crc32 = block_crc32(data, size, kBlockSize);
  m.n_cells = s.n_cells;
  m.nnz = s.nnz;
  m.shards.push_back(s);
  scfm::fuzz::write_file(dir + "/" + s.file, data, size);
  {
    const std::string text = m.to_json().dump();
    scfm::fuzz::write_file(dir + "/" + kManifestName, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }
  try {
    CellStore store = CellStore::open(dir);
    volatile float sink = 0;
    for (int64_t i = 0; i < std::min<int64_t>(store.n_cells(), 4096); ++i) {
      CellRow r = store.row(i);
      for (int64_t k = 0; k < r.n; ++k) sink = sink + r.values[k] + static_cast<float>(r.ids[k]);
      for (int c = 0; c < static_cast<int>(store.obs_columns().size()); ++c) sink = sink + store.obs(c, i).size();
    }
  } catch (const scfm::Error&) {
  }
  try {
    verify_store(dir);
  } catch (const scfm::Error&) {
  }
  return 0;
}
