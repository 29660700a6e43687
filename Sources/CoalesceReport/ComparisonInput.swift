// The input of a comparison: what `coalesce compare` measured, policy × scenario × seed.
// The lead's command fills these; the report only reads them.

/// The figures of one policy on one scenario with one seed (one simulation or one live block).
public struct RunFigures: Sendable, Codable, Hashable {
    /// Delivered packets per second.
    public var throughputPps: Double
    /// Median packet latency (µs).
    public var latencyP50Us: Double
    /// 99th-percentile packet latency (µs).
    public var latencyP99Us: Double
    /// 99.9th-percentile packet latency (µs).
    public var latencyP999Us: Double
    /// CPU spent on packet processing and interrupts, percent of one core.
    public var cpuPercent: Double
    /// Interrupts per second (all layers).
    public var interruptsPerS: Double
    /// Packets dropped during the run.
    public var drops: UInt64
    /// Setting changes applied during the run.
    public var changes: Int
    /// Mean reward per control step under the comparison's objective (higher is better).
    public var reward: Double

    /// Creates the figures of one run.
    public init(throughputPps: Double, latencyP50Us: Double, latencyP99Us: Double, latencyP999Us: Double,
                cpuPercent: Double, interruptsPerS: Double, drops: UInt64, changes: Int, reward: Double) {
        self.throughputPps = throughputPps
        self.latencyP50Us = latencyP50Us
        self.latencyP99Us = latencyP99Us
        self.latencyP999Us = latencyP999Us
        self.cpuPercent = cpuPercent
        self.interruptsPerS = interruptsPerS
        self.drops = drops
        self.changes = changes
        self.reward = reward
    }
}

/// One control step of a run, for the time-series chart.
public struct SeriesPoint: Sendable, Codable, Hashable {
    /// Time since the start of the run (s).
    public var t: Double
    /// Offered load in this interval (packets/s).
    public var offeredPps: Double
    /// The action id in effect (index into `ScenarioRuns.actionNames`).
    public var action: Int

    /// Creates one point of a time series.
    public init(t: Double, offeredPps: Double, action: Int) {
        self.t = t
        self.offeredPps = offeredPps
        self.action = action
    }
}

/// One point of an empirical latency CDF: the fraction of packets with latency ≤ `latencyUs`.
public struct CDFPoint: Sendable, Codable, Hashable {
    /// Latency (µs).
    public var latencyUs: Double
    /// Fraction of packets at or below `latencyUs`, in [0, 1].
    public var fraction: Double

    /// Creates one CDF point.
    public init(latencyUs: Double, fraction: Double) {
        self.latencyUs = latencyUs
        self.fraction = fraction
    }
}

/// What kind of policy a row is; decides how the report draws it and what it is compared with.
public enum PolicyKind: String, Sendable, Codable, Hashable, CaseIterable {
    /// A fixed `ethtool -C` setting: drawn on the static trade-off curve, a candidate for
    /// "best static in hindsight".
    case staticSetting = "static"
    /// The driver's own heuristic (Linux DIM, Intel adaptive ITR). A policy of this kind whose
    /// name starts with `dim` is the DIM reference of the verdicts.
    case adaptive
    /// A trained model: gets verdicts against the best static setting and DIM.
    case learned
    /// Anything else (exploration, scripted policies): shown, not judged.
    case other
}

/// All runs of one policy on one scenario.
public struct PolicyRuns: Sendable, Codable {
    /// The policy's name as given on the command line (e.g. `static:rx-usecs=8`, `dim`, `model:m.json`).
    public var policy: String
    /// The kind of policy.
    public var kind: PolicyKind
    /// One entry per seed, index = seed index; every policy of a scenario uses the same seeds
    /// in the same order (paired design).
    public var runs: [RunFigures]
    /// The per-step series of the seed-0 run, for the time-series chart (optional).
    public var series: [SeriesPoint]?
    /// The latency CDF of the seed-0 run, for the CDF chart (optional).
    public var latencyCDF: [CDFPoint]?

    /// Creates the runs of one policy.
    public init(policy: String, kind: PolicyKind, runs: [RunFigures], series: [SeriesPoint]? = nil,
                latencyCDF: [CDFPoint]? = nil) {
        self.policy = policy
        self.kind = kind
        self.runs = runs
        self.series = series
        self.latencyCDF = latencyCDF
    }
}

/// All policies on one scenario.
public struct ScenarioRuns: Sendable, Codable {
    /// The scenario's name.
    public var name: String
    /// One line describing the traffic.
    public var description: String
    /// `train` or `holdout` (the summary shows them separately); any other text is its own group.
    public var split: String
    /// 1 for bare metal, 2 for a virtualized scenario (physical + virtual NIC).
    public var layerCount: Int
    /// Action id → setting text, for the time-series y axis.
    public var actionNames: [String]
    /// The policies compared on this scenario; static settings in action order.
    public var policies: [PolicyRuns]
    /// For virtualized scenarios: the same traffic on bare metal (mean over seeds), the target
    /// a virtualized policy should get close to.
    public var bareMetalReference: RunFigures?
    /// Per seed (same order as the seeds): the mean over control steps of the best reward
    /// any static setting earned in that step — the hindsight per-interval oracle over the
    /// static settings. Its gap to the best static setting bounds what switching between
    /// static settings could gain here (ignoring switching transients). nil when not measured.
    public var staticOracleRewards: [Double]?
    /// Per seed: the same oracle one interval late — each step earns what the static setting
    /// that was best in the step before earned in this one (the first step, the best static
    /// setting's): what following the interval just seen, with perfect knowledge of it, would
    /// earn. A reference for reactive switching, not a bound: a policy can do better by
    /// anticipating, or by not following noise. nil when not measured.
    public var reactiveOracleRewards: [Double]?

