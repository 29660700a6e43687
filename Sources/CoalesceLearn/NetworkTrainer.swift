import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// Gradient-based offline learners sharing one MLP machinery: behaviour cloning,
/// NFQ, DQN, Double DQN, discrete CQL and discrete BCQ.
///
/// One gradient step samples a batch with replacement (seeded), gathers states
/// into the networks' preallocated input buffers, runs the online network on
/// [s; s'] in one batched pass (the first half is back-propagated), the target
/// network on s', and applies Adam. Nothing is allocated inside the loop.
public final class NetworkLearner {
    public let configuration: TrainingConfiguration
    let data: OfflineDataset
    public let online: MLP
    let target: MLP
    let optimizer: AdamOptimizer
    /// The exponential moving average of `online`'s parameters (`weightAveraging`), or nil.
    public let averaged: MLP?
    /// For BCQ: bit a of allowedNext[i] is set when action a is allowed in s'_i.
    private var allowedNext: [UInt64]
    private var generator: SeededGenerator
    private let batch: Int
    public private(set) var steps = 0
    private let indices: UnsafeMutablePointer<Int>
    /// Row i holds s_i then s'_i (2 × featureCount floats), so that sampling a
    /// transition touches one place in memory rather than two.
    private let transitions: UnsafeMutablePointer<Float>

    /// A learner over `data` (states already normalised, rewards already scaled).
    /// For BCQ pass the trained behaviour network (`behaviour`).
    public init(data: OfflineDataset, configuration: TrainingConfiguration, behaviour: MLP? = nil) throws(LearnError) {
        try configuration.validate()
        guard data.count > 0 else { throw .invalidData("no training transitions") }
        guard data.actionCount <= 64 else { throw .invalidConfiguration("at most 64 actions are supported") }
        self.configuration = configuration
        self.data = data
        self.batch = configuration.batchSize
        generator = SeededGenerator.stream(seed: configuration.seed, 0x1EA2)
        let shape = MLPShape(inputs: data.featureCount, hidden: configuration.hidden, outputs: data.actionCount)
        online = MLP(shape: shape, capacity: 2 * configuration.batchSize, generator: &generator)
        target = MLP(shape: shape, capacity: configuration.batchSize, generator: &generator)
        target.copyParameters(from: online)
        if configuration.weightAveraging != nil && configuration.algorithm != .behaviourCloning {
            // Its own generator: the initial values are overwritten, and the main stream
            // (batches) stays the same as without averaging.
            var unused = SeededGenerator.stream(seed: configuration.seed, 0xA7E2)
            let average = MLP(shape: shape, capacity: 1, generator: &unused)
            average.copyParameters(from: online)
            averaged = average
        } else {
            averaged = nil
        }
        optimizer = AdamOptimizer(parameterCount: shape.parameterCount, learningRate: configuration.learningRate,
                                  maxGradientNorm: configuration.maxGradientNorm)
        indices = .allocate(capacity: configuration.batchSize)
        indices.initialize(repeating: 0, count: configuration.batchSize)
        let f = data.featureCount
        transitions = HugePageBuffer.allocate(floats: data.count * 2 * f)
        for i in 0..<data.count {
            for j in 0..<f {
                transitions[i * 2 * f + j] = data.states[i * f + j]
                transitions[i * 2 * f + f + j] = data.nextStates[i * f + j]
            }
        }
        allowedNext = []
        if configuration.algorithm == .bcq {
            guard let behaviour else { throw .invalidConfiguration("BCQ needs a behaviour network") }
            allowedNext = Self.allowedMasks(behaviour, states: data.nextStates, count: data.count,
                                            featureCount: data.featureCount, threshold: configuration.bcqThreshold)
        }
    }

    deinit {
        indices.deallocate()
        HugePageBuffer.deallocate(transitions)
    }

