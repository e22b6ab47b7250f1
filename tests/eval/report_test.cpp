// Report files: Markdown/CSV escaping, SVG well-formedness (checked by python's XML parser), and
// that results.json parses back.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "scfm/eval/report.h"
#include "test_util.h"

using namespace scfm::eval;

TEST(Report, CsvQuotesAndMarkdownEscapes) {
  Table t;
  t.columns = {"method", "accuracy"};
  t.rows = {{"kNN, k=10", "0.9"}, {"say \"hi\"", "a|b"}};
  EXPECT_EQ(t.csv(), "method,accuracy\n\"kNN, k=10\",0.9\n\"say \"\"hi\"\"\",a|b\n");
  EXPECT_NE(t.markdown().find("a\\|b"), std::string::npos);
  EXPECT_EQ(cell(MeanStd{0.5, 0.25}, 2), "0.50 ± 0.25");
}

TEST(Report, WritesAllFilesAndTheSvgParses) {
  scfm::test::TempDir dir;
  auto m = classification_metrics({0, 1, 1}, {0, 1, 0}, {"B <cell>", "T & NK"});
  Report r;
  r.title = "test";
  r.results = {{"accuracy", m.accuracy}};
  Table t;
  t.columns = {"a", "b"};
  t.rows = {{"1", "2"}};
  r.tables.push_back(t);
  r.svgs.push_back({"confusion.svg", confusion_svg(m, "knn")});
  write_report(dir.path(), r);
  for (const char* f : {"results.json", "results.md", "results.csv", "confusion.svg"}) {
    std::ifstream in(dir.path() + "/" + f);
    EXPECT_TRUE(in.good()) << f;
  }
  auto res = scfm::test::run_python("eval/check_report.py", dir.path());
  EXPECT_EQ(res.exit_code, 0) << res.output;
  EXPECT_NE(res.output.find("ok"), std::string::npos) << res.output;
}
