#!/usr/bin/env bash
# Reproduces docs/results/ensemble-latency/ (docs/training.md, "Ensembles"): records the
# training data, trains one network and a 5-network ensemble with three training seeds
# each, and compares them, the shipped bare-metal latency model, the static grid, DIM
# and ITR on every bare-metal scenario with the fresh seeds 8001–8010.
#
#   docs/results/ensemble-latency/reproduce.sh [WORKDIR]     (about 25 min on 2 cores)
#
# The models are written as WORKDIR/m/F-{one,ens}-s{1,2,3}.model and
# WORKDIR/m/F-shipped.model, the names the committed compare output uses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${1:-$root/.build-ensemble}
mkdir -p "$work/ds" "$work/m"
(cd "$root" && swift build -c release --product coalesce)
B=$root/.build/release/coalesce
cd "$work"
for seed in 1 2 3 4 5 6; do
  for s in rpc-low memcached bulk-tcp microbursts diurnal-ramp rpc-bulk-mix small-ring virt-one-layer regime-switch e1000e-throttle multiqueue; do
    [ -s "ds/u-$s-s$seed.csv" ] || $B simulate --scenario "$s" --policy "explore:epsilon=1,hold=5" --seed "$seed" \
        --duration 40 --objective latency --record "ds/u-$s-s$seed.csv" > /dev/null
  done
done
for seed in 1 2 3 4; do
  [ -s "ds/u-overload-ramp-s$seed.csv" ] || $B simulate --scenario "$here/overload-ramp.json" --policy "explore:epsilon=1,hold=5" \
      --seed "$seed" --duration 30 --objective latency --record "ds/u-overload-ramp-s$seed.csv" > /dev/null
done
recipe=(--objective latency --created-at 0 --ope-steps 0 --algorithm cql --cql-alpha 0.1 --gamma 0.9 --epochs 8
        --steps-per-epoch 1000 --patience 0 --average-weights 0.002)
for seed in 1 2 3; do
  $B train --data ds/u-*.csv "${recipe[@]}" --seed "$seed" --out "m/F-one-s$seed.model" > "m/F-one-s$seed.txt"
  $B train --data ds/u-*.csv "${recipe[@]}" --seed "$seed" --ensemble 5 --pessimism 1 --default-action auto \
      --support-quantile 0 --out "m/F-ens-s$seed.model" > "m/F-ens-s$seed.txt"
  $B train --data ds/u-*.csv "${recipe[@]}" --seed "$seed" --ensemble 5 --pessimism 1 --default-action auto \
      --out "m/H-ens-s$seed.model" > "m/H-ens-s$seed.txt"
done
# The bare-metal latency model shipped when these results were made (Models/ was rebuilt
# by Tools/rebuild-models since; SHA-256 428fe7507a4e67f4…).
git -C "$root" show aafe7e0:Models/bare-metal-latency.model > m/F-shipped.model
scenarios=$($B scenarios | awk 'NR>2 && $2==1 {print $1}' | paste -sd, -)
policies="static-grid,dim,dim-cqe,itr"
for m in F-ens-s1 F-ens-s2 F-ens-s3 F-one-s1 F-one-s2 F-one-s3 F-shipped; do policies="$policies,model:m/$m.model"; done
$B compare --policies "$policies" --scenarios "$scenarios" --seeds 10 --first-seed 8001 --objective latency \
    --json compare-8001-8010.json --report compare-8001-8010.html | tee compare-8001-8010.txt
# The same ensembles anchored to an operator's static setting, paired against it.
op=rx-usecs=2,rx-frames=4,tx-usecs=16,tx-frames=32
$B compare --policies "static:$op,model:m/F-ens-s1.model,model:m/F-ens-s2.model,model:m/F-ens-s3.model" \
    --baseline "static:$op" --ensemble-default "$op" --scenarios "$scenarios" --seeds 10 --first-seed 8001 \
    --objective latency --json anchored-rx2f4-8001-8010.json | tee anchored-rx2f4-8001-8010.txt
# The ensembles with the support check (the default --support-quantile 0.001).
$B compare --policies "static-grid,dim,dim-cqe,itr,model:m/H-ens-s1.model,model:m/H-ens-s2.model,model:m/H-ens-s3.model" \
    --scenarios "$scenarios" --seeds 10 --first-seed 8001 --objective latency --json support-8001-8010.json \
    | tee support-8001-8010.txt
