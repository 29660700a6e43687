import ArgumentParser
import CoalesceCore
import CoalesceHost
import CoalesceLearn
import CoalesceReport
import CoalesceSim
import Foundation

/// `coalesce compare`: policies side by side, with statistics.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare policies on simulated scenarios with paired seeds, bootstrap CIs and an HTML report.",
        discussion: """
            Every policy runs on every scenario with the same seeds (identical traffic: paired). \
            `static-grid` expands to every static setting of the scenario's action space, and the report \
            names the best static setting in hindsight per scenario. Scenarios: built-in names, JSON files, \
            directories of JSON files, or `all`, `train`, `holdout`. JSON: docs/comparison-json.md; \
            report: docs/report.md.

            Live A/B on a host (--interface IF --block S --blocks N): the policies take turns in randomised \
            blocks (switchback), the first --settle seconds of each block discarded, and the original \
            settings are restored at the end (also on SIGINT/SIGTERM). Offline A/B on logs (--data FILE...): \
            the policies are ranked by FQE, weighted importance sampling and doubly robust estimates with CIs.
            """)

    @Option(name: .long, help: "Comma-separated policy specs (static-grid, static:…, dim, dim-cqe, itr, model:FILE, explore:…).")
    var policies: String

    @Option(name: .long, help: "Comma-separated scenarios: names, files, directories, or all / train / holdout.")
    var scenarios: String = "all"

    @Option(name: .long, help: "Number of seeds (paired across policies).")
    var seeds: Int = 5

    @Option(name: .long, help: "First seed; seeds are FIRST, FIRST+1, … (use seeds the models were not trained on).")
    var firstSeed: UInt64 = 1001

    @Option(name: .long, help: "Simulated seconds per run (default: each scenario's duration_s).")
    var duration: Double?

    @Option(name: .long, help: "Baseline policy spec for the deltas (default: the best static setting in hindsight).")
    var baseline: String?

    @OptionGroup var objectiveOption: ObjectiveOption

    @OptionGroup var overloadGuardOption: OverloadGuardOption

    @OptionGroup var ensembleDefaultOption: EnsembleDefaultOption

    @Option(name: .long, help: "Parallel simulations (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Live A/B: the interface to run the policies on (needs CAP_NET_ADMIN).")
    var interface: String?

    @Option(name: .long, help: "Live A/B: seconds per block.")
    var block: Double = 10

    @Option(name: .long, help: "Live A/B: rounds (each runs every policy once, in random order).")
    var blocks: Int = 6

    @Option(name: .long, help: "Live A/B: seconds discarded at the start of each block.")
    var settle: Double = 2

    @Option(name: .long, help: "Live A/B: control interval, ms.")
    var interval: Double = 100

    @Option(name: .long, help: "Live A/B: latency probe peer HOST:PORT (coalesce probe-server).")
    var probe: String?

    @Option(name: .long, help: "Live A/B: directory of the restore journals (docs/restore-journal.md).")
    var stateDir: String = RestoreJournalStore.defaultDirectory

    @Option(name: .long, parsing: .upToNextOption, help: "Offline A/B: dataset files to evaluate the policies on.")
    var data: [String] = []

    @Option(name: .long, help: "Offline A/B: FQE gradient steps per policy.")
    var opeSteps: Int = 5000

    @Option(name: .long, help: "Write the comparison JSON here.")
    var json: String

    @Option(name: .long, help: "Write the self-contained HTML report here.")
    var report: String?

    func validate() throws {
        if seeds < 1 { throw ValidationError("--seeds must be ≥ 1") }
        if interface != nil && !data.isEmpty { throw ValidationError("give --interface (live A/B) or --data (offline A/B), not both") }
        if block <= 0 || blocks < 1 || settle < 0 || settle >= block { throw ValidationError("need --block > --settle ≥ 0 and --blocks ≥ 1") }
        if jobs < 1 { throw ValidationError("--jobs must be ≥ 1") }
    }

    func run() throws {
        let objective = try objectiveOption.resolve()
        if !data.isEmpty { return try runOffline(objective) }
        if let interface { return try runLive(interface, objective) }
        let list = try ScenarioList.resolve(scenarios)
        let items = PolicyList.split(policies)
        var specs = try items.filter { $0 != "static-grid" }.map { try PolicySpec.parse($0) }
        let grid = items.contains("static-grid")
        if specs.isEmpty && !grid { throw ValidationError("--policies names no policy") }
        let baselineSpec = try baseline.map { try PolicySpec.parse($0) }
        if let b = baselineSpec, !specs.contains(b) { specs.append(b) }
        let comparison = LabComparison(
            scenarios: list, policies: specs, seeds: (0..<seeds).map { firstSeed + UInt64($0) },
            runner: LabRunner(objective: objective, durationS: duration, intervalMs: nil, overloadGuardCPU: overloadGuardOption.overloadGuard,
                             ensembleDefault: ensembleDefaultOption.ensembleDefault), jobs: jobs,
            title: "Coalesce comparison (\(objective.name) objective)", baseline: baselineSpec?.description)
        let input = try ComparisonRunner.run(comparison, grid: grid, label: "compare")
        try ComparisonRunner.write(input, json: json, report: report)
    }
}

