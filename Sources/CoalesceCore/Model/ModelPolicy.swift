/// A trained model as a `Policy`: picks the action with the highest score
/// (Q-value, or logit for behaviour cloning), ties to the lowest action id. An
/// ensemble model scores each action by the lower confidence bound of its advantage
/// over the default action (`EnsembleRule`) and keeps the default unless a bound is > 0.
///
/// Inference is plain Swift (CoalesceCore links no BLAS) over weights laid out
/// for it at load time and buffers allocated once, so a decision allocates
/// nothing. Scores match the trainer's batched BLAS forward pass to within float
/// rounding (the summation order differs).
public struct ModelPolicy: Policy {
    /// The model's metadata.
    public let metadata: ModelMetadata
    public let identity: String
    private let evaluator: ModelEvaluator
    private var scratch: [Float]
    private var indexScratch: [Int]
    private var output: [Float]

    /// A policy from a decoded (and therefore verified) model file. For an ensemble,
    /// `ensembleDefault` replaces the file's default action (e.g. with the setting the
    /// operator runs today); it must be one of the model's actions.
    public init(model: ModelFile, identity: String? = nil, ensembleDefault: Int? = nil) throws(ModelFileError) {
        try model.validate()
        if let a = ensembleDefault {
            guard model.metadata.ensemble != nil else {
                throw .inconsistent(identity ?? "model", "only an ensemble model (train --ensemble) has a default action to replace")
            }
            guard a >= 0, a < model.metadata.actionSpace.count else {
                throw .inconsistent(identity ?? "model", "default action \(a) is not one of the \(model.metadata.actionSpace.count) actions")
            }
        }
        self.metadata = model.metadata
        self.evaluator = ModelEvaluator(model, ensembleDefault: ensembleDefault)
        self.identity = identity ?? "model(\(model.metadata.algorithm),\(model.metadata.kind.rawValue))"
        self.scratch = [Float](repeating: 0, count: evaluator.scratchCount)
        self.indexScratch = [Int](repeating: 0, count: evaluator.indexScratchCount)
        self.output = [Float](repeating: 0, count: evaluator.actionCount)
    }

    /// The action an ensemble keeps unless another is confidently better (nil for other models).
    public var ensembleDefault: Int? { metadata.ensemble == nil ? nil : evaluator.defaultAction }

    /// Number of state features the model reads.
    public var featureCount: Int { evaluator.featureCount }
    /// Number of actions it scores.
    public var actionCount: Int { evaluator.actionCount }

    public mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision {
        // The loop may extend the model's space (e.g. with the setting found at start, as the
        // fallback); the model scores, and chooses among, its own first `actionCount` actions.
        guard context.actionSpace.count >= evaluator.actionCount else {
            throw .actionOutOfRange(evaluator.actionCount - 1, count: context.actionSpace.count)
        }
        return Decision(action: try greedyAction(context.state), probability: 1)
    }

    /// The best-scoring allowed action for a raw (unnormalised) state.
    public mutating func greedyAction(_ state: [Float]) throws(PolicyError) -> Int {
        try Self.check(state, featureCount: evaluator.featureCount)
        let evaluator = self.evaluator
        let action = state.withUnsafeBufferPointer { s in
            scratch.withUnsafeMutableBufferPointer { work in
                indexScratch.withUnsafeMutableBufferPointer { indices in
                    output.withUnsafeMutableBufferPointer { out in
                        evaluator.evaluate(s.baseAddress!, scratch: work.baseAddress!, indices: indices.baseAddress!,
                                           output: out.baseAddress!)
                    }
                }
            }
        }
        guard action >= 0 else { throw .nonFiniteOutput("\(identity): every score is NaN") }
        return action
    }

    /// Per-action scores for `context.state`; actions a BCQ filter rules out score −∞.
    /// For an ensemble, the lower confidence bounds of the advantages over the default (0 for it).
    public func scores(_ context: DecisionContext) throws(PolicyError) -> [Double]? {
        let (q, allowed) = try evaluate(context.state)
        return q.indices.map { allowed[$0] ? Double(q[$0]) : -Double.infinity }
    }

    /// The raw network / table outputs for a raw state and which actions the
    /// model's action filter allows (all of them without a filter).
    public func evaluate(_ state: [Float]) throws(PolicyError) -> (scores: [Float], allowed: [Bool]) {
        try Self.check(state, featureCount: evaluator.featureCount)
        var work = [Float](repeating: 0, count: evaluator.scratchCount)
        var indexWork = [Int](repeating: 0, count: evaluator.indexScratchCount)
        var out = [Float](repeating: 0, count: evaluator.actionCount)
        let evaluator = self.evaluator
        let allowed: [Bool] = state.withUnsafeBufferPointer { s in
            work.withUnsafeMutableBufferPointer { w in
                indexWork.withUnsafeMutableBufferPointer { i in
                    out.withUnsafeMutableBufferPointer { o in
                        _ = evaluator.evaluate(s.baseAddress!, scratch: w.baseAddress!, indices: i.baseAddress!,
                                               output: o.baseAddress!)
                        return evaluator.allowedActions(scratch: w.baseAddress!)
                    }
                }
            }
        }
        return (out, allowed)
    }

