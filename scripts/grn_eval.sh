#!/usr/bin/env bash
# The figures of docs/grn.md: gene programs and attention networks against planted co-expression
# modules, the model's gene embeddings beside the correlation baseline.
#   simulate 8,000 cells fit to pbmc3k with 10 modules of 20 genes -> store -> pretrain
#   scBenchmark's transformer on them -> grn programs (--vectors model | correlation, a
#   resolution sweep, ARI vs var['module']) -> grn attention (do a module gene's top targets lie
#   in its module?)
# Output: out/grn_eval/ (override with OUT=...); tables on stdout. Assumes a built ./build/scfm.
# Last, when out/demo/run exists (scripts/demo.sh): marker pairs in pbmc3k's programs
# (ONLY_PBMC=1 runs that part alone).
# Then the same on a model pretrained on the 400-gene panel only (the module genes and 200 others),
# where a cell's 128 sampled genes hold many genes of each module together.
# About 10 minutes on 2 cores (STEPS=3000 pretraining steps per model).
set -euo pipefail
cd "$(dirname "$0")/.."
SCFM=./${BUILD_DIR:-build}/scfm
OUT=${OUT:-out/grn_eval}
STEPS=${STEPS:-3000}
PY=/usr/bin/python3
mkdir -p "$OUT"

if [ -z "${ONLY_PBMC:-}" ]; then
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

evaluate() {  # run folder, label, gene sets
run=$1 label=$2 gene_sets=$3
echo "## $label: grn programs, ARI of the programs vs the planted modules"
echo "| genes | vectors | resolution | communities | programs | ARI (module genes) | ARI (all genes) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for genes in $gene_sets; do
  if [ $genes = module ]; then sel=(--genes "@$OUT/module_genes.txt"); rs="0.5 1 2 5"; else sel=(--hvg 2000); rs="2 5 10 20"; fi
  for vectors in model correlation; do
    for r in $rs; do
      d="$OUT/programs_${label// /_}_${genes}_${vectors}_r$r"
      $SCFM grn programs --model "$run" --in "$OUT/sim.h5ad" "${sel[@]}" --vectors $vectors \
        --truth-col module --resolution "$r" --out "$d" --json > "$d.json"
      $PY -c "
import json,sys; r=json.load(open('$d.json')); t=r['truth']
print('| $genes | $vectors | $r | %d | %d | %.3f | %.3f |' % (r['n_communities'], r['n_programs'], t['ari_known_genes'], t['ari_all_genes']))"
    done
  done
done

echo
echo "## $label: grn attention, a module gene's top-k targets in its own module (precision), per normalisation"
echo "| normalize | group | cells | top-k | precision | chance |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for norm in rank softmax; do
  d="$OUT/attention_${label// /_}_$norm"
  $SCFM grn attention --model "$run" --in "$OUT/sim.h5ad" --group-col cell_type --genes "@$OUT/panel_genes.txt" \
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
}

evaluate "$OUT/run" "all genes" "module hvg2000"

# the panel model: the sim's 400 panel genes only
if [ ! -f "$OUT/panel_run/best_model.pt" ]; then
  $PY - "$OUT" <<'EOF'
import sys, anndata
out = sys.argv[1]
a = anndata.read_h5ad(out + "/sim.h5ad")
keep = [l.strip() for l in open(out + "/panel_genes.txt") if l.strip()]
a[:, keep].copy().write_h5ad(out + "/sim_panel.h5ad")
EOF
  $SCFM vocab build "$OUT/sim_panel.h5ad" --out "$OUT/panel_vocab.json"
  $SCFM ingest "$OUT/sim_panel.h5ad" --vocab "$OUT/panel_vocab.json" --out "$OUT/panel_store" --obs-cols cell_type --overwrite
  $SCFM pretrain --store "$OUT/panel_store" --out "$OUT/panel_run" --model-structure transformer \
    --epochs 20 --max-steps "$STEPS" --batch-size 32 --nlayers 2 --nheads 4 --embsize 64 --dropout 0.1 \
    --train-maxseq 128 --lr 3e-3 --warmup-iters 50 --use-mvc --seed 0
fi
evaluate "$OUT/panel_run" "panel genes" "module"
fi  # ONLY_PBMC

# pbmc3k with the demo model (scripts/demo.sh writes out/demo/run): do known markers fall together?
DEMO=${DEMO:-out/demo/run}
if [ -f "$DEMO/best_model.pt" ]; then
  echo
  # the 1,200 HVGs (seurat_v3) and the markers (CD3D and CD3E are not HVGs of these 160 cells)
  $SCFM grn programs --model "$DEMO" --in data/pbmc3k.h5ad --hvg 1200 --out "$OUT/pbmc3k_hvg" > /dev/null
  { tail -n +2 "$OUT/pbmc3k_hvg/genes.csv" | cut -d, -f1; printf "%s\n" CD3D CD3E MS4A1 CD79A LYZ S100A8 NKG7 GNLY; } \
    | awk '!seen[$0]++' > "$OUT/pbmc3k_genes.txt"
  echo "## pbmc3k (data/pbmc3k.h5ad, 160 cells), model $DEMO: marker pairs in one program"
  echo "| vectors | genes | resolution | programs | CD3D/CD3E | MS4A1/CD79A | LYZ/S100A8 | NKG7/GNLY | programs of the markers |"
  echo "| --- | ---: | ---: | ---: | --- | --- | --- | --- | --- |"
  for vectors in model correlation; do
    for r in 10 40; do
      d="$OUT/pbmc3k_${vectors}_r$r"
      $SCFM grn programs --model "$DEMO" --in data/pbmc3k.h5ad --genes "@$OUT/pbmc3k_genes.txt" --group-col cell_type \
        --vectors $vectors --resolution $r --out "$d" > /dev/null
      $PY - "$d" $vectors $r <<'EOF'
import sys, json, pandas as pd
d, vectors, r = sys.argv[1:4]
g = pd.read_csv(d + "/genes.csv", keep_default_na=False).set_index("gene")["program"].to_dict()
res = json.load(open(d + "/results.json"))
def pair(a, b):
    if a not in g or b not in g: return "not both selected"
    return ("yes (%s)" % g[a]) if g[a] and g[a] == g[b] else "no (%s, %s)" % (g[a] or "-", g[b] or "-")
markers = ["CD3D", "CD3E", "MS4A1", "CD79A", "LYZ", "S100A8", "NKG7", "GNLY"]
print("| %s | %d | %s | %d | %s | %s | %s | %s | %s |" % (vectors, res["n_genes"], r, res["n_programs"], pair("CD3D", "CD3E"),
      pair("MS4A1", "CD79A"), pair("LYZ", "S100A8"), pair("NKG7", "GNLY"),
      " ".join("%s:%s" % (m, g.get(m) or "-") for m in markers)))
EOF
    done
  done
fi
