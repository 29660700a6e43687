import ArgumentParser
import CoalesceCore
import CoalesceReport
import CoalesceSim
import Foundation

/// Options shared by commands that score runs under an objective.
struct ObjectiveOption: ParsableArguments {
    @Option(name: .long, help: "Objective: latency, balanced, throughput, or a JSON file (docs/objectives.md).")
    var objective: String = "balanced"

    func resolve() throws -> Objective {
        if let preset = Objective.named(objective) { return preset }
        guard FileManager.default.fileExists(atPath: objective) else { throw ObjectiveError.unknownPreset(objective) }
        return try Objective.decode(json: try ModelStore.readBytes(objective), source: objective)
    }
}

/// `--overload-guard`, shared by the lab commands that run learned policies.
struct OverloadGuardOption: ParsableArguments {
    @Option(name: .long, help: "Run learned (model:) policies behind the guard's overload rule, as coalesce-agent does: while CPU busy ≥ this fraction and packets drop, moves to less interrupt moderation are held back (default: off, the raw policy).")
    var overloadGuard: Double?

    func validate() throws {
        if let g = overloadGuard, !(g > 0 && g <= 1) { throw ValidationError("--overload-guard must be a CPU fraction in (0, 1]") }
    }
}

/// `--ensemble-default`, shared by the lab commands that run learned policies.
struct EnsembleDefaultOption: ParsableArguments {
    @Option(name: .long, help: "For ensemble models (train --ensemble): the setting to keep unless another is confidently better, instead of the model's own default, e.g. the static setting you run today. It must be an action of the model's space. Other models are unaffected.")
    var ensembleDefault: String?
}

/// `coalesce simulate`: one policy on one scenario in the lab.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run one policy on one simulated scenario and print its figures.",
        discussion: """
            Policy specs: static:rx-usecs=8,rx-frames=32 (nic./vnic. prefixes address one layer of a \
            virtualized scenario), dim, dim-cqe, itr, explore:base=SPEC,epsilon=0.2[,hold=N][,allowed=0-11], \
            model:FILE.
            """)

    @Option(name: .long, help: "A built-in scenario name (see `coalesce scenarios`) or a scenario JSON file.")
    var scenario: String

    @Option(name: .long, help: "The policy spec.")
    var policy: String

    @OptionGroup var overloadGuardOption: OverloadGuardOption

    @OptionGroup var ensembleDefaultOption: EnsembleDefaultOption

    @Option(name: .long, help: "Random seed (traffic and exploration).")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Simulated seconds (default: the scenario's duration_s).")
    var duration: Double?

    @Option(name: .long, help: "Control interval in milliseconds (default: the scenario's interval_ms).")
    var interval: Double?

    @OptionGroup var objectiveOption: ObjectiveOption

    @Option(name: .long, help: "Record a dataset (schema v1, docs/dataset.md) to this CSV file.")
    var record: String?

    @Option(name: .long, help: "Also write the figures as JSON to this file (docs/simulate-json.md).")
    var json: String?

    func run() throws {
        let objective = try objectiveOption.resolve()
        let scenario = try LabRunner.scenario(self.scenario)
        let spec = try PolicySpec.parse(policy)
        let models = ModelStore(ensembleDefault: ensembleDefaultOption.ensembleDefault)
        let base = try models.actionSpace(of: [spec]) ?? ActionSpace.defaultSpace(layerCount: scenario.layerCount)
        guard base.layerCount == scenario.layerCount else {
            throw LabError.invalidOption(
                "the model's action space has \(base.layerCount) layer(s); scenario '\(scenario.name)' has \(scenario.layerCount)")
        }
        let space = try base.extended(with: try spec.requiredSettings(in: base))
        let runner = LabRunner(objective: objective, durationS: duration, intervalMs: interval,
                               overloadGuardCPU: overloadGuardOption.overloadGuard,
                               ensembleDefault: ensembleDefaultOption.ensembleDefault)
        let writer = try record.map { path in
            try DatasetWriter(path: path, header: DatasetHeader(
                target: "sim:\(scenario.name)", scenario: scenario.name, seed: seed,
                intervalNs: UInt64((interval ?? scenario.intervalMs) * 1e6), layerCount: scenario.layerCount,
                latencyFeatures: true, actionSpace: space, objective: objective, policy: spec.description,
                irqColumns: scenario.simulatedLayerCount))
        }
        var progress = ProgressLine("simulate \(scenario.name)")
        let result = try runner.run(scenario: scenario, spec: spec, space: space, seed: seed, record: writer,
                                    loadModel: models.policy, progress: { progress.update(fraction: $0) })
        progress.finish()
        print(Self.summary(result, objective: objective))
        if let path = record { print("dataset: \(path) (\(writer?.rowsWritten ?? 0) rows)") }
        if let path = json { try JSONOutput.write(SimulateJSON(result, objective: objective.name), to: path) }
    }

    static func summary(_ r: LabResult, objective: Objective) -> String {
        var t = TextTable(["metric", "value"])
        t.add(["scenario", r.scenario])
        t.add(["policy", r.policy])
        t.add(["simulated", "\(Format.fixed(r.durationS, 1)) s, \(Format.si(Double(r.simulatedPackets))) packets"])
        t.add(["throughput", Format.si(r.throughputPps) + " pps"])
        t.add(["latency p50 / p99 / p99.9", "\(Format.fixed(r.latencyP50Us, 1)) / \(Format.fixed(r.latencyP99Us, 1)) / \(Format.fixed(r.latencyP999Us, 1)) µs"])
        t.add(["CPU", Format.fixed(r.cpuPercent, 1) + " %"])
        t.add(["interrupts", Format.si(r.interruptsPerS) + " /s"])
        t.add(["drops", String(r.drops)])
        t.add(["setting changes", String(r.changes)])
        t.add(["reward (\(objective.name), mean/step)", Format.fixed(r.reward, 4)])
        if !r.fallbacks.isEmpty {
            t.add(["guard fallbacks", r.fallbacks.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")])
        }
        return t.render()
    }
}

/// The JSON `simulate --json` writes (keys fixed by issue #2).
struct SimulateJSON: Encodable {
    var scenario: String
    var policy: String
    var seed: JSONSeed
    var throughput_pps: Double
    var latency_p50_us: Double
    var latency_p99_us: Double
    var latency_p999_us: Double
    var cpu_percent: Double
    var interrupts_per_s: Double
    var drops: UInt64
    var changes: Int
    var reward: Double
    var simulated_packets: UInt64
    /// The objective `reward` is under (added after issue #2's keys).
    var objective: String
    /// Simulated seconds and control steps of the run.
    var duration_s: Double
    var steps: Int
    /// The guard's fallbacks by reason (empty for a plain run).
    var guard_fallbacks: [String: Int]

    init(_ r: LabResult, objective: String) {
        scenario = r.scenario
        policy = r.policy
        seed = JSONSeed(r.seed)
        throughput_pps = r.throughputPps
        latency_p50_us = r.latencyP50Us
        latency_p99_us = r.latencyP99Us
        latency_p999_us = r.latencyP999Us
        cpu_percent = r.cpuPercent
        interrupts_per_s = r.interruptsPerS
        drops = r.drops
        changes = r.changes
        reward = r.reward
        simulated_packets = r.simulatedPackets
        self.objective = objective
        duration_s = r.durationS
        steps = r.steps
        guard_fallbacks = r.fallbacks
    }
}
