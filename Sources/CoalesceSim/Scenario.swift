import CoalesceCore

/// A simulated host and its traffic: everything `SimTarget` needs for one run.
///
/// Scenarios are JSON files with snake_case keys (documented field by field in
/// `docs/scenarios.md`); `Scenario.load(path:)` reads and validates one,
/// `BuiltinScenarios` holds the shipped ones. Every physical constant has a
/// default (see `docs/simulator.md` for the public source of each value).
public struct Scenario: Sendable, Hashable {
    /// Short identifier, e.g. `rpc-low`.
    public var name: String
    /// One line saying what the scenario exercises.
    public var description: String
    /// `train` or `holdout`: which scenarios a learned policy may be trained on.
    public var split: ScenarioSplit
    /// Default run length, seconds.
    public var durationS: Double
    /// Default control interval, milliseconds.
    public var intervalMs: Double
    /// The coalescing setting in effect when the run starts (spec text, e.g.
    /// `rx-usecs=8,rx-frames=32`; `nic.`/`vnic.` prefixes for a layer).
    public var initialSetting: String
    /// One-way propagation delay between the peers (clients, senders) and the host, µs.
    public var wireDelayUs: Double
    /// Link speed, Gbit/s (serialisation of bulk senders).
    public var linkGbps: Double
    /// The physical NIC.
    public var nic: NICConfig
    /// The host's CPUs and the cost of each piece of work.
    public var cpu: CPUConfig
    /// The virtual layers, or nil for bare metal.
    public var virtualization: VirtualizationConfig?
    /// The traffic sources.
    public var traffic: [TrafficSource]
    /// Phases that change the traffic mix over time (empty: every source at scale 1 throughout).
    public var phases: [TrafficPhase]
    /// Whether the phases repeat after the last one (otherwise the last phase lasts to the end).
    public var repeatPhases: Bool

    public init(
        name: String, description: String, split: ScenarioSplit = .train, durationS: Double = 10,
        intervalMs: Double = 100, initialSetting: String = Scenario.defaultInitialSetting,
        wireDelayUs: Double = 5, linkGbps: Double = 10, nic: NICConfig = NICConfig(),
        cpu: CPUConfig = CPUConfig(), virtualization: VirtualizationConfig? = nil,
        traffic: [TrafficSource], phases: [TrafficPhase] = [], repeatPhases: Bool = false
    ) {
        self.name = name
        self.description = description
        self.split = split
        self.durationS = durationS
        self.intervalMs = intervalMs
        self.initialSetting = initialSetting
        self.wireDelayUs = wireDelayUs
        self.linkGbps = linkGbps
        self.nic = nic
        self.cpu = cpu
        self.virtualization = virtualization
        self.traffic = traffic
        self.phases = phases
        self.repeatPhases = repeatPhases
    }

    /// The default initial setting: moderate static moderation, as many drivers ship.
    public static let defaultInitialSetting = "rx-usecs=8,rx-frames=32,tx-usecs=16,tx-frames=32"

    /// How many coalescing layers a policy controls: 1 for bare metal and for a
    /// virtualized host whose virtual NIC cannot coalesce, 2 otherwise.
    public var layerCount: Int {
        guard let v = virtualization else { return 1 }
        return v.vnicCoalescing ? 2 : 1
    }

    /// How many NIC layers packets cross (1 bare metal, 2 virtualized).
    public var simulatedLayerCount: Int { virtualization == nil ? 1 : 2 }

    /// The initial setting parsed for `layerCount` layers.
    public func parsedInitialSetting() throws(SettingSpecError) -> CoalescingSetting {
        try CoalescingSetting.parse(initialSetting, layerCount: layerCount)
    }
}

/// Which part of the scenario set a scenario belongs to.
public enum ScenarioSplit: String, Sendable, Hashable, Codable, CaseIterable {
    /// Policies may be trained on it.
    case train
    /// Kept out of training; results are reported separately.
    case holdout
}

