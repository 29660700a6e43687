#!/usr/bin/env python3
"""Drive the testbed guest for Tools/testbed/experiment (issue 7, items 3 and 4).

Run inside the experiment's network namespace: it is the traffic generator too.
Standard library only; the serial console helpers come from guest-driver.py.

1. record: `coalesce collect --apply --actions e1000e --policy explore:...` in the
   guest, with a latency probe toward a `coalesce probe-server` on the namespace side,
   while the namespace side plays shuffled phases of UDP request/response (to a
   `coalesce probe-server` echo in the guest) and one-way UDP streams at several rates;
2. the dataset is copied out over the serial console (gzip + base64, md5-checked);
3. train: `coalesce train` on the host side (in this namespace, no traffic);
4. the model is copied into the guest over the console (base64, md5-checked);
5. A/B: `coalesce compare --interface eth0 --policies model:…,static:… --block S
   --blocks N` in the guest under a steady load from the namespace side; its JSON,
   printed table and HTML report are copied out.

Every load is bounded in packets and seconds. Exit status 0 when every step worked.
"""
import argparse
import base64
import gzip
import hashlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
_spec = importlib.util.spec_from_file_location(
    "guest_driver", os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest-driver.py"))
gd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gd)
Fail, Stream = gd.Fail, gd.Load

T0 = time.time()


LOADAVG = []


def say(msg):
    print(f"experiment: [{time.time() - T0:6.0f} s] {msg}", file=sys.stderr, flush=True)
    try:  # the host's load while it happened: the guest shares the host's cores with other work
        LOADAVG.append([round(time.time() - T0), open("/proc/loadavg").read().split()[0]])
    except OSError:
        pass


def make_load(kind, rate, guest, echo_port, seconds):
    if kind == "idle" or rate == 0:
        return None
    if kind == "rr":
        # Open-loop request/response: 32-byte requests to an echo in the guest, replies counted.
        return Stream((guest, echo_port), rate, seconds, payload=b"\x5a" * 32, count_replies=True)
    if kind == "udp":
        return Stream((guest, 9000), rate, seconds)
    raise Fail(f"unknown load kind {kind}")


def parse_phases(text):
    """'idle,rr:500,udp:5000' -> [("idle", 0), ("rr", 500), ("udp", 5000)]"""
    out = []
    for part in text.split(","):
        part = part.strip()
        if part == "idle":
            out.append(("idle", 0))
            continue
        kind, _, rate = part.partition(":")
        if kind not in ("rr", "udp") or not rate.isdigit():
            raise SystemExit(f"bad phase '{part}': idle, rr:RATE or udp:RATE")
        out.append((kind, int(rate)))
    return out


def run_phases(phases, seconds, phase_seconds, guest, echo_port, seed, log):
    """Shuffled rounds of `phases`, each `phase_seconds` long, for `seconds` in all."""
    rng = random.Random(seed)
    t_end = time.monotonic() + seconds
    schedule = []
    while time.monotonic() < t_end:
        order = list(phases)
        rng.shuffle(order)
        for kind, rate in order:
            left = t_end - time.monotonic()
            if left <= 0.5:
                break
            length = min(phase_seconds, left)
            load = make_load(kind, rate, guest, echo_port, length)
            start = time.time()
            if load:
                load.start()
                load.join(length + 5)
                load.stop.set()
            else:
                time.sleep(length)
            sent = load.sent if load else 0
            got = getattr(load, "received", None)
            schedule.append({"start_unix": round(start, 3), "seconds": round(time.time() - start, 3),
                             "kind": kind, "rate": rate, "sent": sent, "received": got})
            log(f"  phase {kind}:{rate} {time.time() - start:.0f} s, sent {sent}" + ("" if got is None else f", answered {got}"))
    return schedule