    /// Allowed-action bit masks of `behaviour` (a BC network) on each state: a is
    /// allowed when logit_a − max logit ≥ log τ, i.e. π̂_b(a|s) ≥ τ·max π̂_b.
    static func allowedMasks(_ behaviour: MLP, states: [Float], count: Int, featureCount: Int, threshold: Float) -> [UInt64] {
        let logTau = threshold > 0 ? LearnMath.logf(threshold) : -Float.infinity
        let actions = behaviour.shape.outputCount
        var masks = [UInt64](repeating: 0, count: count)
        var start = 0
        while start < count {
            let rows = min(behaviour.capacity, count - start)
            states.withUnsafeBufferPointer { s in
                behaviour.input.update(from: s.baseAddress! + start * featureCount, count: rows * featureCount)
            }
            behaviour.forward(rows: rows)
            for r in 0..<rows {
                let logits = behaviour.output + r * actions
                var top = -Float.infinity
                for a in 0..<actions { top = max(top, logits[a]) }
                var mask: UInt64 = 0
                for a in 0..<actions where logits[a] - top >= logTau { mask |= 1 << UInt64(a) }
                masks[start + r] = mask
            }
            start += rows
        }
        return masks
    }

    private var needsOnlineNext: Bool {
        switch configuration.algorithm {
        case .doubleDQN, .cql, .bcq: return true
        default: return false
        }
    }

    /// One gradient step; returns the batch loss.
    @discardableResult
    public func step() -> Double {
        let f = data.featureCount, actions = data.actionCount, b = batch
        for r in 0..<b { indices[r] = generator.nextIndex(data.count) }
        let withNext = needsOnlineNext
        let isBC = configuration.algorithm == .behaviourCloning
        for r in 0..<b {
            let s = UnsafePointer(transitions + indices[r] &* (2 &* f)), n = s + f
            Elementwise.copy(s, to: online.input + r &* f, count: f)
            if !isBC {
                Elementwise.copy(n, to: target.input + r &* f, count: f)
                if withNext { Elementwise.copy(n, to: online.input + (b &+ r) &* f, count: f) }
            }
        }
        online.forward(rows: withNext ? 2 * b : b)
        var loss = 0.0
        let grad = online.outputGradient
        if isBC {
            loss = data.actions.withUnsafeBufferPointer { a in
                Self.crossEntropyGradient(logits: online.output, actions: a.baseAddress!, indices: indices, rows: b,
                                          actionCount: actions, gradient: grad)
            }
        } else {
            target.forward(rows: b)
            loss = tdGradient(rows: b)
        }
        online.backward(rows: b)
        optimizer.step(online)
        if let averaged, let tau = configuration.weightAveraging { averaged.blendParameters(from: online, tau: tau) }
        steps += 1
        switch configuration.targetUpdate {
        case .hard(let every): if configuration.algorithm != .nfq && steps % every == 0 { target.copyParameters(from: online) }
        case .polyak(let tau): if configuration.algorithm != .nfq { target.blendParameters(from: online, tau: tau) }
        }
        return loss
    }

    /// NFQ's iteration boundary: the regression targets move to the current network.
    public func endEpoch() {
        if configuration.algorithm == .nfq { target.copyParameters(from: online) }
    }

    /// Softmax cross-entropy of the logged actions; writes dLoss/dLogits, returns the mean loss.
    static func crossEntropyGradient(logits: UnsafeMutablePointer<Float>, actions: UnsafePointer<Int32>,
                                     indices: UnsafeMutablePointer<Int>, rows: Int, actionCount: Int,
                                     gradient: UnsafeMutablePointer<Float>) -> Double {
        var loss = 0.0
        let inv = 1 / Float(rows)
        for r in 0..<rows {
            let z = logits + r * actionCount, g = gradient + r * actionCount
            var top = -Float.infinity
            for a in 0..<actionCount { top = max(top, z[a]) }
            var sum: Float = 0
            for a in 0..<actionCount {
                let e = LearnMath.expf(z[a] - top)
                g[a] = e
                sum += e
            }
            let taken = Int(actions[indices[r]])
            loss += Double(top + LearnMath.logf(sum) - z[taken])
            for a in 0..<actionCount { g[a] = g[a] / sum * inv }
            g[taken] -= inv
        }
        return loss / Double(rows)
    }

