import CoalesceCore

/// Settings of fitted Q evaluation (Le et al. 2019): regress Q^π with targets
/// r + γ·Q_target(s', π(s')) on the logged transitions.
public struct FQEConfiguration: Sendable, Hashable {
    public var hidden: [Int] = [64, 64]
    public var gamma: Double = 0.9
    public var steps: Int = 10_000
    public var batchSize: Int = 256
    public var learningRate: Float = 1e-3
    public var targetUpdateSteps: Int = 200
    public var seed: UInt64 = 0

    public init() {}
}

/// A fitted Q^π for a deterministic target policy.
public struct FittedQ: Sendable {
    public let normalisation: FeatureNormalisation
    public let rewardScale: Double
    public let shape: MLPShape
    public let parameters: [Float]

    /// Q^π(s, ·) in reward units for each row of `states` (raw features), row-major rows × actions.
    public func values(states: [Float], featureCount: Int) -> [Float] {
        let rows = states.count / featureCount
        var generator = SeededGenerator(seed: 0)
        let net = MLP(shape: shape, capacity: max(1, min(rows, 1024)), generator: &generator)
        net.load(parameters)
        var out = [Float](repeating: 0, count: rows * shape.outputCount)
        var start = 0
        while start < rows {
            let n = min(net.capacity, rows - start)
            for i in 0..<(n * featureCount) {
                net.input[i] = normalisation.apply(states[start * featureCount + i], feature: i % featureCount)
            }
            net.forward(rows: n)
            for i in 0..<(n * shape.outputCount) { out[start * shape.outputCount + i] = net.output[i] * Float(rewardScale) }
            start += n
        }
        return out
    }
}

/// Fitted Q evaluation with the trainer's MLP machinery.
public enum FittedQEvaluation {
    /// Fits Q^π where π(s'_i) = `targetNextActions[i]` for every row.
    public static func fit(data raw: OfflineDataset, targetNextActions: [Int32], configuration: FQEConfiguration) throws(LearnError) -> FittedQ {
        guard raw.count > 0 else { throw .invalidData("no transitions to evaluate on") }
        guard targetNextActions.count == raw.count else { throw .invalidData("one target action per row is required") }
        let normalisation = raw.featureNormalisation()
        let rewardScale = raw.rewardScale
        let data = raw.normalised(normalisation).scaled(by: Float(1 / rewardScale))
        var generator = SeededGenerator.stream(seed: configuration.seed, 0xF0E)
        let shape = MLPShape(inputs: data.featureCount, hidden: configuration.hidden, outputs: data.actionCount)
        let b = configuration.batchSize
        let online = MLP(shape: shape, capacity: b, generator: &generator)
        let target = MLP(shape: shape, capacity: b, generator: &generator)
        target.copyParameters(from: online)
        let adam = AdamOptimizer(parameterCount: shape.parameterCount, learningRate: configuration.learningRate)
        let f = data.featureCount, actions = data.actionCount
        let gamma = Float(configuration.gamma)
        var picks = [Int](repeating: 0, count: b)
        for step in 1...max(1, configuration.steps) {
            data.states.withUnsafeBufferPointer { s in
                data.nextStates.withUnsafeBufferPointer { n in
                    for r in 0..<b {
                        let i = generator.nextIndex(data.count)
                        picks[r] = i
                        (online.input + r * f).update(from: s.baseAddress! + i * f, count: f)
                        (target.input + r * f).update(from: n.baseAddress! + i * f, count: f)
                    }
                }
            }
            online.forward(rows: b)
            target.forward(rows: b)
            let g = online.outputGradient
            let inv = 1 / Float(b)
            for r in 0..<b {
                let i = picks[r]
                let y = data.rewards[i] + (data.terminals[i] ? 0 : gamma * target.output[r * actions + Int(targetNextActions[i])])
                for j in 0..<actions { g[r * actions + j] = 0 }
                let a = Int(data.actions[i])
                let d = online.output[r * actions + a] - y
                g[r * actions + a] = max(-1, min(1, d)) * inv
            }
            online.backward(rows: b)
            adam.step(online)
            if step % configuration.targetUpdateSteps == 0 { target.copyParameters(from: online) }
        }
        let parameters = online.parameterArray
        guard parameters.allSatisfy(\.isFinite) else { throw .diverged("FQE produced non-finite parameters") }
        return FittedQ(normalisation: normalisation, rewardScale: rewardScale, shape: shape, parameters: parameters)
    }
}