def copy_out(serial, guest_path, host_path, timeout=600):
    """Copies a guest file to the host over the console: gzip, base64, md5 of the gzip."""
    rc, out = serial.run(f"gzip -c {guest_path} > /tmp/xfer.gz && md5sum /tmp/xfer.gz && wc -c < /tmp/xfer.gz")
    m = re.search(r"([0-9a-f]{32})\s+/tmp/xfer.gz\s+(\d+)", out)
    if rc != 0 or not m:
        raise Fail(f"cannot compress {guest_path} in the guest: {out!r}")
    md5, size = m.group(1), int(m.group(2))
    rc, out = serial.run("echo B64""BEGIN; base64 /tmp/xfer.gz; echo B64""END; rm -f /tmp/xfer.gz", timeout=timeout)
    body = out[out.find("B64BEGIN") + 8:out.find("B64END")]
    data = base64.b64decode("".join(body.split()))
    if rc != 0 or len(data) != size or hashlib.md5(data).hexdigest() != md5:
        raise Fail(f"copy of {guest_path} failed: {len(data)} of {size} bytes, md5 mismatch or rc {rc}")
    raw = gzip.decompress(data)
    with open(host_path, "wb") as f:
        f.write(raw)
    return len(raw), size


def copy_in(serial, host_path, guest_path, timeout=600):
    """Copies a host file into the guest over the console (base64 here-document, md5-checked)."""
    data = open(host_path, "rb").read()
    text = base64.encodebytes(data).decode()
    start = len(serial.buf)
    serial.send(f"base64 -d > {guest_path} <<'B64EOF'\n")
    lines = text.splitlines()
    for i in range(0, len(lines), 50):
        serial.send("\n".join(lines[i:i + 50]) + "\n")
        time.sleep(0.02)
    serial.send("B64EOF\n")
    rc, out = serial.run(f"md5sum {guest_path}", timeout=timeout)
    if rc != 0 or hashlib.md5(data).hexdigest() not in out:
        raise Fail(f"copy of {host_path} into the guest failed: {out!r} {serial.buf[start:start + 400]!r}")
    return len(data)


def ab_table(path):
    """A Markdown table of a `coalesce compare --json` file: each policy's means with their
    95 % bootstrap CIs over rounds (interrupts/s, RTT p50/p99, guest CPU, reward)."""
    d = json.load(open(path))
    out = []
    for sc in d["scenarios"]:
        out.append(f"{sc['name']}: {sc['description']}; objective {d['objective']}; "
                   f"{len(d['seeds'])} rounds; best static {sc['best_static']}")
        out.append("")
        out.append("| policy | interrupts/s | RTT p50 µs | RTT p99 µs | guest CPU % | rx pps | reward | Δ reward vs best static |")
        out.append("|---|---|---|---|---|---|---|---|")

        def ci(p, key, ci_key, digits=0):
            lo, hi = p.get(ci_key) or [p[key], p[key]]
            return f"{p[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
        for p in sc["policies"]:
            vs = p.get("vs_best_static") or (p["delta_vs_baseline"] if p["policy"] != sc["best_static"] else None)
            delta = "—" if not vs else f"{vs['reward']:+.2f} [{vs['ci95'][0]:+.2f}, {vs['ci95'][1]:+.2f}] {vs['verdict']}"
            name = re.sub(r"model:\S*/", "model:", p["policy"])
            out.append(f"| {name} | {ci(p, 'interrupts_per_s', 'interrupts_per_s_ci95')} | "
                       f"{ci(p, 'latency_p50_us', 'latency_p50_us_ci95')} | {ci(p, 'latency_p99_us', 'latency_p99_us_ci95')} | "
                       f"{ci(p, 'cpu_percent', 'cpu_percent_ci95', 1)} | {ci(p, 'throughput_pps', 'throughput_pps_ci95')} | "
                       f"{ci(p, 'reward_mean', 'reward_ci95', 2)} | {delta} |")
    return "\n".join(out) + "\n"


def wait_guest_job(serial, var, timeout):
    rc, _ = serial.run(f"wait ${var}", timeout=timeout)
    return rc


