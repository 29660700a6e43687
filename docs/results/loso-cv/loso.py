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

Took about 35 min on 2 cores shared with other work. Writes OUT/models, OUT/runs (one `simulate --json` per run,
reused when present) and prints the fold table (the one in this folder's README).
"""
import json, os, random, subprocess, sys
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
SEEDS, DEV = (1, 2, 3), (501, 502, 503)

lines = subprocess.run([B, 'scenarios'], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
rows = [l.split() for l in lines]
TRAINING = [r[0] for r in rows if r[1] == '1' and r[2] == 'train']
STATICS = [l.split()[1] for l in subprocess.run([B, 'inspect', 'Models/bare-metal-latency.model'], capture_output=True,
           text=True, check=True).stdout.splitlines() if len(l.split()) == 2 and l.split()[0].isdigit()
           and 'adaptive' not in l]

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

def reward(job):
    scenario, policy, seed = job
    name = policy.replace('/', '_').replace(':', '_').replace(',', '_').replace('=', '')
    path = f'{OUT}/runs/{scenario}-{name}-{seed}.json'
    if not os.path.exists(path):
        subprocess.run([B, 'simulate', '--scenario', scenario, '--policy', policy, '--seed', str(seed), '--objective',
                        'latency', '--json', path + '.tmp'], stdout=subprocess.DEVNULL, check=True)
        os.rename(path + '.tmp', path)
    return json.load(open(path))['reward']

def bootstrap(d, n=2000):
    r = random.Random(7); m = len(d)
    means = sorted(sum(d[r.randrange(m)] for _ in range(m)) / m for _ in range(n))
    return means[int(.025 * n)], means[int(.975 * n) - 1]

os.makedirs(f'{OUT}/models', exist_ok=True); os.makedirs(f'{OUT}/runs', exist_ok=True)
jobs = [(r, x, s) for r in RECIPES for x in TRAINING for s in SEEDS]
with ThreadPoolExecutor(JOBS) as pool: models = dict(zip(jobs, pool.map(train, jobs)))
runs = [(x, 'static:' + p, d) for x in TRAINING for p in STATICS for d in DEV]
runs += [(x, 'model:' + models[(r, x, s)], d) for r in RECIPES for x in TRAINING for s in SEEDS for d in DEV]
with ThreadPoolExecutor(JOBS) as pool: R = dict(zip(runs, pool.map(reward, runs)))

print('left-out Δ reward/step vs the left-out scenario\'s best static setting (dev seeds 501-503); * = not significantly worse')
print(f'{"recipe":9s}' + ''.join(f'{x[:12]:>13s}' for x in TRAINING) + f'{"sum":>10s}  not worse')
for recipe in RECIPES:
    sums = []
    for s in SEEDS:
        cells, total, fine = [], 0.0, 0
        for x in TRAINING:
            best = max(STATICS, key=lambda p: sum(R[(x, 'static:' + p, d)] for d in DEV))
            d = [R[(x, 'model:' + models[(recipe, x, s)], e)] - R[(x, 'static:' + best, e)] for e in DEV]
            lo, hi = bootstrap(d)
            mean = sum(d) / len(d); total += mean; fine += hi >= 0
            cells.append(f'{mean:12.3f}' + ('*' if hi >= 0 else ' '))
        sums.append(total)
        print(f'{recipe + " s" + str(s):9s}' + ''.join(cells) + f'{total:10.2f}  {fine:2d}')
    print(f'{recipe:9s}' + ' ' * 13 * len(TRAINING) + f'{sum(sums) / 3:10.2f}  (mean of the sums)')
