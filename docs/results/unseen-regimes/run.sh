#!/usr/bin/env bash
# The shipped bare-metal latency models on two regime-changing scenarios that no model
# was trained on (docs/results/unseen-regimes/README.md). The protocol was fixed before
# any model ran on them:
#   1. the tuned setting: the static setting best on seeds 1…3 (what an operator tunes);
#   2. on seeds 1001…1003: the static grid, dim, the one-network model and the ensemble,
#      and, in a second compare, the ensemble anchored to the tuned setting
#      (--ensemble-default) next to the best static setting of the first compare;
#   3. the window-oracle headroom (docs/results/headroom/windows.py, 2 s windows).
#
#   docs/results/unseen-regimes/run.sh [OUT]     (default OUT: .build-unseen-regimes)
#
# Steps 1 and 2 are what Tools/rebuild-models does for the ensemble card's "tuned" table;
# they are written out here rather than shared so that this record of a pre-declared
# experiment keeps doing what it did when it ran, whatever the rebuild script becomes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${COALESCE:-.build/release/coalesce}
here=docs/results/unseen-regimes
out=${1:-.build-unseen-regimes}
mkdir -p "$out"
for file in "$here"/regime-switch-reordered.json "$here"/web-day.json; do
  name=$(basename "$file" .json)
  "$B" compare --policies static-grid --scenarios "$file" --seeds 3 --first-seed 1 --objective latency \
      --json "$out/$name-tuning.json" > /dev/null
  tuned=$(jq -r '.scenarios[0].best_static // empty' "$out/$name-tuning.json")
  "$B" compare --policies "static-grid,dim,model:Models/bare-metal-latency.model,model:Models/bare-metal-latency-ensemble.model" \
      --scenarios "$file" --seeds 3 --first-seed 1001 --objective latency --json "$out/$name.json" > "$here/$name.txt"
  best=$(jq -r '.scenarios[0].best_static // empty' "$out/$name.json")
  [ -n "$tuned" ] && [ -n "$best" ] || { echo "run.sh: no best static setting for $name" >&2; exit 1; }
  statics=$([ "$tuned" = "$best" ] && echo "$best" || echo "$best,$tuned")
  "$B" compare --policies "$statics,dim,model:Models/bare-metal-latency-ensemble.model" --ensemble-default "${tuned#static:}" \
      --scenarios "$file" --seeds 3 --first-seed 1001 --objective latency --json "$out/$name-anchored.json" > "$here/$name-anchored.txt"
  echo "tuned on seeds 1-3: ${tuned#static:}" >> "$here/$name-anchored.txt"
  COALESCE=$B python3 docs/results/headroom/windows.py "$file" 20 > "$here/$name-windows.txt"
done
