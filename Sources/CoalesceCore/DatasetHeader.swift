#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The header of a dataset file (schema v1): what produced the rows and how to read them.
/// Stored as one JSON line after the magic line; see docs/dataset.md.
public struct DatasetHeader: Sendable, Hashable, Codable {
    /// Always 1 for this schema.
    public var schema: Int
    /// `sim:NAME` for the simulator, `host:IF` for a live host.
    public var target: String
    /// Scenario name (simulator) or interface name (host).
    public var scenario: String
    /// Simulation seed, or 0 for live hosts.
    public var seed: UInt64
    /// Control interval, ns.
    public var intervalNs: UInt64
    /// Number of coalescing layers (settings have this many layers).
    public var layerCount: Int
    /// Number of interrupt sources counted per row (columns `irq_0`…): the physical
    /// NIC, and on a virtualized host the guest's virtual interrupts too, even when
    /// only one layer coalesces.
    public var irqColumns: Int
    /// Whether latency was measured; when false the latency features are zero and
    /// `c_latency_p99_us` is empty.
    public var latencyFeatures: Bool
    /// Feature names of the `s_*` columns, in order.
    public var features: [String]
    /// The action space that action ids refer to.
    public var actionSpace: ActionSpace
    /// The objective `reward` was computed under.
    public var objective: Objective
    /// The behaviour policy's identity.
    public var policy: String
    /// The tool that wrote the file.
    public var tool: String

    public init(target: String, scenario: String, seed: UInt64, intervalNs: UInt64, layerCount: Int,
                latencyFeatures: Bool, actionSpace: ActionSpace, objective: Objective, policy: String,
                irqColumns: Int? = nil, tool: String = "coalesce \(CoalesceVersion.current)") {
        self.schema = 1
        self.target = target
        self.scenario = scenario
        self.seed = seed
        self.intervalNs = intervalNs
        self.layerCount = layerCount
        self.irqColumns = irqColumns ?? layerCount
        self.latencyFeatures = latencyFeatures
        self.features = FeatureExtractor.featureNames
        self.actionSpace = actionSpace
        self.objective = objective
        self.policy = policy
        self.tool = tool
    }

    enum CodingKeys: String, CodingKey {
        case schema, target, scenario, seed, features, objective, policy, tool
        case intervalNs = "interval_ns"
        case layerCount = "layer_count"
        case irqColumns = "irq_columns"
        case latencyFeatures = "latency_features"
        case actionSpace = "action_space"
    }

    /// The first line of every dataset file.
    public static let magicLine = "# coalesce-dataset v1"

    /// The CSV columns of this header's rows, in order.
    public var columns: [String] {
        var c = ["episode", "step", "t_ns", "interval_ns"]
        c += DatasetColumns.counters
        c += (0..<irqColumns).map { "irq_\($0)" }
        c += DatasetColumns.cpuAndSoftnet
        c += DatasetColumns.latency
        c += ["setting"]
        c += features.map { "s_" + $0 }
        c += ["prev_action", "action", "action_setting", "pi_b", "policy", "guard"]
        c += DatasetColumns.components
        c += ["reward", "terminal", "timeout"]
        return c
    }
}

/// Fixed column groups of schema v1.
public enum DatasetColumns {
    public static let counters = [
        "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "rx_missed_errors", "rx_fifo_errors",
        "tx_dropped",
    ]
    public static let cpuAndSoftnet = [
        "cpu_user_ns", "cpu_system_ns", "cpu_irq_ns", "cpu_softirq_ns", "cpu_idle_ns", "cpu_count",
        "softnet_dropped", "softnet_time_squeeze",
    ]
    public static let latency = ["lat_count", "lat_p50_ns", "lat_p99_ns", "lat_p999_ns", "lat_max_ns"]
    public static let components = [
        "c_latency_p99_us", "c_cpu_busy", "c_cpu_per_packet_us", "c_drop_fraction", "c_backlog_fraction",
        "c_changed", "c_throughput_pps", "c_interrupts_per_s",
    ]
}

/// The tool's version, written into datasets and model files.
public enum CoalesceVersion {
    public static let current = "0.1.0"
}
