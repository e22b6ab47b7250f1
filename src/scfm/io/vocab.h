// Gene vocabularies: scGPT's vocab.json ({"token": id, ...}; scBenchmark's 60,697-token files use
// the same layout) and the matching of a dataset's genes to vocabulary ids.
//
// A Vocab is a list of distinct tokens whose ids are their positions 0..n-1. It always holds the
// special tokens scGPT uses, "<pad>", "<cls>" and "<eoc>": loading or building a vocabulary
// without them appends the missing ones at the end, in that order, and records which were added
// (appended_specials()). Loading refuses anything but a flat JSON object of distinct tokens with
// distinct integer ids that cover 0..n-1, naming the file and the offending token or id.
// save() writes {"token": id} in id order with a two-space indent (what scGPT's
// GeneVocab.save_json writes) through a temporary file and a rename: never half-written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scfm/io/h5ad.h"

namespace scfm::io {

class Vocab {
 public:
  static constexpr const char* kPad = "<pad>";
  static constexpr const char* kCls = "<cls>";
  static constexpr const char* kEoc = "<eoc>";
  // The specials every Vocab holds, in the order they are appended.
  static const std::vector<std::string>& special_tokens();

  Vocab() = default;
  // Reads a vocab.json; throws scfm::FormatError(path, token or id, what).
  static Vocab load(const std::string& path);
  // The same from the file's text (path names it in errors); the fuzz harness's entry point.
  static Vocab parse(std::string_view text, const std::string& path);
  // The union of the lists in first-seen order (empty names skipped), specials at the end.
  static Vocab build(const std::vector<std::vector<std::string>>& gene_lists);
  // Tokens in id order; they must be distinct (scfm::Error otherwise). Appends missing specials.
  static Vocab from_tokens(std::vector<std::string> tokens);

  // Atomic write (temporary file + rename); throws scfm::Error when the folder is not writable.
  void save(const std::string& path) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // The token's id, or -1 when it is not in the vocabulary.
  int32_t id(const std::string& token) const;
  bool contains(const std::string& token) const { return id(token) >= 0; }
  // The token of an id in [0, size()); throws scfm::Error otherwise.
  const std::string& token(int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }
  int32_t pad_id() const { return id(kPad); }
  int32_t cls_id() const { return id(kCls); }
  int32_t eoc_id() const { return id(kEoc); }
  bool is_special(int32_t id) const;
  // The specials that were missing from the loaded or built token list and were appended.
  const std::vector<std::string>& appended_specials() const { return appended_; }
  // The file it was loaded from ("" when built in memory).
  const std::string& path() const { return path_; }

  // FNV-1a 64-bit over the tokens in id order, each followed by one NUL byte, as 16 lowercase
  // hex digits. Equal for equal token lists on every platform; any change of a token, of the
  // order or of the size changes it (up to hash collisions).
  std::string checksum() const;

 private:
  static Vocab from_entries(const std::vector<std::pair<std::string, int64_t>>& entries, const std::string& path);
  void index_and_complete();

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::string> appended_;
  std::string path_;
};

// How a dataset's genes map onto a vocabulary.
struct GeneMatch {
  std::vector<int32_t> var_to_id;  // one per var row: the vocab id, -1 = not in the vocab
  int64_t n_matched = 0;
  int64_t n_unmatched = 0;
  std::vector<std::string> unmatched_examples;  // the first (up to 10) unmatched gene names
};

// Matches the var index (gene_col empty or naming the index) or a var column against the
// vocabulary by exact name. Special tokens never match a gene. A missing column throws
// scfm::FormatError naming the file and listing the var columns.
GeneMatch match_genes(const Vocab& vocab, const AnnData& data, const std::string& gene_col = "");

// The same match for gene names in hand (one per column of the matrix).
GeneMatch match_gene_names(const Vocab& vocab, const std::vector<std::string>& genes);

// The gene names match_genes uses: the var index, or the named var column.
std::vector<std::string> gene_names(const AnnData& data, const std::string& gene_col = "");

}  // namespace scfm::io
