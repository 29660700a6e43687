#!/usr/bin/env python3
"""Leave-one-scenario-out cross-validation of training recipes for the bare-metal latency
model (docs/training.md, "Leave one scenario out").

For each recipe, each of the 11 bare-metal training scenarios X and training seeds 1-3, a
model is trained on the other 10 scenarios' datasets only and run on X with the
development seeds 501-503 next to every static setting. The criterion, fixed before any
run: the sum over the 11 folds of X's paired Δ reward/step against X's best static setting
(mean over the three training seeds); secondary, the folds where the model is not
significantly worse.

    Tools/rebuild-models --verify WORK  # records WORK/datasets (uniform s1..20, base s101..110), writes only under WORK
    COALESCE=.build/release/coalesce python3 docs/results/loso-cv/loso.py WORK/datasets OUT

Took about 35 min on 2 cores shared with other work. Writes OUT/models and, per scenario
left out, OUT/compare-SCENARIO.json (`coalesce compare` of its 15 models against the static
grid: the paired Δ, its bootstrap interval and the verdict are compare's own), both reused
when present, and prints the fold table (the one in this folder's README).
"""
import json, os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

B = os.environ.get('COALESCE', '.build/release/coalesce')
DATA, OUT = sys.argv[1], sys.argv[2]
JOBS = os.cpu_count() or 2
TRAIN = ['--algorithm', 'cql', '--objective', 'latency', '--created-at', '0', '--cql-alpha', '0.1',
         '--steps-per-epoch', '1000', '--epochs', '8', '--patience', '0', '--average-weights', '0.002',
         '--ope-steps', '0']
ENSEMBLE = ['--ensemble', '5', '--pessimism', '1', '--default-action', 'auto']
# recipe: (uniform seeds beyond 1-3?, around-base runs?, extra train arguments)
RECIPES = {'U3': (False, False, []), 'U20': (True, False, []), 'EU20': (True, False, ENSEMBLE),
           'UB': (True, True, []), 'EUB': (True, True, ENSEMBLE)}
SEEDS = (1, 2, 3)

lines = subprocess.run([B, 'scenarios'], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
TRAINING = [r[0] for r in (l.split() for l in lines) if r[1] == '1' and r[2] == 'train']

def files(recipe, left_out):
    more, base, _ = RECIPES[recipe]
    kept = [s for s in TRAINING if s != left_out]
    out = [f'{DATA}/{s}-s{k}.csv' for s in kept for k in (1, 2, 3)]
    if more: out += [f'{DATA}/{s}-s{k}.csv' for s in kept for k in range(4, 21)]
    if base: out += [f'{DATA}/{s}-base-s{k}.csv' for s in kept for k in range(101, 111)]
    return out

def train(job):
    recipe, left_out, seed = job
    path = f'{OUT}/models/{recipe}-{left_out}-s{seed}.model'
    if not os.path.exists(path):
        subprocess.run([B, 'train', '--data', *files(recipe, left_out), *TRAIN, *RECIPES[recipe][2], '--seed', str(seed),
                        '--out', path + '.tmp.model'], stdout=subprocess.DEVNULL, check=True)
        os.rename(path + '.tmp.model', path)
    return path

def compare(left_out):
    """Every model whose training left `left_out` out, on it, against the static grid (dev seeds 501-503)."""
    path = f'{OUT}/compare-{left_out}.json'
    if not os.path.exists(path):
        policies = ','.join(['static-grid'] + ['model:' + models[(r, left_out, s)] for r in RECIPES for s in SEEDS])
        subprocess.run([B, 'compare', '--policies', policies, '--scenarios', left_out, '--seeds', '3', '--first-seed', '501',
                        '--objective', 'latency', '--jobs', str(JOBS), '--json', path + '.tmp'],
                       stdout=subprocess.DEVNULL, check=True)
        os.rename(path + '.tmp', path)
    scenario = json.load(open(path))['scenarios'][0]
    return {p['policy'][len('model:'):]: p['vs_best_static'] for p in scenario['policies'] if p['policy'].startswith('model:')}

os.makedirs(f'{OUT}/models', exist_ok=True)
jobs = [(r, x, s) for r in RECIPES for x in TRAINING for s in SEEDS]
with ThreadPoolExecutor(JOBS) as pool: models = dict(zip(jobs, pool.map(train, jobs)))
folds = {x: compare(x) for x in TRAINING}

print('left-out Δ reward/step vs the left-out scenario\'s best static setting (dev seeds 501-503); * = not significantly worse')
print(f'{"recipe":9s}' + ''.join(f'{x[:12]:>13s}' for x in TRAINING) + f'{"sum":>10s}  not worse')
for recipe in RECIPES:
    sums = []
    for s in SEEDS:
        cells, total, fine = [], 0.0, 0
        for x in TRAINING:
            delta = folds[x][models[(recipe, x, s)]]
            total += delta['reward']; fine += delta['verdict'] != 'worse'
            cells.append(f"{delta['reward']:12.3f}" + (' ' if delta['verdict'] == 'worse' else '*'))
        sums.append(total)
        print(f'{recipe + " s" + str(s):9s}' + ''.join(cells) + f'{total:10.2f}  {fine:2d}')
    print(f'{recipe:9s}' + ' ' * 13 * len(TRAINING) + f'{sum(sums) / 3:10.2f}  (mean of the sums)')
