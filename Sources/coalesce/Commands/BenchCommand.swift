import ArgumentParser
import CoalesceCore
import CoalesceHost
import CoalesceLearn
import CoalesceSim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `coalesce bench`: the speed figures the issues set targets for. Build with
/// `-c release` for meaningful numbers; on a shared machine compare ratios
/// measured in one run, not absolute figures across runs.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure simulator, dataset, trainer, inference, host sampling and agent speed.",
        discussion: "Sections: sim, dataset, learn, host, agent (all by default), and dqn (only the Double DQN figure of learn, for profiling: --dqn-steps steps after a warm-up). host and agent read --interface (default eth0) and never change it: the agent runs with --dry-run.")

    @Option(name: .long, help: "Which benchmarks: all, or a comma-separated list of sim, dataset, learn, host, agent, dqn.")
    var only: String = "all"

    @Option(name: .long, help: "Simulated seconds for the simulator benchmark.")
    var simSeconds: Double = 60

    @Option(name: .long, help: "Interface for the host and agent benchmarks (read only).")
    var interface: String = "eth0"

    @Option(name: .long, help: "Seconds the agent runs at 10 Hz for its CPU and RSS figures.")
    var agentSeconds: Double = 20

    @Option(name: .long, help: "Gradient steps measured by the dqn section (e.g. under valgrind: the difference of two runs gives the cost of a step).")
    var dqnSteps: Int = 2000

    func run() throws {
        let selected = Set(only.split(separator: ",").map(String.init))
        func wants(_ name: String) -> Bool { selected.contains("all") || selected.contains(name) }
        Self.reexecForBLASKernelIfTopLevel()
        var t = TextTable(["benchmark", "figure", "target"], alignments: [.left, .left, .left])
        if wants("sim") {
            let r = SimBenchmark.measure(simulatedSeconds: simSeconds)
            t.add(["simulator: 1 Mpps Poisson, bare metal, 1 queue",
                   "\(Format.si(r.packetsPerWallSecond)) packets/wall-s, \(Format.si(r.packetsPerCPUSecond)) packets/CPU-s (\(Format.si(Double(r.simulatedPackets))) packets in \(Format.fixed(r.wallSeconds, 2)) s)",
                   "≥ 20M/s"])
        }
        if wants("dataset") {
            let r = try DatasetBenchmark.run()
            t.add(["dataset reader", "\(Format.fixed(r.megabytesPerSecond, 1)) MB/s (\(r.rows) rows, \(Format.fixed(Double(r.bytes) / 1e6, 1)) MB)", "-"])
        }
        func add(_ f: BenchmarkFigure, suffix: String = "") {
            let target = f.target.map { (f.higherIsBetter ? "≥ " : "< ") + Format.si($0) + " " + f.unit } ?? "-"
            t.add([f.name + suffix, "\(Format.si(f.value)) \(f.unit)", target])
        }
        if wants("learn") { LearnBenchmark.run().forEach { add($0) } }
        if selected.contains("dqn") {
            add(LearnBenchmark.doubleDQNFigure(steps: max(1, dqnSteps)), suffix: ", \(dqnSteps) steps")
        }
        if wants("learn") || selected.contains("dqn") { t.add(["(BLAS)", LearnBenchmark.environment, ""]) }
        if wants("host") {
            let cost = try HostBenchmark.sampleCost(interface: interface, iterations: 2000)
            t.add(["host sample (\(interface)): wall / CPU / of which COALESCE_GET",
                   "\(Format.fixed(cost.microsecondsPerSample, 1)) / \(Format.fixed(cost.cpuMicrosecondsPerSample, 1)) / \(Format.fixed(cost.coalesceGetMicroseconds, 1)) µs",
                   "< 200 µs"])
            let cpu = try HostBenchmark.collectorCPU(interface: interface, hz: 10, seconds: 5)
            t.add(["collector CPU at 10 Hz (\(interface))", "\(Format.fixed(cpu.percentOfOneCore, 3)) % of one core", "< 0.5 %"])
        }
        if wants("agent") {
            let r = try AgentBenchmark.run(interface: interface, seconds: agentSeconds)
            t.add(["coalesce-agent --dry-run at 10 Hz, MLP 13-64-64-16 (\(interface))",
                   "\(Format.fixed(r.cpuPercent, 3)) % of one core, max RSS \(Format.fixed(r.maxRSSMegabytes, 1)) MB",
                   "< 0.5 %, < 16 MB"])
        }
        print(t.render())
    }
}

/// Runs the real `coalesce-agent` binary (next to this one) in dry-run mode on an
/// interface for a while and reads its CPU time and peak RSS from wait4(2).
enum AgentBenchmark {
    struct Result {
        var cpuPercent: Double
        var maxRSSMegabytes: Double
    }

    static func run(interface: String, seconds: Double) throws -> Result {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("coalesce-agent").path
        guard access(exe, X_OK) == 0 else { throw LabError.invalidOption("\(exe) not found: build the coalesce-agent product") }
        let model = "/tmp/coalesce-bench-agent-\(getpid()).model"
        defer { unlink(model) }
        try Data(try benchModel()).write(to: URL(fileURLWithPath: model))
        var pid: pid_t = 0
        let args = [exe, "--interface", interface, "--model", model, "--dry-run", "--interval-ms", "100",
                    "--duration", String(seconds), "--log-level", "warning"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard rc == 0 else { throw LabError.invalidOption("cannot start \(exe): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        let start = Terminal.monotonicSeconds()
        // Peak RSS from /proc/PID/status (VmHWM), polled while it runs: wait4's ru_maxrss
        // would also count the parent's memory, which the kernel carries over at exec.
        var peakKB = 0.0
        while wait4(pid, &status, WNOHANG, &usage) == 0 {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peakKB = max(peakKB, kb)
            }
            usleep(100_000)
        }
        let wall = Terminal.monotonicSeconds() - start
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        guard status == 0 else { throw LabError.invalidOption("coalesce-agent exited with status \(status)") }
        return Result(cpuPercent: 100 * cpu / wall, maxRSSMegabytes: peakKB / 1024)
    }

    /// A 13-64-64-16 network with He-initialised random weights, no latency features:
    /// a real model file of the size the issue benchmarks.
    static func benchModel() throws -> [UInt8] {
        let shape = MLPShape(inputs: FeatureExtractor.count, hidden: [64, 64], outputs: ActionSpace.bareMetal.count)
        var rng = SeededGenerator(seed: 7)
        var parameters = [Float](repeating: 0, count: shape.parameterCount)
        for l in 0..<shape.layerCount {
            let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
            let bound = Float((6.0 / Double(n)).squareRoot())
            for k in 0..<(n * m) { parameters[shape.weightOffset(l) + k] = (Float(rng.nextUnit()) * 2 - 1) * bound }
        }
        var metadata = ModelMetadata(
            kind: .mlp, featureNames: FeatureExtractor.featureNames, normalisation: .identity(count: FeatureExtractor.count),
            actionSpace: .bareMetal, objective: .balanced, algorithm: "bench-random", hyperParameters: [:], datasets: [],
            createdAtEpoch: 0, toolVersion: CoalesceVersion.current, network: shape,
            tensors: [TensorInfo(name: "q_network", count: parameters.count)])
        metadata.latencyFeatures = false
        return try ModelFile(metadata: metadata, tensors: [parameters]).encoded()
    }
}
