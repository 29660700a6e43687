import CoalesceCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Why a scenario could not be loaded. Descriptions name the file and the field,
/// e.g. `web.json: traffic[2].rate_pps: must be > 0`.
public enum ScenarioError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The text is not JSON.
    case malformedJSON(source: String, reason: String)
    /// A field is missing, has the wrong type, an invalid value, or is unknown.
    case invalidField(source: String, field: String, message: String)
    /// A trace file named by the scenario is malformed.
    case badTrace(path: String, line: Int, message: String)

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
        case .malformedJSON(let s, let r): return "\(s): \(r)"
        case .invalidField(let s, let f, let m): return "\(s): \(f): \(m)"
        case .badTrace(let p, let l, let m): return "\(p):\(l): \(m)"
        }
    }
}

/// A JSON value, decoded without losing the distinction between numbers and booleans,
/// so that scenario validation can report unknown keys and wrong types by field.
/// (`JSONDecoder` into typed structs silently ignores unknown keys.)
public indirect enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Reads the fields of one JSON object, tracking the path for error messages and
/// the keys used, so that unknown keys can be reported.
struct FieldReader {
    let source: String
    let path: String
    let object: [String: JSONValue]
    private(set) var used: Set<String> = []

    init(source: String, path: String, value: JSONValue) throws(ScenarioError) {
        guard case .object(let o) = value else {
            throw .invalidField(source: source, field: path.isEmpty ? "(top level)" : path,
                                message: "must be an object, found \(value.typeName)")
        }
        self.source = source
        self.path = path
        self.object = o
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) -> ScenarioError {
        .invalidField(source: source, field: field(key), message: message)
    }

    mutating func raw(_ key: String) -> JSONValue? {
        used.insert(key)
        if let v = object[key], v != .null { return v }
        return nil
    }

    mutating func has(_ key: String) -> Bool { object[key] != nil && object[key] != .null }

    mutating func string(_ key: String) throws(ScenarioError) -> String? {
        guard let v = raw(key) else { return nil }
        guard case .string(let s) = v else { throw fail(key, "must be a string, found \(v.typeName)") }
        return s
    }

    mutating func requiredString(_ key: String) throws(ScenarioError) -> String {
        guard let s = try string(key) else { throw fail(key, "is required") }
        return s
    }

    mutating func bool(_ key: String, default value: Bool) throws(ScenarioError) -> Bool {
        guard let v = raw(key) else { return value }
        guard case .bool(let b) = v else { throw fail(key, "must be true or false, found \(v.typeName)") }
        return b
    }

    mutating func number(_ key: String) throws(ScenarioError) -> Double? {
        guard let v = raw(key) else { return nil }
        guard case .number(let d) = v, d.isFinite else { throw fail(key, "must be a number, found \(v.typeName)") }
        return d
    }

    /// A number with `check` (e.g. `> 0`) enforced.
    mutating func double(_ key: String, default value: Double, _ check: Check = .nonNegative) throws(ScenarioError) -> Double {
        let d = try number(key) ?? value
        try check.verify(d, field: field(key), source: source)
        return d
    }

    mutating func requiredDouble(_ key: String, _ check: Check) throws(ScenarioError) -> Double {
        guard let d = try number(key) else { throw fail(key, "is required") }
        try check.verify(d, field: field(key), source: source)
        return d
    }

    mutating func int(_ key: String, default value: Int, _ check: Check = .positive) throws(ScenarioError) -> Int {
        guard let d = try number(key) else { return value }
        guard d == d.rounded(), abs(d) < 1e15 else { throw fail(key, "must be a whole number") }
        try check.verify(d, field: field(key), source: source)
        return Int(d)
    }

    mutating func enumValue<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws(ScenarioError) -> E
    where E.RawValue == String {
        guard let s = try string(key) else { return value }
        guard let e = E(rawValue: s) else {
            throw fail(key, "must be one of \(E.allCases.map { $0.rawValue }.joined(separator: ", ")), found '\(s)'")
        }
        return e
    }