    /// TD targets, Huber loss (+ CQL penalty) and dLoss/dQ for the batch in the
    /// networks' buffers. Returns the mean loss.
    private func tdGradient(rows b: Int) -> Double {
        data.actions.withUnsafeBufferPointer { acts in
            data.rewards.withUnsafeBufferPointer { rewards in
                data.terminals.withUnsafeBufferPointer { terminals in
                    allowedNext.withUnsafeBufferPointer { masks in
                        tdGradient(rows: b, actionsTaken: acts, rewards: rewards, terminals: terminals, masks: masks)
                    }
                }
            }
        }
    }

    private func tdGradient(rows b: Int, actionsTaken: UnsafeBufferPointer<Int32>, rewards: UnsafeBufferPointer<Float>,
                            terminals: UnsafeBufferPointer<Bool>, masks: UnsafeBufferPointer<UInt64>) -> Double {
        let actions = data.actionCount
        let gamma = Float(configuration.gamma)
        let delta = configuration.huberDelta
        let alpha = configuration.algorithm == .cql ? configuration.cqlAlpha : 0
        let inv = 1 / Float(b)
        let q = online.output, qNext = online.output + b &* actions, qTarget = target.output
        let grad = online.outputGradient
        grad.update(repeating: 0, count: b &* actions)
        var loss = 0.0
        let algorithm = configuration.algorithm
        let bootstrapFactors = data.bootstrapFactors
        for r in 0..<b {
            let i = indices[r]
            let a = Int(actionsTaken[i])
            let t = qTarget + r &* actions
            var bootstrap: Float = 0
            if !terminals[i] {
                switch algorithm {
                case .dqn, .nfq:
                    var best = t[0]
                    for j in 1..<actions { best = max(best, t[j]) }
                    bootstrap = best
                case .bcq:
                    let mask = masks[i]
                    let o = qNext + r &* actions
                    var bestIndex = -1
                    for j in 0..<actions where mask & (1 << UInt64(j)) != 0 && (bestIndex < 0 || o[j] > o[bestIndex]) { bestIndex = j }
                    bootstrap = bestIndex >= 0 ? t[bestIndex] : 0
                default:
                    let o = qNext + r &* actions
                    var bestIndex = 0
                    for j in 1..<actions where o[j] > o[bestIndex] { bestIndex = j }
                    bootstrap = t[bestIndex]
                }
            }
            if let factors = bootstrapFactors { bootstrap *= factors[i] }
            let y = rewards[i] + gamma * bootstrap
            let row = q + r &* actions, g = grad + r &* actions
            let d = row[a] - y
            let absD = abs(d)
            loss += Double(absD <= delta ? 0.5 * d * d : delta * (absD - 0.5 * delta))
            g[a] = (absD <= delta ? d : (d > 0 ? delta : -delta)) * inv
            if alpha > 0 {
                var top = -Float.infinity
                for j in 0..<actions { top = max(top, row[j]) }
                var sum: Float = 0
                for j in 0..<actions { sum += LearnMath.expf(row[j] - top) }
                loss += Double(alpha * (top + LearnMath.logf(sum) - row[a]))
                let scale = alpha * inv / sum
                for j in 0..<actions { g[j] += LearnMath.expf(row[j] - top) * scale }
                g[a] -= alpha * inv
            }
        }
        return loss / Double(b)
    }

