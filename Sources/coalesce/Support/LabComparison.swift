import CoalesceCore
import CoalesceReport
import CoalesceSim
import Synchronization

/// Runs every policy on every scenario with the same seeds (paired: identical
/// traffic for each policy), on all cores, and assembles the report input.
struct LabComparison {
    var scenarios: [Scenario]
    var policies: [PolicySpec]
    var seeds: [UInt64]
    var runner: LabRunner
    var jobs: Int
    var title: String
    var baseline: String?

    /// Quantiles at which latency CDFs are drawn.
    static let cdfQuantiles: [Double] = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999]

    struct Job: Sendable {
        var scenario: Int
        var policy: Int
        var seed: Int
    }

    struct Outcome: Sendable {
        var result: LabResult
        var cdf: [CDFPoint]?
    }

    /// The policies actually run on `scenario`: `static-grid` expanded to the static
    /// settings of the scenario's action space.
    static func expand(_ specs: [PolicySpec], for scenario: Scenario, grid: Bool) -> [PolicySpec] {
        var out: [PolicySpec] = []
        if grid {
            let space = ActionSpace.defaultSpace(layerCount: scenario.layerCount)
            for s in space.settings where s.layers.allSatisfy({ $0.adaptiveRx == .off && $0.adaptiveTx == .off }) {
                out.append(.staticSetting(s.specText))
            }
        }
        for spec in specs where !out.contains(spec) { out.append(spec) }
        return out
    }

    static func kind(_ spec: PolicySpec) -> PolicyKind {
        switch spec {
        case .staticSetting: return .staticSetting
        case .adaptive: return .adaptive
        case .model: return .learned
        case .explore: return .other
        }
    }

    /// Runs everything. `progress(done, total)` is called from worker threads.
    func run(includeGrid: Bool, progress: @escaping @Sendable (Int, Int) -> Void) throws -> ComparisonInput {
        // A model runs only on scenarios with its number of layers (a bare-metal model
        // cannot drive a two-layer virtualized host, nor the reverse).
        let models = ModelStore(ensembleDefault: runner.ensembleDefault)
        var perScenario: [[PolicySpec]] = []
        for s in scenarios {
            var list: [PolicySpec] = []
            for spec in Self.expand(policies, for: s, grid: includeGrid) {
                if let space = try models.actionSpace(of: [spec]), space.layerCount != s.layerCount { continue }
                list.append(spec)
            }
            perScenario.append(list)
        }
        var spaces: [ActionSpace] = []
        for (i, s) in scenarios.enumerated() {
            let base = try models.actionSpace(of: perScenario[i]) ?? ActionSpace.defaultSpace(layerCount: s.layerCount)
            var extra: [CoalescingSetting] = []
            for spec in perScenario[i] { extra += try spec.requiredSettings(in: base) }
            spaces.append(try base.extended(with: extra))
        }
        var jobIndex = perScenario.map { $0.map { _ in [Int]() } }  // [scenario][policy][seed] → job
        var jobs: [Job] = []
        for s in scenarios.indices {
            for p in perScenario[s].indices {
                for k in seeds.indices {
                    jobIndex[s][p].append(jobs.count)
                    jobs.append(Job(scenario: s, policy: p, seed: k))
                }
            }
        }
        // The bare-metal twin of each virtualized scenario (issue #6, the virtualization question).
        let twins: [Int: Scenario] = Dictionary(uniqueKeysWithValues: scenarios.enumerated().compactMap { i, s in
            guard s.virtualization != nil else { return nil }
            var bare = s
            bare.virtualization = nil
            bare.name = s.name + "@bare-metal"
            return (i, bare)
        })
        let results = Mutex<[Int: Outcome]>([:])
        let twinResults = Mutex<[Int: [LabResult]]>([:])
        let scenarios = self.scenarios, seeds = self.seeds, runner = self.runner
        let twinJobs: [(Int, Int)] = twins.keys.sorted().flatMap { i in ActionSpace.bareMetalStaticGrid.indices.map { (i, $0) } }
        let jobList = jobs, spaceList = spaces, specLists = perScenario
        try WorkPool.run(jobList.count + twinJobs.count, threads: self.jobs, progress: progress) { n in
            // A model store per job: ModelPolicy instances carry scratch buffers.
            let models = ModelStore(ensembleDefault: runner.ensembleDefault)
            if n < jobList.count {
                let job = jobList[n]
                let spec = specLists[job.scenario][job.policy]
                var cdf: [CDFPoint]?
                let result = try runner.run(
                    scenario: scenarios[job.scenario], spec: spec, space: spaceList[job.scenario], seed: seeds[job.seed],
                    loadModel: models.policy,
                    finished: { target in
                        if job.seed == 0 {
                            cdf = target.runLatencyCDF(quantiles: Self.cdfQuantiles).map { CDFPoint(latencyUs: $0.latencyUs, fraction: $0.fraction) }
                        }
                    })
                results.withLock { $0[n] = Outcome(result: result, cdf: cdf) }
            } else {
                let (i, g) = twinJobs[n - jobList.count]
                let (usecs, frames) = ActionSpace.bareMetalStaticGrid[g]
                let spec = PolicySpec.staticSetting("rx-usecs=\(usecs),rx-frames=\(frames)")
                let r = try runner.run(scenario: twins[i]!, spec: spec, space: .bareMetal, seed: seeds[0], loadModel: models.policy)
                twinResults.withLock { $0[i, default: []].append(r) }
            }
        }
        let all = results.withLock { $0 }
        let twinAll = twinResults.withLock { $0 }
        var out: [ScenarioRuns] = []
        for (s, scenario) in scenarios.enumerated() {
            var policiesOut: [PolicyRuns] = []
            for (p, spec) in perScenario[s].enumerated() {
                var runs: [RunFigures] = []
                var series: [SeriesPoint]?
                var cdf: [CDFPoint]?
                for k in seeds.indices {
                    let n = jobIndex[s][p][k]
                    let o = all[n]!
                    runs.append(Self.figures(o.result))
                    if k == 0 {
                        series = o.result.series.map { SeriesPoint(t: $0.t, offeredPps: $0.offeredPps, action: $0.action) }
                        cdf = o.cdf
                    }
                }
                policiesOut.append(PolicyRuns(policy: spec.description, kind: Self.kind(spec), runs: runs, series: series, latencyCDF: cdf))
            }
            let bare = twinAll[s]?.max { $0.reward < $1.reward }.map(Self.figures)
            let staticPolicies = perScenario[s].indices.filter { Self.kind(perScenario[s][$0]) == .staticSetting }
            let staticStepRewards: [[[Double]]]? = staticPolicies.count < 2 ? nil : seeds.indices.map { k in
                staticPolicies.map { all[jobIndex[s][$0][k]]!.result.series.map(\.reward) }
            }
            out.append(ScenarioRuns(
                name: scenario.name, description: scenario.description, split: scenario.split.rawValue,
                layerCount: scenario.layerCount, actionNames: spaces[s].settings.map(\.specText), policies: policiesOut,
                bareMetalReference: bare,
                staticOracleRewards: staticStepRewards?.map { StaticOracle.meanReward($0) },
                reactiveOracleRewards: staticStepRewards?.map { StaticOracle.meanReward($0, lateBy: 1) }))
        }
        var notes = ["Simulated in the lab (CoalesceSim); every policy ran on identical traffic for each seed (paired)."]
        if !twins.isEmpty {
            notes.append("Bare-metal reference: the same traffic with the virtualization layers removed, under the best static setting in hindsight (seed \(seeds[0])).")
        }
        return ComparisonInput(title: title, objective: runner.objective.name, baseline: baseline, seeds: seeds,
                               scenarios: out, notes: notes)
    }

    static func figures(_ r: LabResult) -> RunFigures {
        RunFigures(throughputPps: r.throughputPps, latencyP50Us: r.latencyP50Us, latencyP99Us: r.latencyP99Us,
                   latencyP999Us: r.latencyP999Us, cpuPercent: r.cpuPercent, interruptsPerS: r.interruptsPerS,
                   drops: r.drops, changes: r.changes, reward: r.reward)
    }
}
