#!/usr/bin/env python3
"""Summarises reproduce.sh's comparisons: per model, the summed paired Δ reward vs the
scenario's best static setting (all scenarios, and without overload-spike), averaged
over the training seeds of each recipe, and the recipe the rule picks."""
import json, re, sys
from collections import defaultdict

print("| models | recipe | Δ vs best static, summed over scenarios (seeds 1 / 2 / 3) | mean | without overload-spike (1 / 2 / 3) | mean |")
print("|---|---|---|---|---|---|")
choices = []
for path in sys.argv[1:]:
    name = re.sub(r"\.json$", "", path.split("/")[-1])
    scenarios = json.load(open(path))["scenarios"]
    total, without = defaultdict(dict), defaultdict(dict)
    for s in scenarios:
        best = next(p for p in s["policies"] if p["policy"] == s["best_static"])["reward_mean"]
        for p in s["policies"]:
            m = re.search(r"-(default|noisy)-s(\d)\.model$", p["policy"])
            if not m:
                continue
            recipe, seed = m.group(1), int(m.group(2))
            d = p["reward_mean"] - best
            total[recipe][seed] = total[recipe].get(seed, 0) + d
            if s["name"] != "overload-spike":
                without[recipe][seed] = without[recipe].get(seed, 0) + d
    means = {}
    for recipe in ("default", "noisy"):
        t = [total[recipe][k] for k in sorted(total[recipe])]
        w = [without[recipe][k] for k in sorted(without[recipe])]
        means[recipe] = (sum(t) / len(t), sum(w) / len(w))
        print(f"| {name} | {recipe} | {' / '.join(f'{x:.3f}' for x in t)} | {means[recipe][0]:.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in w)} | {means[recipe][1]:.3f} |")
    noisy_wins = means["noisy"][0] > means["default"][0] and means["noisy"][1] > means["default"][1]
    choices.append((name, "noisy" if noisy_wins else "default"))
print()
for name, recipe in choices:
    print(f"- {name}: {recipe}")
