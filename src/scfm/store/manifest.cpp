#include "scfm/store/manifest.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "scfm/store/format.h"
#include "scfm/util/error.h"

namespace scfm::store {
namespace {

using Json = nlohmann::ordered_json;

const Json& need(const Json& j, const std::string& key, const std::string& file, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw FormatError(file, where + key, "missing");
  return *it;
}

int64_t need_int(const Json& j, const std::string& key, const std::string& file, const std::string& where,
                 int64_t min_value = 0) {
  const Json& v = need(j, key, file, where);
  if (!v.is_number_integer()) throw FormatError(file, where + key, "expected an integer, found " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < min_value)
    throw FormatError(file, where + key, "expected at least " + std::to_string(min_value) + ", found " + v.dump());
  return x;
}

std::string need_string(const Json& j, const std::string& key, const std::string& file, const std::string& where) {
  const Json& v = need(j, key, file, where);
  if (!v.is_string()) throw FormatError(file, where + key, "expected a string, found " + v.dump());
  return v.get<std::string>();
}

uint32_t need_u32(const Json& v, const std::string& file, const std::string& field) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > 0xFFFFFFFFull)
    throw FormatError(file, field, "expected a CRC-32 (an integer in [0, 2^32)), found " + v.dump());
  return static_cast<uint32_t>(v.get<uint64_t>());
}

std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", x);
  return buf;
}

}  // namespace

std::string StoredValues::describe() const {
  if (raw()) return "raw (as read)";
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (normalize_total) add("normalize_total " + number_text(*normalize_total));
  if (log1p) add("log1p");
  if (n_bins > 0)
    add("binned (" + std::to_string(n_bins) + " bins, " + bin_mode +
        (bin_mode != "deterministic" ? ", seed " + std::to_string(bin_seed) : std::string()) + ")");
  return s;
}

nlohmann::ordered_json StoredValues::to_json() const {
  Json j;
  j["normalize_total"] = normalize_total ? Json(*normalize_total) : Json(nullptr);
  j["log1p"] = log1p;
  if (n_bins > 0) {
    Json b;
    b["n_bins"] = n_bins;
    b["mode"] = bin_mode;
    if (bin_mode != "deterministic") b["seed"] = bin_seed;
    j["binning"] = std::move(b);
  } else {
    j["binning"] = nullptr;
  }
  return j;
}

StoredValues StoredValues::from_json(const nlohmann::ordered_json& j, const std::string& file) {
  StoredValues v;
  if (!j.is_object()) throw FormatError(file, "values", "expected an object, found " + j.dump());
  if (j.contains("normalize_total") && !j["normalize_total"].is_null()) {
    const Json& t = j["normalize_total"];
    if (!t.is_number() || !(t.get<double>() > 0))
      throw FormatError(file, "values.normalize_total", "expected a positive number or null, found " + t.dump());
    v.normalize_total = t.get<double>();
  }
  if (j.contains("log1p")) {
    if (!j["log1p"].is_boolean()) throw FormatError(file, "values.log1p", "expected true or false, found " + j["log1p"].dump());
    v.log1p = j["log1p"].get<bool>();
  }
  if (j.contains("binning") && !j["binning"].is_null()) {
    const Json& b = j["binning"];
    if (!b.is_object()) throw FormatError(file, "values.binning", "expected an object or null, found " + b.dump());
    const int64_t n = need_int(b, "n_bins", file, "values.binning.", 3);
    if (n > 1000000) throw FormatError(file, "values.binning.n_bins", "implausibly large: " + std::to_string(n));
    v.n_bins = static_cast<int>(n);
    v.bin_mode = need_string(b, "mode", file, "values.binning.");
    if (v.bin_mode != "keyed" && v.bin_mode != "seeded" && v.bin_mode != "deterministic")
      throw FormatError(file, "values.binning.mode",
                        "expected \"keyed\", \"seeded\" or \"deterministic\", found \"" + v.bin_mode + "\"");
    if (v.bin_mode != "deterministic") {
      const Json& s = need(b, "seed", file, "values.binning.");
      if (!s.is_number_unsigned()) throw FormatError(file, "values.binning.seed", "expected an unsigned integer, found " + s.dump());
      v.bin_seed = s.get<uint64_t>();
    }
  }
  return v;
}

nlohmann::ordered_json Manifest::to_json() const {
  Json j;
  j["format"] = kFormatName;
  j["format_version"] = format_version;
  j["vocab_checksum"] = vocab_checksum;
  j["vocab_size"] = vocab_size;
  j["layer"] = layer;
  j["obs_columns"] = obs_columns;
  j["n_cells"] = n_cells;
  j["nnz"] = nnz;
  j["checksum_algorithm"] = "crc32";
  j["block_size"] = block_size;
  Json shards_json = Json::array();
  for (const ShardInfo& s : shards) {
    Json sj;
    sj["file"] = s.file;
    sj["n_cells"] = s.n_cells;
    sj["nnz"] = s.nnz;
    sj["bytes"] = s.bytes;
    sj["crc32"] = s.crc32;
    sj["block_crc32"] = s.block_crc32;
    shards_json.push_back(std::move(sj));
  }
  j["shards"] = std::move(shards_json);
  j["values"] = values.to_json();
  j["ingest"] = ingest;
  return j;
}