    /// Validation figures over `data` (normalised like the training data): the mean
    /// Huber TD loss (+ CQL penalty) and mean |TD error| under the current networks;
    /// for BC, the cross-entropy and the accuracy of the logged action.
    public func validate(on data: OfflineDataset) -> (loss: Double, tdError: Double) {
        guard data.count > 0 else { return (.nan, .nan) }
        let f = data.featureCount, actions = data.actionCount, b = batch
        let gamma = Float(configuration.gamma), delta = configuration.huberDelta
        let alpha = configuration.algorithm == .cql ? Double(configuration.cqlAlpha) : 0
        let masks = configuration.algorithm == .bcq ? Self.allowedMasks(behaviourForValidation ?? online, states: data.nextStates,
                                                                       count: data.count, featureCount: f,
                                                                       threshold: configuration.bcqThreshold) : []
        var loss = 0.0, td = 0.0
        var start = 0
        while start < data.count {
            let rows = min(b, data.count - start)
            data.states.withUnsafeBufferPointer { s in
                data.nextStates.withUnsafeBufferPointer { n in
                    online.input.update(from: s.baseAddress! + start * f, count: rows * f)
                    (online.input + rows * f).update(from: n.baseAddress! + start * f, count: rows * f)
                    target.input.update(from: n.baseAddress! + start * f, count: rows * f)
                }
            }
            online.forward(rows: 2 * rows)
            target.forward(rows: rows)
            for r in 0..<rows {
                let i = start + r, a = Int(data.actions[i])
                let row = online.output + r * actions
                if configuration.algorithm == .behaviourCloning {
                    var top = -Float.infinity, best = 0
                    for j in 0..<actions where row[j] > top { top = row[j]; best = j }
                    var sum = 0.0
                    for j in 0..<actions { sum += LearnMath.exp(Double(row[j] - top)) }
                    loss += Double(top) + LearnMath.log(sum) - Double(row[a])
                    td += best == a ? 1 : 0
                    continue
                }
                let o = online.output + (rows + r) * actions, t = target.output + r * actions
                var bootstrap: Float = 0
                if !data.terminals[i] {
                    var pick = -1
                    for j in 0..<actions {
                        if configuration.algorithm == .bcq && masks[i] & (1 << UInt64(j)) == 0 { continue }
                        let value = (configuration.algorithm == .dqn || configuration.algorithm == .nfq) ? t[j] : o[j]
                        let current = pick < 0 ? -Float.infinity
                            : ((configuration.algorithm == .dqn || configuration.algorithm == .nfq) ? t[pick] : o[pick])
                        if pick < 0 || value > current { pick = j }
                    }
                    bootstrap = pick >= 0 ? t[pick] : 0
                }
                if let factors = data.bootstrapFactors { bootstrap *= factors[i] }
                let d = row[a] - (data.rewards[i] + gamma * bootstrap)
                let absD = abs(d)
                td += Double(absD)
                loss += Double(absD <= delta ? 0.5 * d * d : delta * (absD - 0.5 * delta))
                if alpha > 0 {
                    var top = -Float.infinity
                    for j in 0..<actions { top = max(top, row[j]) }
                    var sum = 0.0
                    for j in 0..<actions { sum += LearnMath.exp(Double(row[j] - top)) }
                    loss += alpha * (Double(top) + LearnMath.log(sum) - Double(row[a]))
                }
            }
            start += rows
        }
        return (loss / Double(data.count), td / Double(data.count))
    }

    /// The behaviour network BCQ filters with (set by the trainer), for validation masks.
    var behaviourForValidation: MLP?
}

/// Memory for the sampled transitions, on transparent huge pages where the kernel
/// allows it (`madvise(MADV_HUGEPAGE)`): minibatches read random rows, and with 4 KiB
/// pages every row is a likely TLB miss once the data outgrows the TLB's reach.
enum HugePageBuffer {
    static let alignment = 2 << 20

    static func allocate(floats: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(4, floats * 4)
        var raw: UnsafeMutableRawPointer?
        let huge = bytes >= alignment
        guard posix_memalign(&raw, huge ? alignment : 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes of transitions")
        }
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        return raw.bindMemory(to: Float.self, capacity: floats)
    }

    static func deallocate(_ p: UnsafeMutablePointer<Float>) { free(p) }
}
