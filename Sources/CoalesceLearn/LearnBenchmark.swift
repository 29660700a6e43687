import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// One measured figure of `LearnBenchmark.run()`.
public struct BenchmarkFigure: Sendable, Codable {
    public var name: String
    public var value: Double
    public var unit: String
    /// The target from issue 3, in the same unit, and whether higher is better.
    public var target: Double?
    public var higherIsBetter: Bool

    /// Whether the figure meets its target (true without a target).
    public var meetsTarget: Bool {
        guard let target else { return true }
        return higherIsBetter ? value >= target : value <= target
    }
}

/// Throughput figures of the trainer and of inference, for `coalesce bench`.
/// Build in release mode for meaningful numbers.
public enum LearnBenchmark {
    /// CPU seconds the calling thread spent in `body` (OpenBLAS runs single-threaded in
    /// the caller). CPU time rather than wall time, so that other work on a shared
    /// machine does not distort the figures; `wallSeconds` is the wall-clock view.
    private static func seconds(_ body: () -> Void) -> Double {
        func now() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        let start = now()
        body()
        return now() - start
    }

    /// Synthetic transitions: Gaussian states, uniform actions, Gaussian rewards.
    static func syntheticData(rows: Int, features: Int, actions: Int, seed: UInt64) -> OfflineDataset {
        var g = SeededGenerator(seed: seed)
        let states = (0..<(rows * features)).map { _ in Float(g.nextGaussian()) }
        let next = (0..<(rows * features)).map { _ in Float(g.nextGaussian()) }
        return try! OfflineDataset(
            featureCount: features, actionCount: actions, states: states, nextStates: next,
            actions: (0..<rows).map { _ in Int32(g.nextIndex(actions)) },
            rewards: (0..<rows).map { _ in Float(g.nextGaussian()) },
            terminals: Array(repeating: false, count: rows), behaviourProbabilities: nil,
            episodes: (0..<rows).map { $0 / 1000 })
    }

    /// Double DQN gradient steps per second: 12 inputs, 64-64 hidden, 16 actions,
    /// batch 256, one OpenBLAS thread (Adam, Huber loss, clipping, hard target updates).
    public static func doubleDQNStepsPerSecond(steps: Int = 2000) -> Double {
        BLAS.setThreadCount(1)
        var c = TrainingConfiguration()
        c.algorithm = .doubleDQN
        c.hidden = [64, 64]
        c.batchSize = 256
        let learner = try! NetworkLearner(data: syntheticData(rows: 50_000, features: 12, actions: 16, seed: 1), configuration: c)
        for _ in 0..<50 { learner.step() }
        let t = seconds { for _ in 0..<steps { learner.step() } }
        return Double(steps) / t
    }