    private static func check(_ state: [Float], featureCount: Int) throws(PolicyError) {
        guard state.count == featureCount else { throw .stateLength(expected: featureCount, found: state.count) }
        if let i = state.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteState(index: i) }
    }
}

/// The immutable, inference-ready form of a model: weights transposed so that each
/// dense layer is a sequence of contiguous axpy updates (vectorisable without
/// reassociating a reduction), normalisation and discretisation unpacked.
final class ModelEvaluator: @unchecked Sendable {
    // @unchecked: every stored property is written once in init and only read afterwards.
    let featureCount: Int
    let actionCount: Int
    /// Floats of scratch space `evaluate` needs: the normalised state, three
    /// buffers of `width` (two ping-pong activations, the non-zero input values),
    /// the behaviour logits, and an ensemble's per-member Q-values.
    let scratchCount: Int
    /// Ints of scratch space `evaluate` needs (the non-zero input offsets).
    let indexScratchCount: Int
    /// The widest layer of any network (0 for a Q-table).
    private let width: Int
    private let mean: UnsafeMutablePointer<Float>
    private let scale: UnsafeMutablePointer<Float>
    private let body: Body
    private let filter: Network?
    private let logThreshold: Float
    /// Members 1… of an ensemble (member 0 is `body`), empty otherwise.
    private let members: [Network]
    let defaultAction: Int
    /// An ensemble's training support (raw features); outside it the default is kept.
    private let support: FeatureSupport?
    private let pessimism: Float

    private enum Body {
        case table(Table)
        case network(Network)
    }

    /// A Q-table with the discretisation flattened: for selected feature k, its edges
    /// are `edges[edgeStart[k] ..< edgeStart[k] + edgeCount[k]]`.
    private struct Table {
        let features: Int
        let featureIndices: UnsafeMutablePointer<Int>
        let edgeStart: UnsafeMutablePointer<Int>
        let edgeCount: UnsafeMutablePointer<Int>
        let edges: UnsafeMutablePointer<Float>
        let values: UnsafeMutablePointer<Float>

        init(_ d: StateDiscretisation, values q: [Float]) {
            features = d.featureIndices.count
            featureIndices = .allocate(capacity: max(1, features))
            edgeStart = .allocate(capacity: max(1, features))
            edgeCount = .allocate(capacity: max(1, features))
            let all = d.edges.flatMap { $0 }
            edges = .allocate(capacity: max(1, all.count))
            edges.initialize(from: all, count: all.count)
            var start = 0
            for k in 0..<features {
                featureIndices[k] = d.featureIndices[k]
                edgeStart[k] = start
                edgeCount[k] = d.edges[k].count
                start += d.edges[k].count
            }
            values = .allocate(capacity: q.count)
            values.initialize(from: q, count: q.count)
        }

        func deallocate() {
            featureIndices.deallocate()
            edgeStart.deallocate()
            edgeCount.deallocate()
            edges.deallocate()
            values.deallocate()
        }
    }

    /// A dense ReLU network with transposed weights: layer l's matrix is inputs × outputs.
    private struct Network {
        let sizes: [Int]
        let weights: UnsafeMutablePointer<Float>
        let weightOffsets: [Int]
        let biasOffsets: [Int]
        let maxWidth: Int

        init(shape: MLPShape, parameters: [Float]) {
            sizes = shape.layerSizes
            weights = .allocate(capacity: parameters.count)
            var wo: [Int] = [], bo: [Int] = []
            for l in 0..<shape.layerCount {
                let n = sizes[l], m = sizes[l + 1]
                let w = shape.weightOffset(l), b = shape.biasOffset(l)
                for o in 0..<m { for i in 0..<n { weights[w + i * m + o] = parameters[w + o * n + i] } }
                for o in 0..<m { weights[b + o] = parameters[b + o] }
                wo.append(w); bo.append(b)
            }
            weightOffsets = wo
            biasOffsets = bo
            maxWidth = sizes.max()!
        }

