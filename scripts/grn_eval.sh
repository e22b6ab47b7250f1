#!/usr/bin/env bash
# The figures of docs/grn.md: gene programs and attention networks against planted co-expression
# modules, the model's gene embeddings beside the correlation baseline.
#   simulate 8,000 cells fit to pbmc3k with 10 modules of 20 genes -> store -> pretrain
#   scBenchmark's transformer on them -> grn programs (--vectors model | correlation, a
#   resolution sweep, ARI vs var['module']) -> grn attention (do a module gene's top targets lie
#   in its module?)
# Output: out/grn_eval/ (override with OUT=...); tables on stdout. Assumes a built ./build/scfm.
# About 10 minutes on 2 cores (STEPS=3000 pretraining steps).
set -euo pipefail
cd "$(dirname "$0")/.."
SCFM=./${BUILD_DIR:-build}/scfm
OUT=${OUT:-out/grn_eval}
STEPS=${STEPS:-3000}
PY=/usr/bin/python3
mkdir -p "$OUT"

if [ ! -f "$OUT/run/best_model.pt" ]; then
  $SCFM simulate --like data/pbmc3k.h5ad --label-col cell_type --cells 8000 --modules 10 --module-size 20 \
    --module-strength 0.7 --seed 3 --out "$OUT/sim.h5ad"
  $SCFM vocab build "$OUT/sim.h5ad" --out "$OUT/vocab.json"
  $SCFM ingest "$OUT/sim.h5ad" --vocab "$OUT/vocab.json" --out "$OUT/store" --obs-cols cell_type --overwrite
  $SCFM pretrain --store "$OUT/store" --out "$OUT/run" --model-structure transformer \
    --epochs 20 --max-steps "$STEPS" --batch-size 32 --nlayers 2 --nheads 4 --embsize 64 --dropout 0.1 \
    --train-maxseq 128 --lr 3e-3 --warmup-iters 50 --use-mvc --seed 0
fi

# the 200 module genes, and 200 non-module genes of similar mean (the next 200 most expressed)
$PY - "$OUT" <<'EOF'
import sys, anndata, numpy as np
out = sys.argv[1]
a = anndata.read_h5ad(out + "/sim.h5ad")
m = a.var["module"].astype(int).to_numpy()
names = a.var_names.to_numpy()
mean = np.asarray(a.X.mean(axis=0)).ravel()
order = np.argsort(-mean, kind="stable")
others = [i for i in order if m[i] < 0][:200]
open(out + "/module_genes.txt", "w").write("\n".join(names[m >= 0]) + "\n")
open(out + "/panel_genes.txt", "w").write("\n".join(list(names[m >= 0]) + list(names[others])) + "\n")
EOF

echo "## grn programs: ARI of the programs vs the planted modules"
echo "| genes | vectors | resolution | communities | programs | ARI (module genes) | ARI (all genes) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for genes in module hvg2000; do
  if [ $genes = module ]; then sel=(--genes "@$OUT/module_genes.txt"); rs="0.5 1 2 5"; else sel=(--hvg 2000); rs="2 5 10 20"; fi
  for vectors in model correlation; do
    for r in $rs; do
      d="$OUT/programs_${genes}_${vectors}_r$r"
      $SCFM grn programs --model "$OUT/run" --in "$OUT/sim.h5ad" "${sel[@]}" --vectors $vectors \
        --truth-col module --resolution "$r" --out "$d" --json > "$d.json"
      $PY -c "
import json,sys; r=json.load(open('$d.json')); t=r['truth']
print('| $genes | $vectors | $r | %d | %d | %.3f | %.3f |' % (r['n_communities'], r['n_programs'], t['ari_known_genes'], t['ari_all_genes']))"
    done
  done
done

echo
echo "## grn attention: a module gene's top-k targets in its own module (precision), per normalisation"
echo "| normalize | group | cells | top-k | precision | chance |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for norm in rank softmax; do
  d="$OUT/attention_$norm"
  $SCFM grn attention --model "$OUT/run" --in "$OUT/sim.h5ad" --group-col cell_type --genes "@$OUT/panel_genes.txt" \
    --groups "CD14+ Mono" --max-cells 200 --normalize $norm --top-k 10 --out "$d" > /dev/null
  $PY - "$OUT" "$d" $norm <<'EOF'
import sys, json, anndata, pandas as pd
out, d, norm = sys.argv[1:4]
a = anndata.read_h5ad(out + "/sim.h5ad", backed="r")
module = dict(zip(a.var_names, a.var["module"].astype(int)))
e = pd.read_csv(d + "/edges.csv")
r = json.load(open(d + "/results.json"))
e = e[e["source"].map(module) >= 0]
hit = (e["source"].map(module) == e["target"].map(module)).mean()
n = r["n_genes"]
print("| %s | %s | %d | %d | %.3f | %.3f |" % (norm, r["groups"][0]["name"], r["groups"][0]["cells_used"],
      r["settings"]["top_k"], hit, 19 / (n - 1)))
EOF
done
