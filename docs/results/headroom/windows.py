#!/usr/bin/env python3
"""Where in a scenario could any policy beat its best static setting? (docs/results/headroom)

Runs every static setting of the action space on SCENARIO with the same seeds (paired:
identical traffic), recording each run (`coalesce simulate --record`), and prints, per
window of W control intervals:

- the static setting that earned most in that window, averaged over the seeds, and by how
  much it beats the scenario's best static setting there;
- the *window oracle*: the best static setting of each window, played in that window. It
  knows where the windows are and what each setting earns in them (hindsight), but unlike
  the per-interval oracle of `coalesce compare` (static_oracle) it cannot follow the
  interval-to-interval noise, so it is the headroom a policy that recognises the traffic
  regime could aim at.

With --per-interval, one line per interval and every setting's reward (the overload-spike
table in README.md).

    COALESCE=.build/release/coalesce python3 docs/results/headroom/windows.py SCENARIO W [--seeds 1001,1002,1003] [--per-interval]

`coalesce compare` does the paired comparison, the bootstrap and the per-interval oracle
itself; this script only splits the recorded rewards by window, which compare does not.
"""
import argparse, csv, os, statistics, subprocess, tempfile
from concurrent.futures import ThreadPoolExecutor

B = os.environ.get('COALESCE', '.build/release/coalesce')
p = argparse.ArgumentParser()
p.add_argument('scenario'); p.add_argument('window', type=int)
p.add_argument('--seeds', default='1001,1002,1003'); p.add_argument('--per-interval', action='store_true')
a = p.parse_args()
seeds = [int(s) for s in a.seeds.split(',')]

# The action space's settings, as `coalesce inspect` lists them for a shipped model of it.
inspect = subprocess.run([B, 'inspect', 'Models/bare-metal-latency.model'], check=True,
                         capture_output=True, text=True).stdout
settings = []
for line in inspect.splitlines():
    f = line.split()
    if len(f) == 2 and f[0].isdigit() and f[0] == str(len(settings)) and f[1].startswith('rx-usecs='):
        settings.append(f[1])
assert settings, 'no action list in coalesce inspect output'

def run(job):
    seed, i, d = job
    path = os.path.join(d, f'{seed}-{i}.csv')
    subprocess.run([B, 'simulate', '--scenario', a.scenario, '--policy', 'static:' + settings[i], '--seed', str(seed),
                    '--objective', 'latency', '--record', path], check=True, capture_output=True)
    with open(path) as fh:
        rows = csv.DictReader(l for l in fh if not l.startswith('#'))
        return (seed, i), {int(r['step']): float(r['reward']) for r in rows}

with tempfile.TemporaryDirectory() as d, ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    R = dict(pool.map(run, [(s, i, d) for s in seeds for i in range(len(settings))]))

steps = sorted(R[(seeds[0], 0)])
mean = lambda xs: sum(xs) / len(xs)
total = {i: mean([R[(s, i)][t] for s in seeds for t in steps]) for i in range(len(settings))}
best = max(total, key=total.get)
print(f'{a.scenario}, seeds {a.seeds}, latency objective, {len(steps)} intervals; actions: '
      + '; '.join(f'{i} {s}' for i, s in enumerate(settings)))
print(f'best static setting: {best} ({settings[best]}), {total[best]:.4f} reward/step')
if a.per_interval:
    for t in steps:
        m = {i: mean([R[(s, i)][t] for s in seeds]) for i in range(len(settings))}
        print(f'interval {t:3d}  ' + ' '.join(f'{i}:{m[i]:.2f}' for i in range(len(settings))))
oracle = []
print(f'{"intervals":>10}  {"best":>4}  {"its reward":>10}  {"best static":>11}  {"gain":>7}  {"sd":>7}')
for w in range(0, len(steps), a.window):
    ts = [t for t in steps if w <= t < w + a.window]
    m = {i: mean([R[(s, i)][t] for s in seeds for t in ts]) for i in range(len(settings))}
    b = max(m, key=m.get)
    oracle += [R[(s, b)][t] for s in seeds for t in ts]
    sd = statistics.pstdev([R[(s, best)][t] for s in seeds for t in ts])
    print(f'{w:4d}-{ts[-1]:<5d}  {b:4d}  {m[b]:10.3f}  {m[best]:11.3f}  {m[b] - m[best]:+7.3f}  {sd:7.3f}')
print(f'window oracle: {mean(oracle):.4f} reward/step, headroom over the best static setting {mean(oracle) - total[best]:+.4f}')
