#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The measured quantities of one step that the reward is computed from. They are
/// logged in every dataset row, so a dataset can be re-scored under any objective.
public struct RewardComponents: Sendable, Hashable, Codable {
    /// p99 latency over the interval, µs; nil when no latency is measured.
    public var latencyP99Us: Double?
    /// Busy fraction of the observed CPUs, 0…1.
    public var cpuBusy: Double
    /// Busy CPU µs per delivered packet.
    public var cpuPerPacketUs: Double
    /// Drops / (delivered + drops) over the interval, 0…1.
    public var dropFraction: Double
    /// Packets left queued at the interval's end / (delivered + 1). 0 on live hosts,
    /// which cannot see their queues.
    public var backlogFraction: Double
    /// 1 when the setting was changed at the start of the interval, else 0.
    public var changed: Double
    /// Delivered packets per second.
    public var throughputPps: Double
    /// Interrupts per second, all layers.
    public var interruptsPerS: Double

    public init(latencyP99Us: Double?, cpuBusy: Double, cpuPerPacketUs: Double, dropFraction: Double,
                backlogFraction: Double, changed: Double, throughputPps: Double, interruptsPerS: Double) {
        self.latencyP99Us = latencyP99Us
        self.cpuBusy = cpuBusy
        self.cpuPerPacketUs = cpuPerPacketUs
        self.dropFraction = dropFraction
        self.backlogFraction = backlogFraction
        self.changed = changed
        self.throughputPps = throughputPps
        self.interruptsPerS = interruptsPerS
    }

    /// The components of one interval. Ground truth (simulator) is preferred where
    /// present: its drops, backlog and latency cover every packet.
    public init(metrics m: IntervalMetrics, truth: GroundTruth?, changed: Bool) {
        let delivered = Double(truth?.deliveredPackets ?? m.rxPackets)
        let drops = Double(truth?.droppedPackets ?? m.drops)
        let latency = truth?.latency ?? m.latency
        self.init(
            latencyP99Us: latency.flatMap { $0.count > 0 ? Double($0.p99Ns) / 1000 : nil },
            cpuBusy: m.cpuBusyFraction,
            cpuPerPacketUs: delivered > 0 ? Double(m.cpuBusyNs) / 1000 / delivered : Double(m.cpuBusyNs) / 1000,
            dropFraction: delivered + drops > 0 ? drops / (delivered + drops) : 0,
            backlogFraction: Double(truth?.backlogPackets ?? 0) / (delivered + 1),
            changed: changed ? 1 : 0,
            throughputPps: delivered / m.seconds,
            interruptsPerS: m.interruptsPerSecond)
    }
}

/// What the operator cares about, as the reward of one control step:
///
///     reward = −( w_latency · L + w_cpu · cpu_busy + w_cpu_per_packet · cpu_per_packet_us
///               + w_drop · drop_fraction + w_backlog · backlog_fraction + w_change · changed )
///     L      = p99/SLO + slo_penalty · max(0, p99/SLO − 1)      (0 when latency is not measured)
///
/// Every term is a penalty, so a policy cannot win by coalescing forever (L grows
/// without bound and backlog is charged), by dropping (drops cost far more than any
/// latency or CPU saving at the default weights), or by oscillating (each change
/// is charged). See docs/objectives.md.
public struct Objective: Sendable, Hashable, Codable {
    public var name: String
    /// p99 latency target, µs.
    public var sloP99Us: Double
    public var latencyWeight: Double
    /// Extra slope of the latency term above the SLO.
    public var sloPenalty: Double
    public var cpuWeight: Double
    public var cpuPerPacketWeight: Double
    public var dropWeight: Double
    public var backlogWeight: Double
    public var changeWeight: Double

    public init(name: String, sloP99Us: Double, latencyWeight: Double, sloPenalty: Double, cpuWeight: Double,
                cpuPerPacketWeight: Double, dropWeight: Double, backlogWeight: Double, changeWeight: Double) {
        self.name = name
        self.sloP99Us = sloP99Us
        self.latencyWeight = latencyWeight
        self.sloPenalty = sloPenalty
        self.cpuWeight = cpuWeight
        self.cpuPerPacketWeight = cpuPerPacketWeight
        self.dropWeight = dropWeight
        self.backlogWeight = backlogWeight
        self.changeWeight = changeWeight
    }

    enum CodingKeys: String, CodingKey {
        case name
        case sloP99Us = "slo_p99_us"
        case latencyWeight = "latency_weight"
        case sloPenalty = "slo_penalty"
        case cpuWeight = "cpu_weight"
        case cpuPerPacketWeight = "cpu_per_packet_weight"
        case dropWeight = "drop_weight"
        case backlogWeight = "backlog_weight"
        case changeWeight = "change_weight"
    }

