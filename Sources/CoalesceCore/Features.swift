/// Rates and fractions over one control interval, derived from two observations.
/// These are the measurable quantities behind the state vector and the reward.
public struct IntervalMetrics: Sendable, Hashable {
    /// Interval length, seconds.
    public var seconds: Double
    public var rxPackets: UInt64
    public var rxBytes: UInt64
    public var txPackets: UInt64
    public var txBytes: UInt64
    /// Drops from every source during the interval.
    public var drops: UInt64
    /// Interrupts during the interval, all layers.
    public var interrupts: UInt64
    public var softnetSqueezes: UInt64
    /// CPU time used during the interval, ns (all categories except idle).
    public var cpuBusyNs: UInt64
    /// CPU time in hard and soft interrupt context during the interval, ns.
    public var cpuIrqNs: UInt64
    /// Total CPU time available (busy + idle) during the interval, ns.
    public var cpuTotalNs: UInt64
    /// Latency over the interval, when measured.
    public var latency: LatencySummary?
    /// Counters that wrapped or reset between the two observations (names).
    public var counterEvents: [String]

    public var rxPacketsPerSecond: Double { Double(rxPackets) / seconds }
    public var txPacketsPerSecond: Double { Double(txPackets) / seconds }
    public var interruptsPerSecond: Double { Double(interrupts) / seconds }
    /// Busy fraction of the observed CPUs, 0…1.
    public var cpuBusyFraction: Double { cpuTotalNs == 0 ? 0 : min(1, Double(cpuBusyNs) / Double(cpuTotalNs)) }
    /// Fraction of the observed CPUs' time spent in irq + softirq, 0…1.
    public var cpuIrqFraction: Double { cpuTotalNs == 0 ? 0 : min(1, Double(cpuIrqNs) / Double(cpuTotalNs)) }

    /// Computes the metrics between `previous` and `current`. Returns nil when
    /// time did not advance (a stale or repeated sample).
    public init?(previous: Observation, current: Observation) {
        guard current.timestampNs > previous.timestampNs else { return nil }
        seconds = Double(current.timestampNs - previous.timestampNs) / 1e9
        var events: [String] = []
        func delta(_ name: String, _ a: UInt64, _ b: UInt64) -> UInt64 {
            let d = CounterDelta(previous: a, current: b)
            if d.event != .normal { events.append("\(name):\(d.event.rawValue)") }
            return d.value
        }
        rxPackets = delta("rx_packets", previous.rxPackets, current.rxPackets)
        rxBytes = delta("rx_bytes", previous.rxBytes, current.rxBytes)
        txPackets = delta("tx_packets", previous.txPackets, current.txPackets)
        txBytes = delta("tx_bytes", previous.txBytes, current.txBytes)
        drops = delta("rx_dropped", previous.rxDropped, current.rxDropped)
            &+ delta("rx_missed_errors", previous.rxMissed, current.rxMissed)
            &+ delta("rx_fifo_errors", previous.rxFifoErrors, current.rxFifoErrors)
            &+ delta("tx_dropped", previous.txDropped, current.txDropped)
            &+ delta("softnet_dropped", previous.softnetDropped, current.softnetDropped)
        var irq: UInt64 = 0
        for i in 0..<min(previous.interrupts.count, current.interrupts.count) {
            irq &+= delta("interrupts[\(i)]", previous.interrupts[i], current.interrupts[i])
        }
        interrupts = irq
        softnetSqueezes = delta("softnet_time_squeeze", previous.softnetTimeSqueeze, current.softnetTimeSqueeze)
        let user = delta("cpu_user", previous.cpu.userNs, current.cpu.userNs)
        let system = delta("cpu_system", previous.cpu.systemNs, current.cpu.systemNs)
        let hardirq = delta("cpu_irq", previous.cpu.irqNs, current.cpu.irqNs)
        let softirq = delta("cpu_softirq", previous.cpu.softirqNs, current.cpu.softirqNs)
        let idle = delta("cpu_idle", previous.cpu.idleNs, current.cpu.idleNs)
        cpuBusyNs = user &+ system &+ hardirq &+ softirq
        cpuIrqNs = hardirq &+ softirq
        cpuTotalNs = cpuBusyNs &+ idle
        latency = current.latency
        counterEvents = events
    }
}