Manifest Manifest::load(const std::string& store_dir) {
  namespace fs = std::filesystem;
  const std::string file = (fs::path(store_dir) / kManifestName).string();
  if (!fs::is_directory(store_dir)) throw Error(store_dir + ": not a cell store (no such folder)");
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw Error(store_dir + ": not a complete cell store: " + kManifestName +
                " is missing (an interrupted ingest leaves its shards without a manifest)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file);
}

Manifest Manifest::parse(std::string_view text, const std::string& file) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse errors, and numbers out of range (found by fuzz_manifest)
    throw FormatError(file, "(document)", std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw FormatError(file, "(document)", "expected a JSON object");
  const std::string format = need_string(j, "format", file, "");
  if (format != kFormatName) throw FormatError(file, "format", "expected \"" + std::string(kFormatName) + "\", found \"" + format + "\"");
  Manifest m;
  m.format_version = need_int(j, "format_version", file, "", 1);
  if (m.format_version != kFormatVersion)
    throw FormatError(file, "format_version",
                      "this scfm reads version " + std::to_string(kFormatVersion) + ", found " + std::to_string(m.format_version));
  m.vocab_checksum = need_string(j, "vocab_checksum", file, "");
  m.vocab_size = need_int(j, "vocab_size", file, "", 1);
  if (m.vocab_size > INT32_MAX) throw FormatError(file, "vocab_size", "does not fit int32 gene ids");
  m.layer = need_string(j, "layer", file, "");
  const Json& cols = need(j, "obs_columns", file, "");
  if (!cols.is_array()) throw FormatError(file, "obs_columns", "expected an array of strings");
  for (const Json& c : cols) {
    if (!c.is_string()) throw FormatError(file, "obs_columns", "expected strings, found " + c.dump());
    m.obs_columns.push_back(c.get<std::string>());
  }
  m.n_cells = need_int(j, "n_cells", file, "");
  m.nnz = need_int(j, "nnz", file, "");
  m.block_size = need_int(j, "block_size", file, "", 1);
  const Json& shards = need(j, "shards", file, "");
  if (!shards.is_array()) throw FormatError(file, "shards", "expected an array");
  int64_t cells = 0, nnz = 0;
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string where = "shards[" + std::to_string(k) + "].";
    const Json& sj = shards[k];
    if (!sj.is_object()) throw FormatError(file, "shards[" + std::to_string(k) + "]", "expected an object");
    ShardInfo s;
    s.file = need_string(sj, "file", file, where);
    if (s.file.empty() || s.file.find('/') != std::string::npos || s.file[0] == '.')
      throw FormatError(file, where + "file", "expected a plain file name inside the store, found \"" + s.file + "\"");
    s.n_cells = need_int(sj, "n_cells", file, where, 1);
    s.nnz = need_int(sj, "nnz", file, where);
    s.bytes = need_int(sj, "bytes", file, where, static_cast<int64_t>(sizeof(ShardHeader)));
    s.crc32 = need_u32(need(sj, "crc32", file, where), file, where + "crc32");
    const Json& blocks = need(sj, "block_crc32", file, where);
    if (!blocks.is_array()) throw FormatError(file, where + "block_crc32", "expected an array");
    for (const Json& b : blocks) s.block_crc32.push_back(need_u32(b, file, where + "block_crc32"));
    const int64_t n_blocks = (s.bytes + m.block_size - 1) / m.block_size;
    if (static_cast<int64_t>(s.block_crc32.size()) != n_blocks)
      throw FormatError(file, where + "block_crc32",
                        "expected " + std::to_string(n_blocks) + " block checksums for " + std::to_string(s.bytes) +
                            " bytes, found " + std::to_string(s.block_crc32.size()));
    cells += s.n_cells;
    nnz += s.nnz;
    m.shards.push_back(std::move(s));
  }
  if (cells != m.n_cells)
    throw FormatError(file, "n_cells", "the shards hold " + std::to_string(cells) + " cells, the total says " + std::to_string(m.n_cells));
  if (nnz != m.nnz)
    throw FormatError(file, "nnz", "the shards hold " + std::to_string(nnz) + " entries, the total says " + std::to_string(m.nnz));
  if (j.contains("values")) m.values = StoredValues::from_json(j["values"], file);  // absent: raw (older stores)
  if (j.contains("ingest")) m.ingest = j["ingest"];
  return m;
}

}  // namespace scfm::store
