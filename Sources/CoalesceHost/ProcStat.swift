import CoalesceCore
import Glibc

/// CPU time from `/proc/stat`, converted from USER_HZ ticks to nanoseconds.
///
/// Columns (man 5 proc): user nice system idle iowait irq softirq steal guest guest_nice.
/// Mapped into `CPUTimes` as: user = user + nice (guest time is already inside user),
/// system, irq, softirq, idle = idle + iowait. Steal is not CPU this host used and is left out.
public struct ProcStatReader {
    /// Nanoseconds per USER_HZ tick (`sysconf(_SC_CLK_TCK)`, 100 on nearly every kernel).
    public let nanosecondsPerTick: UInt64
    let path: KernelPath

    /// A reader of `path` (tests pass a fixture file).
    public init(path: String = "/proc/stat") {
        let hz = sysconf(Int32(_SC_CLK_TCK))
        nanosecondsPerTick = UInt64(1_000_000_000 / (hz > 0 ? hz : 100))
        self.path = KernelPath(path)
    }

    /// The host total (`cpu` line) and the sum over `cpus` (the `cpuN` lines whose N is in the set).
    /// An empty `cpus` returns the host total for both.
    public func read(with reader: KernelFileReader, cpus: CPUSet) throws(HostError) -> (host: CPUTimes, selected: CPUTimes) {
        let bytes = try reader.read(path, keepOpen: true)
        var scanner = ByteScanner(bytes)
        var host: CPUTimes?
        var selected = CPUTimes()
        while !scanner.atEnd {
            guard scanner.consume("cpu") else { scanner.skipLine(); continue }
            let cpuIndex: Int
            if scanner.peek == 0x20 {
                cpuIndex = -1
            } else if let n = scanner.decimal() {
                cpuIndex = Int(n)
            } else {
                scanner.skipLine(); continue
            }
            var ticks = [UInt64](repeating: 0, count: 7)
            for i in 0..<7 {
                guard let v = scanner.decimal() else {
                    throw .malformed(path: path.text, detail: "cpu line \(cpuIndex < 0 ? "total" : String(cpuIndex)) has fewer than 7 columns")
                }
                ticks[i] = v
            }
            scanner.skipLine()
            let t = nanosecondsPerTick
            let times = CPUTimes(
                userNs: (ticks[0] + ticks[1]) * t, systemNs: ticks[2] * t, irqNs: ticks[5] * t,
                softirqNs: ticks[6] * t, idleNs: (ticks[3] + ticks[4]) * t)
            if cpuIndex < 0 {
                host = times
            } else if cpus.contains(cpuIndex) {
                selected.userNs += times.userNs
                selected.systemNs += times.systemNs
                selected.irqNs += times.irqNs
                selected.softirqNs += times.softirqNs
                selected.idleNs += times.idleNs
            }
        }
        guard let host else { throw .malformed(path: path.text, detail: "no 'cpu' total line") }
        return (host, cpus.isEmpty ? host : selected)
    }
}

/// A set of CPU numbers, small and allocation-free to query.
public struct CPUSet: Sendable, Hashable, CustomStringConvertible {
    private var bits: [Bool]

    /// The set of the given CPU numbers (negative numbers are ignored).
    public init(_ cpus: some Sequence<Int> = []) {
        bits = []
        for c in cpus where c >= 0 { insert(c) }
    }

    /// Adds CPU number `cpu`.
    public mutating func insert(_ cpu: Int) {
        if cpu >= bits.count { bits += Array(repeating: false, count: cpu + 1 - bits.count) }
        bits[cpu] = true
    }

    /// Whether CPU number `cpu` is in the set.
    public func contains(_ cpu: Int) -> Bool { cpu < bits.count && bits[cpu] }

    /// The CPU numbers, ascending.
    public var members: [Int] { bits.indices.filter { bits[$0] } }

    /// Number of CPUs in the set.
    public var count: Int { bits.lazy.filter { $0 }.count }

    /// True when no CPU is in the set.
    public var isEmpty: Bool { !bits.contains(true) }

    /// Kernel list syntax, e.g. `0-3,8`.
    public var description: String { members.map(String.init).joined(separator: ",") }

    /// Parses the kernel's CPU list syntax (`0-3,8,10-11`), as in `effective_affinity_list`.
    public static func parseList(_ text: String) -> CPUSet? {
        var set = CPUSet()
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).joined()
        if trimmed.isEmpty { return set }
        for part in trimmed.split(separator: ",") {
            let bounds = part.split(separator: "-")
            guard let lo = Int(bounds[0]) else { return nil }
            let hi = bounds.count > 1 ? Int(bounds[1]) : lo
            guard let hi, hi >= lo else { return nil }
            for c in lo...hi { set.insert(c) }
        }
        return set
    }
}

/// `/proc/net/softnet_stat`: one line per CPU, hexadecimal columns; column 2 is
/// `dropped` (backlog queue full) and column 3 `time_squeeze` (net_rx_action ran out
/// of budget or time with work left).
public struct SoftnetStatReader {
    let path: KernelPath

    /// A reader of `path` (tests pass a fixture file).
    public init(path: String = "/proc/net/softnet_stat") { self.path = KernelPath(path) }

    /// Dropped and time-squeeze counts summed over every CPU.
    public func read(with reader: KernelFileReader) throws(HostError) -> (dropped: UInt64, timeSqueeze: UInt64) {
        let bytes = try reader.read(path, keepOpen: true)
        var scanner = ByteScanner(bytes)
        var dropped: UInt64 = 0, squeeze: UInt64 = 0
        var line = 0
        while !scanner.atEnd {
            line += 1
            guard scanner.hex() != nil, let d = scanner.hex(), let s = scanner.hex() else {
                throw .malformed(path: path.text, detail: "line \(line) has fewer than 3 hexadecimal columns")
            }
            dropped &+= d
            squeeze &+= s
            scanner.skipLine()
        }
        return (dropped, squeeze)
    }
}
