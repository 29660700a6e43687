#!/usr/bin/env python3
"""Train d3rlpy's DiscreteCQL on Coalesce datasets, to compare with `coalesce train`.

Optional and not part of CI. Needs Python 3.9+, numpy and d3rlpy 2.x
(`pip install d3rlpy`, which pulls in PyTorch). See docs/training.md,
"Comparing with d3rlpy".

    python3 Tools/d3rlpy_interop.py --data rs1.csv rs2.csv --steps 20000 \
        [--objective latency.json] [--gamma 0.9] [--alpha 1.0] [--out cql.d3]

It reads dataset schema v1 (docs/dataset.md) exactly as the Swift trainer does:
rows form (s_t, a_t, r_t, s_t+1) within an episode, rows marked `timeout` end
an episode without a next state, and rewards are recomputed from the logged
components (columns c_*) under the objective (the header's, or --objective, a
JSON object with every weight: slo_p99_us, latency_weight, slo_penalty,
cpu_weight, cpu_per_packet_weight, drop_weight, backlog_weight, change_weight).
States are standardised with the training mean and standard deviation and the
network is 64-64 (as `coalesce train --hidden 64,64`), so the two can be
compared step for step. It prints the greedy action distribution, and the
agreement with a Coalesce model's actions when given --coalesce-actions (a
file with one action id per transition, in the order of the data).
"""
import argparse
import csv
import json
import sys

MAGIC = "# coalesce-dataset v1"


def read_dataset(path):
    """Returns (header dict, list of row dicts)."""
    with open(path, newline="") as f:
        magic = f.readline().rstrip("\n")
        if magic != MAGIC:
            sys.exit(f"{path}: line 1: expected '{MAGIC}', found '{magic[:40]}'")
        line = f.readline()
        if not line.startswith("# {"):
            sys.exit(f"{path}: line 2: expected the JSON header after '# '")
        header = json.loads(line[2:])
        rows = list(csv.DictReader(f))
    return header, rows


def reward(objective, row):
    """Objective.reward (Sources/CoalesceCore/Objective.swift), from the logged components."""
    latency = 0.0
    p99 = row["c_latency_p99_us"]
    if p99 != "" and objective["slo_p99_us"] > 0:
        ratio = float(p99) / objective["slo_p99_us"]
        latency = ratio + objective["slo_penalty"] * max(0.0, ratio - 1.0)
    return -(objective["latency_weight"] * latency
             + objective["cpu_weight"] * float(row["c_cpu_busy"])
             + objective["cpu_per_packet_weight"] * float(row["c_cpu_per_packet_us"])
             + objective["drop_weight"] * float(row["c_drop_fraction"])
             + objective["backlog_weight"] * float(row["c_backlog_fraction"])
             + objective["change_weight"] * float(row["c_changed"]))


def load(paths, objective_override):
    """Observations, actions, rewards, terminals and timeouts in d3rlpy's layout."""
    import numpy as np
    observations, actions, rewards, terminals, timeouts = [], [], [], [], []
    features = action_count = None
    for path in paths:
        header, rows = read_dataset(path)
        names = ["s_" + n for n in header["features"]]
        if features is None:
            features, action_count = names, len(header["action_space"]["settings"])
        elif names != features or len(header["action_space"]["settings"]) != action_count:
            sys.exit(f"{path}: features or action space differ from {paths[0]}")
        objective = objective_override or header["objective"]
        for i, row in enumerate(rows):
            last_of_episode = i + 1 == len(rows) or rows[i + 1]["episode"] != row["episode"]
            terminal = row["terminal"] == "1"
            if (row["timeout"] == "1" or last_of_episode) and not terminal:
                # No next state: d3rlpy ends the episode at the previous row.
                if timeouts:
                    timeouts[-1] = 1.0
                continue
            observations.append([float(row[n]) for n in features])
            actions.append(int(row["action"]))
            rewards.append(reward(objective, row))
            terminals.append(1.0 if terminal else 0.0)
            timeouts.append(0.0)
    if timeouts and terminals[-1] == 0.0:
        timeouts[-1] = 1.0
    return (np.asarray(observations, dtype=np.float32), np.asarray(actions, dtype=np.int64),
            np.asarray(rewards, dtype=np.float32), np.asarray(terminals, dtype=np.float32),
            np.asarray(timeouts, dtype=np.float32), features, action_count)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", required=True, help="Coalesce dataset files (schema v1)")
    p.add_argument("--objective", help="JSON file with every objective weight (default: each header's)")
    p.add_argument("--steps", type=int, default=20000, help="gradient steps")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--gamma", type=float, default=0.9)
    p.add_argument("--alpha", type=float, default=1.0, help="CQL alpha")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    p.add_argument("--out", help="save the d3rlpy model (d3 format) here")
    p.add_argument("--coalesce-actions", help="file of one action id per row to compare greedy actions with")
    args = p.parse_args()

    try:
        import numpy as np
        import d3rlpy
        import torch
    except ImportError as e:
        sys.exit(f"missing Python package ({e.name}); install with: pip install d3rlpy")

    objective = None
    if args.objective:
        with open(args.objective) as f:
            objective = json.load(f)
    obs, act, rew, term, tout, features, action_count = load(args.data, objective)
    if len(obs) == 0:
        sys.exit("no transitions")
    print(f"{len(obs)} transitions, {len(features)} features, {action_count} actions, "
          f"{int(tout.sum() + term.sum())} episode end(s)")

    torch.set_num_threads(args.threads)
    d3rlpy.seed(args.seed)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=obs, actions=act, rewards=rew, terminals=term, timeouts=tout,
        action_space=d3rlpy.ActionSpace.DISCRETE, action_size=action_count)
    cql = d3rlpy.algos.DiscreteCQLConfig(
        batch_size=args.batch, learning_rate=args.learning_rate, gamma=args.gamma, alpha=args.alpha,
        encoder_factory=d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=[64, 64]),
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        reward_scaler=d3rlpy.preprocessing.StandardRewardScaler(),
    ).create(device="cpu")
    cql.fit(dataset, n_steps=args.steps, n_steps_per_epoch=max(1, min(args.steps, 5000)),
            show_progress=sys.stderr.isatty(), save_interval=10 ** 9)
    greedy = cql.predict(obs)
    counts = np.bincount(greedy, minlength=action_count)
    print("greedy action distribution over the data's states:")
    for a, n in enumerate(counts):
        if n:
            print(f"  action {a:2d}: {100.0 * n / len(greedy):5.1f} %")
    print(f"agreement with the logged actions: {100.0 * float((greedy == act).mean()):.1f} %")
    if args.coalesce_actions:
        theirs = np.loadtxt(args.coalesce_actions, dtype=np.int64)
        if len(theirs) != len(greedy):
            sys.exit(f"--coalesce-actions has {len(theirs)} ids for {len(greedy)} transitions")
        print(f"agreement with the Coalesce model: {100.0 * float((greedy == theirs).mean()):.1f} %")
    if args.out:
        cql.save(args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