    mutating func object(_ key: String) throws(ScenarioError) -> FieldReader? {
        guard let v = raw(key) else { return nil }
        return try FieldReader(source: source, path: field(key), value: v)
    }

    mutating func array(_ key: String) throws(ScenarioError) -> [JSONValue]? {
        guard let v = raw(key) else { return nil }
        guard case .array(let a) = v else { throw fail(key, "must be an array, found \(v.typeName)") }
        return a
    }

    /// Throws for the first key (alphabetically) that was never read.
    func finish() throws(ScenarioError) {
        for key in object.keys.sorted() where !used.contains(key) {
            throw fail(key, "unknown field")
        }
    }

    /// A numeric constraint.
    enum Check {
        case positive, nonNegative, probability, atLeast(Double), range(Double, Double)

        func verify(_ d: Double, field: String, source: String) throws(ScenarioError) {
            let ok: Bool
            let text: String
            switch self {
            case .positive: ok = d > 0; text = "must be > 0"
            case .nonNegative: ok = d >= 0; text = "must be >= 0"
            case .probability: ok = d >= 0 && d <= 1; text = "must be between 0 and 1"
            case .atLeast(let m): ok = d >= m; text = "must be >= \(Self.format(m))"
            case .range(let a, let b): ok = d >= a && d <= b; text = "must be between \(Self.format(a)) and \(Self.format(b))"
            }
            if !ok { throw .invalidField(source: source, field: field, message: text) }
        }

        static func format(_ d: Double) -> String {
            d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        }
    }
}

