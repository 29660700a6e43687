/// Means and bootstrap CIs over seeds of every figure of one policy on one scenario.
/// Each field is the mean over seeds of the `RunFigures` field of the same name, with its CI.
public struct FigureEstimates: Sendable, Hashable {
    /// Mean reward per step.
    public var reward: Estimate
    /// Delivered packets/s.
    public var throughputPps: Estimate
    /// Median latency (µs).
    public var latencyP50Us: Estimate
    /// p99 latency (µs).
    public var latencyP99Us: Estimate
    /// p99.9 latency (µs).
    public var latencyP999Us: Estimate
    /// CPU, % of one core.
    public var cpuPercent: Estimate
    /// Interrupts per second.
    public var interruptsPerS: Estimate
    /// Drops per run.
    public var drops: Estimate
    /// Setting changes per run.
    public var changes: Estimate
}

/// A paired comparison of one policy against a reference policy on the same seeds.
public struct PairedComparison: Sendable, Hashable {
    /// The reference policy's name.
    public var reference: String
    /// Mean paired reward difference (policy − reference) with its CI; > 0 means the policy is better.
    public var reward: Estimate
    /// Mean paired p99 latency difference (µs); < 0 means the policy has the lower tail.
    public var latencyP99Us: Estimate
    /// Mean paired CPU difference (percentage points).
    public var cpuPercent: Estimate
    /// Mean paired throughput difference (packets/s).
    public var throughputPps: Estimate
    /// The verdict on the reward difference.
    public var verdict: Verdict { Verdict(delta: reward) }
}

/// One policy's row of a scenario.
public struct PolicySummary: Sendable {
    /// The policy's name as given.
    public var policy: String
    /// Its kind.
    public var kind: PolicyKind
    /// Means and CIs over seeds.
    public var figures: FigureEstimates
    /// Paired difference against the scenario's baseline (exactly 0 with CI [0, 0] for the baseline itself).
    public var deltaVsBaseline: PairedComparison
    /// For learned policies: paired comparison against the best static setting in hindsight.
    public var vsBestStatic: PairedComparison?
    /// For learned policies: paired comparison against DIM (when the scenario ran DIM).
    public var vsDIM: PairedComparison?
    /// The seed-0 series, passed through for the time-series chart.
    public var series: [SeriesPoint]?
    /// The seed-0 latency CDF, passed through for the CDF chart.
    public var latencyCDF: [CDFPoint]?
}

/// The analysis of one scenario.
public struct ScenarioSummary: Sendable {
    /// The scenario's name.
    public var name: String
    /// One line on the traffic.
    public var description: String
    /// `train`, `holdout` or another group name.
    public var split: String
    /// 1 bare metal, 2 virtualized.
    public var layerCount: Int
    /// Action id → setting text.
    public var actionNames: [String]
    /// The static setting with the highest mean reward (nil when no static setting ran).
    public var bestStatic: String?
    /// The policy deltas are taken against.
    public var baseline: String
    /// The DIM policy the verdicts use (the first adaptive policy whose name starts with `dim`).
    public var dimPolicy: String?
    /// Policies in input order.
    public var policies: [PolicySummary]
    /// The bare-metal run of the same traffic, for virtualized scenarios.
    public var bareMetalReference: RunFigures?
    /// The per-interval oracle over static settings (`ScenarioRuns.staticOracleRewards`):
    /// its mean reward per step with CI, and its paired gain over the best static setting —
    /// an upper bound on what any policy that switches between static settings could gain
    /// over the best one here (in hindsight, ignoring switching transients).
    public var staticOracle: Estimate?
    /// See `staticOracle`; nil when the oracle or a best static setting is missing.
    public var switchingHeadroom: Estimate?
    /// The same oracle one interval late (`ScenarioRuns.reactiveOracleRewards`): what
    /// following the interval just seen, with perfect knowledge of it, would earn. A
    /// reference, not a bound: anticipating, or not following noise, can do better.
    public var reactiveOracle: Estimate?
    /// `reactiveOracle`'s paired gain over the best static setting (often negative: reacting
    /// one interval late to a burst costs more than the switch gains).
    public var reactiveHeadroom: Estimate?

    /// The row of a policy.
    public func policy(named name: String) -> PolicySummary? { policies.first { $0.policy == name } }
    /// Learned policies, in input order.
    public var learned: [PolicySummary] { policies.filter { $0.kind == .learned } }
}

