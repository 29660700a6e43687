import CoalesceCore

/// Whole-run figures of a simulation.
public struct RunSummary: Sendable, Hashable, Codable {
    /// Simulated time so far, seconds.
    public var durationS: Double
    /// Packets delivered to the application per second.
    public var throughputPps: Double
    /// Bytes delivered to the application per second.
    public var throughputBytesPerS: Double
    /// Latency percentiles over the whole run (per packet; request to response for
    /// request/response traffic), microseconds; 0 when nothing was delivered.
    public var latencyP50Us: Double
    public var latencyP99Us: Double
    public var latencyP999Us: Double
    /// Busy share of all simulated CPUs (host cores and guest vCPUs), percent.
    public var cpuPercent: Double
    /// Interrupts per second, all layers.
    public var interruptsPerS: Double
    /// Packets dropped anywhere.
    public var drops: UInt64
    /// Packets that entered the system (offered to the NIC).
    public var simulatedPackets: UInt64
    /// CPU time per delivered packet, nanoseconds.
    public var cpuNsPerPacket: Double

    enum CodingKeys: String, CodingKey {
        case durationS = "duration_s"
        case throughputPps = "throughput_pps"
        case throughputBytesPerS = "throughput_bytes_per_s"
        case latencyP50Us = "latency_p50_us"
        case latencyP99Us = "latency_p99_us"
        case latencyP999Us = "latency_p999_us"
        case cpuPercent = "cpu_percent"
        case interruptsPerS = "interrupts_per_s"
        case drops
        case simulatedPackets = "simulated_packets"
        case cpuNsPerPacket = "cpu_ns_per_packet"
    }
}

/// What happened during one sampled interval (for time-series charts).
public struct IntervalRecord: Sendable, Hashable, Codable {
    /// Interval start and end, simulated ns.
    public var startNs: UInt64
    public var endNs: UInt64
    /// Packets offered to the NIC per second.
    public var offeredPps: Double
    /// Packets delivered to the application per second.
    public var deliveredPps: Double
    /// Packets dropped per second.
    public var droppedPps: Double
    /// Interrupts per second, all layers.
    public var interruptsPerS: Double
    /// p99 latency of the interval, µs (nil when nothing was delivered).
    public var latencyP99Us: Double?
    /// The setting in effect at the interval's end.
    public var setting: String
}

/// The simulated host as a `Target`: the control loop drives it exactly like a live host.
///
/// `advance` runs the event-driven simulation to the next boundary, `sample` reads
/// the counters a live host exposes (plus ground truth), `apply` reconfigures the
/// simulated driver at the current simulated time. Deterministic per seed.
public struct SimTarget: Target {
    /// The scenario being simulated.
    public let scenario: Scenario
    /// The seed of the run.
    public let seed: UInt64
    var engine: SimEngine
    private var lastSampleTime: UInt64 = 0
    private var lastCounters = SimCounters()
    private var lastInterrupts: UInt64 = 0
    /// One record per `sample()` call, in order.
    public private(set) var intervals: [IntervalRecord] = []

    /// Builds the simulated host with the scenario's initial setting.
    public init(scenario: Scenario, seed: UInt64) throws {
        self.scenario = scenario
        self.seed = seed
        engine = try SimEngine(scenario: scenario, seed: seed)
    }

    public var layerCount: Int { scenario.layerCount }
    public var name: String { "sim:\(scenario.name)" }
    /// Simulated time now, ns.
    public var nowNs: UInt64 { engine.now }
    /// The setting in effect.
    public var setting: CoalescingSetting { engine.setting }

    /// Runs the simulation for `intervalNs` more nanoseconds.
    public mutating func advance(intervalNs: UInt64) throws {
        engine.makeArenaUnique()
        engine.run(until: engine.now + intervalNs)
    }

    /// Runs the simulation until simulated time `ns`.
    public mutating func run(untilNs ns: UInt64) {
        engine.makeArenaUnique()
        if ns > engine.now { engine.run(until: ns) }
    }

    /// Changes the coalescing of every layer now; a running timer keeps its deadline
    /// and the new values apply at the next arming, as in a driver.
    public mutating func apply(_ setting: CoalescingSetting) throws {
        guard setting.layers.count == layerCount else {
            throw SimError.layerMismatch(target: name, expected: layerCount, found: setting.layers.count)
        }
        engine.apply(setting)
    }