/// Turns consecutive observations into the fixed-length state vector.
///
/// Features (`featureNames`, in order); rates are per second, `log1p` scaled:
///
/// | # | name | meaning |
/// |---|------|---------|
/// | 0 | `rx_pps_log` | log1p(received packets/s) |
/// | 1 | `tx_pps_log` | log1p(sent packets/s) |
/// | 2 | `rx_bytes_per_packet_log` | log1p(mean received packet size, bytes) |
/// | 3 | `irq_per_s_log` | log1p(interrupts/s, all layers) |
/// | 4 | `packets_per_irq_log` | log1p(received packets per interrupt) |
/// | 5 | `cpu_busy` | busy fraction of the observed CPUs, 0…1 |
/// | 6 | `cpu_irq` | irq + softirq fraction of the observed CPUs, 0…1 |
/// | 7 | `drops_per_s_log` | log1p(drops/s, every source) |
/// | 8 | `squeeze_per_s_log` | log1p(softnet time squeezes/s) |
/// | 9 | `latency_p50_us_log` | log1p(p50 latency, µs); 0 when no latency is measured |
/// | 10 | `latency_p99_us_log` | log1p(p99 latency, µs); 0 when no latency is measured |
/// | 11 | `rx_pps_trend` | log((rx pps + 1) / (previous interval's rx pps + 1)), clipped to ±5 |
/// | 12 | `rx_usecs_log` | log1p(sum over layers of the rx-usecs in effect) |
///
/// A model trained without latency features must be used where none are measured,
/// and the dataset header records which case applies.
public struct FeatureExtractor: Sendable {
    /// The feature names, in state-vector order.
    public static let featureNames: [String] = [
        "rx_pps_log", "tx_pps_log", "rx_bytes_per_packet_log", "irq_per_s_log", "packets_per_irq_log",
        "cpu_busy", "cpu_irq", "drops_per_s_log", "squeeze_per_s_log", "latency_p50_us_log",
        "latency_p99_us_log", "rx_pps_trend", "rx_usecs_log",
    ]
    /// Number of features.
    public static var count: Int { featureNames.count }
    /// Indices of the latency features (zero when latency is absent).
    public static let latencyFeatureIndices = [9, 10]

    private var previous: Observation?
    private var previousRxRate: Double?

    public init() {}

    /// Forgets history (a new episode).
    public mutating func reset() {
        previous = nil
        previousRxRate = nil
    }

    /// Feeds the next observation. Returns the interval metrics and state vector once
    /// two observations exist; nil for the first one, or when time did not advance.
    public mutating func next(_ observation: Observation) -> (metrics: IntervalMetrics, state: [Float])? {
        defer { previous = observation }
        guard let prev = previous, let m = IntervalMetrics(previous: prev, current: observation) else { return nil }
        let state = Self.state(metrics: m, setting: observation.setting, previousRxRate: previousRxRate)
        previousRxRate = m.rxPacketsPerSecond
        return (m, state)
    }

    /// The state vector for one interval's metrics.
    public static func state(metrics m: IntervalMetrics, setting: CoalescingSetting, previousRxRate: Double?) -> [Float] {
        func lg(_ x: Double) -> Float { Float(log1pSafe(x)) }
        let rxRate = m.rxPacketsPerSecond
        let bytesPerPacket = m.rxPackets == 0 ? 0 : Double(m.rxBytes) / Double(m.rxPackets)
        let packetsPerIrq = m.interrupts == 0 ? Double(m.rxPackets) : Double(m.rxPackets) / Double(m.interrupts)
        var trend = 0.0
        if let p = previousRxRate { trend = max(-5, min(5, logSafe((rxRate + 1) / (p + 1)))) }
        let usecs = setting.layers.reduce(0.0) { $0 + Double($1.rxUsecs) }
        return [
            lg(rxRate), lg(m.txPacketsPerSecond), lg(bytesPerPacket), lg(m.interruptsPerSecond), lg(packetsPerIrq),
            Float(m.cpuBusyFraction), Float(m.cpuIrqFraction), lg(Double(m.drops) / m.seconds),
            lg(Double(m.softnetSqueezes) / m.seconds),
            lg(m.latency.map { Double($0.p50Ns) / 1000 } ?? 0), lg(m.latency.map { Double($0.p99Ns) / 1000 } ?? 0),
            Float(trend), lg(usecs),
        ]
    }
}

/// log1p for non-negative finite inputs; 0 for anything else (no NaN can enter a state).
@inlinable
func log1pSafe(_ x: Double) -> Double {
    guard x.isFinite, x > 0 else { return 0 }
    return CoreMath.log1p(x)
}

@inlinable
func logSafe(_ x: Double) -> Double {
    guard x.isFinite, x > 0 else { return 0 }
    return CoreMath.log(x)
}
