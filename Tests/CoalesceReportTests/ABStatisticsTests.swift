import CoalesceCore
import Testing
@testable import CoalesceReport

@Suite("A/B statistics")
struct ABStatisticsTests {
    /// Roughly normal values around `centre` (sum of four uniforms), reproducible from `seed`.
    func sample(_ n: Int, centre: Double, spread: Double, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in centre + spread * ((0..<4).map { _ in rng.nextUnit() }.reduce(0, +) - 2) }
    }

    @Test func bootstrapIntervalContainsTheMeanAndNarrowsWithMoreSeeds() throws {
        let few = sample(5, centre: 10, spread: 2, seed: 1)
        let many = sample(40, centre: 10, spread: 2, seed: 1)
        let a = try ABStatistics.bootstrapMean(few, labels: ["few"])
        let b = try ABStatistics.bootstrapMean(many, labels: ["many"])
        #expect(a.ci.contains(a.mean) && b.ci.contains(b.mean))
        #expect(a.ci.width > 0 && b.ci.width > 0)
        // The standard error shrinks with √n: 8× the seeds should about halve... third the width.
        #expect(b.ci.width < a.ci.width * 0.6, "5 seeds: \(a.ci.width), 40 seeds: \(b.ci.width)")
        #expect(abs(a.mean - few.reduce(0, +) / 5) < 1e-12)
    }

    @Test func intervalIsReproducibleAndDependsOnItsLabels() throws {
        let values = sample(6, centre: -1, spread: 0.5, seed: 9)
        let a = try ABStatistics.bootstrapMean(values, labels: ["s", "p", "reward"])
        let b = try ABStatistics.bootstrapMean(values, labels: ["s", "p", "reward"])
        let c = try ABStatistics.bootstrapMean(values, labels: ["s", "p", "cpu"])
        #expect(a == b)
        #expect(a.ci != c.ci)
        #expect(a.mean == c.mean)
    }

    @Test func pairedDeltaOfIdenticalRunsIsExactlyZero() throws {
        let runs = sample(7, centre: 3.3, spread: 4, seed: 4)
        let d = try ABStatistics.pairedDifference(runs, runs)
        #expect(d.mean == 0 && d.ci.lower == 0 && d.ci.upper == 0)
        #expect(Verdict(delta: d) == .indistinguishable)
    }

    @Test func pairingRemovesTheSeedToSeedSpread() throws {
        // Seeds differ a lot (traffic), the policy is a constant 0.1 better on every seed.
        let baseline = sample(6, centre: 0, spread: 5, seed: 12)
        let policy = baseline.enumerated().map { $0.element + 0.1 + ($0.offset % 2 == 0 ? 0.01 : -0.01) }
        let paired = try ABStatistics.pairedDifference(policy, baseline)
        #expect(paired.ci.lower > 0.08 && paired.ci.upper < 0.12)
        #expect(Verdict(delta: paired) == .better)
        // Unpaired, the two intervals overlap completely: no verdict would be possible.
        let a = try ABStatistics.bootstrapMean(policy), b = try ABStatistics.bootstrapMean(baseline)
        #expect(a.ci.lower < b.ci.upper && b.ci.lower < a.ci.upper)
        #expect(Verdict(delta: try ABStatistics.pairedDifference(baseline, policy)) == .worse)
    }

    @Test func singleSeedCollapsesToThePointAndGivesNoVerdict() throws {
        let e = try ABStatistics.bootstrapMean([4.25])
        #expect(e.mean == 4.25 && e.ci.lower == 4.25 && e.ci.upper == 4.25 && e.ci.isDegenerate)
        let d = try ABStatistics.pairedDifference([2], [1])
        #expect(d.mean == 1 && d.ci.isDegenerate && !d.ci.excludesZero)
        #expect(Verdict(delta: d) == .singleSeed)
        #expect(NumberText.estimate(d) == "1.00 (1 seed)")
    }

    @Test func unpairedOrEmptySamplesAreErrors() {
        #expect(throws: ABStatisticsError.unpaired(policyCount: 2, referenceCount: 3)) {
            try ABStatistics.pairedDifference([1, 2], [1, 2, 3])
        }
        #expect(throws: ABStatisticsError.empty) { try ABStatistics.bootstrapMean([]) }
    }

    @Test func quantileInterpolatesBetweenOrderStatistics() {
        #expect(ABStatistics.quantile(sorted: [1, 2, 3, 4], 0.5) == 2.5)
        #expect(ABStatistics.quantile(sorted: [1, 2, 3, 4], 0) == 1)
        #expect(ABStatistics.quantile(sorted: [1, 2, 3, 4], 1) == 4)
        #expect(abs(ABStatistics.quantile(sorted: [0, 10], 0.025) - 0.25) < 1e-12)
    }
}