    /// The counters a live host would read now, and the interval's ground truth.
    ///
    /// rx/tx counters are those of the innermost layer (the guest's vNIC when
    /// virtualized); `interrupts` has one entry per simulated NIC layer (physical
    /// first, then the virtual NIC, even when only the physical layer coalesces);
    /// CPU times sum every simulated CPU (host cores and guest vCPUs); `latency`
    /// holds the percentiles of every packet delivered since the previous sample.
    public mutating func sample() throws -> Sample {
        let c = engine.counters
        let irqs = engine.interruptsPerLayer
        let summary = engine.intervalHistogram.summary
        let now = engine.now
        let observation = Observation(
            timestampNs: now, rxPackets: c.rxPackets, rxBytes: c.rxBytes, txPackets: c.txPackets,
            txBytes: c.txBytes, rxDropped: c.rxDropped, rxMissed: c.rxMissed, rxFifoErrors: 0,
            txDropped: c.txDropped, interrupts: irqs, cpu: engine.cpuTimes, cpuCount: engine.cores.count,
            softnetDropped: 0, softnetTimeSqueeze: c.timeSqueeze, latency: summary, setting: engine.setting)
        let truth = GroundTruth(
            offeredPackets: c.offered - lastCounters.offered,
            deliveredPackets: c.delivered - lastCounters.delivered,
            droppedPackets: c.dropped - lastCounters.dropped,
            backlogPackets: engine.backlog, latency: summary)
        let seconds = Double(now - lastSampleTime) / 1e9
        let totalIRQ = irqs.reduce(0, +)
        if seconds > 0 {
            intervals.append(IntervalRecord(
                startNs: lastSampleTime, endNs: now,
                offeredPps: Double(truth.offeredPackets) / seconds,
                deliveredPps: Double(truth.deliveredPackets) / seconds,
                droppedPps: Double(truth.droppedPackets) / seconds,
                interruptsPerS: Double(totalIRQ - lastInterrupts) / seconds,
                latencyP99Us: summary.map { Double($0.p99Ns) / 1000 }, setting: engine.setting.specText))
        }
        engine.runHistogram.merge(engine.intervalHistogram)
        engine.resetInterval()
        lastCounters = c
        lastSampleTime = now
        lastInterrupts = totalIRQ
        return Sample(observation: observation, truth: truth)
    }

    /// Whole-run figures up to now (including packets since the last sample).
    public var runSummary: RunSummary {
        let e = engine
        var h = e.runHistogram
        h.merge(e.intervalHistogram)
        let seconds = Double(e.now) / 1e9
        let cpu = e.cpuTimes
        let c = e.counters
        let irqs = e.interruptsPerLayer.reduce(0, +)
        func us(_ q: Double) -> Double { Double(h.quantile(q) ?? 0) / 1000 }
        return RunSummary(
            durationS: seconds,
            throughputPps: seconds > 0 ? Double(c.delivered) / seconds : 0,
            throughputBytesPerS: seconds > 0 ? Double(c.deliveredBytes) / seconds : 0,
            latencyP50Us: us(0.5), latencyP99Us: us(0.99), latencyP999Us: us(0.999),
            cpuPercent: cpu.totalNs > 0 ? 100 * Double(cpu.busyNs) / Double(cpu.totalNs) : 0,
            interruptsPerS: seconds > 0 ? Double(irqs) / seconds : 0,
            drops: c.dropped, simulatedPackets: c.offered,
            cpuNsPerPacket: c.delivered > 0 ? Double(cpu.busyNs) / Double(c.delivered) : 0)
    }

    /// The whole run's latency distribution sampled at `quantiles` (each in 0…1):
    /// (latency µs, quantile) pairs, for CDF charts.
    public func runLatencyCDF(quantiles: [Double]) -> [(latencyUs: Double, fraction: Double)] {
        var h = engine.runHistogram
        h.merge(engine.intervalHistogram)
        return quantiles.compactMap { q in h.quantile(q).map { (Double($0) / 1000, q) } }
    }

    /// Runs the scenario for `seconds` (default: its duration) under a fixed
    /// `setting` (default: its initial setting) and returns the summary.
    public static func runStatic(scenario: Scenario, setting: CoalescingSetting? = nil, seed: UInt64 = 1,
                                 seconds: Double? = nil) throws -> RunSummary {
        var t = try SimTarget(scenario: scenario, seed: seed)
        if let s = setting { try t.apply(s) }
        t.run(untilNs: UInt64((seconds ?? scenario.durationS) * 1e9))
        return t.runSummary
    }
}