/// How a device's moderation timer runs.
public enum TimerSemantic: String, Sendable, Hashable, Codable, CaseIterable {
    /// The delay starts at the first packet after the interrupt was armed (mlx5 EQE mode, most NICs).
    case eqe
    /// Every packet restarts the delay (mlx5 CQE mode).
    case cqe
    /// A minimum interval between interrupts (Intel ITR; QEMU's e1000e).
    case throttle
}

/// The physical NIC (or, inside `VirtualizationConfig`, the virtual NIC).
public struct NICConfig: Sendable, Hashable {
    /// Number of RX/TX queue pairs; flows are hashed to queues.
    public var queues: Int
    /// RX descriptors per queue; a packet arriving to a full ring is dropped (`rx_missed_errors`).
    public var rxRing: Int
    /// TX descriptors per queue; a packet sent to a full ring is dropped (`tx_dropped`).
    public var txRing: Int
    /// The moderation timer semantic.
    public var timer: TimerSemantic
    /// Floor on a non-zero moderation interval, µs (QEMU e1000e: 128).
    public var minIntervalUs: Double
    /// Time from the wire to the descriptor being visible to the driver (DMA), ns.
    public var dmaDelayNs: Double

    public init(queues: Int = 1, rxRing: Int = 1024, txRing: Int = 1024, timer: TimerSemantic = .eqe,
                minIntervalUs: Double = 0, dmaDelayNs: Double = 500) {
        self.queues = queues
        self.rxRing = rxRing
        self.txRing = txRing
        self.timer = timer
        self.minIntervalUs = minIntervalUs
        self.dmaDelayNs = dmaDelayNs
    }
}

/// The CPUs that serve the NIC and run the application, and the cost of each piece of work.
///
/// Costs are in nanoseconds of CPU time. On a virtualized host they describe the
/// host's cores; the guest's vCPUs use the same per-packet costs (same kernel)
/// with the virtual interrupt cost of `VirtualizationConfig`.
public struct CPUConfig: Sendable, Hashable {
    /// Cores (bare metal: serving NIC queues and the application; virtualized: the host side).
    public var cores: Int
    /// Hard interrupt handling: entry, handler, EOI, exit (accounted as irq).
    public var irqNs: Double
    /// Fixed cost of one NAPI poll call (softirq).
    public var napiPollNs: Double
    /// Driver + stack cost per received packet in softirq.
    public var softirqPerPacketNs: Double
    /// Softirq cost per received byte.
    public var softirqPerByteNs: Double
    /// Softirq cost of a bulk segment that GRO merges into the previous one of its flow
    /// (replaces `softirqPerPacketNs`; the application also reads a merged run with one call).
    public var groMergeNs: Double
    /// Receive system call per packet (accounted as system).
    public var syscallPerPacketNs: Double
    /// Copy to user space per byte (system).
    public var copyPerByteNs: Double
    /// Sending one packet (system call + stack + driver, system).
    public var txPerPacketNs: Double
    /// Cleaning one TX completion in NAPI (softirq).
    public var txCleanPerPacketNs: Double
    /// Socket receive buffer, packets; a full buffer drops (`rx_dropped`).
    public var socketBufferPackets: Int
    /// `napi_weight`: packets one poll may process (64).
    public var napiWeight: Int
    /// `net.core.netdev_budget`: packets per softirq run before a time squeeze (300).
    public var netdevBudget: Int
    /// `net.core.netdev_budget_usecs`: µs per softirq run before a time squeeze (2000).
    public var netdevBudgetUs: Double
    /// After a time squeeze, NAPI work continues in ksoftirqd and shares the CPU
    /// with threads (Linux); false gives softirq strict priority (classic livelock).
    public var ksoftirqd: Bool
    /// Longest stretch of thread work (application, backend) run without a look at pending interrupts, µs.
    public var threadSliceUs: Double

