import CoalesceCore
import CoalesceHost
import CoalesceReport
#if canImport(Glibc)
import Glibc
#endif

/// A switchback A/B on a live interface: the policies take turns in blocks of
/// `blockSeconds`, in a random order within each round (so slow drifts in the
/// traffic hit every policy alike), each block's first `settleSeconds` discarded.
/// Rounds play the role of seeds: each round gives one paired observation per policy.
struct LiveComparison {
    var interface: String
    var policies: [PolicySpec]
    var blockSeconds: Double
    var rounds: Int
    var settleSeconds: Double
    var intervalMs: Double
    var objective: Objective
    var seed: UInt64
    var options: HostTargetOptions
    /// `--ensemble-default` for ensemble models.
    var ensembleDefault: String? = nil
    /// Where the interface's restore journal is kept while the A/B changes its settings.
    var journals = RestoreJournalStore()
    var shouldStop: () -> Bool

    /// The per-block figures of one policy run.
    struct Block {
        var figures: RunFigures
        var series: [SeriesPoint]
    }

    func run(log: (String) -> Void) throws -> ComparisonInput {
        // Claimed before its settings are read: refused while another program controls the
        // interface, and what a run that died without restoring left is put back first.
        let (claim, recovery) = try InterfaceClaim.acquire(interface: interface, store: journals, program: "coalesce compare")
        if let recovery { log(recovery.message) }
        var target = try HostTarget(interface: interface, options: options)
        let original = target.actuator.original
        try claim.record(original: original, watching: target.actuator)
        let measured: Result<ComparisonInput, any Error>
        do { measured = .success(try measure(&target, original: original, log: log)) } catch { measured = .failure(error) }
        // Restored on every path; a comparison whose interface could not be restored fails.
        do {
            try target.restore()
        } catch {
            log("could not restore \(interface): \(error); \(claim.restoreOnlyCommand) retries")
            throw error
        }
        log("original settings restored: \(original.specText)")
        do { try claim.release() } catch {
            log("original settings restored, but the restore journal could not be removed: \(error)")
        }
        return try measured.get()
    }