extension CompareCommand {
    func runOffline(_ objective: Objective) throws {
        let specs = try PolicyList.parse(policies)
        var configuration = OPEConfiguration()
        configuration.seed = firstSeed
        configuration.fqe.steps = opeSteps
        configuration.fqe.seed = firstSeed
        let result = try OfflineComparison(datasets: data, policies: specs, objective: objective, configuration: configuration,
                                         ensembleDefault: ensembleDefaultOption.ensembleDefault).run()
        print(OfflineComparison.table(result))
        try JSONOutput.write(result, to: json)
        print("json: \(json)")
    }

    func runLive(_ interface: String, _ objective: Objective) throws {
        let specs = try PolicyList.parse(policies)
        if specs.count < 2 { throw ValidationError("a live A/B needs at least two policies") }
        StopSignals.install()
        let live = LiveComparison(
            interface: interface, policies: specs, blockSeconds: block, rounds: blocks, settleSeconds: settle,
            intervalMs: interval, objective: objective, seed: firstSeed,
            options: HostTargetOptions(probePeer: probe), ensembleDefault: ensembleDefaultOption.ensembleDefault,
            journals: RestoreJournalStore(directory: stateDir), shouldStop: { StopSignals.stopRequested })
        let input = try live.run(log: { Terminal.error("compare: \($0)") })
        try ComparisonRunner.write(input, json: json, report: report)
    }
}

/// Shared by `compare` and `demo`: runs with a progress line, writes the outputs.
enum ComparisonRunner {
    static func run(_ comparison: LabComparison, grid: Bool, label: String) throws -> ComparisonInput {
        let progress = ProgressBox(label)
        let input = try comparison.run(includeGrid: grid) { done, total in progress.update(done, total) }
        progress.finish()
        return input
    }

    /// Writes the JSON and the report (when asked) and prints the text summary and findings.
    static func write(_ input: ComparisonInput, json: String?, report: String?) throws {
        let r = try ComparisonReport(input)
        if let path = json { try Data(r.json()).write(to: URL(fileURLWithPath: path)) }
        if let path = report { try Data(r.html().utf8).write(to: URL(fileURLWithPath: path)) }
        print(r.textSummary())
        for f in r.findings { print("finding: \(f)") }
        if let path = json { print("json: \(path)") }
        if let path = report { print("report: \(path)") }
    }
}

/// A progress line updated from worker threads.
final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var line: ProgressLine

    init(_ label: String) { line = ProgressLine(label) }

    func update(_ done: Int, _ total: Int) {
        lock.lock()
        defer { lock.unlock() }
        line.update(fraction: Double(done) / Double(max(1, total)), detail: "\(done)/\(total) runs")
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        line.finish()
    }
}

/// Resolving `--scenarios`.
enum ScenarioList {
    static func resolve(_ text: String) throws -> [Scenario] {
        var out: [Scenario] = []
        for item in text.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            switch item {
            case "all": out += BuiltinScenarios.all
            case "train": out += BuiltinScenarios.all.filter { $0.split == .train }
            case "holdout": out += BuiltinScenarios.all.filter { $0.split == .holdout }
            default:
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory), isDirectory.boolValue {
                    let files = try FileManager.default.contentsOfDirectory(atPath: item).filter { $0.hasSuffix(".json") }.sorted()
                    if files.isEmpty { throw LabError.invalidOption("\(item): no *.json scenario files") }
                    for f in files { out.append(try Scenario.load(path: item + "/" + f)) }
                } else {
                    out.append(try LabRunner.scenario(item))
                }
            }
        }
        var seen = Set<String>()
        return out.filter { seen.insert($0.name).inserted }
    }
}
