import CoalesceCore
import CoalesceSim

/// One policy run on one simulated scenario: the figures `simulate` prints and
/// `compare` aggregates, plus the per-interval series for charts.
struct LabResult: Sendable, Codable {
    var scenario: String
    var policy: String
    var seed: UInt64
    var durationS: Double
    var throughputPps: Double
    var latencyP50Us: Double
    var latencyP99Us: Double
    var latencyP999Us: Double
    var cpuPercent: Double
    var interruptsPerS: Double
    var drops: UInt64
    var changes: Int
    /// Mean reward per control step under the run's objective.
    var reward: Double
    var simulatedPackets: UInt64
    var steps: Int
    var fallbacks: [String: Int]
    /// Per control step: time (s), offered packets/s, action id in effect, reward.
    var series: [SeriesPoint]

    struct SeriesPoint: Sendable, Codable {
        var t: Double
        var offeredPps: Double
        var action: Int
        var reward: Double
    }

    enum CodingKeys: String, CodingKey {
        case scenario, policy, seed, drops, changes, reward, steps, fallbacks, series
        case durationS = "duration_s"
        case throughputPps = "throughput_pps"
        case latencyP50Us = "latency_p50_us"
        case latencyP99Us = "latency_p99_us"
        case latencyP999Us = "latency_p999_us"
        case cpuPercent = "cpu_percent"
        case interruptsPerS = "interrupts_per_s"
        case simulatedPackets = "simulated_packets"
    }
}

/// Errors of a lab run.
enum LabError: Error, CustomStringConvertible {
    case unknownScenario(String)
    case invalidOption(String)

    var description: String {
        switch self {
        case .unknownScenario(let n):
            return "unknown scenario '\(n)': not a built-in (see `coalesce scenarios`) and not a readable file"
        case .invalidOption(let m): return m
        }
    }
}

/// Runs policies on simulated scenarios through the same `ControlLoop` that drives hosts.
struct LabRunner: Sendable {
    var objective: Objective
    var durationS: Double?
    var intervalMs: Double?
    /// When set, learned (`model:`) policies run behind the guard's overload rule with this
    /// CPU fraction, as `coalesce-agent` does by default (`GuardConfig.overloadCPUFraction`).
    var overloadGuardCPU: Double? = nil
    /// `--ensemble-default`: the setting ensemble models keep unless confident (nil: their own).
    var ensembleDefault: String? = nil

    /// The guard a policy runs behind in the lab: permissive, except the overload rule for
    /// learned policies when `overloadGuardCPU` is set.
    func guardConfig(for spec: PolicySpec) -> GuardConfig {
        guard case .model = spec, let cpu = overloadGuardCPU else { return .permissive }
        return GuardConfig(overloadCPUFraction: cpu)
    }

    /// A built-in scenario by name, or a scenario file.
    static func scenario(_ nameOrPath: String) throws -> Scenario {
        if let s = BuiltinScenarios.named(nameOrPath) { return s }
        if nameOrPath.hasSuffix(".json") || nameOrPath.contains("/") { return try Scenario.load(path: nameOrPath) }
        throw LabError.unknownScenario(nameOrPath)
    }

    /// The action space for `scenario` that holds every fixed setting the specs need.
    static func actionSpace(for scenario: Scenario, specs: [PolicySpec]) throws -> ActionSpace {
        let base = ActionSpace.defaultSpace(layerCount: scenario.layerCount)
        var extra: [CoalescingSetting] = []
        for spec in specs { extra += try spec.requiredSettings(in: base) }
        return try base.extended(with: extra)
    }

    /// Runs `spec` on `scenario` with `seed`. Static and adaptive specs are applied
    /// before the first packet, so the whole run is under that setting; other
    /// policies start from the action closest to the scenario's `initial_setting`
    /// (so every lab dataset of a layer count shares one action space).
    func run(
        scenario: Scenario, spec: PolicySpec, space: ActionSpace, seed: UInt64,
        record: DatasetWriter? = nil, loadModel: (String) throws -> AnyPolicy,
        progress: ((Double) -> Void)? = nil, finished: ((SimTarget) -> Void)? = nil
    ) throws -> LabResult {
        var target = try SimTarget(scenario: scenario, seed: seed)
        switch spec {
        case .staticSetting, .adaptive: try target.apply(try spec.requiredSettings(in: space)[0])
        default: try target.apply(space.settings[space.closest(to: target.setting)])
        }
        let policy = try spec.makePolicy(space: space, seed: seed, loadModel: loadModel)
        let interval = intervalMs ?? scenario.intervalMs
        guard interval > 0 else { throw LabError.invalidOption("--interval must be > 0 ms") }
        let duration = durationS ?? scenario.durationS
        guard duration > 0 else { throw LabError.invalidOption("--duration must be > 0 s") }
        let intervalNs = UInt64(interval * 1e6)
        let steps = max(1, Int(duration * 1e3 / interval) - 1)
        var loop = ControlLoop(
            target: target, policy: policy,
            config: ControlLoopConfig(intervalNs: intervalNs, objective: objective, actionSpace: space,
                                      guardConfig: guardConfig(for: spec), episode: "\(scenario.name)-s\(seed)"))
        var series: [LabResult.SeriesPoint] = []
        series.reserveCapacity(steps + 1)
        let summary = try loop.run(steps: steps, onRecord: { r in
            try record?.append(r)
            let offered = Double(r.truth?.offeredPackets ?? 0) / (Double(intervalNs) / 1e9)
            series.append(.init(t: Double(r.observation.timestampNs) / 1e9, offeredPps: offered, action: r.action, reward: r.reward))
            progress?(Double(r.step + 1) / Double(steps))
        })
        let run = loop.target.runSummary
        finished?(loop.target)
        return LabResult(
            scenario: scenario.name, policy: spec.description, seed: seed, durationS: run.durationS,
            throughputPps: run.throughputPps, latencyP50Us: run.latencyP50Us, latencyP99Us: run.latencyP99Us,
            latencyP999Us: run.latencyP999Us, cpuPercent: run.cpuPercent, interruptsPerS: run.interruptsPerS,
            drops: run.drops, changes: summary.changes, reward: summary.totalReward / Double(max(1, summary.steps)),
            simulatedPackets: run.simulatedPackets, steps: summary.steps,
            fallbacks: Dictionary(uniqueKeysWithValues: summary.fallbacks.map { ($0.key.rawValue, $0.value) }),
            series: series)
    }
}