    /// Creates the runs of one scenario.
    public init(name: String, description: String, split: String, layerCount: Int, actionNames: [String],
                policies: [PolicyRuns], bareMetalReference: RunFigures? = nil, staticOracleRewards: [Double]? = nil,
                reactiveOracleRewards: [Double]? = nil) {
        self.name = name
        self.description = description
        self.split = split
        self.layerCount = layerCount
        self.actionNames = actionNames
        self.policies = policies
        self.bareMetalReference = bareMetalReference
        self.staticOracleRewards = staticOracleRewards
        self.reactiveOracleRewards = reactiveOracleRewards
    }
}

/// Everything a comparison measured.
public struct ComparisonInput: Sendable, Codable {
    /// The report's title.
    public var title: String
    /// The objective the rewards were computed under (name and, ideally, its weights).
    public var objective: String
    /// The baseline policy for `delta_vs_baseline`; `nil` means the best static setting in
    /// hindsight of each scenario.
    public var baseline: String?
    /// The seeds, in seed-index order (shared by all policies and scenarios).
    public var seeds: [UInt64]
    /// The scenarios.
    public var scenarios: [ScenarioRuns]
    /// Free-text notes shown at the top of the report (e.g. how the models were trained).
    public var notes: [String]

    /// Creates a comparison input.
    public init(title: String, objective: String, baseline: String? = nil, seeds: [UInt64],
                scenarios: [ScenarioRuns], notes: [String] = []) {
        self.title = title
        self.objective = objective
        self.baseline = baseline
        self.seeds = seeds
        self.scenarios = scenarios
        self.notes = notes
    }
}

/// Why a comparison input cannot be reported.
public enum ReportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No seeds were given.
    case noSeeds
    /// A scenario has no policies.
    case noPolicies(scenario: String)
    /// A policy's run count differs from the number of seeds, so runs cannot be paired.
    case runCountMismatch(scenario: String, policy: String, runs: Int, seeds: Int)
    /// Two policies of one scenario share a name.
    case duplicatePolicy(scenario: String, policy: String)
    /// The requested baseline policy is not among the scenario's policies.
    case unknownBaseline(scenario: String, baseline: String)
    /// A run figure is NaN or infinite.
    case nonFiniteFigure(scenario: String, policy: String, seedIndex: Int, field: String)
    /// The static oracle has a different number of entries than there are seeds.
    case oracleCountMismatch(scenario: String, field: String, entries: Int, seeds: Int)

    /// What is wrong and where (scenario, policy, seed index, field).
    public var description: String {
        switch self {
        case .noSeeds:
            return "comparison input: 'seeds' is empty; at least one seed is needed"
        case .noPolicies(let s):
            return "comparison input: scenario '\(s)' has no policies"
        case .runCountMismatch(let s, let p, let runs, let seeds):
            return "comparison input: scenario '\(s)', policy '\(p)': \(runs) runs for \(seeds) seeds; "
                + "every policy needs one run per seed so that runs can be paired"
        case .duplicatePolicy(let s, let p):
            return "comparison input: scenario '\(s)' lists policy '\(p)' twice"
        case .unknownBaseline(let s, let b):
            return "comparison input: baseline '\(b)' is not a policy of scenario '\(s)'"
        case .nonFiniteFigure(let s, let p, let i, let f):
            return "comparison input: scenario '\(s)', policy '\(p)', seed index \(i): field '\(f)' is not a finite number"
        case .oracleCountMismatch(let s, let field, let n, let seeds):
            return "comparison input: scenario '\(s)': '\(field)' has \(n) entries for \(seeds) seeds"
        }
    }
}

/// One list of action names for a scenario whose policies each index their own action
/// space (a live A/B extends the base space per policy). Each space's names are added
/// once, in first-seen order, and every space gets a map from its ids to the shared ones.
public struct SharedActionNames: Sendable, Equatable {
    /// The union of all the spaces' names, for `ScenarioRuns.actionNames`.
    public private(set) var names: [String] = []
    /// `ids[space][action]` is the shared id of that space's action.
    public private(set) var ids: [[Int]] = []

    /// Builds the union of `spaces` (each a list of action names, in id order).
    public init(spaces: [[String]]) {
        var index: [String: Int] = [:]
        for space in spaces {
            ids.append(space.map { name in
                if let i = index[name] { return i }
                index[name] = names.count
                names.append(name)
                return names.count - 1
            })
        }
    }

    /// `points` (ids of space `space`) with their actions translated to shared ids.
    public func translate(_ points: [SeriesPoint], fromSpace space: Int) -> [SeriesPoint] {
        points.map { SeriesPoint(t: $0.t, offeredPps: $0.offeredPps, action: ids[space][$0.action]) }
    }
}
