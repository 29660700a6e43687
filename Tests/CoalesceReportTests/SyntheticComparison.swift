import CoalesceCore
import CoalesceReport

/// Realistic comparison inputs from a small model of interrupt coalescing, so the tests and
/// the sample report see plausible numbers: per packet ~0.45 µs of CPU, per interrupt ~2.5 µs
/// (9 µs virtualized); holding packets for `usecs` adds about that much latency and cuts the
/// interrupt rate to rate/(1 + rate·usecs); queueing grows as load approaches capacity. Seed
/// noise is a few percent.
enum SyntheticComparison {
    static let staticUsecs: [Double] = [0, 8, 16, 32, 64, 128]

    /// Offered load (packets/s) of a scenario at time t (s).
    typealias Load = @Sendable (Double) -> Double

    struct ScenarioSpec: Sendable {
        var name: String
        var description: String
        var split: String
        var layers: Int
        var load: Load
        /// How good the learned policy is relative to following the load ideally (1 = ideal).
        var learnedSkill: Double
    }

    static let specs: [ScenarioSpec] = [
        ScenarioSpec(name: "steady-rr", description: "request/response at a steady 60 kpps, 256-byte packets",
                     split: "train", layers: 1, load: { _ in 60_000 }, learnedSkill: 1.0),
        ScenarioSpec(name: "regime-change", description: "30 s of 40 kpps request/response, then bulk at 450 kpps",
                     split: "train", layers: 1, load: { t in t < 15 ? 40_000 : 450_000 }, learnedSkill: 1.0),
        ScenarioSpec(name: "bursty-virt", description: "on/off bursts (5 ms on at 600 kpps) through a virtio guest",
                     split: "holdout", layers: 2, load: { t in Int(t * 2) % 3 == 0 ? 600_000 : 80_000 }, learnedSkill: 0.55),
    ]

    /// Figures of holding packets for `usecs` at `load` on `layers` layers, with multiplicative noise.
    static func figures(usecs: Double, load: Double, layers: Int, changes: Int, seedEffect: Double = 0,
                        noise: inout SeededGenerator) -> RunFigures {
        func jitter(_ scale: Double) -> Double { 1 + (noise.nextUnit() - 0.5) * 2 * scale }
        let irqCost = layers == 1 ? 2.5 : 9.0  // virtual interrupts cost far more
        let irqRate = load / (1 + load * usecs / 1e6)  // one interrupt per (1 + packets arriving in the hold time)
        let busy = (load * 0.45 + irqRate * irqCost) / 1e6  // fraction of a core
        let cpu = min(busy, 0.98) * 100 * jitter(0.03) * (1 + 0.06 * seedEffect)
        let rho = min(busy, 0.97)
        let queueing = 4 * rho / (1 - rho)
        let base = layers == 1 ? 12.0 : 38.0
        let p50 = (base + usecs * 0.5 * Double(layers) + queueing) * jitter(0.02)
        let p99 = (base * 1.6 + usecs * Double(layers) + queueing * 6) * jitter(0.04) * (1 + 0.12 * seedEffect)
        let p999 = p99 * 1.7 * jitter(0.05)
        let drops: UInt64 = busy > 0.95 ? UInt64((busy - 0.95) * load) : 0
        let throughput = load - Double(drops) / 30
        // The "latency" objective: p99 in units of 100 µs plus CPU in units of 40 %.
        let reward = -(p99 / 100) - cpu / 40 - Double(drops) * 1e-5 - Double(changes) * 0.0005
        return RunFigures(throughputPps: throughput, latencyP50Us: p50, latencyP99Us: p99, latencyP999Us: p999,
                          cpuPercent: cpu, interruptsPerS: irqRate * jitter(0.02), drops: drops, changes: changes,
                          reward: reward)
    }

    /// The setting (µs) that maximises the reward at `load` (what an ideal adaptive policy holds).
    static func idealUsecs(load: Double, layers: Int) -> Double {
        var rng = SeededGenerator(seed: 0)
        return staticUsecs.max { a, b in
            figures(usecs: a, load: load, layers: layers, changes: 0, noise: &rng).reward
                < figures(usecs: b, load: load, layers: layers, changes: 0, noise: &rng).reward
        }!
    }