        /// Runs the network on `input` using `a` and `b` (maxWidth each) as ping-pong
        /// buffers and `indices`/`values` (maxWidth each) to list non-zero inputs;
        /// the result is written to `output`.
        ///
        /// Per layer: the non-zero inputs are listed without branches (ReLU zeroes
        /// about half of them, and a data-dependent branch per input mispredicts),
        /// then blocks of 32 or 16 outputs are accumulated in registers over that
        /// list, bias first and inputs in ascending order.
        @inline(__always)
        func forward(_ input: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                     output: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int>,
                     values: UnsafeMutablePointer<Float>) {
            var source = UnsafePointer(input)
            let last = sizes.count &- 2
            for l in 0...last {
                let n = sizes[l], m = sizes[l &+ 1]
                let relu = l != last
                let target = l == last ? output : (l % 2 == 0 ? a : b)
                let w = UnsafePointer(weights + weightOffsets[l])
                let bias = UnsafePointer(weights + biasOffsets[l])
                var k = 0
                for i in 0..<n {
                    let x = source[i]
                    indices[k] = i &* m
                    values[k] = x
                    // 1 when x ≠ ±0, by integer arithmetic on the bits (a float compare would branch):
                    // without the sign bit, a non-zero value v has the top bit of v | −v set.
                    let bits = x.bitPattern &<< 1
                    k &+= Int(truncatingIfNeeded: (bits | (0 &- bits)) >> 31)
                }
                var o0 = 0
                while o0 &+ 32 <= m {
                    // Two SIMD16 accumulators (SIMD32's generic operations compile poorly).
                    var acc0 = UnsafeRawPointer(bias + o0).loadUnaligned(as: SIMD16<Float>.self)
                    var acc1 = UnsafeRawPointer(bias + (o0 &+ 16)).loadUnaligned(as: SIMD16<Float>.self)
                    for j in 0..<k {
                        let row = UnsafeRawPointer(w + (indices[j] &+ o0))
                        let x = SIMD16<Float>(repeating: values[j])
                        acc0 += x * row.loadUnaligned(as: SIMD16<Float>.self)
                        acc1 += x * row.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                    }
                    if relu {
                        acc0.replace(with: 0, where: .!(acc0 .> 0))
                        acc1.replace(with: 0, where: .!(acc1 .> 0))
                    }
                    UnsafeMutableRawPointer(target + o0).storeBytes(of: acc0, as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(target + (o0 &+ 16)).storeBytes(of: acc1, as: SIMD16<Float>.self)
                    o0 &+= 32
                }
                while o0 &+ 16 <= m {
                    var acc = UnsafeRawPointer(bias + o0).loadUnaligned(as: SIMD16<Float>.self)
                    for j in 0..<k {
                        acc += values[j] * UnsafeRawPointer(w + (indices[j] &+ o0)).loadUnaligned(as: SIMD16<Float>.self)
                    }
                    if relu { acc.replace(with: 0, where: .!(acc .> 0)) }
                    UnsafeMutableRawPointer(target + o0).storeBytes(of: acc, as: SIMD16<Float>.self)
                    o0 &+= 16
                }
                while o0 < m {
                    var v = bias[o0]
                    for j in 0..<k { v += values[j] * w[indices[j] &+ o0] }
                    target[o0] = relu && !(v > 0) ? 0 : v
                    o0 &+= 1
                }
                source = UnsafePointer(target)
            }
        }
    }

    init(_ model: ModelFile, ensembleDefault: Int? = nil) {
        let m = model.metadata
        featureCount = m.featureNames.count
        actionCount = m.actionSpace.count
        mean = .allocate(capacity: featureCount)
        scale = .allocate(capacity: featureCount)
        for i in 0..<featureCount {
            mean[i] = m.normalisation.mean[i]
            scale[i] = m.normalisation.scale[i]
        }
        switch m.kind {
        case .qTable:
            body = .table(Table(m.discretisation!, values: model.tensor("q_table")!))
            filter = nil
            members = []
            width = 0
            scratchCount = featureCount + actionCount
            indexScratchCount = 1
        case .mlp:
            let net = Network(shape: m.network!, parameters: model.tensor("q_network")!)
            body = .network(net)
            if let shape = m.behaviourNetwork, let p = model.tensor("behaviour_network") {
                filter = Network(shape: shape, parameters: p)
            } else {
                filter = nil
            }
            let count = m.ensemble?.members ?? 1
            members = (1..<max(1, count)).map {
                Network(shape: m.network!, parameters: model.tensor(EnsembleRule.tensorName(member: $0))!)
            }
            width = max(net.maxWidth, filter?.maxWidth ?? 0)
            scratchCount = featureCount + 3 * width + actionCount + (members.isEmpty ? 0 : count * actionCount)
            indexScratchCount = width
        }
        defaultAction = ensembleDefault ?? m.ensemble?.defaultAction ?? 0
        support = m.ensembleSupport
        pessimism = Float(m.ensemble?.pessimism ?? 0)
        let tau = m.actionFilterThreshold ?? 0
        logThreshold = tau > 0 ? Float(CoreMath.log(tau)) : -Float.infinity
    }