@Suite("Comparison analysis")
struct ComparisonAnalysisTests {
    func runs(_ rewards: [Double], p99: Double = 50, cpu: Double = 20) -> [RunFigures] {
        rewards.map {
            RunFigures(throughputPps: 1e5, latencyP50Us: 20, latencyP99Us: p99, latencyP999Us: p99 * 2, cpuPercent: cpu,
                       interruptsPerS: 3e4, drops: 0, changes: 0, reward: $0)
        }
    }

    func scenario(_ policies: [PolicyRuns], split: String = "train") -> ScenarioRuns {
        ScenarioRuns(name: "s", description: "", split: split, layerCount: 1, actionNames: ["a", "b", "c"], policies: policies)
    }

    @Test func bestStaticIsTheStaticSettingWithTheHighestMeanReward() throws {
        let input = ComparisonInput(title: "t", objective: "o", seeds: [1, 2, 3], scenarios: [scenario([
            PolicyRuns(policy: "static:rx-usecs=0", kind: .staticSetting, runs: runs([-3, -3.2, -2.9])),
            PolicyRuns(policy: "static:rx-usecs=8", kind: .staticSetting, runs: runs([-1.0, -1.4, -1.1])),
            PolicyRuns(policy: "static:rx-usecs=64", kind: .staticSetting, runs: runs([-0.9, -1.8, -1.2])),
            PolicyRuns(policy: "dim", kind: .adaptive, runs: runs([-0.1, -0.1, -0.1])),
            PolicyRuns(policy: "model:m", kind: .learned, runs: runs([0, 0, 0])),
        ])])
        let report = try ComparisonReport(input)
        let s = report.scenarios[0]
        // rx-usecs=8 has mean −1.1667, rx-usecs=64 −1.3; dim and the model are higher but not static.
        #expect(s.bestStatic == "static:rx-usecs=8")
        #expect(s.baseline == "static:rx-usecs=8")
        #expect(s.dimPolicy == "dim")
        let base = s.policy(named: "static:rx-usecs=8")!.deltaVsBaseline.reward
        #expect(base.mean == 0 && base.ci.lower == 0 && base.ci.upper == 0)
    }

    @Test func learnedPolicyVerdictsAgainstBestStaticAndDIM() throws {
        let input = ComparisonInput(title: "t", objective: "o", seeds: [1, 2, 3, 4, 5], scenarios: [
            scenario([
                PolicyRuns(policy: "static:a", kind: .staticSetting, runs: runs([-1, -2, -1.5, -1.2, -1.8])),
                PolicyRuns(policy: "dim", kind: .adaptive, runs: runs([-0.5, -1.5, -1.0, -0.7, -1.3])),
                // Exactly 0.2 better than static:a on every seed, 0.3 worse than DIM.
                PolicyRuns(policy: "model:m", kind: .learned, runs: runs([-0.8, -1.8, -1.3, -1.0, -1.6])),
            ]),
            scenario([
                PolicyRuns(policy: "static:a", kind: .staticSetting, runs: runs([-1, -2, -1.5, -1.2, -1.8])),
                PolicyRuns(policy: "dim", kind: .adaptive, runs: runs([-1.1, -1.9, -1.4, -1.3, -1.7])),
                PolicyRuns(policy: "model:m", kind: .learned, runs: runs([-1, -2.1, -1.4, -1.2, -1.9])),
            ], split: "holdout"),
        ])
        let report = try ComparisonReport(input)
        let m0 = report.scenarios[0].policy(named: "model:m")!
        #expect(m0.vsBestStatic?.verdict == .better)
        #expect(m0.vsDIM?.verdict == .worse)
        #expect(abs(m0.vsBestStatic!.reward.mean - 0.2) < 1e-12)
        let m1 = report.scenarios[1].policy(named: "model:m")!
        #expect(m1.vsBestStatic?.verdict == .indistinguishable)
        // Findings list every loss: the significant one against DIM and the n.s. one against static.
        let findings = report.findings
        #expect(findings.contains { $0.scenario == "s" && $0.reference == "dim" && $0.verdict == .worse })
        #expect(findings.contains { $0.split == "holdout" && $0.reference == "static:a" && $0.verdict == .indistinguishable })
        #expect(!findings.contains { $0.split == "train" && $0.reference == "static:a" })
    }

