// io::read_10x_mtx: a 10x folder whose matrix.mtx (first input byte even) or features.tsv (odd) is
// the input; the other two files are a valid 3-gene, 2-cell folder.
#include "harness.h"
#include "scfm/io/tenx.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string dir = scfm::fuzz::work_dir() + "/tenx";
  std::filesystem::create_directories(dir);
  static const std::string mtx = "%%MatrixMarket matrix coordinate integer general\n3 2 3\n1 1 5\n2 1 1\n3 2 7\n";
  static const std::string features = "G1\tA\tGene Expression\nG2\tB\tGene Expression\nG3\tC\tGene Expression\n";
  static const std::string barcodes = "AAAC-1\nAAAG-1\n";
  const bool fuzz_matrix = (data[0] & 1) == 0;
  auto put = [&](const char* name, const std::string& text) {
    scfm::fuzz::write_file(dir + "/" + name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  };
  if (fuzz_matrix) {
    scfm::fuzz::write_file(dir + "/matrix.mtx", data + 1, size - 1);
    put("features.tsv", features);
  } else {
    put("matrix.mtx", mtx);
    scfm::fuzz::write_file(dir + "/features.tsv", data + 1, size - 1);
  }
  put("barcodes.tsv", barcodes);
  try {
    scfm::io::read_10x_mtx(dir);
  } catch (const scfm::Error&) {
  }
  return 0;
}