/// A learned policy that did worse than a reference: a finding the report shows, never hides.
public struct Finding: Sendable, Hashable, CustomStringConvertible {
    /// The scenario.
    public var scenario: String
    /// Its split (`train`/`holdout`).
    public var split: String
    /// The learned policy.
    public var policy: String
    /// The policy it lost to (best static or DIM).
    public var reference: String
    /// Paired reward difference policy − reference.
    public var delta: Estimate
    /// `.worse` (the CI excludes 0) or `.indistinguishable`/`.singleSeed` with a negative point estimate.
    public var verdict: Verdict

    /// One line for logs and the report's findings box.
    public var description: String {
        let strength = verdict == .worse ? "worse than"
            : verdict == .singleSeed ? "behind (one seed, not tested)" : "behind (not significant)"
        return "\(scenario) [\(split)]: \(policy) is \(strength) \(reference): Δ reward \(NumberText.estimate(delta))"
    }
}

/// The statistics of a comparison, its JSON file and its HTML report.
public struct ComparisonReport: Sendable {
    /// The measured input.
    public var input: ComparisonInput
    /// How the intervals were computed.
    public var bootstrap: BootstrapConfiguration
    /// One analysis per scenario, in input order.
    public var scenarios: [ScenarioSummary]

    /// Analyses `input`: means and percentile-bootstrap CIs over seeds, paired differences
    /// against the baseline, best static in hindsight, and verdicts of every learned policy
    /// against the best static setting and DIM. Throws when runs cannot be paired.
    public init(_ input: ComparisonInput, bootstrap: BootstrapConfiguration = .init()) throws(ReportError) {
        self.input = input
        self.bootstrap = bootstrap
        guard !input.seeds.isEmpty else { throw .noSeeds }
        var scenarios: [ScenarioSummary] = []
        for scenario in input.scenarios {
            scenarios.append(try ComparisonReport.analyse(scenario, seedCount: input.seeds.count,
                                                          baseline: input.baseline, bootstrap: bootstrap))
        }
        self.scenarios = scenarios
    }

    /// Learned policies that lost to the best static setting or to DIM on some scenario:
    /// significantly (`.worse`) or on the point estimate only.
    public var findings: [Finding] {
        var out: [Finding] = []
        for s in scenarios {
            for p in s.learned {
                for c in [p.vsBestStatic, p.vsDIM].compactMap({ $0 }) where c.reward.mean < 0 || c.verdict == .worse {
                    out.append(Finding(scenario: s.name, split: s.split, policy: p.policy, reference: c.reference,
                                       delta: c.reward, verdict: c.verdict))
                }
            }
        }
        return out
    }

    // MARK: analysis

    static func validate(_ s: ScenarioRuns, seedCount: Int) throws(ReportError) {
        guard !s.policies.isEmpty else { throw .noPolicies(scenario: s.name) }
        var seen = Set<String>()
        for p in s.policies {
            guard seen.insert(p.policy).inserted else { throw .duplicatePolicy(scenario: s.name, policy: p.policy) }
            guard p.runs.count == seedCount else {
                throw .runCountMismatch(scenario: s.name, policy: p.policy, runs: p.runs.count, seeds: seedCount)
            }
            for (i, r) in p.runs.enumerated() {
                let fields: [(String, Double)] = [
                    ("reward", r.reward), ("throughputPps", r.throughputPps), ("latencyP50Us", r.latencyP50Us),
                    ("latencyP99Us", r.latencyP99Us), ("latencyP999Us", r.latencyP999Us),
                    ("cpuPercent", r.cpuPercent), ("interruptsPerS", r.interruptsPerS),
                ]
                if let bad = fields.first(where: { !$0.1.isFinite }) {
                    throw .nonFiniteFigure(scenario: s.name, policy: p.policy, seedIndex: i, field: bad.0)
                }
            }
        }
        let oracles = [("static_oracle_rewards", "static oracle", s.staticOracleRewards),
                       ("reactive_oracle_rewards", "reactive oracle", s.reactiveOracleRewards)]
        for case let (field, name, oracle?) in oracles {
            guard oracle.count == seedCount else {
                throw .oracleCountMismatch(scenario: s.name, field: field, entries: oracle.count, seeds: seedCount)
            }
            if let i = oracle.firstIndex(where: { !$0.isFinite }) {
                throw .nonFiniteFigure(scenario: s.name, policy: name, seedIndex: i, field: "reward")
            }
        }
    }