    /// p99 under the SLO first; CPU matters little.
    public static let latency = Objective(
        name: "latency", sloP99Us: 100, latencyWeight: 1, sloPenalty: 4, cpuWeight: 0.2,
        cpuPerPacketWeight: 0, dropWeight: 100, backlogWeight: 2, changeWeight: 0.02)
    /// Latency and CPU weighed evenly, with a looser SLO.
    public static let balanced = Objective(
        name: "balanced", sloP99Us: 300, latencyWeight: 0.5, sloPenalty: 2, cpuWeight: 1,
        cpuPerPacketWeight: 0.05, dropWeight: 100, backlogWeight: 2, changeWeight: 0.02)
    /// CPU per packet first; latency only matters far above a loose SLO.
    public static let throughput = Objective(
        name: "throughput", sloP99Us: 2000, latencyWeight: 0.1, sloPenalty: 1, cpuWeight: 0.5,
        cpuPerPacketWeight: 0.5, dropWeight: 100, backlogWeight: 2, changeWeight: 0.02)

    /// The presets by name.
    public static let presets: [Objective] = [.latency, .balanced, .throughput]

    /// The reward of one step.
    public func reward(_ c: RewardComponents) -> Double {
        var latencyTerm = 0.0
        if let p99 = c.latencyP99Us, sloP99Us > 0 {
            let ratio = p99 / sloP99Us
            latencyTerm = ratio + sloPenalty * max(0, ratio - 1)
        }
        return -(latencyWeight * latencyTerm + cpuWeight * c.cpuBusy + cpuPerPacketWeight * c.cpuPerPacketUs
            + dropWeight * c.dropFraction + backlogWeight * c.backlogFraction + changeWeight * c.changed)
    }

    /// Checks that every weight is finite and non-negative and the SLO positive.
    public func validate(source: String) throws(ObjectiveError) {
        let fields: [(String, Double)] = [
            ("slo_p99_us", sloP99Us), ("latency_weight", latencyWeight), ("slo_penalty", sloPenalty),
            ("cpu_weight", cpuWeight), ("cpu_per_packet_weight", cpuPerPacketWeight),
            ("drop_weight", dropWeight), ("backlog_weight", backlogWeight), ("change_weight", changeWeight),
        ]
        for (name, value) in fields where !value.isFinite || value < 0 {
            throw .invalidField(source: source, field: name, reason: "must be a finite number ≥ 0, got \(value)")
        }
        if sloP99Us <= 0 { throw .invalidField(source: source, field: "slo_p99_us", reason: "must be > 0") }
    }

    /// A preset name (`latency`, `balanced`, `throughput`), or JSON text of an
    /// objective whose missing fields default to `base` (default: balanced).
    public static func named(_ name: String) -> Objective? { presets.first { $0.name == name } }

    /// Decodes an objective from JSON; fields left out take the values of the preset
    /// named in `"base"` (default `balanced`).
    public static func decode(json: [UInt8], source: String) throws(ObjectiveError) -> Objective {
        let object: [String: JSONValue]
        do { object = try JSONDecoder().decode([String: JSONValue].self, from: Data(json)) } catch {
            throw .malformed(source: source, reason: DecodingErrorText.describe(error))
        }
        var baseName = "balanced"
        if case .string(let b)? = object["base"] { baseName = b }
        guard var result = named(baseName) else {
            throw .invalidField(source: source, field: "base", reason: "unknown preset '\(baseName)'")
        }
        result.name = "custom"
        for (key, value) in object {
            switch (key, value) {
            case ("base", _): continue
            case ("name", .string(let s)): result.name = s
            case (_, .number(let x)):
                switch key {
                case "slo_p99_us": result.sloP99Us = x
                case "latency_weight": result.latencyWeight = x
                case "slo_penalty": result.sloPenalty = x
                case "cpu_weight": result.cpuWeight = x
                case "cpu_per_packet_weight": result.cpuPerPacketWeight = x
                case "drop_weight": result.dropWeight = x
                case "backlog_weight": result.backlogWeight = x
                case "change_weight": result.changeWeight = x
                default: throw .invalidField(source: source, field: key, reason: "unknown field")
                }
            default: throw .invalidField(source: source, field: key, reason: "unknown field or wrong type")
            }
        }
        try result.validate(source: source)
        return result
    }
}

/// Errors reading or validating an objective.
public enum ObjectiveError: Error, Equatable, CustomStringConvertible {
    case malformed(source: String, reason: String)
    case invalidField(source: String, field: String, reason: String)
    case unknownPreset(String)

    public var description: String {
        switch self {
        case .malformed(let s, let r): return "\(s): not a JSON object: \(r)"
        case .invalidField(let s, let f, let r): return "\(s): \(f): \(r)"
        case .unknownPreset(let n):
            return "unknown objective '\(n)'; presets: \(Objective.presets.map(\.name).joined(separator: ", ")), or a JSON file"
        }
    }
}

/// A minimal JSON value for loosely typed documents (objective files, headers).
public enum JSONValue: Sendable, Hashable, Codable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let x = try? c.decode(Double.self) { self = .number(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let x): try c.encode(x)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }
}