    public init(
        cores: Int = 1, irqNs: Double = 1500, napiPollNs: Double = 200, softirqPerPacketNs: Double = 250,
        softirqPerByteNs: Double = 0.02, groMergeNs: Double = 60, syscallPerPacketNs: Double = 500, copyPerByteNs: Double = 0.1,
        txPerPacketNs: Double = 800, txCleanPerPacketNs: Double = 60, socketBufferPackets: Int = 4096,
        napiWeight: Int = 64, netdevBudget: Int = 300, netdevBudgetUs: Double = 2000, ksoftirqd: Bool = true,
        threadSliceUs: Double = 10
    ) {
        self.cores = cores
        self.irqNs = irqNs
        self.napiPollNs = napiPollNs
        self.softirqPerPacketNs = softirqPerPacketNs
        self.softirqPerByteNs = softirqPerByteNs
        self.groMergeNs = groMergeNs
        self.syscallPerPacketNs = syscallPerPacketNs
        self.copyPerByteNs = copyPerByteNs
        self.txPerPacketNs = txPerPacketNs
        self.txCleanPerPacketNs = txCleanPerPacketNs
        self.socketBufferPackets = socketBufferPackets
        self.napiWeight = napiWeight
        self.netdevBudget = netdevBudget
        self.netdevBudgetUs = netdevBudgetUs
        self.ksoftirqd = ksoftirqd
        self.threadSliceUs = threadSliceUs
    }
}

/// The virtual layers between the host NIC and the guest's application:
/// host NIC → host NAPI → backend (vhost) → virtual interrupt → guest vNIC → guest NAPI → app.
public struct VirtualizationConfig: Sendable, Hashable {
    /// Whether the virtual NIC coalesces (virtio-net with notification coalescing);
    /// without it, the guest gets one virtual interrupt per backend notification and
    /// the scenario has one coalescing layer.
    public var vnicCoalescing: Bool
    /// Guest vCPUs (guest NAPI and the application run there).
    public var guestVcpus: Int
    /// The virtual NIC: queues, ring (virtqueue) size, timer semantic, floor.
    public var vnic: NICConfig
    /// Guest-side cost of one injected virtual interrupt, including the VM exits it causes, ns.
    public var virtualIrqNs: Double
    /// Backend (vhost) cost per packet: descriptor handling, ns (host system time).
    public var backendPerPacketNs: Double
    /// Backend copy cost per byte, ns.
    public var backendPerByteNs: Double
    /// Packets the backend moves per run before notifying.
    public var backendBatch: Int
    /// Backend input queue (tap) capacity, packets; overflow drops (`rx_dropped`).
    public var backendQueuePackets: Int
    /// Extra delay of a guest transmission through the backend, µs.
    public var txDelayUs: Double
    /// Guest cost per transmitted packet for the notification (kick, VM exit), ns.
    public var txKickNs: Double

    public init(
        vnicCoalescing: Bool = true, guestVcpus: Int = 1,
        vnic: NICConfig = NICConfig(queues: 1, rxRing: 256, txRing: 256, timer: .eqe, minIntervalUs: 0, dmaDelayNs: 0),
        virtualIrqNs: Double = 12_000, backendPerPacketNs: Double = 400, backendPerByteNs: Double = 0.15,
        backendBatch: Int = 64, backendQueuePackets: Int = 1000, txDelayUs: Double = 10, txKickNs: Double = 2000
    ) {
        self.vnicCoalescing = vnicCoalescing
        self.guestVcpus = guestVcpus
        self.vnic = vnic
        self.virtualIrqNs = virtualIrqNs
        self.backendPerPacketNs = backendPerPacketNs
        self.backendPerByteNs = backendPerByteNs
        self.backendBatch = backendBatch
        self.backendQueuePackets = backendQueuePackets
        self.txDelayUs = txDelayUs
        self.txKickNs = txKickNs
    }
}

/// A packet-size distribution, bytes on the wire.
public enum PacketSizeDistribution: Sendable, Hashable {
    /// Every packet the same size.
    case fixed(bytes: Int)
    /// `small` with probability `pSmall`, otherwise `large`.
    case bimodal(small: Int, large: Int, pSmall: Double)
    /// An empirical table of (size, weight); weights need not sum to 1.
    case empirical([SizeWeight])