extension Scenario {
    /// Reads and validates a scenario file. A relative trace path in the file is
    /// resolved against the file's directory.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        let source = URL(fileURLWithPath: path).lastPathComponent
        var scenario = try decode(json: data, source: source)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        for i in scenario.traffic.indices {
            if case .trace(let p, let loop) = scenario.traffic[i].kind, !p.hasPrefix("/") {
                scenario.traffic[i].kind = .trace(path: directory.appendingPathComponent(p).path, loop: loop)
            }
        }
        return scenario
    }

    /// Decodes and validates scenario JSON; `source` names it in errors (a file name).
    public static func decode(json: Data, source: String) throws(ScenarioError) -> Scenario {
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: json) } catch {
            throw .malformedJSON(source: source, reason: DecodingErrorText.describe(error))
        }
        return try parse(value, source: source)
    }

    /// Decodes and validates scenario JSON text.
    public static func decode(json: String, source: String) throws(ScenarioError) -> Scenario {
        try decode(json: Data(json.utf8), source: source)
    }

    /// Builds a scenario from a decoded JSON value, validating every field.
    public static func parse(_ value: JSONValue, source: String) throws(ScenarioError) -> Scenario {
        var r = try FieldReader(source: source, path: "", value: value)
        let name = try r.requiredString("name")
        if name.isEmpty { throw r.fail("name", "must not be empty") }
        let description = try r.string("description") ?? ""
        let split = try r.enumValue("split", default: ScenarioSplit.train)
        let duration = try r.double("duration_s", default: 10, .positive)
        let interval = try r.double("interval_ms", default: 100, .positive)
        if interval > duration * 1000 { throw r.fail("interval_ms", "must not exceed duration_s") }
        let initial = try r.string("initial_setting") ?? Scenario.defaultInitialSetting
        let wire = try r.double("wire_delay_us", default: 5)
        let link = try r.double("link_gbps", default: 10, .positive)
        var nic = NICConfig()
        if var n = try r.object("nic") { nic = try parseNIC(&n, defaults: nic) }
        var cpu = CPUConfig()
        if var c = try r.object("cpu") { cpu = try parseCPU(&c) }
        var virtualization: VirtualizationConfig?
        if var v = try r.object("virtualization") { virtualization = try parseVirtualization(&v) }
        guard let trafficValues = try r.array("traffic") else { throw r.fail("traffic", "is required") }
        if trafficValues.isEmpty { throw r.fail("traffic", "must list at least one source") }
        var traffic: [TrafficSource] = []
        var names: Set<String> = []
        for (i, v) in trafficValues.enumerated() {
            var t = try FieldReader(source: source, path: "traffic[\(i)]", value: v)
            let s = try parseTraffic(&t, index: i)
            if !names.insert(s.name).inserted { throw t.fail("name", "duplicate source name '\(s.name)'") }
            traffic.append(s)
        }
        var phases: [TrafficPhase] = []
        for (i, v) in (try r.array("phases") ?? []).enumerated() {
            var p = try FieldReader(source: source, path: "phases[\(i)]", value: v)
            phases.append(try parsePhase(&p, names: names))
        }
        let repeatPhases = try r.bool("repeat_phases", default: false)
        try r.finish()
        let scenario = Scenario(
            name: name, description: description, split: split, durationS: duration, intervalMs: interval,
            initialSetting: initial, wireDelayUs: wire, linkGbps: link, nic: nic, cpu: cpu,
            virtualization: virtualization, traffic: traffic, phases: phases, repeatPhases: repeatPhases)
        do { _ = try scenario.parsedInitialSetting() } catch {
            throw .invalidField(source: source, field: "initial_setting", message: error.description)
        }
        return scenario
    }

    static func parseNIC(_ r: inout FieldReader, defaults: NICConfig) throws(ScenarioError) -> NICConfig {
        var n = defaults
        n.queues = try r.int("queues", default: defaults.queues, .range(1, 256))
        n.rxRing = try r.int("rx_ring", default: defaults.rxRing, .range(1, 65536))
        n.txRing = try r.int("tx_ring", default: defaults.txRing, .range(1, 65536))
        n.timer = try r.enumValue("timer", default: defaults.timer)
        n.minIntervalUs = try r.double("min_interval_us", default: defaults.minIntervalUs)
        n.dmaDelayNs = try r.double("dma_delay_ns", default: defaults.dmaDelayNs)
        try r.finish()
        return n
    }

    static func parseCPU(_ r: inout FieldReader) throws(ScenarioError) -> CPUConfig {
        let d = CPUConfig()
        var c = d
        c.cores = try r.int("cores", default: d.cores, .range(1, 256))
        c.irqNs = try r.double("irq_ns", default: d.irqNs)
        c.napiPollNs = try r.double("napi_poll_ns", default: d.napiPollNs)
        c.softirqPerPacketNs = try r.double("softirq_per_packet_ns", default: d.softirqPerPacketNs)
        c.softirqPerByteNs = try r.double("softirq_per_byte_ns", default: d.softirqPerByteNs)
        c.groMergeNs = try r.double("gro_merge_ns", default: d.groMergeNs)
        c.syscallPerPacketNs = try r.double("syscall_per_packet_ns", default: d.syscallPerPacketNs)
        c.copyPerByteNs = try r.double("copy_per_byte_ns", default: d.copyPerByteNs)
        c.txPerPacketNs = try r.double("tx_per_packet_ns", default: d.txPerPacketNs)
        c.txCleanPerPacketNs = try r.double("tx_clean_per_packet_ns", default: d.txCleanPerPacketNs)
        c.socketBufferPackets = try r.int("socket_buffer_packets", default: d.socketBufferPackets)
        c.napiWeight = try r.int("napi_weight", default: d.napiWeight, .range(1, 1024))
        c.netdevBudget = try r.int("netdev_budget", default: d.netdevBudget)
        c.netdevBudgetUs = try r.double("netdev_budget_us", default: d.netdevBudgetUs, .positive)
        c.ksoftirqd = try r.bool("ksoftirqd", default: d.ksoftirqd)
        c.threadSliceUs = try r.double("thread_slice_us", default: d.threadSliceUs, .positive)
        try r.finish()
        return c
    }

    static func parseVirtualization(_ r: inout FieldReader) throws(ScenarioError) -> VirtualizationConfig {
        let d = VirtualizationConfig()
        var v = d
        v.vnicCoalescing = try r.bool("vnic_coalescing", default: d.vnicCoalescing)
        v.guestVcpus = try r.int("guest_vcpus", default: d.guestVcpus, .range(1, 256))
        if var n = try r.object("vnic") { v.vnic = try parseNIC(&n, defaults: d.vnic) }
        v.virtualIrqNs = try r.double("virtual_irq_ns", default: d.virtualIrqNs)
        v.backendPerPacketNs = try r.double("backend_per_packet_ns", default: d.backendPerPacketNs)
        v.backendPerByteNs = try r.double("backend_per_byte_ns", default: d.backendPerByteNs)
        v.backendBatch = try r.int("backend_batch", default: d.backendBatch, .range(1, 4096))
        v.backendQueuePackets = try r.int("backend_queue_packets", default: d.backendQueuePackets)
        v.txDelayUs = try r.double("tx_delay_us", default: d.txDelayUs)
        v.txKickNs = try r.double("tx_kick_ns", default: d.txKickNs)
        try r.finish()
        return v
    }

    static func parseSize(_ r: inout FieldReader) throws(ScenarioError) -> PacketSizeDistribution {
        let kind = try r.requiredString("kind")
        let size: PacketSizeDistribution
        let bytesCheck = FieldReader.Check.range(20, 65535)
        switch kind {
        case "fixed":
            size = .fixed(bytes: try r.int("bytes", default: 64, bytesCheck))
        case "bimodal":
            size = .bimodal(small: try r.int("small", default: 64, bytesCheck),
                            large: try r.int("large", default: 1500, bytesCheck),
                            pSmall: try r.double("p_small", default: 0.5, .probability))
        case "empirical":
            guard let rows = try r.array("table") else { throw r.fail("table", "is required") }
            if rows.isEmpty { throw r.fail("table", "must have at least one row") }
            var table: [SizeWeight] = []
            for (i, row) in rows.enumerated() {
                let f = r.field("table[\(i)]")
                guard case .array(let pair) = row, pair.count == 2, case .number(let b) = pair[0],
                      case .number(let w) = pair[1] else {
                    throw .invalidField(source: r.source, field: f, message: "must be [bytes, weight]")
                }
                try bytesCheck.verify(b, field: f + "[0]", source: r.source)
                try FieldReader.Check.nonNegative.verify(w, field: f + "[1]", source: r.source)
                table.append(SizeWeight(bytes: Int(b), weight: w))
            }
            if table.allSatisfy({ $0.weight == 0 }) { throw r.fail("table", "weights must not all be 0") }
            size = .empirical(table)
        default:
            throw r.fail("kind", "must be one of fixed, bimodal, empirical, found '\(kind)'")
        }
        try r.finish()
        return size
    }

    static func parseTraffic(_ r: inout FieldReader, index: Int) throws(ScenarioError) -> TrafficSource {
        let kindText = try r.requiredString("kind")
        let name = try r.string("name") ?? "source\(index)"
        var defaultSize = PacketSizeDistribution.fixed(bytes: 64)
        var defaultFlows = 64
        let kind: TrafficKind
        switch kindText {
        case "poisson":
            kind = .poisson(ratePps: try r.requiredDouble("rate_pps", .positive))
        case "onoff":
            let dist = try r.enumValue("period_dist", default: PeriodDistribution.lognormal)
            let shapeDefault = dist == .pareto ? 1.5 : 1.0
            let shape = try r.double("shape", default: shapeDefault, .positive)
            if dist == .pareto && shape <= 1 { throw r.fail("shape", "must be > 1 for a Pareto distribution (finite mean), found \(shape)") }
            kind = .onOff(ratePps: try r.requiredDouble("rate_pps", .positive),
                          onMs: try r.requiredDouble("on_ms", .positive),
                          offMs: try r.requiredDouble("off_ms", .positive), periods: dist, shape: shape)
        case "request_response":
            let clients = try r.int("clients", default: 16, .range(1, 100_000))
            kind = .requestResponse(
                clients: clients, thinkUs: try r.double("think_us", default: 100),
                serviceUs: try r.double("service_us", default: 10),
                service: try r.enumValue("service_dist", default: ServiceDistribution.exponential),
                responseBytes: try r.int("response_bytes", default: 256, .range(20, 65535)))
            defaultFlows = clients
            defaultSize = .fixed(bytes: 128)
        case "bulk":
            let flows = try r.int("flows", default: 1, .range(1, 1024))
            kind = .bulk(flows: flows, windowBytes: try r.int("window_bytes", default: 65536, .atLeast(1500)))
            defaultFlows = flows
            defaultSize = .fixed(bytes: 1500)
        case "trace":
            kind = .trace(path: try r.requiredString("path"), loop: try r.bool("loop", default: true))
        default:
            throw r.fail("kind", "must be one of poisson, onoff, request_response, bulk, trace, found '\(kindText)'")
        }
        var size = defaultSize
        if var s = try r.object("size") { size = try parseSize(&s) }
        if case .bulk = kind, case .fixed = size {} else if case .bulk = kind {
            throw r.fail("size", "bulk flows send fixed-size segments: use kind fixed")
        }
        var flows = defaultFlows
        switch kind {
        case .requestResponse, .bulk:
            if r.has("flows"), case .requestResponse = kind { throw r.fail("flows", "request_response uses one flow per client: set clients") }
        default:
            flows = try r.int("flows", default: defaultFlows, .range(1, 1_000_000))
        }
        let appNs = try r.double("app_ns", default: 0)
        try r.finish()
        return TrafficSource(name: name, kind: kind, size: size, flows: flows, appNs: appNs)
    }

    static func parsePhase(_ r: inout FieldReader, names: Set<String>) throws(ScenarioError) -> TrafficPhase {
        let duration = try r.requiredDouble("duration_s", .positive)
        func scales(_ key: String, _ r: inout FieldReader) throws(ScenarioError) -> [String: Double]? {
            guard var o = try r.object(key) else { return nil }
            var out: [String: Double] = [:]
            for k in o.object.keys.sorted() {
                guard names.contains(k) else { throw o.fail(k, "no traffic source is named '\(k)'") }
                out[k] = try o.double(k, default: 0)
            }
            try o.finish()
            return out
        }
        guard let rates = try scales("rates", &r) else { throw r.fail("rates", "is required") }
        let ramp = try scales("ramp_to", &r)
        try r.finish()
        return TrafficPhase(durationS: duration, rates: rates, rampTo: ramp)
    }
}

