import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// Gradient-based offline learners sharing one MLP machinery: behaviour cloning,
/// NFQ, DQN, Double DQN, discrete CQL and discrete BCQ.
///
/// One gradient step samples a batch with replacement (seeded), gathers states
/// into the online network's preallocated input buffer as [s; s'] (feature-major,
/// `MLPLayout.featureMajor`), runs the online network on both halves in one
/// batched pass where the algorithm needs Q(s′) (the first half is
/// back-propagated), the target network on the s′ half of the same buffer, and
/// applies Adam. Nothing is allocated inside the loop.
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
    /// Row i holds s_i, s'_i, r_i, a_i (its bit pattern), 1 if terminal else 0, the
    /// bootstrap factor (`OfflineDataset.bootstrapFactors`, 1 without), padded
    /// to `rowWidth` floats (a multiple of 16, so rows start on 64-byte cache lines), so
    /// that sampling a transition reads adjacent lines in one place (two lines for up to
    /// 14 features) rather than five places (states, next states, rewards, actions, flags).
    private let transitions: UnsafeMutablePointer<Float>
    private let rowWidth: Int
    /// The sampled batch's rewards, actions, terminal flags and bootstrap factors (gathered with the states).
    private let batchRewards: UnsafeMutablePointer<Float>
    private let batchFactors: UnsafeMutablePointer<Float>
    private let batchActions: UnsafeMutablePointer<Int32>
    private let batchTerminals: UnsafeMutablePointer<Bool>
    /// Per-sample scratch: the bootstrap value Q_target(s′, ·) of each sample.
    private let batchBootstrap: UnsafeMutablePointer<Float>
    /// Where `step` stores what its cache-warming loads read, so that they are not optimised away.
    private var touchSink: UInt32 = 0
    /// Scratch for one sample's exp(Q − max Q) (CQL).
    private let exponentials: UnsafeMutablePointer<Float>

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
        online = MLP(shape: shape, capacity: 2 * configuration.batchSize, layout: .featureMajor, generator: &generator)
        target = MLP(shape: shape, capacity: configuration.batchSize, layout: .featureMajor, generator: &generator)
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
        let f = data.featureCount, b = configuration.batchSize
        let width = (2 * f + 4 + 15) / 16 * 16
        rowWidth = width
        transitions = HugePageBuffer.allocate(floats: data.count * width)
        transitions.initialize(repeating: 0, count: data.count * width)
        for i in 0..<data.count {
            let row = transitions + i * width
            for j in 0..<f {
                row[j] = data.states[i * f + j]
                row[f + j] = data.nextStates[i * f + j]
            }
            row[2 * f] = data.rewards[i]
            row[2 * f + 1] = Float(bitPattern: UInt32(bitPattern: data.actions[i]))
            row[2 * f + 2] = data.terminals[i] ? 1 : 0
            row[2 * f + 3] = data.bootstrapFactors?[i] ?? 1
        }
        batchRewards = .allocate(capacity: b)
        batchRewards.initialize(repeating: 0, count: b)
        batchFactors = .allocate(capacity: b)
        batchFactors.initialize(repeating: 1, count: b)
        batchActions = .allocate(capacity: b)
        batchActions.initialize(repeating: 0, count: b)
        batchTerminals = .allocate(capacity: b)
        batchTerminals.initialize(repeating: false, count: b)
        batchBootstrap = .allocate(capacity: b)
        batchBootstrap.initialize(repeating: 0, count: b)
        exponentials = .allocate(capacity: data.actionCount)
        exponentials.initialize(repeating: 0, count: data.actionCount)
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
        batchRewards.deallocate()
        batchFactors.deallocate()
        batchActions.deallocate()
        batchTerminals.deallocate()
        batchBootstrap.deallocate()
        exponentials.deallocate()
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
                behaviour.setInputs(from: s.baseAddress! + start * featureCount, rows: rows)
            }
            behaviour.forward(rows: rows)
            let unit = behaviour.unitStride, next = behaviour.rowStride(width: actions)
            for r in 0..<rows {
                let logits = behaviour.output + r * next
                var top = -Float.infinity
                for a in 0..<actions { top = max(top, logits[a * unit]) }
                var mask: UInt64 = 0
                for a in 0..<actions where logits[a * unit] - top >= logTau { mask |= 1 << UInt64(a) }
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
        let f = data.featureCount, b = batch, w = rowWidth
        for r in 0..<b { indices[r] = generator.nextIndex(data.count) }
        let withNext = needsOnlineNext
        let isBC = configuration.algorithm == .behaviourCloning
        // Touch the first and last cache line of every sampled row first: these loads are independent,
        // so the misses overlap (the copy loop below holds too many instructions per row
        // for the processor to look far enough ahead), and the copy then hits the cache.
        var touched: UInt32 = 0
        for r in 0..<b {
            let row = transitions + indices[r] &* w
            touched |= row[0].bitPattern | row[w &- 1].bitPattern
        }
        touchSink = touched   // so that the loads are kept
        // Gather: sample r's s into column r of the online input, s′ into column b + r
        // (which the target network reads too), and its reward, action, flag and bootstrap factor.
        let input = online.input, ld = online.stride
        for r in 0..<b {
            let row = UnsafePointer(transitions + indices[r] &* w)
            var cell = input + r
            for j in 0..<f { cell.pointee = row[j]; cell += ld }
            if !isBC {
                cell = input + (b &+ r)
                for j in 0..<f { cell.pointee = row[f &+ j]; cell += ld }
            }
            batchRewards[r] = row[2 &* f]
            batchActions[r] = Int32(bitPattern: row[2 &* f &+ 1].bitPattern)
            batchTerminals[r] = row[2 &* f &+ 2] != 0
            batchFactors[r] = row[2 &* f &+ 3]
        }
        online.forward(rows: withNext ? 2 * b : b)
        var loss = 0.0
        if isBC {
            loss = Self.crossEntropyGradient(logits: online.output, actions: batchActions, rows: b,
                                             actionCount: data.actionCount, unitStride: online.unitStride,
                                             gradient: online.outputGradient)
        } else {
            target.forward(rows: b, input: UnsafePointer(input + b), inputStride: ld)
            loss = tdGradient(rows: b)
        }
        online.backward(rows: b)
        optimizer.step(online)
        if let averaged, let tau = configuration.weightAveraging { averaged.blendParameters(from: online, tau: tau) }
        steps += 1
        // Behaviour cloning never reads the target network (BCQ's first phase).
        if !isBC {
            switch configuration.targetUpdate {
            case .hard(let every): if configuration.algorithm != .nfq && steps % every == 0 { target.copyParameters(from: online) }
            case .polyak(let tau): if configuration.algorithm != .nfq { target.blendParameters(from: online, tau: tau) }
            }
        }
        return loss
    }

    /// NFQ's iteration boundary: the regression targets move to the current network.
    public func endEpoch() {
        if configuration.algorithm == .nfq { target.copyParameters(from: online) }
    }

    /// Softmax cross-entropy of the logged actions; writes dLoss/dLogits, returns the mean loss.
    /// `actions[indices[r]]` is sample r's action.
    static func crossEntropyGradient(logits: UnsafeMutablePointer<Float>, actions: UnsafePointer<Int32>,
                                     indices: UnsafeMutablePointer<Int>, rows: Int, actionCount: Int,
                                     gradient: UnsafeMutablePointer<Float>) -> Double {
        for r in 0..<rows { precondition(indices[r] >= 0) }
        return crossEntropyGradient(logits: logits, actions: actions, actionIndex: { indices[$0] }, rows: rows,
                                    actionCount: actionCount, rowStride: actionCount, unitStride: 1, gradient: gradient)
    }

    /// Softmax cross-entropy for logits and gradients laid out feature-major (`unitStride`
    /// floats between the logits of one sample); `actions[r]` is sample r's action.
    static func crossEntropyGradient(logits: UnsafeMutablePointer<Float>, actions: UnsafePointer<Int32>, rows: Int,
                                     actionCount: Int, unitStride: Int, gradient: UnsafeMutablePointer<Float>) -> Double {
        crossEntropyGradient(logits: logits, actions: actions, actionIndex: { $0 }, rows: rows,
                             actionCount: actionCount, rowStride: 1, unitStride: unitStride, gradient: gradient)
    }

    @inline(__always)
    private static func crossEntropyGradient(logits: UnsafeMutablePointer<Float>, actions: UnsafePointer<Int32>,
                                             actionIndex: (Int) -> Int, rows: Int, actionCount: Int, rowStride: Int,
                                             unitStride u: Int, gradient: UnsafeMutablePointer<Float>) -> Double {
        var loss = 0.0
        let inv = 1 / Float(rows)
        for r in 0..<rows {
            let z = logits + r * rowStride, g = gradient + r * rowStride
            var top = -Float.infinity
            for a in 0..<actionCount { top = max(top, z[a * u]) }
            var sum: Float = 0
            for a in 0..<actionCount {
                let e = LearnMath.expf(z[a * u] - top)
                g[a * u] = e
                sum += e
            }
            let taken = Int(actions[actionIndex(r)])
            loss += Double(top + LearnMath.logf(sum) - z[taken * u])
            for a in 0..<actionCount { g[a * u] = g[a * u] / sum * inv }
            g[taken * u] -= inv
        }
        return loss / Double(rows)
    }

    /// TD targets, Huber loss (+ CQL penalty) and dLoss/dQ for the batch in the
    /// networks' buffers (feature-major: Q(s_r, a) at `a·stride + r`). Returns the mean loss.
    private func tdGradient(rows b: Int) -> Double {
        allowedNext.withUnsafeBufferPointer { masks in tdGradient(rows: b, masks: masks) }
    }

    /// The bootstrap value of each of the `b` samples in the networks' buffers (online
    /// Q(s′) in columns b..<2b, target Q(s′) in columns 0..<b), into `batchBootstrap`:
    /// max_a Q_target for DQN/NFQ; Q_target at argmax_a Q_online for Double DQN and CQL,
    /// and for BCQ over the actions `mask(r)` allows (0 when none). Terminals are the
    /// caller's business. Shared by the training step and validation.
    @inline(__always)
    private func selectBootstrap(rows b: Int, mask: (Int) -> UInt64) {
        let actions = data.actionCount
        let ld = online.stride, tld = target.stride
        let qNext = online.output + b, qTarget = target.output
        let bootstrap = batchBootstrap
        switch configuration.algorithm {
        case .dqn, .nfq:
            // max_a Q_target(s′, a), sixteen samples at a time.
            var r = 0
            while r &+ 16 <= b {
                var best = UnsafeRawPointer(qTarget + r).loadUnaligned(as: SIMD16<Float>.self)
                for j in 1..<actions {
                    let v = UnsafeRawPointer(qTarget + (j &* tld &+ r)).loadUnaligned(as: SIMD16<Float>.self)
                    best.replace(with: v, where: v .>= best)   // max(best, v) as Swift.max defines it
                }
                UnsafeMutableRawPointer(bootstrap + r).storeBytes(of: best, as: SIMD16<Float>.self)
                r &+= 16
            }
            while r < b {
                var best = qTarget[r]
                for j in 1..<actions { best = max(best, qTarget[j &* tld &+ r]) }
                bootstrap[r] = best
                r &+= 1
            }
        case .bcq:
            for r in 0..<b {
                let mask = mask(r)
                var bestIndex = -1
                for j in 0..<actions where mask & (1 << UInt64(j)) != 0
                    && (bestIndex < 0 || qNext[j &* ld &+ r] > qNext[bestIndex &* ld &+ r]) { bestIndex = j }
                bootstrap[r] = bestIndex >= 0 ? qTarget[bestIndex &* tld &+ r] : 0
            }
        default:
            // Double DQN (and CQL): Q_target(s′, argmax_a Q_online(s′, a)), first maximum
            // on ties, sixteen samples at a time.
            var r = 0
            while r &+ 16 <= b {
                var best = UnsafeRawPointer(qNext + r).loadUnaligned(as: SIMD16<Float>.self)
                var bestIndex = SIMD16<Int32>(repeating: 0)
                for j in 1..<actions {
                    let v = UnsafeRawPointer(qNext + (j &* ld &+ r)).loadUnaligned(as: SIMD16<Float>.self)
                    let better = v .> best
                    best.replace(with: v, where: better)
                    bestIndex.replace(with: Int32(truncatingIfNeeded: j), where: better)
                }
                for k in 0..<16 { bootstrap[r &+ k] = qTarget[Int(bestIndex[k]) &* tld &+ r &+ k] }
                r &+= 16
            }
            while r < b {
                var bestIndex = 0
                for j in 1..<actions where qNext[j &* ld &+ r] > qNext[bestIndex &* ld &+ r] { bestIndex = j }
                bootstrap[r] = qTarget[bestIndex &* tld &+ r]
                r &+= 1
            }
        }
    }

    private func tdGradient(rows b: Int, masks: UnsafeBufferPointer<UInt64>) -> Double {
        let actions = data.actionCount
        let gamma = Float(configuration.gamma)
        let delta = configuration.huberDelta
        let alpha = configuration.algorithm == .cql ? configuration.cqlAlpha : 0
        let inv = 1 / Float(b)
        let ld = online.stride
        let q = online.output
        let grad = online.outputGradient
        for j in 0..<actions { (grad + j &* ld).update(repeating: 0, count: b) }
        selectBootstrap(rows: b) { masks[indices[$0]] }
        let bootstrap = batchBootstrap
        var loss = 0.0
        for r in 0..<b {
            let a = Int(batchActions[r])
            // × the bootstrap factor (1 without per-state scaling: exact, as if not applied).
            let y = batchRewards[r] + gamma * ((batchTerminals[r] ? 0 : bootstrap[r]) * batchFactors[r])
            let row = q + r, g = grad + r
            let d = row[a &* ld] - y
            let absD = abs(d)
            loss += Self.huber(absD, delta)
            g[a &* ld] = (absD <= delta ? d : (d > 0 ? delta : -delta)) * inv
            if alpha > 0 {
                var top = -Float.infinity
                for j in 0..<actions { top = max(top, row[j &* ld]) }
                var sum: Float = 0
                for j in 0..<actions {
                    let e = LearnMath.expf(row[j &* ld] - top)
                    exponentials[j] = e
                    sum += e
                }
                loss += Double(alpha * (top + LearnMath.logf(sum) - row[a &* ld]))
                let scale = alpha * inv / sum
                for j in 0..<actions { g[j &* ld] += exponentials[j] * scale }
                g[a &* ld] -= alpha * inv
            }
        }
        return loss / Double(b)
    }

    /// The Huber loss of a TD error of magnitude `absD` with threshold `delta`.
    @inline(__always)
    static func huber(_ absD: Float, _ delta: Float) -> Double {
        Double(absD <= delta ? 0.5 * absD * absD : delta * (absD - 0.5 * delta))
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
                    online.setInputs(from: s.baseAddress! + start * f, rows: rows, at: 0)
                    online.setInputs(from: n.baseAddress! + start * f, rows: rows, at: rows)
                }
            }
            online.forward(rows: 2 * rows)
            target.forward(rows: rows, input: UnsafePointer(online.input + rows * online.rowStride(width: f)),
                           inputStride: online.inputStride)
            if configuration.algorithm != .behaviourCloning {
                masks.withUnsafeBufferPointer { m in selectBootstrap(rows: rows) { m[start + $0] } }
            }
            let u = online.unitStride
            let next = online.rowStride(width: actions)
            for r in 0..<rows {
                let i = start + r, a = Int(data.actions[i])
                let row = online.output + r * next
                if configuration.algorithm == .behaviourCloning {
                    var top = -Float.infinity, best = 0
                    for j in 0..<actions where row[j * u] > top { top = row[j * u]; best = j }
                    var sum = 0.0
                    for j in 0..<actions { sum += LearnMath.exp(Double(row[j * u] - top)) }
                    loss += Double(top) + LearnMath.log(sum) - Double(row[a * u])
                    td += best == a ? 1 : 0
                    continue
                }
                var bootstrap: Float = data.terminals[i] ? 0 : batchBootstrap[r]
                if let factors = data.bootstrapFactors { bootstrap *= factors[i] }
                let d = row[a * u] - (data.rewards[i] + gamma * bootstrap)
                let absD = abs(d)
                td += Double(absD)
                loss += Self.huber(absD, delta)
                if alpha > 0 {
                    var top = -Float.infinity
                    for j in 0..<actions { top = max(top, row[j * u]) }
                    var sum = 0.0
                    for j in 0..<actions { sum += LearnMath.exp(Double(row[j * u] - top)) }
                    loss += alpha * (Double(top) + LearnMath.log(sum) - Double(row[a * u]))
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
