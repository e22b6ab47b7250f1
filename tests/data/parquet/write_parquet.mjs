// Writes the test Parquet files with a real writer: parquet-wasm 0.8.0 (the Rust `parquet`
// crate of Apache Arrow, compiled to WebAssembly) from tables built with apache-arrow 21.2.0.
//   node write_parquet.mjs ROWS.json OUTDIR        (make.sh runs it)
import { readFileSync, writeFileSync } from "node:fs";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";

const rows = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = process.argv[3];

function table({ geneType, exprType, withId, withGroups, dropExpressions, genesAs, pandasIndex }) {
  const cols = {};
  if (withId) cols.id = arrow.vectorFromArray(rows.id, new arrow.Utf8());
  if (pandasIndex) cols.__index_level_0__ = arrow.vectorFromArray(rows.id.map((_, i) => BigInt(3 * i)), new arrow.Int64());
  const gt = genesAs === "float" || genesAs === "fractional" ? new arrow.Float32() : genesAs === "string" ? new arrow.Utf8() : geneType;
  let genes = gt instanceof arrow.Int64 ? rows.genes.map((r) => r.map((v) => BigInt(v))) : rows.genes;
  if (genesAs === "string") genes = rows.genes.map((r) => r.map((v) => `G${v}`));
  if (genesAs === "fractional") genes = rows.genes.map((r, i) => r.map((v, k) => (i === 41 && k === 3 ? v + 0.5 : v)));
  cols.genes = arrow.vectorFromArray(genes, new arrow.List(new arrow.Field("item", gt, true)));
  if (!dropExpressions)
    cols.expressions = arrow.vectorFromArray(rows.expressions, new arrow.List(new arrow.Field("item", exprType, true)));
  if (withGroups) cols.groups = arrow.vectorFromArray(rows.groups, new arrow.Utf8());
  return arrow.tableFromIPC(arrow.tableToIPC(new arrow.Table(cols), "stream"));
}

function write(name, t, { compression, dictionary, version, rowGroup, pageSize }) {
  let b = new pq.WriterPropertiesBuilder()
    .setCompression(compression)
    .setDictionaryEnabled(dictionary)
    .setWriterVersion(version)
    .setMaxRowGroupSize(rowGroup);
  if (pageSize) b = b.setDataPageSizeLimit(pageSize);
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(t, "stream"));
  writeFileSync(`${out}/${name}`, pq.writeParquet(wasmTable, b.build()));
}

const C = pq.Compression, V = pq.WriterVersion;
const base = { geneType: new arrow.Int64(), exprType: new arrow.Float32(), withId: true, withGroups: true };
// scBenchmark / scBank as pyarrow writes them: snappy, dictionary pages, data pages v1
write("snappy_dict_v1.parquet", table(base), { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 32 });
// zstd, data pages v2, plain values, int32 ids, double values, small pages (several a chunk)
write("zstd_plain_v2.parquet", table({ ...base, geneType: new arrow.Int32(), exprType: new arrow.Float64() }),
      { compression: C.ZSTD, dictionary: false, version: V.V2, rowGroup: 50, pageSize: 2048 });
// gzip, dictionary, one row group
write("gzip_dict_v1.parquet", table(base), { compression: C.GZIP, dictionary: true, version: V.V1, rowGroup: 1000 });
// uncompressed, plain, no id column: barcodes are row numbers
write("plain_noid.parquet", table({ ...base, withId: false, withGroups: false }),
      { compression: C.UNCOMPRESSED, dictionary: false, version: V.V1, rowGroup: 20 });
// wrong schemas
write("bad_no_expressions.parquet", table({ ...base, dropExpressions: true }),
      { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 80 });
write("bad_genes_string.parquet", table({ ...base, genesAs: "string" }),
      { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 80 });
write("bad_fractional_genes.parquet", table({ ...base, withId: false, genesAs: "fractional" }),
      { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 80 });
// scBenchmark's combined files (combine_and_sample: pandas.to_parquet): genes cast to float32,
// no id, pandas' index as a column
write("scbench_float_genes.parquet", table({ ...base, withId: false, withGroups: false, genesAs: "float", pandasIndex: true }),
      { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 1000 });