// MARK: - Encoding (the same keys the decoder reads)

extension Scenario: Codable {
    public init(from decoder: Decoder) throws {
        let value = try JSONValue(from: decoder)
        self = try Scenario.parse(value, source: "scenario")
    }

    public func encode(to encoder: Encoder) throws {
        try json.encode(to: encoder)
    }

    /// The scenario as a JSON value with the documented snake_case keys.
    public var json: JSONValue {
        func nicJSON(_ n: NICConfig) -> JSONValue {
            .object(["queues": .number(Double(n.queues)), "rx_ring": .number(Double(n.rxRing)),
                     "tx_ring": .number(Double(n.txRing)), "timer": .string(n.timer.rawValue),
                     "min_interval_us": .number(n.minIntervalUs), "dma_delay_ns": .number(n.dmaDelayNs)])
        }
        func sizeJSON(_ s: PacketSizeDistribution) -> JSONValue {
            switch s {
            case .fixed(let b): return .object(["kind": .string("fixed"), "bytes": .number(Double(b))])
            case .bimodal(let a, let b, let p):
                return .object(["kind": .string("bimodal"), "small": .number(Double(a)),
                                "large": .number(Double(b)), "p_small": .number(p)])
            case .empirical(let t):
                return .object(["kind": .string("empirical"),
                                "table": .array(t.map { .array([.number(Double($0.bytes)), .number($0.weight)]) })])
            }
        }
        var o: [String: JSONValue] = [
            "name": .string(name), "description": .string(description), "split": .string(split.rawValue),
            "duration_s": .number(durationS), "interval_ms": .number(intervalMs),
            "initial_setting": .string(initialSetting), "wire_delay_us": .number(wireDelayUs),
            "link_gbps": .number(linkGbps), "nic": nicJSON(nic), "repeat_phases": .bool(repeatPhases),
        ]
        o["cpu"] = .object([
            "cores": .number(Double(cpu.cores)), "irq_ns": .number(cpu.irqNs), "napi_poll_ns": .number(cpu.napiPollNs),
            "softirq_per_packet_ns": .number(cpu.softirqPerPacketNs), "softirq_per_byte_ns": .number(cpu.softirqPerByteNs), "gro_merge_ns": .number(cpu.groMergeNs),
            "syscall_per_packet_ns": .number(cpu.syscallPerPacketNs), "copy_per_byte_ns": .number(cpu.copyPerByteNs),
            "tx_per_packet_ns": .number(cpu.txPerPacketNs), "tx_clean_per_packet_ns": .number(cpu.txCleanPerPacketNs),
            "socket_buffer_packets": .number(Double(cpu.socketBufferPackets)), "napi_weight": .number(Double(cpu.napiWeight)),
            "netdev_budget": .number(Double(cpu.netdevBudget)), "netdev_budget_us": .number(cpu.netdevBudgetUs),
            "ksoftirqd": .bool(cpu.ksoftirqd), "thread_slice_us": .number(cpu.threadSliceUs),
        ])
        if let v = virtualization {
            o["virtualization"] = .object([
                "vnic_coalescing": .bool(v.vnicCoalescing), "guest_vcpus": .number(Double(v.guestVcpus)),
                "vnic": nicJSON(v.vnic), "virtual_irq_ns": .number(v.virtualIrqNs),
                "backend_per_packet_ns": .number(v.backendPerPacketNs), "backend_per_byte_ns": .number(v.backendPerByteNs),
                "backend_batch": .number(Double(v.backendBatch)), "backend_queue_packets": .number(Double(v.backendQueuePackets)),
                "tx_delay_us": .number(v.txDelayUs), "tx_kick_ns": .number(v.txKickNs),
            ])
        }
        o["traffic"] = .array(traffic.map { t in
            var s: [String: JSONValue] = ["name": .string(t.name), "size": sizeJSON(t.size), "app_ns": .number(t.appNs)]
            switch t.kind {
            case .poisson(let r):
                s["kind"] = .string("poisson"); s["rate_pps"] = .number(r); s["flows"] = .number(Double(t.flows))
            case .onOff(let r, let on, let off, let d, let shape):
                s["kind"] = .string("onoff"); s["rate_pps"] = .number(r); s["on_ms"] = .number(on)
                s["off_ms"] = .number(off); s["period_dist"] = .string(d.rawValue); s["shape"] = .number(shape)
                s["flows"] = .number(Double(t.flows))
            case .requestResponse(let c, let think, let service, let dist, let resp):
                s["kind"] = .string("request_response"); s["clients"] = .number(Double(c))
                s["think_us"] = .number(think); s["service_us"] = .number(service)
                s["service_dist"] = .string(dist.rawValue); s["response_bytes"] = .number(Double(resp))
            case .bulk(let flows, let window):
                s["kind"] = .string("bulk"); s["flows"] = .number(Double(flows)); s["window_bytes"] = .number(Double(window))
            case .trace(let path, let loop):
                s["kind"] = .string("trace"); s["path"] = .string(path); s["loop"] = .bool(loop)
                s["flows"] = .number(Double(t.flows))
            }
            return .object(s)
        })
        o["phases"] = .array(phases.map { p in
            var v: [String: JSONValue] = ["duration_s": .number(p.durationS),
                                          "rates": .object(p.rates.mapValues { .number($0) })]
            if let r = p.rampTo { v["ramp_to"] = .object(r.mapValues { .number($0) }) }
            return .object(v)
        })
        return .object(o)
    }

    /// The scenario as pretty-printed JSON text (sorted keys), loadable with `decode(json:source:)`.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
