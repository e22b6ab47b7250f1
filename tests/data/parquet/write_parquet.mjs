// Writes the test Parquet files with a real writer: parquet-wasm 0.8.0 (the Rust `parquet`
// crate of Apache Arrow, compiled to WebAssembly) from tables built with apache-arrow 21.2.0.
//   node write_parquet.mjs ROWS.json OUTDIR        (make.sh runs it)
import { readFileSync, writeFileSync } from "node:fs";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";

const rows = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = process.argv[3];

function table({ geneType, exprType, withId, withGroups, dropExpressions, genesAsFloat }) {
  const cols = {};
  if (withId) cols.id = arrow.vectorFromArray(rows.id, new arrow.Utf8());
  const gt = genesAsFloat ? new arrow.Float32() : geneType;
  const genes = gt instanceof arrow.Int64 ? rows.genes.map((r) => r.map((v) => BigInt(v))) : rows.genes;
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
write("bad_genes_float.parquet", table({ ...base, genesAsFloat: true }),
      { compression: C.SNAPPY, dictionary: true, version: V.V1, rowGroup: 80 });
