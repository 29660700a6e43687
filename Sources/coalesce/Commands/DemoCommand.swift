import ArgumentParser
import CoalesceCore
import CoalesceSim

/// `coalesce demo`: the README's main job, on the simulator.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run every built-in scenario under static settings, DIM and Intel ITR, and print the comparison.")

    @Option(name: .long, help: "Simulated seconds per run (default: each scenario's duration_s).")
    var duration: Double?

    @Option(name: .long, help: "Seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Comma-separated policy specs to compare.")
    var policies: String = "static:rx-usecs=0,static:rx-usecs=8,rx-frames=16,static:rx-usecs=32,rx-frames=64,static:rx-usecs=128,rx-frames=256,dim,dim-cqe,itr"

    @OptionGroup var objectiveOption: ObjectiveOption

    func run() throws {
        let objective = try objectiveOption.resolve()
        let specs = try PolicyList.parse(policies)
        let runner = LabRunner(objective: objective, durationS: duration, intervalMs: nil)
        let scenarios = BuiltinScenarios.all
        var progress = ProgressLine("demo")
        var done = 0
        let total = scenarios.count * specs.count
        for scenario in scenarios {
            let space = try LabRunner.actionSpace(for: scenario, specs: specs)
            var t = TextTable(["policy", "p50 µs", "p99 µs", "p99.9 µs", "CPU %", "irq/s", "Mpps", "drops", "reward"])
            var best: (String, Double)?
            for spec in specs {
                let r = try runner.run(scenario: scenario, spec: spec, space: space, seed: seed,
                                       loadModel: { _ in throw LabError.invalidOption("demo runs no models yet") })
                done += 1
                progress.update(fraction: Double(done) / Double(total), detail: scenario.name)
                t.add([spec.description, Format.fixed(r.latencyP50Us, 1), Format.fixed(r.latencyP99Us, 1),
                       Format.fixed(r.latencyP999Us, 1), Format.fixed(r.cpuPercent, 1), Format.si(r.interruptsPerS),
                       Format.fixed(r.throughputPps / 1e6, 3), String(r.drops), Format.fixed(r.reward, 3)])
                if best == nil || r.reward > best!.1 { best = (spec.description, r.reward) }
            }
            progress.finish()
            print("== \(scenario.name) (\(scenario.layerCount) layer(s)): \(scenario.description)")
            print(t.render())
            if let b = best { print("best under '\(objective.name)': \(b.0)\n") }
        }
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
