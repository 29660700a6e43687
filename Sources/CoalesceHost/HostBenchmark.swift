import CoalesceCore
import Glibc

/// Overhead of the host collector, for `coalesce bench` (targets: < 200 µs per sample,
/// < 0.5 % of one core at 10 Hz).
public enum HostBenchmark {
    /// The cost of one full `HostTarget.sample()` (all counters, IRQs, /proc/stat,
    /// softnet, NAPI knobs and a netlink COALESCE_GET), averaged over `iterations`:
    /// wall-clock and CPU (user + system) microseconds per sample, and the netlink
    /// COALESCE_GET alone.
    public static func sampleCost(interface: String, iterations: Int) throws
        -> (microsecondsPerSample: Double, cpuMicrosecondsPerSample: Double, coalesceGetMicroseconds: Double)
    {
        let n = max(1, iterations)
        var target = try HostTarget(interface: interface)
        _ = try target.sample()   // warm up: page cache, dentries, netlink socket
        let cpuStart = threadCPUNs()
        let start = MonotonicClock.now()
        for _ in 0..<n { _ = try target.sample() }
        let wall = Double(MonotonicClock.now() - start) / Double(n) / 1000
        let cpu = Double(threadCPUNs() - cpuStart) / Double(n) / 1000
        let coalesce = target.actuator.hardware
        let getStart = MonotonicClock.now()
        for _ in 0..<n { _ = try coalesce.readRaw() }
        let get = Double(MonotonicClock.now() - getStart) / Double(n) / 1000
        return (wall, cpu, get)
    }

    /// The collector's CPU use while sampling at `hz` for `seconds` (advance + sample, as
    /// `collect --observe-only` does): percent of one core, from the calling thread's
    /// CPU time (getrusage RUSAGE_THREAD).
    public static func collectorCPU(interface: String, hz: Double = 10, seconds: Double = 5) throws
        -> (percentOfOneCore: Double, samples: Int)
    {
        var target = try HostTarget(interface: interface)
        let intervalNs = UInt64(1e9 / max(0.1, hz))
        let samples = max(1, Int(seconds * hz))
        _ = try target.sample()
        let cpuStart = threadCPUNs()
        let start = MonotonicClock.now()
        for _ in 0..<samples {
            try target.advance(intervalNs: intervalNs)
            _ = try target.sample()
        }
        let wall = Double(MonotonicClock.now() - start)
        let cpu = Double(threadCPUNs() - cpuStart)
        return (cpu / wall * 100, samples)
    }

    /// User + system CPU time of the calling thread, ns.
    static func threadCPUNs() -> UInt64 {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)   // RUSAGE_THREAD (Linux)
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1000 }
        return ns(usage.ru_utime) + ns(usage.ru_stime)
    }
}