    /// The mean size, bytes.
    public var mean: Double {
        switch self {
        case .fixed(let b): return Double(b)
        case .bimodal(let s, let l, let p): return p * Double(s) + (1 - p) * Double(l)
        case .empirical(let table):
            let total = table.reduce(0) { $0 + $1.weight }
            return table.reduce(0) { $0 + Double($1.bytes) * $1.weight } / total
        }
    }
}

/// One row of an empirical size table.
public struct SizeWeight: Sendable, Hashable {
    public var bytes: Int
    public var weight: Double

    public init(bytes: Int, weight: Double) {
        self.bytes = bytes
        self.weight = weight
    }
}

/// How on/off period lengths are distributed.
public enum PeriodDistribution: String, Sendable, Hashable, Codable, CaseIterable {
    case exponential
    /// Lognormal with the given mean and shape `sigma`.
    case lognormal
    /// Pareto with the given mean and shape `alpha` (> 1).
    case pareto
}

/// How the server's service time is distributed.
public enum ServiceDistribution: String, Sendable, Hashable, Codable, CaseIterable {
    case fixed
    case exponential
}

/// What a traffic source generates.
public enum TrafficKind: Sendable, Hashable {
    /// Open-loop Poisson arrivals at `ratePps`.
    case poisson(ratePps: Double)
    /// Bursts: Poisson at `ratePps` during on periods, silence during off periods.
    case onOff(ratePps: Double, onMs: Double, offMs: Double, periods: PeriodDistribution, shape: Double)
    /// Closed loop: `clients` clients each send a request, wait for the response, think, repeat.
    /// Latency is request to response. `service` is the server's application time per request.
    case requestResponse(clients: Int, thinkUs: Double, serviceUs: Double, service: ServiceDistribution,
                         responseBytes: Int)
    /// Window-limited, ACK-clocked bulk flows (TCP-like): at most `windowBytes` in flight per flow.
    case bulk(flows: Int, windowBytes: Int)
    /// Replay of a CSV trace `timestamp_ns,size[,flow]`; `path` is resolved against the scenario file.
    case trace(path: String, loop: Bool)
}

/// One traffic source.
public struct TrafficSource: Sendable, Hashable {
    /// Name, used by phases (unique within the scenario).
    public var name: String
    /// What it generates.
    public var kind: TrafficKind
    /// Packet (request) sizes. Bulk flows use the size as their segment size.
    public var size: PacketSizeDistribution
    /// Flows the packets spread over (hashed to queues). Request/response: one flow per client.
    public var flows: Int
    /// Application CPU time per received packet (user time), ns. For request/response,
    /// the service time replaces it.
    public var appNs: Double

    /// `flows` is ignored for request/response (one flow per client) and bulk (the kind's flow count).
    public init(name: String, kind: TrafficKind, size: PacketSizeDistribution = .fixed(bytes: 64),
                flows: Int = 64, appNs: Double = 0) {
        self.name = name
        self.kind = kind
        self.size = size
        switch kind {
        case .requestResponse(let clients, _, _, _, _): self.flows = clients
        case .bulk(let n, _): self.flows = n
        default: self.flows = flows
        }
        self.appNs = appNs
    }
}

/// A stretch of time during which each source runs at a scale of its nominal rate.
public struct TrafficPhase: Sendable, Hashable {
    /// Length of the phase, seconds.
    public var durationS: Double
    /// Scale per source name at the phase start; sources not listed are off (0).
    public var rates: [String: Double]
    /// If set, scales move linearly from `rates` to these by the phase end.
    public var rampTo: [String: Double]?

    public init(durationS: Double, rates: [String: Double], rampTo: [String: Double]? = nil) {
        self.durationS = durationS
        self.rates = rates
        self.rampTo = rampTo
    }
}
