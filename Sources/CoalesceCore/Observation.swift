/// CPU time by category, cumulative, in nanoseconds — the columns of `/proc/stat`
/// (user includes nice; system excludes irq/softirq; idle includes iowait).
public struct CPUTimes: Sendable, Hashable, Codable {
    public var userNs: UInt64
    public var systemNs: UInt64
    public var irqNs: UInt64
    public var softirqNs: UInt64
    public var idleNs: UInt64

    public init(userNs: UInt64 = 0, systemNs: UInt64 = 0, irqNs: UInt64 = 0, softirqNs: UInt64 = 0, idleNs: UInt64 = 0) {
        self.userNs = userNs
        self.systemNs = systemNs
        self.irqNs = irqNs
        self.softirqNs = softirqNs
        self.idleNs = idleNs
    }

    /// All categories added up.
    public var totalNs: UInt64 { userNs &+ systemNs &+ irqNs &+ softirqNs &+ idleNs }
    /// Everything but idle.
    public var busyNs: UInt64 { userNs &+ systemNs &+ irqNs &+ softirqNs }
}

/// Round-trip latency over one control interval, from a probe (live host) or
/// from every delivered packet (simulator ground truth). Not cumulative.
public struct LatencySummary: Sendable, Hashable, Codable {
    /// Number of latency samples behind the percentiles.
    public var count: UInt64
    public var p50Ns: UInt64
    public var p99Ns: UInt64
    public var p999Ns: UInt64
    public var maxNs: UInt64

    public init(count: UInt64, p50Ns: UInt64, p99Ns: UInt64, p999Ns: UInt64, maxNs: UInt64) {
        self.count = count
        self.p50Ns = p50Ns
        self.p99Ns = p99Ns
        self.p999Ns = p999Ns
        self.maxNs = maxNs
    }
}

/// What a live host can read at one instant: raw cumulative counters with a
/// monotonic timestamp, plus the setting in effect.
///
/// Counters are exactly as the kernel reports them and may wrap or reset (an
/// interface deleted and recreated); `CounterDelta` turns pairs into safe deltas.
public struct Observation: Sendable, Hashable, Codable {
    /// Monotonic clock, nanoseconds (CLOCK_MONOTONIC on hosts, simulated time in the lab).
    public var timestampNs: UInt64
    /// `/sys/class/net/IF/statistics/rx_packets` (the innermost layer the host sees).
    public var rxPackets: UInt64
    public var rxBytes: UInt64
    public var txPackets: UInt64
    public var txBytes: UInt64
    /// `rx_dropped`: dropped by the stack / driver.
    public var rxDropped: UInt64
    /// `rx_missed_errors`: the NIC had no descriptor (ring full).
    public var rxMissed: UInt64
    /// `rx_fifo_errors`.
    public var rxFifoErrors: UInt64
    /// `tx_dropped`.
    public var txDropped: UInt64
    /// Interrupt count per layer, summed over the layer's IRQs (index 0 = physical NIC).
    /// A live host sees its own NIC only: one entry.
    public var interrupts: [UInt64]
    /// CPU time of the CPUs that serve the NIC's IRQs (or all CPUs), cumulative.
    public var cpu: CPUTimes
    /// How many CPUs `cpu` sums over.
    public var cpuCount: Int
    /// `/proc/net/softnet_stat` column 2 (dropped: backlog full), summed over CPUs.
    public var softnetDropped: UInt64
    /// `/proc/net/softnet_stat` column 3 (time_squeeze: NAPI budget or time ran out).
    public var softnetTimeSqueeze: UInt64
    /// Latency over the interval that ends at `timestampNs`, when a probe runs.
    public var latency: LatencySummary?
    /// The coalescing in effect when the sample was taken.
    public var setting: CoalescingSetting

    public init(
        timestampNs: UInt64, rxPackets: UInt64 = 0, rxBytes: UInt64 = 0, txPackets: UInt64 = 0,
        txBytes: UInt64 = 0, rxDropped: UInt64 = 0, rxMissed: UInt64 = 0, rxFifoErrors: UInt64 = 0,
        txDropped: UInt64 = 0, interrupts: [UInt64] = [0], cpu: CPUTimes = CPUTimes(), cpuCount: Int = 1,
        softnetDropped: UInt64 = 0, softnetTimeSqueeze: UInt64 = 0, latency: LatencySummary? = nil,
        setting: CoalescingSetting
    ) {
        self.timestampNs = timestampNs
        self.rxPackets = rxPackets
        self.rxBytes = rxBytes
        self.txPackets = txPackets
        self.txBytes = txBytes
        self.rxDropped = rxDropped
        self.rxMissed = rxMissed
        self.rxFifoErrors = rxFifoErrors
        self.txDropped = txDropped
        self.interrupts = interrupts
        self.cpu = cpu
        self.cpuCount = cpuCount
        self.softnetDropped = softnetDropped
        self.softnetTimeSqueeze = softnetTimeSqueeze
        self.latency = latency
        self.setting = setting
    }

    /// All drop counters added up.
    public var totalDrops: UInt64 { rxDropped &+ rxMissed &+ rxFifoErrors &+ txDropped &+ softnetDropped }
}

/// What only the simulator knows about one control interval: ground truth that a
/// live host cannot measure. Used for rewards in the lab and for evaluation.
public struct GroundTruth: Sendable, Hashable, Codable {
    /// Packets the traffic sources offered during the interval.
    public var offeredPackets: UInt64
    /// Packets delivered to the application during the interval.
    public var deliveredPackets: UInt64
    /// Packets dropped anywhere during the interval.
    public var droppedPackets: UInt64
    /// Packets still queued (rings, coalescing, backends, sockets) at the interval's end.
    public var backlogPackets: UInt64
    /// Per-packet (or per-request) latency percentiles of the interval.
    public var latency: LatencySummary?

    public init(offeredPackets: UInt64, deliveredPackets: UInt64, droppedPackets: UInt64,
                backlogPackets: UInt64, latency: LatencySummary?) {
        self.offeredPackets = offeredPackets
        self.deliveredPackets = deliveredPackets
        self.droppedPackets = droppedPackets
        self.backlogPackets = backlogPackets
        self.latency = latency
    }
}

/// One sample from a `Target`: the observation, and ground truth when the target is simulated.
public struct Sample: Sendable, Hashable {
    public var observation: Observation
    public var truth: GroundTruth?

    public init(observation: Observation, truth: GroundTruth? = nil) {
        self.observation = observation
        self.truth = truth
    }
}