def main():
    ap = argparse.ArgumentParser()
    gd.add_guest_arguments(ap)
    ap.add_argument("--host", required=True, help="the namespace side's address (probe server)")
    ap.add_argument("--coalesce", required=True, help="host-side coalesce binary (probe-server, train, inspect)")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--interval", type=int, default=200, help="control interval, ms")
    ap.add_argument("--probe-rate", type=int, default=200)
    ap.add_argument("--record-seconds", type=int, default=480)
    ap.add_argument("--phase-seconds", type=int, default=20)
    ap.add_argument("--phases", default="idle,rr:500,rr:2000,rr:5000,udp:1000,udp:5000,udp:15000")
    ap.add_argument("--explore", default="explore:epsilon=1,hold=5,seed=7")
    ap.add_argument("--objective", default="balanced")
    ap.add_argument("--algorithm", default="cql")
    ap.add_argument("--train-args", default="")
    ap.add_argument("--model-name", default="e1000e")
    ap.add_argument("--ab-load", default="rr:2000")
    ap.add_argument("--ab-policies", default="static:rx-usecs=0,static:rx-usecs=1000,static:rx-usecs=1,static:rx-usecs=3")
    ap.add_argument("--block", type=float, default=12)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--settle", type=float, default=2)
    ap.add_argument("--skip-ab", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    probe_port, echo_port = 7777, 7778
    timings = {}
    meta = {"args": vars(a), "started_unix": round(T0, 3)}
    server = None
    try:
        serial, timings["boot"] = gd.connect(a)
        _, banner = serial.run("uname -r; ethtool -i eth0 | head -2; ethtool -c eth0 | grep '^rx-usecs'")
        meta["guest"] = " ".join(banner.split())
        say(f"guest up in {timings['boot']:.1f} s: {meta['guest']}")

        # The probe's peer on the namespace side (the guest measures round trips through its
        # e1000e: the echo comes back in through the coalesced RX path), bounded in time.
        total = a.record_seconds + (0 if a.skip_ab else a.blocks * a.block * (1 + len(a.ab_policies.split(","))) + 900)
        server = subprocess.Popen([a.coalesce, "probe-server", "--listen", f"{a.host}:{probe_port}",
                                   "--duration", str(int(total))],
                                  stdout=open(os.path.join(a.out, "probe-server.out"), "w"), stderr=subprocess.STDOUT)
        # The guest's echo for request/response load.
        serial.run(f"coalesce probe-server --listen 0.0.0.0:{echo_port} >/tmp/echo.log 2>&1 & epid=$!")

        # An objective file is copied into the guest (collect and compare read it there).
        guest_objective = a.objective
        objective_name = a.objective
        if os.path.isfile(a.objective):
            copy_in(serial, a.objective, "/tmp/objective.json")
            guest_objective = "/tmp/objective.json"
            objective_name = json.load(open(a.objective)).get("name", "custom")

        # 1. Record.
        t = time.time()
        dataset_guest = "/tmp/explore.csv"
        cmd = (f"coalesce collect --interface eth0 --apply --actions e1000e --policy {a.explore} "
               f"--interval {a.interval} --duration {a.record_seconds} --probe {a.host}:{probe_port} "
               f"--probe-rate {a.probe_rate} --objective {guest_objective} --out {dataset_guest}")
        meta["collect_command"] = cmd
        say(f"recording {a.record_seconds} s: {cmd}")
        serial.run(f"{cmd} >/tmp/collect.out 2>/tmp/collect.log & cpid=$!")
        time.sleep(3)  # the collector's start-up under TCG
        schedule = run_phases(parse_phases(a.phases), a.record_seconds - 3, a.phase_seconds, a.guest, echo_port, 7, say)
        rc = wait_guest_job(serial, "cpid", 120)
        _, log = serial.run("cat /tmp/collect.log /tmp/collect.out")
        open(os.path.join(a.out, "collect.log"), "w").write(log)
        if rc != 0:
            raise Fail(f"coalesce collect exited with {rc}:\n{log}")
        with open(os.path.join(a.out, "phases.json"), "w") as f:
            json.dump(schedule, f, indent=1)
        timings["record"] = time.time() - t
        t = time.time()
        dataset = os.path.join(a.out, "e1000e-qemu-explore.csv")
        raw, packed = copy_out(serial, dataset_guest, dataset)
        lines = open(dataset).read().splitlines()
        rows = len(lines) - next(i for i, line in enumerate(lines) if line.startswith("episode,")) - 1
        timings["copy dataset"] = time.time() - t
        say(f"dataset: {rows} rows, {raw} bytes ({packed} gzip) copied out in {timings['copy dataset']:.0f} s")
        say(next((line for line in log.splitlines() if line.startswith("wrote ")), "no collector summary"))

        # 2. Train (host side; the guest idles).
        t = time.time()
        model = os.path.join(a.out, f"{a.model_name}-{objective_name}.model")
        train = [a.coalesce, "train", "--data", dataset, "--algorithm", a.algorithm, "--objective", a.objective,
                 "--out", model, "--seed", "1", "--json", os.path.join(a.out, "train.json")] + a.train_args.split()
        meta["train_command"] = " ".join(train)
        say("training: " + " ".join(train))
        r = subprocess.run(train, capture_output=True, text=True, timeout=1800)
        open(os.path.join(a.out, "train.txt"), "w").write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise Fail(f"coalesce train failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        r = subprocess.run([a.coalesce, "inspect", model], capture_output=True, text=True, timeout=300)
        open(os.path.join(a.out, "inspect.txt"), "w").write(r.stdout + r.stderr)
        timings["train"] = time.time() - t
        say(f"trained in {timings['train']:.0f} s")
        if a.skip_ab:
            serial.send("poweroff -f\n")
            return 0

        # 3. Model into the guest.
        t = time.time()
        size = copy_in(serial, model, "/tmp/model.model")
        timings["copy model"] = time.time() - t
        say(f"model ({size} bytes) copied in in {timings['copy model']:.0f} s")

        # 4. Live switchback A/B under steady load.
        t = time.time()
        policies = "model:/tmp/model.model," + a.ab_policies
        n = len(policies.split(","))
        seconds = n * a.blocks * a.block
        cmd = (f"coalesce compare --interface eth0 --policies {policies} --block {a.block:g} --blocks {a.blocks} "
               f"--settle {a.settle:g} --interval {a.interval} --probe {a.host}:{probe_port} --objective {guest_objective} "
               f"--json /tmp/ab.json --report /tmp/ab.html")
        meta["compare_command"] = cmd
        kind, _, rate = a.ab_load.partition(":")
        load = make_load(kind, int(rate or 0), a.guest, echo_port, seconds + 120)
        if load:
            load.start()
        time.sleep(2)
        say(f"A/B ({seconds:.0f} s of blocks) under {a.ab_load}: {cmd}")
        serial.run(f"{cmd} >/tmp/ab.txt 2>/tmp/ab.log & apid=$!")
        rc = wait_guest_job(serial, "apid", seconds + 300)
        if load:
            load.stop.set()
            load.join(5)
            meta["ab_load"] = {"spec": a.ab_load, "sent": load.sent, "received": getattr(load, "received", None)}
        _, log = serial.run("cat /tmp/ab.log")
        open(os.path.join(a.out, "ab.log"), "w").write(log)
        if rc != 0:
            raise Fail(f"coalesce compare exited with {rc}:\n{log}")
        copy_out(serial, "/tmp/ab.json", os.path.join(a.out, "ab.json"))
        copy_out(serial, "/tmp/ab.txt", os.path.join(a.out, "ab.txt"))
        copy_out(serial, "/tmp/ab.html", os.path.join(a.out, "ab.html"))
        timings["A/B"] = time.time() - t
        say(f"A/B done in {timings['A/B']:.0f} s")
        table = ab_table(os.path.join(a.out, "ab.json"))
        open(os.path.join(a.out, "ab-table.md"), "w").write(table)
        print(open(os.path.join(a.out, "ab.txt")).read())
        print(table)
        serial.run(f"kill $epid; ethtool -c eth0 | grep '^rx-usecs'")
        serial.send("poweroff -f\n")
        return 0
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        if server:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        meta["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        meta["total_s"] = round(time.time() - T0, 1)
        meta["host_loadavg_1min"] = LOADAVG
        with open(os.path.join(a.out, "experiment.json"), "w") as f:
            json.dump(meta, f, indent=1)
        say("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


if __name__ == "__main__":
    sys.exit(main())