    /// The rounds of blocks on `target` (its original setting `original`).
    private func measure(_ target: inout HostTarget, original: LayerSetting, log: (String) -> Void) throws -> ComparisonInput {
        var rng = SeededGenerator(seed: seed)
        let models = ModelStore(ensembleDefault: ensembleDefault)
        var blocks = Array(repeating: [Block](), count: policies.count)
        let intervalNs = UInt64(intervalMs * 1e6)
        let steps = max(2, Int(blockSeconds * 1e3 / intervalMs))
        let settleSteps = Int(settleSeconds * 1e3 / intervalMs)
        var spaces: [ActionSpace] = []
        var fixedAction: [Int?] = []
        for spec in policies {
            // Static specs start from the interface's own values, so unset keys change nothing.
            let base = try models.actionSpace(of: [spec]) ?? ActionSpace(name: "\(interface)-current",
                                                                      settings: [CoalescingSetting(layers: [original])])
            var extra: [CoalescingSetting] = []
            switch spec {
            case .staticSetting(let text):
                // On Intel ITR drivers the adaptive mode *is* rx-usecs 1 or 3: a static spec
                // starting from the driver's default (rx-usecs 3, read as adaptive-rx=itr) must
                // not inherit the mode, or `static:rx-usecs=0` would be applied as rx-usecs 3.
                var base = original
                if base.adaptiveRx == .intelITR { base.adaptiveRx = .off }
                let parsed = try CoalescingSetting.parse(text, layerCount: 1, base: base)
                let driver = target.actuator.hardware.driver
                extra.append(CoalescingSetting(layers: parsed.layers.map { HardwareActuator.canonical($0, driver: driver) }))
            case .adaptive(let algorithm):
                var l = original
                l.adaptiveRx = algorithm
                extra.append(CoalescingSetting(layers: [l]))
            default: break
            }
            let space = try base.extended(with: extra)
            spaces.append(space)
            fixedAction.append(extra.first.flatMap { space.index(of: $0) })
        }
        for round in 0..<rounds {
            var order = Array(policies.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            for p in order {
                if shouldStop() { throw LabError.invalidOption("stopped by signal") }
                let spec = policies[p]
                log("round \(round + 1)/\(rounds): \(spec) for \(blockSeconds) s")
                let policy: AnyPolicy
                switch spec {
                case .staticSetting, .adaptive:
                    let id = fixedAction[p]!
                    try target.apply(spaces[p].settings[id])
                    policy = AnyPolicy(StaticPolicy(action: id, identity: spec.description))
                default:
                    policy = try spec.makePolicy(space: spaces[p], seed: seed &+ UInt64(round), loadModel: models.policy)
                }
                var loop = ControlLoop(target: target, policy: policy, config: ControlLoopConfig(
                    intervalNs: intervalNs, objective: objective, actionSpace: spaces[p], episode: "ab-\(round)-\(p)"))
                var records: [StepRecord] = []
                let summary = try loop.run(steps: steps, onRecord: { records.append($0) }, shouldStop: shouldStop)
                target = loop.target
                for e in summary.applyErrors { log("apply failed: \(e)") }
                let kept = Array(records.dropFirst(settleSteps))
                blocks[p].append(Self.block(kept, changes: summary.changes))
            }
        }
        // Each policy's action ids index its own space (specs may extend the base space),
        // the report has one list of names: translate every series to their union.
        let shared = SharedActionNames(spaces: spaces.map { $0.settings.map(\.specText) })
        let names = shared.names
        var runs: [PolicyRuns] = []
        for (p, spec) in policies.enumerated() {
            let series = blocks[p].first.map { shared.translate($0.series, fromSpace: p) }
            runs.append(PolicyRuns(policy: spec.description, kind: LabComparison.kind(spec), runs: blocks[p].map(\.figures),
                                   series: series))
        }
        let scenario = ScenarioRuns(
            name: "host:\(interface)", description: "Live switchback A/B on \(interface): \(rounds) rounds of \(blockSeconds) s blocks, first \(settleSeconds) s of each discarded",
            split: "live", layerCount: 1, actionNames: names, policies: runs)
        return ComparisonInput(
            title: "Coalesce live A/B on \(interface) (\(objective.name) objective)", objective: objective.name, baseline: nil,
            seeds: (0..<rounds).map { UInt64($0 + 1) }, scenarios: [scenario],
            notes: ["Measured on the live host; each round is one paired observation (the policies' blocks in random order).",
                    "Latency figures are the mean over intervals of the probe's per-interval percentiles; 0 without --probe."])
    }

    /// Averages one block's intervals.
    static func block(_ records: [StepRecord], changes: Int) -> Block {
        let n = Double(max(1, records.count))
        func mean(_ f: (StepRecord) -> Double) -> Double { records.reduce(0) { $0 + f($1) } / n }
        let lat = records.compactMap(\.observation.latency).filter { $0.count > 0 }
        func latMean(_ f: (LatencySummary) -> UInt64) -> Double {
            lat.isEmpty ? 0 : lat.reduce(0.0) { $0 + Double(f($1)) / 1000 } / Double(lat.count)
        }
        let drops = records.reduce(UInt64(0)) { $0 &+ $1.droppedPackets }
        let figures = RunFigures(
            throughputPps: mean { $0.components.throughputPps }, latencyP50Us: latMean(\.p50Ns),
            latencyP99Us: latMean(\.p99Ns), latencyP999Us: latMean(\.p999Ns),
            cpuPercent: mean { $0.components.cpuBusy * 100 }, interruptsPerS: mean { $0.components.interruptsPerS },
            drops: drops, changes: changes, reward: mean(\.reward))
        let start = records.first.map { Double($0.observation.timestampNs) / 1e9 } ?? 0
        let series = records.map {
            SeriesPoint(t: Double($0.observation.timestampNs) / 1e9 - start, offeredPps: $0.components.throughputPps, action: $0.action)
        }
        return Block(figures: figures, series: series)
    }
}
