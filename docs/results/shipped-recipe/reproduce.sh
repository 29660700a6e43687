#!/usr/bin/env bash
# Reproduces docs/results/shipped-recipe/: which training recipe Tools/rebuild-models uses
# for each shipped lab model. For every objective and layer count it trains, on the
# shipped models' own training data, three models (training seeds 1, 2, 3) with each of
#   default  `coalesce train --algorithm cql` (α 1, 30 epochs with early stopping)
#   noisy    the same plus --cql-alpha 0.1 --steps-per-epoch 1000 --epochs 8 --patience 0
#            --average-weights 0.002 (docs/training.md's recipe for noisy rewards)
# and compares them with the static grid and DIM on every scenario of that layer count,
# on the development seeds 501–503: never the evaluation seeds (1001…) of the model
# cards, and fixed, with the rule below, before any of these comparisons ran.
#
# Rule: a model uses the noisy recipe when, averaged over the three training seeds, its
# summed Δ reward vs the best static setting over all scenarios is higher with it, both
# with and without the held-out overload-spike (so that one scenario cannot decide).
#
#   [DATA=DIR] docs/results/shipped-recipe/reproduce.sh [WORKDIR]     (about 15 min on 2 cores)
# DATA: the regenerated training data (default .build-models/datasets).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${1:-$root/.build-recipe}
mkdir -p "$work/m"
(cd "$root" && swift build -c release --product coalesce)
B=$root/.build/release/coalesce
# The shipped models' training data, regenerated bit for bit (Tools/rebuild-models step 1).
data=${DATA:-$root/.build-models/datasets}
[ -d "$data" ] || { echo "run Tools/rebuild-models --verify first: it regenerates $data" >&2; exit 2; }
noisy=(--cql-alpha 0.1 --steps-per-epoch 1000 --epochs 8 --patience 0 --average-weights 0.002)
cd "$work"
for layers in 1 2; do
  kind=$([ "$layers" = 1 ] && echo bare-metal || echo virtualized)
  files=()
  for entry in $($B scenarios | awk -v l="$layers" 'NR>2 && $2==l && $3=="train" {print $1}'); do
    for seed in 1 2 3; do files+=("$data/$entry-s$seed.csv"); done
  done
  scenarios=$($B scenarios | awk -v l="$layers" 'NR>2 && $2==l {print $1}' | paste -sd, -)
  for objective in latency balanced throughput; do
    policies="static-grid,dim"
    for seed in 1 2 3; do
      $B train --data "${files[@]}" --algorithm cql --objective "$objective" --seed "$seed" --created-at 0 \
          --out "m/$kind-$objective-default-s$seed.model" > /dev/null
      $B train --data "${files[@]}" --algorithm cql --objective "$objective" --seed "$seed" --created-at 0 "${noisy[@]}" \
          --out "m/$kind-$objective-noisy-s$seed.model" > /dev/null
      policies="$policies,model:m/$kind-$objective-default-s$seed.model,model:m/$kind-$objective-noisy-s$seed.model"
    done
    $B compare --policies "$policies" --scenarios "$scenarios" --seeds 3 --first-seed 501 --objective "$objective" \
        --json "$kind-$objective.json" > "$kind-$objective.txt"
  done
done
python3 "$here/summarise.py" "$work"/*.json | tee "$work/summary.md"