    /// Averages the per-interval figures of a policy that picks `usecs(t)` over a 30 s run.
    static func run(_ spec: ScenarioSpec, seed: UInt64, usecs: (Double) -> Double) -> RunFigures {
        var noise = SeededGenerator.stream(seed: seed, UInt64(spec.name.utf8.count))
        let times = stride(from: 0.0, to: 30.0, by: 0.5).map { $0 }
        let seedScale = 1 + (Double(seed % 7) - 3) * 0.01  // same traffic for every policy of a seed
        // What a seed does to every policy alike (host noise, traffic detail), in [-1, 1].
        var seedRandom = SeededGenerator(seed: seed)
        let seedEffect = seedRandom.nextUnit() * 2 - 1
        let parts = times.map { t in
            figures(usecs: usecs(t), load: spec.load(t) * seedScale, layers: spec.layers, changes: 0,
                    seedEffect: seedEffect, noise: &noise)
        }
        func avg(_ k: (RunFigures) -> Double) -> Double { parts.map(k).reduce(0, +) / Double(parts.count) }
        let changesPerRun = zip(times, times.dropFirst()).filter { usecs($0.0) != usecs($0.1) }.count
        let changePenalty = Double(changesPerRun) * 0.0005 / Double(parts.count)
        return RunFigures(throughputPps: avg(\.throughputPps), latencyP50Us: avg(\.latencyP50Us),
                          latencyP99Us: avg(\.latencyP99Us) * 1.05, latencyP999Us: avg(\.latencyP999Us),
                          cpuPercent: avg(\.cpuPercent), interruptsPerS: avg(\.interruptsPerS),
                          drops: parts.reduce(0) { $0 + $1.drops }, changes: changesPerRun,
                          reward: avg(\.reward) - changePenalty)
    }

    static func cdf(p50: Double, p99: Double, p999: Double) -> [CDFPoint] {
        let anchors: [(Double, Double)] = [(p50 * 0.35, 0), (p50 * 0.7, 0.2), (p50, 0.5), ((p50 + p99) / 2.4, 0.85),
                                           (p99 * 0.7, 0.95), (p99, 0.99), (p999, 0.999), (p999 * 1.6, 1)]
        return anchors.map { CDFPoint(latencyUs: $0.0, fraction: $0.1) }
    }

    static func series(_ spec: ScenarioSpec, usecs: (Double) -> Double) -> [SeriesPoint] {
        stride(from: 0.0, to: 30.0, by: 0.5).map { t in
            let u = usecs(t)
            return SeriesPoint(t: t, offeredPps: spec.load(t), action: staticUsecs.firstIndex(of: u) ?? 0)
        }
    }

    /// A comparison of 6 static settings, `dim`, `itr` and one learned model on the three
    /// scenarios above with `seedCount` seeds.
    static func input(seedCount: Int = 5, scenarios: [ScenarioSpec] = specs) -> ComparisonInput {
        let seeds = (0..<UInt64(seedCount)).map { 101 + $0 * 17 }
        var out: [ScenarioRuns] = []
        for spec in scenarios {
            let actionNames = staticUsecs.map { spec.layers == 1 ? "rx-usecs=\(Int($0))" : "nic.rx-usecs=\(Int($0)),vnic.rx-usecs=\(Int($0))" }
            var policies: [PolicyRuns] = []
            for u in staticUsecs {
                let name = "static:" + actionNames[staticUsecs.firstIndex(of: u)!]
                let runs = seeds.map { run(spec, seed: $0) { _ in u } }
                let r0 = runs[0]
                policies.append(PolicyRuns(policy: name, kind: .staticSetting, runs: runs, series: nil,
                                           latencyCDF: cdf(p50: r0.latencyP50Us, p99: r0.latencyP99Us, p999: r0.latencyP999Us)))
            }
            // DIM follows the load late and coarsely; ITR overshoots towards bulk.
            let dim: (Double) -> Double = { t in
                let ideal = idealUsecs(load: spec.load(max(0, t - 2)), layers: spec.layers)
                return staticUsecs[min(staticUsecs.firstIndex(of: ideal)! + 1, staticUsecs.count - 1)]
            }
            let itr: (Double) -> Double = { t in spec.load(t) > 200_000 ? 128 : 16 }
            let learned: (Double) -> Double = { t in
                // A skilled policy tracks the ideal; a less skilled one lags several seconds.
                let lag = (1 - spec.learnedSkill) * 12
                return idealUsecs(load: spec.load(max(0, t - lag)), layers: spec.layers)
            }
            for (name, kind, pick) in [("dim", PolicyKind.adaptive, dim), ("itr", .adaptive, itr),
                                       ("model:Models/latency.json", .learned, learned)] {
                let runs = seeds.map { run(spec, seed: $0, usecs: pick) }
                let r0 = runs[0]
                policies.append(PolicyRuns(policy: name, kind: kind, runs: runs, series: series(spec, usecs: pick),
                                           latencyCDF: cdf(p50: r0.latencyP50Us, p99: r0.latencyP99Us, p999: r0.latencyP999Us)))
            }
            var bare: RunFigures?
            if spec.layers > 1 {
                var bareSpec = spec
                bareSpec.layers = 1
                bare = run(bareSpec, seed: seeds[0]) { t in idealUsecs(load: spec.load(t), layers: 1) }
            }
            out.append(ScenarioRuns(name: spec.name, description: spec.description, split: spec.split,
                                    layerCount: spec.layers, actionNames: actionNames, policies: policies,
                                    bareMetalReference: bare))
        }
        return ComparisonInput(title: "Coalesce comparison — synthetic test input", objective: "latency (p99/100 µs + CPU/40 %)",
                               baseline: nil, seeds: seeds, scenarios: out,
                               notes: ["Synthetic figures from a small analytic model (test fixture), not a simulation."])
    }
}
