import ArgumentParser
import CoalesceCore
import CoalesceSim

/// `coalesce bench`: the speed figures the issues set targets for. Build with
/// `-c release` for meaningful numbers.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure simulator, dataset, trainer, inference and host sampling speed.")

    @Option(name: .long, help: "Which benchmarks: all, sim, dataset (comma-separated).")
    var only: String = "all"

    @Option(name: .long, help: "Simulated seconds for the simulator benchmark.")
    var simSeconds: Double = 60

    func run() throws {
        let selected = Set(only.split(separator: ",").map(String.init))
        func wants(_ name: String) -> Bool { selected.contains("all") || selected.contains(name) }
        var t = TextTable(["benchmark", "figure", "target"])
        if wants("sim") {
            let r = SimBenchmark.run(simulatedSeconds: simSeconds)
            t.add(["simulator: 1 Mpps Poisson, bare metal, 1 queue",
                   "\(Format.si(r.packetsPerSecond)) simulated packets/s (\(Format.si(Double(r.simulatedPackets))) in \(Format.fixed(r.seconds, 2)) s)",
                   "≥ 20M/s"])
        }
        if wants("dataset") {
            let r = try DatasetBenchmark.run()
            t.add(["dataset reader", "\(Format.fixed(r.megabytesPerSecond, 1)) MB/s (\(r.rows) rows, \(Format.fixed(Double(r.bytes) / 1e6, 1)) MB)", "-"])
        }
        print(t.render())
    }
}
