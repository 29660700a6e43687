import ArgumentParser
import CoalesceCore
import CoalesceLearn
import CoalesceReport
import CoalesceSim
import Foundation
import Synchronization

/// `coalesce demo`: the README's main job — the whole loop on the simulator.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Record exploration data in the lab, train models, compare them against static settings, DIM and ITR.",
        discussion: """
            1. records exploration datasets (uniform ε-greedy, π_b logged) on the training scenarios; \
            2. trains one model per layer count (bare metal; virtualized) with discrete CQL, with the recipe \
            the shipped lab models use (--train-arguments-for; docs/results/shipped-recipe); \
            3. compares the models against the static grid, dim, dim-cqe and itr on every built-in scenario \
            with held-out seeds (paired), training and held-out scenarios reported apart; \
            4. writes the HTML report and JSON, and prints a one-screen summary.
            """)

    @Option(name: .long, help: "Output directory (datasets, models, report).")
    var out: String = "coalesce-demo"

    @Option(name: .long, help: "Objective the models learn and the comparison scores: latency, balanced, throughput, or a JSON file.")
    var objective: String = "latency"

    @Option(name: .long, help: "Exploration seeds per training scenario.")
    var trainSeeds: Int = 3

    @Option(name: .long, help: "Simulated seconds per exploration run.")
    var trainDuration: Double = 30

    @Option(name: .long, help: "Evaluation seeds (paired, disjoint from the training seeds).")
    var seeds: Int = 3

    @Option(name: .long, help: "Simulated seconds per evaluation run (default: each scenario's duration_s).")
    var duration: Double?

    @Option(name: .long, help: "Training algorithm (see `coalesce train`).")
    var algorithm: String = "cql"

    @Option(name: .long, help: "Parallel simulations (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: ArgumentHelp(
        "Print the `coalesce train` options the demo and Tools/rebuild-models use for lab model KIND-OBJECTIVE "
            + "(e.g. bare-metal-latency) with --algorithm, and exit.", valueName: "model"))
    var trainArgumentsFor: String?

    func run() throws {
        if let model = trainArgumentsFor {
            guard ["bare-metal-", "virtualized-"].contains(where: { model.hasPrefix($0) && model.count > $0.count }) else {
                throw ValidationError("--train-arguments-for '\(model)': name a lab model as KIND-OBJECTIVE, "
                                      + "KIND bare-metal or virtualized (e.g. bare-metal-latency)")
            }
            print(LabRecipe.trainArguments(model: model, algorithm: algorithm).joined(separator: " "))
            return
        }
        // OpenBLAS picks its kernels when loaded: on VMs that report a generic CPU it takes
        // the slow Prescott ones unless OPENBLAS_CORETYPE is set, so set it (re-exec) first.
        Self.reexecForBLASKernelIfTopLevel()
        let started = Terminal.monotonicSeconds()
        let objectiveValue = try ObjectiveOption.parse(["--objective", objective]).resolve()
        let fm = FileManager.default
        for sub in ["datasets", "models"] {
            try fm.createDirectory(atPath: "\(out)/\(sub)", withIntermediateDirectories: true)
        }
        let all = BuiltinScenarios.all
        let training = all.filter { $0.split == .train }
        print("coalesce demo — objective '\(objectiveValue.name)', \(training.count) training and \(all.count - training.count) held-out scenarios, output in \(out)/")

        // 1. Exploration datasets, all cores.
        let explore = PolicySpec.explore(base: nil, mode: .epsilonGreedy(epsilon: 1), hold: 5, allowed: nil, seed: nil)
        var recordJobs: [(Scenario, UInt64, String)] = []
        for s in training {
            for k in 0..<trainSeeds {
                recordJobs.append((s, UInt64(k + 1), "\(out)/datasets/\(s.name)-s\(k + 1).csv"))
            }
        }
        let recordList = recordJobs, trainDuration = self.trainDuration
        let exploring = ProgressBox("1/3 exploring")
        // Clear the bar as soon as the pool ends (also on error): lines printed after it
        // must not land on a half-drawn progress line.
        do {
            defer { exploring.finish() }
            try WorkPool.run(recordList.count, threads: jobs, progress: exploring.update) { i in
                let (scenario, seed, path) = recordList[i]
                let space = ActionSpace.defaultSpace(layerCount: scenario.layerCount)
                let writer = try DatasetWriter(path: path, header: DatasetHeader(
                    target: "sim:\(scenario.name)", scenario: scenario.name, seed: seed,
                    intervalNs: UInt64(scenario.intervalMs * 1e6), layerCount: scenario.layerCount, latencyFeatures: true,
                    actionSpace: space, objective: objectiveValue, policy: explore.description,
                    irqColumns: scenario.simulatedLayerCount))
                _ = try LabRunner(objective: objectiveValue, durationS: trainDuration, intervalMs: nil)
                    .run(scenario: scenario, spec: explore, space: space, seed: seed, record: writer,
                         loadModel: { _ in throw LabError.invalidOption("exploration uses no model") })
            }
        }
        print("1/3 recorded \(recordJobs.count) exploration datasets (\(Self.elapsed(started)))")

        // 2. One model per layer count.
        var models: [String] = []
        for layers in Set(training.map(\.layerCount)).sorted() {
            let files = recordJobs.filter { $0.0.layerCount == layers }.map(\.2)
            let name = layers == 1 ? "bare-metal" : "virtualized"
            let path = "\(out)/models/\(name)-\(objectiveValue.name).model"
            let train = try TrainCommand.parse(["--data"] + files + [
                "--algorithm", algorithm, "--objective", objective, "--out", path, "--seed", "1", "--created-at", "0"]
                + LabRecipe.trainArguments(model: "\(name)-\(objectiveValue.name)", algorithm: algorithm))
            try train.run()
            models.append(path)
        }
        print("2/3 trained \(models.count) model(s) (\(Self.elapsed(started)))")

        // 3. Paired comparison on held-out seeds.
        let specs: [PolicySpec] = [.adaptive(.dimEQE), .adaptive(.dimCQE), .adaptive(.intelITR)] + models.map { .model(path: $0) }
        let comparison = LabComparison(
            scenarios: all, policies: specs, seeds: (0..<seeds).map { 1001 + UInt64($0) },
            runner: LabRunner(objective: objectiveValue, durationS: duration, intervalMs: nil), jobs: jobs,
            title: "Coalesce demo: learned (\(algorithm)) vs static, DIM and ITR — \(objectiveValue.name) objective",
            baseline: nil)
        let input = try ComparisonRunner.run(comparison, grid: true, label: "3/3 comparing")
        print("3/3 compared \(specs.count) policies + the static grid on \(all.count) scenarios × \(seeds) seeds (\(Self.elapsed(started)))\n")
        try ComparisonRunner.write(input, json: "\(out)/comparison.json", report: "\(out)/report.html")
        print("total \(Self.elapsed(started))")
    }

    static func elapsed(_ start: Double) -> String {
        let s = Int(Terminal.monotonicSeconds() - start)
        return "\(s / 60)m\(s % 60)s"
    }
}

/// Parsing comma-separated lists of policy specs, where specs have commas of their own.
enum PolicyList {
    /// Splits at commas that start a new spec (`static:`, `dim`, `itr`, `explore`, `model:`, `static-grid`).
    static func split(_ text: String) -> [String] {
        let starters = ["static:", "static-grid", "dim", "itr", "explore", "model:"]
        var out: [String] = []
        for token in text.split(separator: ",") {
            let t = String(token)
            if out.isEmpty || starters.contains(where: { t.hasPrefix($0) }) { out.append(t) } else { out[out.count - 1] += "," + t }
        }
        return out
    }

    static func parse(_ text: String) throws -> [PolicySpec] {
        try split(text).map { try PolicySpec.parse($0) }
    }
}