    static func analyse(_ s: ScenarioRuns, seedCount: Int, baseline requested: String?,
                        bootstrap: BootstrapConfiguration) throws(ReportError) -> ScenarioSummary {
        try validate(s, seedCount: seedCount)
        let statics = s.policies.filter { $0.kind == .staticSetting }
        let bestStatic = ABStatistics.bestByMeanReward(statics.map(\.runs)).map { statics[$0].policy }
        let baselineName: String
        if let requested {
            guard s.policies.contains(where: { $0.policy == requested }) else {
                throw .unknownBaseline(scenario: s.name, baseline: requested)
            }
            baselineName = requested
        } else {
            baselineName = bestStatic ?? s.policies[0].policy
        }
        let dim = s.policies.first { $0.kind == .adaptive && $0.policy.lowercased().hasPrefix("dim") }
        let baselineRuns = s.policies.first { $0.policy == baselineName }!.runs
        let bestStaticRuns = bestStatic.flatMap { name in s.policies.first { $0.policy == name } }?.runs

        func estimate(_ runs: [RunFigures], _ policy: String, _ metric: String, _ value: (RunFigures) -> Double) -> Estimate {
            // Runs are non-empty (validated against a non-empty seed list), so this cannot throw.
            (try? ABStatistics.bootstrapMean(runs.map(value), configuration: bootstrap,
                                             labels: [s.name, policy, metric]))
                ?? Estimate(mean: .nan, ci: ConfidenceInterval(lower: .nan, upper: .nan, sampleCount: 0))
        }
        func paired(_ runs: [RunFigures], _ policy: String, against refRuns: [RunFigures], _ reference: String) -> PairedComparison {
            func delta(_ metric: String, _ value: (RunFigures) -> Double) -> Estimate {
                (try? ABStatistics.pairedDifference(runs.map(value), refRuns.map(value), configuration: bootstrap,
                                                     labels: [s.name, policy, reference, metric]))
                    ?? Estimate(mean: .nan, ci: ConfidenceInterval(lower: .nan, upper: .nan, sampleCount: 0))
            }
            return PairedComparison(reference: reference, reward: delta("reward", \.reward),
                                    latencyP99Us: delta("p99", \.latencyP99Us), cpuPercent: delta("cpu", \.cpuPercent),
                                    throughputPps: delta("throughput", \.throughputPps))
        }

        var rows: [PolicySummary] = []
        for p in s.policies {
            let r = p.runs
            let figures = FigureEstimates(
                reward: estimate(r, p.policy, "reward", \.reward),
                throughputPps: estimate(r, p.policy, "throughput", \.throughputPps),
                latencyP50Us: estimate(r, p.policy, "p50", \.latencyP50Us),
                latencyP99Us: estimate(r, p.policy, "p99", \.latencyP99Us),
                latencyP999Us: estimate(r, p.policy, "p999", \.latencyP999Us),
                cpuPercent: estimate(r, p.policy, "cpu", \.cpuPercent),
                interruptsPerS: estimate(r, p.policy, "irq", \.interruptsPerS),
                drops: estimate(r, p.policy, "drops") { Double($0.drops) },
                changes: estimate(r, p.policy, "changes") { Double($0.changes) })
            var row = PolicySummary(policy: p.policy, kind: p.kind, figures: figures,
                                    deltaVsBaseline: paired(r, p.policy, against: baselineRuns, baselineName),
                                    series: p.series, latencyCDF: p.latencyCDF)
            if p.kind == .learned {
                if let bestStatic, let bestStaticRuns { row.vsBestStatic = paired(r, p.policy, against: bestStaticRuns, bestStatic) }
                if let dim { row.vsDIM = paired(r, p.policy, against: dim.runs, dim.policy) }
            }
            rows.append(row)
        }
        var summary = ScenarioSummary(name: s.name, description: s.description, split: s.split, layerCount: s.layerCount,
                                      actionNames: s.actionNames, bestStatic: bestStatic, baseline: baselineName,
                                      dimPolicy: dim?.policy, policies: rows, bareMetalReference: s.bareMetalReference)
        /// An oracle's mean reward and its paired gain over the best static setting.
        func estimates(_ oracle: [Double]?, _ name: String) -> (Estimate?, Estimate?) {
            guard let oracle else { return (nil, nil) }
            let mean = try? ABStatistics.bootstrapMean(oracle, configuration: bootstrap, labels: [s.name, name, "reward"])
            let gain = bestStaticRuns.flatMap { runs in
                try? ABStatistics.pairedDifference(oracle, runs.map(\.reward), configuration: bootstrap,
                                                   labels: [s.name, name, bestStatic ?? "", "reward"])
            }
            return (mean, gain)
        }
        (summary.staticOracle, summary.switchingHeadroom) = estimates(s.staticOracleRewards, "static oracle")
        (summary.reactiveOracle, summary.reactiveHeadroom) = estimates(s.reactiveOracleRewards, "reactive oracle")
        return summary
    }
}
