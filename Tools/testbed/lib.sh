# Shared by Tools/testbed/check and Tools/testbed/experiment (source it; bash only).
# A private network namespace with one tap on a private /24, a QEMU guest on that
# tap, and a teardown that runs on every exit path. The host's own interfaces and
# routes are never touched: every packet is sent from inside the namespace, which
# must have no route but the tap's subnet (checked before QEMU starts).
#
# The sourcing script sets: tb_name (message prefix), work (guest directory with
# vmlinux and initrd.img), subnet (e.g. 10.203.0), then calls tb_begin, tb_netns,
# tb_boot; it runs its drivers with tb_wait_driver. Globals set here: ns, tap, run,
# qemu_pid, driver_pid, t_start, t_boot.

tb_elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

tb_cleanup() {
    local rc=$?
    [ -n "${driver_pid:-}" ] && kill "$driver_pid" 2>/dev/null || true
    if [ -n "${qemu_pid:-}" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$qemu_pid" 2>/dev/null || true
    fi
    # Anything else still running in the namespace (a probe server, a load generator).
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    [ $rc -ne 0 ] && [ -f "$run/serial.log" ] && { echo "$tb_name: last guest output:" >&2; tail -n 30 "$run/serial.log" >&2; echo >&2; }
    rm -rf "$run"
    echo "$tb_name: torn down namespace $ns (exit $rc, total $(tb_elapsed "$t_start") s)" >&2
}

# Checks the guest and root, installs the teardown. Exit 2 when either is missing.
tb_begin() {
    [ -s "$work/vmlinux" ] && [ -s "$work/initrd.img" ] || { echo "$tb_name: no guest in $work; run Tools/testbed/build-guest" >&2; exit 2; }
    [ "$(id -u)" = 0 ] || { echo "$tb_name: needs root (network namespace, tap)" >&2; exit 2; }
    ns=coalesce-tb-$$
    tap=tbtap0
    run=$(mktemp -d /tmp/coalesce-testbed.XXXXXX)
    qemu_pid=
    driver_pid=
    t_start=$(date +%s.%N)
    trap tb_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Namespace with one tap on a private /24; no IPv6, no other route (exit 3 otherwise).
tb_netns() {
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$ns" link set lo up
    ip -n "$ns" tuntap add "$tap" mode tap
    ip -n "$ns" addr add "$subnet.1/24" dev "$tap"
    ip -n "$ns" link set "$tap" up
    local routes expected expected_up
    routes=$(ip -n "$ns" -4 route show table all | grep -v '^local \|^broadcast \|^multicast ' || true)
    expected="$subnet.0/24 dev $tap proto kernel scope link src $subnet.1 linkdown"
    expected_up="$subnet.0/24 dev $tap proto kernel scope link src $subnet.1"
    if [ "$(echo "$routes" | sed 's/ *$//')" != "$expected" ] && [ "$(echo "$routes" | sed 's/ *$//')" != "$expected_up" ]; then
        echo "$tb_name: REFUSING: namespace $ns has routes other than the tap's subnet:" >&2
        echo "$routes" >&2
        exit 3
    fi
    if [ -n "$(ip -n "$ns" -6 route show table all 2>/dev/null | grep -v '^local \|^multicast ' || true)" ]; then
        echo "$tb_name: REFUSING: namespace $ns has IPv6 routes" >&2; exit 3
    fi
    echo "$tb_name: namespace $ns: only route $subnet.0/24 dev $tap ($(tb_elapsed "$t_start") s)" >&2
}

# Boots the guest on the tap (QEMU runs inside the namespace), serial on $run/serial.sock.
tb_boot() {
    t_boot=$(date +%s.%N)
    ip netns exec "$ns" qemu-system-x86_64 -accel tcg -m 512 -nodefaults -display none \
        -serial "unix:$run/serial.sock,server,nowait" \
        -kernel "$work/vmlinux" -initrd "$work/initrd.img" \
        -append "console=ttyS0 loglevel=3 testbed.addr=$subnet.2/24" \
        -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
        -device e1000e,netdev=n0,romfile= >"$run/qemu.log" 2>&1 &
    qemu_pid=$!
}

# Runs a command inside the namespace in the background and waits for it; `wait`
# (unlike a foreground command) lets SIGINT/SIGTERM run the teardown at once.
tb_wait_driver() {
    ip netns exec "$ns" "$@" &
    driver_pid=$!
    local rc=0
    wait "$driver_pid" || rc=$?
    driver_pid=
    return $rc
}
