#!/usr/bin/env python3
"""Drive the testbed guest's serial shell for Tools/testbed/check (run it inside the
check's network namespace: it also sends the fixed-rate UDP load toward the guest).

Standard library only. Exit status 0 when every check passes, 1 when one fails.
"""
import argparse
import csv
import io
import os
import re
import socket
import sys
import threading
import time


def say(msg):
    print(f"check: {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    pass


class Serial:
    """The guest's ttyS0 over QEMU's unix-socket chardev; every byte also goes to a log."""

    def __init__(self, path, log_path, qemu_pid, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                os.kill(qemu_pid, 0)
            except ProcessLookupError:
                raise Fail("QEMU exited before its serial socket opened")
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.time() > deadline:
                    raise Fail(f"no serial socket at {path} after {timeout} s")
                time.sleep(0.1)
        self.buf = ""
        self.lock = threading.Condition()
        self.log = open(log_path, "w", errors="replace")
        self.counter = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            text = data.decode(errors="replace")
            with self.lock:
                self.buf += text
                self.log.write(text)
                self.log.flush()
                self.lock.notify_all()
            if not data:
                return

    def send(self, text):
        self.sock.sendall(text.encode())

    def wait_for(self, pattern, start, timeout):
        """Wait until `pattern` matches the output after offset `start`; return the match."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.lock:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.lock.wait(min(left, 0.5))

    def run(self, command, timeout=30):
        """Run a shell command in the guest; return (exit status, output)."""
        self.counter += 1
        n = self.counter
        with self.lock:
            start = len(self.buf)
        # The marker is split in the command so an echoed command line cannot match it.
        self.send(f'{command}\necho "__D""ONE_{n} $?"\n')
        m = self.wait_for(rf"__DONE_{n} (\d+)", start, timeout)
        if not m:
            raise Fail(f"guest command timed out after {timeout} s: {command}")
        return int(m.group(1)), self.buf[start:m.start()]


class Load(threading.Thread):
    """Fixed-rate UDP load, bounded in packets and seconds: by default 64-byte frames
    (`check`'s stream). With `count_replies` the socket does not block and the replies
    (from an echo: request/response load, `experiment.py`) are counted in `received`."""

    def __init__(self, dest, pps, max_seconds, payload=b"\0" * 18, count_replies=False):
        # Default payload: 14 Ethernet + 20 IP + 8 UDP + 18 + 4 FCS = 64 bytes.
        super().__init__(daemon=True)
        self.dest, self.pps, self.max_seconds = dest, pps, max_seconds
        self.payload, self.count_replies = payload, count_replies
        self.stop = threading.Event()
        self.sent = 0
        self.received = 0 if count_replies else None

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.count_replies:
            s.setblocking(False)
        t0 = time.monotonic()
        limit = int(self.pps * self.max_seconds)
        while not self.stop.is_set() and self.sent < limit:
            now = time.monotonic() - t0
            if now > self.max_seconds:
                break
            due = min(int(now * self.pps), limit)
            while self.sent < due:
                try:
                    s.sendto(self.payload, self.dest)
                except OSError:
                    pass  # e.g. ARP not yet resolved; the rate is what matters
                self.sent += 1
            while self.count_replies:
                try:
                    s.recv(2048)
                    self.received += 1
                except OSError:  # includes BlockingIOError: nothing more to read now
                    break
            time.sleep(0.001)
        s.close()


def wait_for_shell(serial, qemu_pid, timeout=120):
    """Pokes the console until the guest's shell answers, then turns echo off."""
    deadline = time.time() + timeout
    while not serial.wait_for(r"__RDY", 0, 1.0):
        if time.time() > deadline:
            raise Fail(f"the guest shell did not answer within {timeout} s")
        try:
            os.kill(qemu_pid, 0)
        except ProcessLookupError:
            raise Fail("QEMU exited during boot")
        serial.send('echo "__R""DY"\n')
    serial.run("stty -echo")


def rx_usecs(serial):
    rc, out = serial.run("ethtool -c eth0 | awk '/^rx-usecs:/ {print \"RXU\", $2}'")
    m = re.search(r"RXU (\d+)", out)
    if rc != 0 or not m:
        raise Fail(f"ethtool -c eth0 gave no rx-usecs: {out!r}")
    return int(m.group(1))


def start_collect(serial, value, tag):
    """Start `coalesce collect --apply` with a static rx-usecs in the background; wait
    until `ethtool -c` reads the value. Returns the seconds it took."""
    t0 = time.time()
    serial.run(f"coalesce collect --interface eth0 --apply --policy static:rx-usecs={value} "
               f"--interval 200 --duration 60 --out /tmp/{tag}.csv >/tmp/{tag}.out 2>/tmp/{tag}.log & cpid=$!")
    deadline = time.time() + 40
    while time.time() < deadline:
        if rx_usecs(serial) == value:
            return time.time() - t0
        time.sleep(0.3)
    _, log = serial.run(f"cat /tmp/{tag}.log /tmp/{tag}.out")
    raise Fail(f"ethtool -c never read rx-usecs {value} while coalesce collect ran; its log:\n{log}")


def stop_collect(serial, tag, original):
    """SIGINT the collector, require a clean exit and the original rx-usecs restored."""
    rc, _ = serial.run("kill -INT $cpid; wait $cpid", timeout=40)
    _, log = serial.run(f"cat /tmp/{tag}.log /tmp/{tag}.out")
    if rc != 0:
        raise Fail(f"coalesce collect exited with {rc}:\n{log}")
    if "hardware via netlink" not in log:
        raise Fail(f"coalesce collect did not reach the driver through ethtool netlink:\n{log}")
    after = rx_usecs(serial)
    if after != original:
        raise Fail(f"rx-usecs {after} after coalesce collect exited, expected the original {original}")
    return log


def dataset_settings(serial, tag):
    """The rx-usecs values in the dataset's `setting` column (what the kernel reported)."""
    _, out = serial.run(f"sed -n '/^episode,/,$p' /tmp/{tag}.csv", timeout=60)
    text = out[out.find("episode,"):]
    rows = list(csv.DictReader(io.StringIO(text.replace("\r", ""))))
    values = []
    for row in rows:
        m = re.search(r"rx-usecs=(\d+)", row.get("setting") or "")
        if m:
            values.append(int(m.group(1)))
    return values


def add_guest_arguments(ap):
    """The arguments lib.sh passes every driver: the guest's serial console, its log,
    QEMU's pid, the guest's address and when the boot started (Unix seconds)."""
    ap.add_argument("--socket", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--qemu-pid", type=int, required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--boot-start", type=float, required=True)


def connect(a):
    """Opens the guest's console and waits for its shell: (serial, seconds since boot start)."""
    serial = Serial(a.socket, a.log, a.qemu_pid)
    wait_for_shell(serial, a.qemu_pid)
    return serial, time.time() - a.boot_start


def main():
    ap = argparse.ArgumentParser()
    add_guest_arguments(ap)
    ap.add_argument("--pps", type=int, default=5000)
    ap.add_argument("--low", type=int, default=0)
    ap.add_argument("--high", type=int, default=1000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--setget", type=int, default=100)
    ap.add_argument("--window", type=float, default=3.0)
    a = ap.parse_args()
    timings = {}
    load = None
    try:
        serial, timings["boot"] = connect(a)
        _, banner = serial.run("uname -r; ethtool -i eth0 | head -1")
        banner = " ".join(w for w in banner.split() if w not in ("/", "#"))
        say(f"guest up in {timings['boot']:.1f} s: kernel {banner}")

        # 1. Read.
        t = time.time()
        serial.run("ethtool -c eth0")  # the full table, for the serial log
        original = rx_usecs(serial)
        say(f"ethtool -c eth0: rx-usecs {original} (driver default)")

        # 2. Set and get through Coalesce's netlink client.
        applied_in = start_collect(serial, a.setget, "setget")
        time.sleep(1.0)  # a few 200 ms intervals into the dataset
        still = rx_usecs(serial)
        log = stop_collect(serial, "setget", original)
        values = dataset_settings(serial, "setget")
        if still != a.setget:
            raise Fail(f"rx-usecs drifted to {still} while coalesce collect held {a.setget}")
        if not values or values.count(a.setget) < 2 or values[-1] != a.setget:
            raise Fail(f"dataset `setting` column does not show rx-usecs={a.setget}: {values}")
        timings["set/get"] = time.time() - t
        say(f"set/get: coalesce collect (netlink) set rx-usecs {a.setget} in {applied_in:.1f} s; "
            f"ethtool -c agreed; dataset `setting` rx-usecs {values} ({len(values)} rows); "
            f"restored {original} on SIGINT")

        # 2b. A kill -9 cannot be caught: the collector's setting stays on the driver, and
        # the restore journal it wrote before its first change is what puts it back.
        t = time.time()
        start_collect(serial, a.setget, "killed")
        serial.run("kill -9 $cpid; wait $cpid", timeout=40)
        left = rx_usecs(serial)
        if left != a.setget:
            raise Fail(f"rx-usecs {left} right after kill -9 of coalesce collect, expected its {a.setget} to stay")
        rc, out = serial.run("coalesce-agent --interface eth0 --restore-only 2>&1", timeout=40)
        after = rx_usecs(serial)
        if rc != 0 or "put back the coalescing coalesce collect" not in out or after != original:
            raise Fail(f"coalesce-agent --restore-only exited {rc} and left rx-usecs {after} "
                       f"(expected the original {original}):\n{out}")
        timings["kill -9 restore"] = time.time() - t
        say(f"kill -9: coalesce collect left rx-usecs {left}; coalesce-agent --restore-only put back "
            f"{original} from its restore journal")

        # 3. Interrupt rate under a fixed packet rate, LOW vs HIGH alternating.
        t = time.time()
        serial.run("irqs() { awk '/eth0/ {for (i = 2; i <= NF; i++) { if ($i !~ /^[0-9]+$/) break; s += $i }} END {print s + 0}' /proc/interrupts; }")
        serial.run("rxp() { cat /sys/class/net/eth0/statistics/rx_packets; }")
        phase_seconds = a.pairs * 2 * (a.window + 30) + 30
        load = Load((a.guest, 9000), a.pps, phase_seconds)
        load.start()
        time.sleep(1.0)
        rates = {a.low: [], a.high: []}
        for i in range(a.pairs):
            for value in (a.low, a.high):
                tag = f"irq{value}"
                start_collect(serial, value, tag)
                time.sleep(0.5)
                _, out = serial.run(f"u0=$(cut -d' ' -f1 /proc/uptime); i0=$(irqs); p0=$(rxp); sleep {a.window}; "
                                    "u1=$(cut -d' ' -f1 /proc/uptime); i1=$(irqs); p1=$(rxp); "
                                    "echo M $u0 $u1 $i0 $i1 $p0 $p1", timeout=a.window + 30)
                m = re.search(r"M ([\d.]+) ([\d.]+) (\d+) (\d+) (\d+) (\d+)", out)
                if not m:
                    raise Fail(f"no interrupt measurement in {out!r}")
                held = rx_usecs(serial)
                stop_collect(serial, tag, original)
                if held != value:
                    raise Fail(f"rx-usecs was {held}, not {value}, at the end of the window")
                u0, u1, i0, i1, p0, p1 = (float(x) for x in m.groups())
                dt = u1 - u0
                irq_rate, pps = (i1 - i0) / dt, (p1 - p0) / dt
                if pps < 0.5 * a.pps:
                    raise Fail(f"only {pps:.0f} pps reached the guest (sending {a.pps})")
                rates[value].append(irq_rate)
                say(f"  rx-usecs {value:>5}: {irq_rate:7.0f} irq/s at {pps:5.0f} rx pps "
                    f"({pps / max(irq_rate, 1):.1f} packets/irq, {dt:.1f} s)")
        load.stop.set()
        timings["interrupts"] = time.time() - t
        low = sum(rates[a.low]) / len(rates[a.low])
        high = sum(rates[a.high]) / len(rates[a.high])
        pairs_ok = all(h < l for l, h in zip(rates[a.low], rates[a.high]))
        say(f"interrupts: rx-usecs {a.low} → {low:.0f}/s, rx-usecs {a.high} → {high:.0f}/s "
            f"(ratio {high / low:.2f}) at {a.pps} pps")
        if not (pairs_ok and high < 0.85 * low):
            raise Fail("the interrupt rate did not fall when rx-usecs rose")
        serial.send("poweroff -f\n")
        print("PASS: real e1000e driver: netlink set/get agrees with ethtool -c; restored after kill -9; interrupts "
              f"{low:.0f}/s at rx-usecs {a.low} vs {high:.0f}/s at rx-usecs {a.high} ({a.pps} pps); "
              + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        return 0
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        if load:
            load.stop.set()


if __name__ == "__main__":
    sys.exit(main())