    @Test func explicitBaselineIsUsedAndUnknownBaselineIsAnError() throws {
        var input = ComparisonInput(title: "t", objective: "o", baseline: "dim", seeds: [1, 2], scenarios: [scenario([
            PolicyRuns(policy: "static:a", kind: .staticSetting, runs: runs([-1, -2])),
            PolicyRuns(policy: "dim", kind: .adaptive, runs: runs([-0.5, -1.0])),
        ])])
        let report = try ComparisonReport(input)
        #expect(report.scenarios[0].baseline == "dim")
        #expect(report.scenarios[0].policy(named: "static:a")!.deltaVsBaseline.reward.mean == -0.75)
        input.baseline = "itr"
        #expect(throws: ReportError.unknownBaseline(scenario: "s", baseline: "itr")) { try ComparisonReport(input) }
    }

    @Test func runsThatCannotBePairedAreRejectedNamingThePolicy() {
        let input = ComparisonInput(title: "t", objective: "o", seeds: [1, 2, 3], scenarios: [scenario([
            PolicyRuns(policy: "static:a", kind: .staticSetting, runs: runs([-1, -2, -3])),
            PolicyRuns(policy: "dim", kind: .adaptive, runs: runs([-0.5, -1.0])),
        ])])
        #expect(throws: ReportError.runCountMismatch(scenario: "s", policy: "dim", runs: 2, seeds: 3)) {
            try ComparisonReport(input)
        }
        let error = ReportError.runCountMismatch(scenario: "s", policy: "dim", runs: 2, seeds: 3)
        #expect(error.description.contains("'dim'") && error.description.contains("3 seeds"))
        var bad = runs([-1])
        bad[0].latencyP99Us = .nan
        let nan = ComparisonInput(title: "t", objective: "o", seeds: [1], scenarios: [scenario([
            PolicyRuns(policy: "static:a", kind: .staticSetting, runs: bad)])])
        #expect(throws: ReportError.nonFiniteFigure(scenario: "s", policy: "static:a", seedIndex: 0, field: "latencyP99Us")) {
            try ComparisonReport(nan)
        }
        #expect(throws: ReportError.noSeeds) {
            try ComparisonReport(ComparisonInput(title: "t", objective: "o", seeds: [], scenarios: []))
        }
    }

    @Test func syntheticInputGivesPlausibleAnalysis() throws {
        let report = try ComparisonReport(SyntheticComparison.input())
        #expect(report.scenarios.count == 3)
        for s in report.scenarios {
            #expect(s.policies.count == 9)
            #expect(s.bestStatic?.hasPrefix("static:") == true)
            for p in s.policies {
                #expect(p.figures.reward.ci.contains(p.figures.reward.mean))
                #expect(p.figures.reward.ci.sampleCount == 5)
            }
        }
        // On steady load the ideal policy holds the best static setting: identical runs, Δ exactly 0.
        let steady = report.scenarios[0].policy(named: "model:Models/latency.json")!
        #expect(steady.vsBestStatic?.reward.mean == 0 && steady.vsBestStatic?.verdict == .indistinguishable)
        #expect(steady.figures.changes.mean == 0)
        // On the regime change it adapts, which no static setting can.
        let regime = report.scenarios[1].policy(named: "model:Models/latency.json")!
        #expect(regime.vsBestStatic?.verdict == .better)
    }
}