    deinit {
        mean.deallocate()
        scale.deallocate()
        switch body {
        case .table(let t): t.deallocate()
        case .network(let n): n.weights.deallocate()
        }
        filter?.weights.deallocate()
        for n in members { n.weights.deallocate() }
    }

    /// Scores the raw state into `output` (actionCount values) and returns the best
    /// allowed action (−1 if every score is NaN). After the call, for a filtered
    /// model, the last actionCount floats of `scratch` hold the behaviour logits.
    @inline(__always)
    func evaluate(_ state: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int>,
                  output: UnsafeMutablePointer<Float>) -> Int {
        let x = scratch
        switch body {
        case .table(let t):
            var cell = 0, stride = 1
            for k in 0..<t.features {
                let f = t.featureIndices[k]
                let v = (state[f] - mean[f]) / scale[f]
                let e = t.edges + t.edgeStart[k], count = t.edgeCount[k]
                var bin = 0
                while bin < count && e[bin] <= v { bin += 1 }
                cell += bin * stride
                stride *= count + 1
            }
            output.update(from: t.values + cell * actionCount, count: actionCount)
            return Self.argmax(output, actionCount, allowedLogits: nil, logThreshold: logThreshold)
        case .network(let net):
            for i in 0..<featureCount { x[i] = (state[i] - mean[i]) / scale[i] }
            let a = scratch + featureCount, b = a + width, values = b + width
            guard members.isEmpty else {
                // Ensemble: member k's Q-values go to q + k·actionCount, then the bounds to `output`.
                let q = values + width + actionCount
                net.forward(x, a, b, output: q, indices: indices, values: values)
                for (k, member) in members.enumerated() {
                    member.forward(x, a, b, output: q + (k + 1) * actionCount, indices: indices, values: values)
                }
                let choice = lowerBoundChoice(q, output: output)
                if let support, choice >= 0, !support.contains(state) { return defaultAction }
                return choice
            }
            net.forward(x, a, b, output: output, indices: indices, values: values)
            guard let filter else { return Self.argmax(output, actionCount, allowedLogits: nil, logThreshold: logThreshold) }
            let logits = values + width
            filter.forward(x, a, b, output: logits, indices: indices, values: values)
            return Self.argmax(output, actionCount, allowedLogits: logits, logThreshold: logThreshold)
        }
    }

    /// Writes each action's lower confidence bound of its advantage over the default
    /// (mean − κ · sample std over the members; 0 for the default itself) to `output`
    /// and returns the action with the largest bound, the default unless some bound is > 0.
    @inline(__always)
    private func lowerBoundChoice(_ q: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) -> Int {
        let k = members.count + 1
        var best = defaultAction
        var bestValue: Float = 0
        for action in 0..<actionCount {
            guard action != defaultAction else { output[action] = 0; continue }
            var sum: Float = 0
            for m in 0..<k { sum += q[m * actionCount + action] - q[m * actionCount + defaultAction] }
            let mean = sum / Float(k)
            var squares: Float = 0
            for m in 0..<k {
                let d = q[m * actionCount + action] - q[m * actionCount + defaultAction] - mean
                squares += d * d
            }
            let variance = squares / Float(k - 1)
            let bound = mean - pessimism * variance.squareRoot()
            output[action] = bound
            if bound > bestValue {
                best = action
                bestValue = bound
            }
        }
        // Every member's output NaN: no usable score at all.
        return q[defaultAction].isNaN ? -1 : best
    }

    /// Which actions the filter allows, from the logits `evaluate` left in `scratch`.
    func allowedActions(scratch: UnsafeMutablePointer<Float>) -> [Bool] {
        guard filter != nil else { return Array(repeating: true, count: actionCount) }
        let logits = scratch + featureCount + 3 * width
        var best = -Float.infinity
        for a in 0..<actionCount { best = max(best, logits[a]) }
        return (0..<actionCount).map { logits[$0] - best >= logThreshold }
    }

    @inline(__always)
    private static func argmax(_ q: UnsafeMutablePointer<Float>, _ count: Int, allowedLogits: UnsafeMutablePointer<Float>?,
                               logThreshold: Float) -> Int {
        var best = -1
        var bestValue = -Float.infinity
        if let logits = allowedLogits {
            var top = -Float.infinity
            for a in 0..<count where logits[a] > top { top = logits[a] }
            for a in 0..<count where logits[a] - top >= logThreshold && (best < 0 || q[a] > bestValue) {
                best = a
                bestValue = q[a]
            }
        } else {
            for a in 0..<count where best < 0 || q[a] > bestValue {
                if q[a].isNaN { continue }
                best = a
                bestValue = q[a]
            }
        }
        return best
    }
}
