import CoalesceCore
import CoalesceSim
#if canImport(Glibc)
import Glibc
#endif

/// Dataset reader throughput: writes a dataset recorded in the lab, then reads it back.
enum DatasetBenchmark {
    struct Result {
        var rows: Int
        var bytes: Int
        var megabytesPerSecond: Double
    }

    static func run() throws -> Result {
        let path = "/tmp/coalesce-bench-\(getpid()).csv"
        defer { unlink(path) }
        let scenario = BuiltinScenarios.all[0]
        let space = ActionSpace.defaultSpace(layerCount: scenario.layerCount)
        let spec = try PolicySpec.parse("explore:epsilon=1")
        let header = DatasetHeader(target: "sim:\(scenario.name)", scenario: scenario.name, seed: 1,
                                   intervalNs: 10_000_000, layerCount: scenario.layerCount, latencyFeatures: true,
                                   actionSpace: space, objective: .balanced, policy: spec.description,
                                   irqColumns: scenario.simulatedLayerCount)
        let writer = try DatasetWriter(path: path, header: header)
        let runner = LabRunner(objective: .balanced, durationS: 20, intervalMs: 10)
        _ = try runner.run(scenario: scenario, spec: spec, space: space, seed: 1, record: writer,
                           loadModel: { _ in throw LabError.invalidOption("no model") })
        // Replicate the rows to a few MB so the timing is meaningful.
        let bytes = try ModelStore.readBytes(path)
        let headerEnd = bytes.indices.filter { bytes[$0] == 0x0A }[2] + 1
        var big = bytes
        var episode = 0
        while big.count < 8_000_000 {
            episode += 1
            var body = Array(bytes[headerEnd...])
            // Distinct episode ids keep the time-monotonicity check per episode valid.
            let text = String(decoding: body, as: UTF8.self).split(separator: "\n").map { line -> String in
                let comma = line.firstIndex(of: ",")!
                return String(line[..<comma]) + "x\(episode)" + String(line[comma...])
            }.joined(separator: "\n") + "\n"
            body = Array(text.utf8)
            big += body
        }
        let start = Terminal.monotonicSeconds()
        let d = try Dataset.parse(bytes: big, path: "bench")
        let seconds = Terminal.monotonicSeconds() - start
        return Result(rows: d.rows.count, bytes: big.count, megabytesPerSecond: Double(big.count) / 1e6 / seconds)
    }
}