    /// Single-precision GEMM throughput (2·n³ flop per call), GFLOP/s, one thread.
    public static func sgemmGFLOPS(size n: Int = 1024, repetitions: Int = 5) -> Double {
        BLAS.setThreadCount(1)
        var g = SeededGenerator(seed: 2)
        let a = (0..<(n * n)).map { _ in Float(g.nextUnit()) }
        let b = (0..<(n * n)).map { _ in Float(g.nextUnit()) }
        var c = [Float](repeating: 0, count: n * n)
        func run() {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemm(.none, .none, m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                                  c: cp.baseAddress!, ldc: n)
                    }
                }
            }
        }
        run()
        let t = seconds { for _ in 0..<repetitions { run() } }
        return 2 * Double(n) * Double(n) * Double(n) * Double(repetitions) / t / 1e9
    }

    /// Tabular Q iteration: transitions processed per second by one sweep
    /// (13 features, 16 actions, 4,096 cells).
    public static func qTableTransitionsPerSecond(rows: Int = 2_000_000, sweeps: Int = 10) -> Double {
        let data = syntheticData(rows: rows, features: 13, actions: 16, seed: 3)
        let d = TabularLearner.learnDiscretisation(data, bins: 4, maxCells: 4096)
        var learner = TabularLearner(data: data, discretisation: d, gamma: 0.9, conservativeAlpha: 1)
        learner.sweep()
        let t = seconds { for _ in 0..<sweeps { learner.sweep() } }
        return Double(rows) * Double(sweeps) / t
    }

    /// The kinds of model `decisionNanoseconds` times.
    public enum DecisionModel: Sendable {
        /// 4 features × 4 bins, 16 actions.
        case qTable
        /// One 13-64-64-16 network.
        case mlp
        /// `members` 13-64-64-16 networks and the ensemble rule.
        case ensemble(members: Int)
    }

    /// Mean time of one `ModelPolicy` decision, nanoseconds.
    public static func decisionNanoseconds(_ kind: DecisionModel, decisions: Int = 1_000_000) -> Double {
        var g = SeededGenerator(seed: 4)
        let features = FeatureExtractor.count, actions = ActionSpace.bareMetal.count
        var model: ModelFile
        if case .qTable = kind {
            let d = StateDiscretisation(featureIndices: [0, 2, 3, 5], edges: Array(repeating: [-0.7, 0, 0.7], count: 4))
            let values = (0..<(d.cellCount * actions)).map { _ in Float(g.nextGaussian()) }
            model = ModelFile(metadata: ModelMetadata(
                kind: .qTable, featureNames: FeatureExtractor.featureNames, normalisation: .identity(count: features),
                actionSpace: .bareMetal, objective: .latency, algorithm: "tabular", hyperParameters: [:], datasets: [],
                createdAtEpoch: 0, toolVersion: CoalesceVersion.current, discretisation: d,
                tensors: [TensorInfo(name: "q_table", count: values.count)]), tensors: [values])
        } else {
            let shape = MLPShape(inputs: features, hidden: [64, 64], outputs: actions)
            let net = MLP(shape: shape, capacity: 1, generator: &g)
            model = ModelFile(metadata: ModelMetadata(
                kind: .mlp, featureNames: FeatureExtractor.featureNames, normalisation: .identity(count: features),
                actionSpace: .bareMetal, objective: .latency, algorithm: "double-dqn", hyperParameters: [:], datasets: [],
                createdAtEpoch: 0, toolVersion: CoalesceVersion.current, network: shape,
                tensors: [TensorInfo(name: "q_network", count: shape.parameterCount)]), tensors: [net.parameterArray])
            if case .ensemble(let members) = kind {
                for k in 1..<members {
                    let member = MLP(shape: shape, capacity: 1, generator: &g)
                    model.metadata.tensors.append(TensorInfo(name: EnsembleRule.tensorName(member: k), count: shape.parameterCount))
                    model.tensors.append(member.parameterArray)
                }
                model.metadata.ensemble = EnsembleRule(members: members, pessimism: 1, defaultAction: 6)
            }
        }
        var policy = try! ModelPolicy(model: model)
        let states = (0..<1024).map { _ in (0..<features).map { _ in Float(g.nextGaussian()) } }
        var sink = 0
        let t = seconds {
            for i in 0..<decisions { sink &+= (try? policy.greedyAction(states[i & 1023])) ?? 0 }
        }
        precondition(sink >= 0)
        return t / Double(decisions) * 1e9
    }

    /// Issue #3's headline figure: Double DQN gradient steps per second and its target.
    public static func doubleDQNFigure(steps: Int = 2000) -> BenchmarkFigure {
        BenchmarkFigure(name: "double-dqn gradient steps (12-64-64-16, batch 256, 1 thread)",
                        value: doubleDQNStepsPerSecond(steps: steps), unit: "steps/s", target: 4000, higherIsBetter: true)
    }

    /// What the figures ran on, e.g. `OpenBLAS SkylakeX kernels, 1 thread`.
    public static var environment: String { "OpenBLAS \(BLAS.coreName) kernels, \(BLAS.threadCount) thread(s)" }

    /// Every figure, with the targets. Call `BLAS.reexecWithMatchingKernelIfNeeded()`
    /// first in a command-line tool, or OpenBLAS may run its generic kernels.
    public static func run() -> [BenchmarkFigure] {
        [
            doubleDQNFigure(),
            BenchmarkFigure(name: "sgemm 1024³ (1 thread)", value: sgemmGFLOPS(), unit: "GFLOP/s", target: nil, higherIsBetter: true),
            BenchmarkFigure(name: "q-table fitting, one sweep", value: qTableTransitionsPerSecond() / 1e6,
                            unit: "M transitions/s", target: 50, higherIsBetter: true),
            BenchmarkFigure(name: "ModelPolicy decision, MLP 13-64-64-16", value: decisionNanoseconds(.mlp),
                            unit: "ns", target: 1000, higherIsBetter: false),
            BenchmarkFigure(name: "ModelPolicy decision, ensemble of 5 MLPs", value: decisionNanoseconds(.ensemble(members: 5)),
                            unit: "ns", target: 5000, higherIsBetter: false),
            BenchmarkFigure(name: "ModelPolicy decision, Q-table", value: decisionNanoseconds(.qTable),
                            unit: "ns", target: 200, higherIsBetter: false),
        ]
    }
}
