import ArgumentParser
import CoalesceCore
import CoalesceReport
import Foundation

/// `coalesce inspect`: what a model file holds and what it does.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's metadata and the action it picks across typical states.")

    @Argument(help: "The model file.")
    var model: String

    @Option(name: .long, help: "Also write the metadata and the decision grid as JSON to this file.")
    var json: String?

    static let rates: [Double] = [1_000, 10_000, 50_000, 200_000, 1_000_000, 3_000_000]
    static let sizes: [Double] = [64, 256, 1_500, 9_000]

    func run() throws {
        let file = try ModelFile.decode(try ModelStore.readBytes(model), source: model)
        let m = file.metadata
        var policy = try ModelPolicy(model: file)
        print("model: \(model)")
        var t = TextTable(["field", "value"], alignments: [.left, .left])
        t.add(["kind", m.kind.rawValue + (m.network.map { " \($0)" } ?? "") + (m.discretisation.map { " \($0.cellCount) cells" } ?? "")])
        t.add(["algorithm", m.algorithm])
        t.add(["objective", "\(m.objective.name) (SLO p99 \(Format.fixed(m.objective.sloP99Us, 0)) µs)"])
        t.add(["created", "\(m.createdAt) by \(m.toolVersion)"])
        t.add(["features", "\(m.featureNames.count): " + m.featureNames.joined(separator: ", ")])
        t.add(["latency features", m.usesLatency ? "yes (needs a latency probe)" : "no"])
        t.add(["action space", "\(m.actionSpace.name), \(m.actionSpace.count) actions"])
        if let e = m.ensemble {
            t.add(["ensemble", "\(e.members) networks; keeps action \(e.defaultAction) unless mean − \(Format.fixed(e.pessimism, 2)) · std of an advantage over it is > 0"
                   + (m.support == nil ? "" : " and the state is inside the training support")])
        }
        t.add(["hyper-parameters", m.hyperParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")])
        for d in m.datasets { t.add(["dataset", "\(d.name) \(d.rows) rows sha256 \(d.sha256.prefix(16))…"]) }
        if !m.trainingSummary.isEmpty {
            t.add(["training", m.trainingSummary.sorted { $0.key < $1.key }.map { "\($0.key)=\(Format.fixed($0.value, 4))" }.joined(separator: " ")])
        }
        print(t.render())
        print("\nactions:")
        for (i, s) in m.actionSpace.settings.enumerated() { print("  \(i < 10 ? " " : "")\(i)  \(s.specText)") }

        let grid = try decisionGrid(&policy, metadata: m)
        print("\nchosen action by RX rate (rows) × packet size (columns); typical states assume the space's first setting")
        print("in effect, one interrupt per packet, CPU ≈ 2 µs per packet\(m.usesLatency ? ", p50/p99 latency 30/80 µs" : ""):")
        var g = TextTable(["rate \\ size"] + Self.sizes.map { "\(Int($0)) B" })
        for (r, rate) in Self.rates.enumerated() {
            g.add([Format.si(rate) + " pps"] + grid[r].map { "\($0)" })
        }
        print(g.render())
        if let json { try JSONOutput.write(InspectJSON(metadata: m, rates: Self.rates, sizes: Self.sizes, grid: grid), to: json) }
    }

    /// The model's action for each (rate, size) of the grid.
    func decisionGrid(_ policy: inout ModelPolicy, metadata m: ModelMetadata) throws -> [[Int]] {
        let setting = m.actionSpace.settings[0]
        let layers = setting.layers.count
        var grid: [[Int]] = []
        for rate in Self.rates {
            var row: [Int] = []
            for size in Self.sizes {
                let packets = UInt64(rate)
                let busyNs = UInt64(min(0.95, rate * 2e-6) * 1e9)
                let latency = m.usesLatency ? LatencySummary(count: 1000, p50Ns: 30_000, p99Ns: 80_000, p999Ns: 120_000, maxNs: 200_000) : nil
                let before = Observation(timestampNs: 1_000_000_000, interrupts: Array(repeating: 0, count: layers), setting: setting)
                let after = Observation(
                    timestampNs: 2_000_000_000, rxPackets: packets, rxBytes: UInt64(rate * size), txPackets: packets,
                    txBytes: packets * 64, interrupts: Array(repeating: packets, count: layers),
                    cpu: CPUTimes(systemNs: busyNs / 2, irqNs: busyNs / 4, softirqNs: busyNs / 4, idleNs: 1_000_000_000 - busyNs),
                    latency: latency, setting: setting)
                var extractor = FeatureExtractor()
                _ = extractor.next(before)
                guard let state = extractor.next(after)?.state else { throw ValidationError("cannot build a state for \(rate) pps") }
                row.append(try policy.greedyAction(state))
            }
            grid.append(row)
        }
        return grid
    }
}

/// The JSON `inspect --json` writes.
struct InspectJSON: Codable {
    var metadata: ModelMetadata
    var rates: [Double]
    var sizes: [Double]
    /// grid[i][j]: action for rates[i] and sizes[j].
    var grid: [[Int]]
}
