#!/usr/bin/env bash
# The default study until the Snakemake workflow lands: McClean et al.'s gradient variance of
# ∂⟨Z0Z1⟩/∂θ_{1,1} for n = 2..8 at depth 20n (saturated), 2000 draws per point, summarised with
# bootstrap CIs and fitted against n.  Outputs go to results/.
set -euo pipefail
cd "$(dirname "$0")/.."
shards=()
for n in 2 4 6 8; do
  out="results/shards/gradients/mcclean_n${n}_L$((20 * n))_zz.parquet"
  [ -f "$out" ] || .venv/bin/qnnscope gradients --ansatz mcclean --qubits "$n" --depth $((20 * n)) \
      --cost zz --params first --samples 2000 --seed 1 --out "$out"
  shards+=("$out")
done
.venv/bin/qnnscope summarize "${shards[@]}" --out results/tables/gradients.parquet
.venv/bin/qnnscope fit results/tables/gradients.parquet --out results/tables/scaling_fits.parquet
