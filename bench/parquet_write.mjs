// bench/ingest_parquet: writes cells as scBenchmark's / scBank's Parquet rows with a real writer
// (parquet-wasm = arrow-rs), from raw arrays: OFFSETS (int64, n+1), IDS (int64), VALUES (float32),
// NAMES (JSON list of cell names).
//   node parquet_write.mjs DIR OUT.parquet ROW_GROUP CODEC   (DIR holds offsets.bin ids.bin values.bin names.json)
import { readFileSync, writeFileSync } from "node:fs";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";

const [dir, out, rowGroup, codec] = process.argv.slice(2);
const buf = (f) => { const b = readFileSync(`${dir}/${f}`); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
const offsets64 = new BigInt64Array(buf("offsets.bin"));
const ids = new BigInt64Array(buf("ids.bin"));
const values = new Float32Array(buf("values.bin"));
const n = offsets64.length - 1;
const offsets = Int32Array.from(offsets64, (v) => Number(v));
const list = (type, child) =>
  arrow.makeData({ type: new arrow.List(new arrow.Field("item", type, true)), length: n, nullCount: 0, valueOffsets: offsets, child });
const genes = list(new arrow.Int64(), arrow.makeData({ type: new arrow.Int64(), length: ids.length, data: ids }));
const expr = list(new arrow.Float32(), arrow.makeData({ type: new arrow.Float32(), length: values.length, data: values }));
// the cell names as `id`, so the store's barcodes match an ingest of the .h5ad
const idCol = arrow.vectorFromArray(JSON.parse(readFileSync(`${dir}/names.json`, "utf8")), new arrow.Utf8());
const table = new arrow.Table({ id: idCol, genes: arrow.makeVector(genes), expressions: arrow.makeVector(expr) });
const props = new pq.WriterPropertiesBuilder()
  .setCompression(pq.Compression[codec])
  .setDictionaryEnabled(true)
  .setWriterVersion(pq.WriterVersion.V1)
  .setMaxRowGroupSize(Number(rowGroup))
  .build();
writeFileSync(out, pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream")), props));
