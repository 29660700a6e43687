#!/usr/bin/env python3
"""Where in a scenario could any policy beat its best static setting? (docs/results/headroom)

Runs every setting of the bare-metal action space as a static policy on SCENARIO (a built-in
bare-metal scenario or a one-layer scenario file) with the
same seeds (paired: identical traffic), recording each run (`coalesce simulate --record`),
and splits the recorded rewards into windows of W control intervals of time. A row's
reward is measured over the interval after its observation, [t_ns, t_ns + interval_ns]
(docs/dataset.md), so a window holds the rows whose t_ns falls in it. Per window it prints:

- the setting that earned most there (mean over the seeds), its gain over the scenario's
  best static setting, and the runner-up's shortfall behind the window's best;
- `sd`: the standard deviation of the best static setting's per-interval reward in the
  window, over intervals and seeds (how noisy one logged sample of that window is);

and the *window oracle*: each window's best setting, played in that window. It knows
the windows and what each setting earns in them (hindsight, picked and scored on the
same seeds, so biased upward), but unlike the per-interval oracle of `coalesce compare`
(`static_oracle`) it cannot follow the interval-to-interval noise.

With --per-interval it also prints every setting's reward in every interval.

    COALESCE=.build/release/coalesce python3 docs/results/headroom/windows.py SCENARIO|FILE.json W [--seeds 1001,1002,1003] [--per-interval]

Why not `coalesce compare`: it runs the same static grid with the same seeds, but its
JSON holds no per-step rewards and its oracle has no windows; this script needs both.
"""
import argparse, csv, os, statistics, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

B = os.environ.get('COALESCE', '.build/release/coalesce')
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..')
p = argparse.ArgumentParser()
p.add_argument('scenario'); p.add_argument('window', type=int)
p.add_argument('--seeds', default='1001,1002,1003'); p.add_argument('--per-interval', action='store_true')
a = p.parse_args()
seeds = [int(s) for s in a.seeds.split(',')]

def lines(*args):
    return subprocess.run([B, *args], check=True, capture_output=True, text=True).stdout.splitlines()

layers = {f[0]: f[1] for f in (l.split() for l in lines('scenarios')[2:]) if len(f) > 2}
if not os.path.isfile(a.scenario) and layers.get(a.scenario) != '1':
    sys.exit(f'windows.py: {a.scenario} is neither a scenario file nor a built-in bare-metal (one-layer) scenario')
# The bare-metal action space, as `coalesce inspect` lists it for a shipped model of it.
settings = []
for line in lines('inspect', os.path.join(REPO, 'Models', 'bare-metal-latency.model')):
    f = line.split()
    if len(f) == 2 and f[0] == str(len(settings)) and f[1].startswith('rx-usecs='):
        settings.append(f[1])
assert settings, 'no action list in coalesce inspect output'

def run(job):
    seed, i, d = job
    path = os.path.join(d, f'{seed}-{i}.csv')
    subprocess.run([B, 'simulate', '--scenario', a.scenario, '--policy', 'static:' + settings[i], '--seed', str(seed),
                    '--objective', 'latency', '--record', path], check=True, capture_output=True)
    with open(path) as fh:
        rows = list(csv.DictReader(l for l in fh if not l.startswith('#')))
    return (seed, i), {int(r['t_ns']): (int(r['interval_ns']), float(r['reward'])) for r in rows}

with tempfile.TemporaryDirectory() as d, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    runs = dict(pool.map(run, [(s, i, d) for s in seeds for i in range(len(settings))]))

starts = sorted(runs[(seeds[0], 0)])
interval_ns = runs[(seeds[0], 0)][starts[0]][0]
R = {k: {t: v[1] for t, v in run.items()} for k, run in runs.items()}
mean = lambda xs: sum(xs) / len(xs)
total = {i: mean([R[(s, i)][t] for s in seeds for t in starts]) for i in range(len(settings))}
best = max(total, key=total.get)
sec = lambda ns: f'{ns / 1e9:.1f}'
print(f'{a.scenario}, seeds {a.seeds}, latency objective, {len(starts)} intervals of {interval_ns / 1e6:g} ms '
      f'from {sec(starts[0])} s; settings: ' + '; '.join(f'{i} {s}' for i, s in enumerate(settings)))
print(f'best static setting: {best} ({settings[best]}), {total[best]:.4f} reward/step')
if a.per_interval:
    for t in starts:
        m = {i: mean([R[(s, i)][t] for s in seeds]) for i in range(len(settings))}
        print(f'{sec(t)}-{sec(t + interval_ns)} s  ' + ' '.join(f'{i}:{m[i]:.2f}' for i in range(len(settings))))
width = a.window * interval_ns
oracle = []
print(f'{"window (s)":>10}  {"rows":>4}  {"best":>4}  {"its reward":>10}  {"best static":>11}  {"gain":>7}  '
      f'{"runner-up":>9}  {"behind":>7}  {"sd":>7}')
for w in sorted({t // width for t in starts}):
    ts = [t for t in starts if t // width == w]
    m = {i: mean([R[(s, i)][t] for s in seeds for t in ts]) for i in range(len(settings))}
    ranked = sorted(m, key=m.get, reverse=True)
    b, second = ranked[0], ranked[1]
    oracle += [R[(s, b)][t] for s in seeds for t in ts]
    sd = statistics.pstdev([R[(s, best)][t] for s in seeds for t in ts])
    print(f'{sec(w * width):>4}-{sec((w + 1) * width):<5}  {len(ts):4d}  {b:4d}  {m[b]:10.3f}  {m[best]:11.3f}  '
          f'{m[b] - m[best]:+7.3f}  {second:9d}  {m[second] - m[b]:7.3f}  {sd:7.3f}')
print(f'window oracle: {mean(oracle):.4f} reward/step, headroom over the best static setting {mean(oracle) - total[best]:+.4f}')
