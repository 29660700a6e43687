import CoalesceCore

/// Transitions for offline learning, in flat row-major buffers.
///
/// Row `i` is the transition (s_i, a_i, r_i, s'_i, done_i): `states[i*f ..< (i+1)*f]`
/// with `f = featureCount`, and likewise `nextStates`. `terminal` marks true ends
/// of the process (no bootstrap); an episode that ends by timeout is not terminal.
/// Rows of one episode are contiguous and in time order.
public struct OfflineDataset: Sendable {
    public var featureCount: Int
    public var actionCount: Int
    public var states: [Float]
    public var nextStates: [Float]
    public var actions: [Int32]
    /// Rewards in objective units (see `scaled(by:)`).
    public var rewards: [Float]
    public var terminals: [Bool]
    /// π_b(a_i|s_i) of the logged action, or nil when the data does not record it.
    public var behaviourProbabilities: [Double]?
    /// Episode id of each row (rows of an episode are contiguous).
    public var episodes: [Int]
    /// Per-row factor on the bootstrapped term of the TD target, nil = 1 everywhere
    /// (set by `scaledPerState(by:)`).
    public var bootstrapFactors: [Float]?

    public init(featureCount: Int, actionCount: Int, states: [Float], nextStates: [Float], actions: [Int32],
                rewards: [Float], terminals: [Bool], behaviourProbabilities: [Double]?, episodes: [Int]) throws(LearnError) {
        let n = actions.count
        guard featureCount > 0, actionCount > 0 else { throw .invalidData("dataset has no features or no actions") }
        guard states.count == n * featureCount, nextStates.count == n * featureCount, rewards.count == n,
              terminals.count == n, episodes.count == n, behaviourProbabilities.map({ $0.count == n }) ?? true else {
            throw .invalidData("dataset columns have different lengths")
        }
        if let i = actions.firstIndex(where: { $0 < 0 || Int($0) >= actionCount }) {
            throw .invalidData("row \(i): action \(actions[i]) outside 0..<\(actionCount)")
        }
        if let i = states.firstIndex(where: { !$0.isFinite }) ?? nextStates.firstIndex(where: { !$0.isFinite }) {
            throw .invalidData("row \(i / featureCount): state feature \(i % featureCount) is not finite")
        }
        if let i = rewards.firstIndex(where: { !$0.isFinite }) { throw .invalidData("row \(i): reward is not finite") }
        if let p = behaviourProbabilities, let i = p.firstIndex(where: { !($0 > 0 && $0 <= 1) }) {
            throw .invalidData("row \(i): behaviour probability \(p[i]) outside (0, 1]")
        }
        self.featureCount = featureCount
        self.actionCount = actionCount
        self.states = states
        self.nextStates = nextStates
        self.actions = actions
        self.rewards = rewards
        self.terminals = terminals
        self.behaviourProbabilities = behaviourProbabilities
        self.episodes = episodes
    }

    /// Number of transitions.
    public var count: Int { actions.count }

    /// The rows whose indices are given, in that order.
    public func rows(_ indices: [Int]) -> OfflineDataset {
        var s = [Float](), ns = [Float]()
        s.reserveCapacity(indices.count * featureCount)
        ns.reserveCapacity(indices.count * featureCount)
        for i in indices {
            s += states[(i * featureCount)..<((i + 1) * featureCount)]
            ns += nextStates[(i * featureCount)..<((i + 1) * featureCount)]
        }
        var subset = try! OfflineDataset(
            featureCount: featureCount, actionCount: actionCount, states: s, nextStates: ns,
            actions: indices.map { actions[$0] }, rewards: indices.map { rewards[$0] },
            terminals: indices.map { terminals[$0] }, behaviourProbabilities: behaviourProbabilities.map { p in indices.map { p[$0] } },
            episodes: indices.map { episodes[$0] })
        subset.bootstrapFactors = bootstrapFactors.map { f in indices.map { f[$0] } }
        return subset
    }

    /// Appends another dataset's rows (episode ids are offset so they stay distinct).
    public mutating func append(_ other: OfflineDataset) throws(LearnError) {
        guard other.featureCount == featureCount, other.actionCount == actionCount else {
            throw .invalidData("cannot merge datasets with \(featureCount)/\(actionCount) and \(other.featureCount)/\(other.actionCount) features/actions")
        }
        let offset = (episodes.max() ?? -1) + 1 - (other.episodes.min() ?? 0)
        if bootstrapFactors != nil || other.bootstrapFactors != nil {
            // Rows without factors bootstrap with factor 1.
            bootstrapFactors = (bootstrapFactors ?? Array(repeating: 1, count: count))
                + (other.bootstrapFactors ?? Array(repeating: 1, count: other.count))
        }
        states += other.states
        nextStates += other.nextStates
        actions += other.actions
        rewards += other.rewards
        terminals += other.terminals
        episodes += other.episodes.map { $0 + offset }
        if let p = behaviourProbabilities, let q = other.behaviourProbabilities { behaviourProbabilities = p + q } else { behaviourProbabilities = nil }
    }

    /// Contiguous runs of rows that belong to one episode: `[start, end)` ranges in row order.
    public var episodeRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        for i in 1...max(1, count) where i == count || episodes[i] != episodes[i - 1] {
            if i > start { ranges.append(start..<i) }
            start = i
        }
        return ranges
    }

    /// Splits into training and validation rows by episode: whole episodes go to one
    /// side, chosen by a seeded shuffle. With fewer than `minimumEpisodes` episodes,
    /// each episode is first cut into contiguous segments of `segmentLength` rows
    /// (default: rows / 50, between 4 and 64), which are then assigned instead
    /// (documented in docs/training.md).
    public func split(validationFraction: Double, seed: UInt64, minimumEpisodes: Int = 10,
                      segmentLength: Int? = nil) -> (training: OfflineDataset, validation: OfflineDataset, units: Int) {
        var units = episodeRanges
        let segmentLength = segmentLength ?? max(4, min(64, count / 50))
        if units.count < minimumEpisodes {
            units = units.flatMap { r in
                stride(from: r.lowerBound, to: r.upperBound, by: segmentLength).map { $0..<min($0 + segmentLength, r.upperBound) }
            }
        }
        guard validationFraction > 0, units.count >= 2 else { return (self, rows([]), units.count) }
        var generator = SeededGenerator.stream(seed: seed, 0x5EED_5B17)
        var order = Array(units.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, generator.nextIndex(i + 1)) }
        let validationUnits = min(units.count - 1, max(1, Int((Double(units.count) * validationFraction).rounded())))
        let chosen = Set(order.prefix(validationUnits))
        var train: [Int] = [], valid: [Int] = []
        for (u, r) in units.enumerated() {
            if chosen.contains(u) { valid += Array(r) } else { train += Array(r) }
        }
        return (rows(train), rows(valid), units.count)
    }

    /// Per-feature mean and standard deviation (scale 1 for constant features), for normalisation.
    public func featureNormalisation() -> FeatureNormalisation {
        var mean = [Double](repeating: 0, count: featureCount)
        var square = [Double](repeating: 0, count: featureCount)
        for i in 0..<count {
            for f in 0..<featureCount {
                let x = Double(states[i * featureCount + f])
                mean[f] += x
                square[f] += x * x
            }
        }
        let n = Double(max(1, count))
        var scale = [Float](repeating: 1, count: featureCount)
        for f in 0..<featureCount {
            mean[f] /= n
            let variance = max(0, square[f] / n - mean[f] * mean[f])
            let std = variance.squareRoot()
            scale[f] = std > 1e-6 ? Float(std) : 1
        }
        return FeatureNormalisation(mean: mean.map { Float($0) }, scale: scale)
    }

    /// The dataset with states normalised (the same Float arithmetic `ModelPolicy` applies).
    public func normalised(_ n: FeatureNormalisation) -> OfflineDataset {
        var copy = self
        for i in 0..<states.count {
            let f = i % featureCount
            copy.states[i] = n.apply(states[i], feature: f)
            copy.nextStates[i] = n.apply(nextStates[i], feature: f)
        }
        return copy
    }

    /// The dataset with every reward multiplied by `factor`.
    public func scaled(by factor: Float) -> OfflineDataset {
        var copy = self
        for i in 0..<count { copy.rewards[i] *= factor }
        return copy
    }

    /// The reward magnitude |r| at quantile `q` (0 < q < 1), a floor for per-state scales.
    public func rewardMagnitudeQuantile(_ q: Double) -> Double {
        guard count > 0 else { return 1 }
        let sorted = rewards.map { Double(abs($0)) }.sorted()
        return sorted[min(count - 1, Int(Double(count - 1) * q))]
    }

    /// The dataset with each row's reward divided by `scale(s_i)` and the bootstrap factor
    /// scale(s'_i)/scale(s_i), so that the TD target is (r_i + γ·Q(s'_i))/σ(s_i) in units of
    /// Q̃ = Q/σ. `scale` must be a function of the state alone and > 0.
    public func scaledPerState(by scale: (UnsafeBufferPointer<Float>) -> Float) -> OfflineDataset {
        var copy = self
        var factors = [Float](repeating: 1, count: count)
        states.withUnsafeBufferPointer { s in
            nextStates.withUnsafeBufferPointer { n in
                for i in 0..<count {
                    let here = scale(UnsafeBufferPointer(rebasing: s[(i * featureCount)..<((i + 1) * featureCount)]))
                    let next = scale(UnsafeBufferPointer(rebasing: n[(i * featureCount)..<((i + 1) * featureCount)]))
                    copy.rewards[i] = rewards[i] / here
                    factors[i] = next / here
                }
            }
        }
        copy.bootstrapFactors = factors
        return copy
    }

    /// Standard deviation of the rewards (1 if they are constant).
    public var rewardScale: Double {
        guard count > 1 else { return 1 }
        let mean = rewards.reduce(0.0) { $0 + Double($1) } / Double(count)
        let variance = rewards.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(count)
        return variance > 1e-12 ? variance.squareRoot() : 1
    }

    /// How often each action appears.
    public var actionCounts: [Int] {
        var c = [Int](repeating: 0, count: actionCount)
        for a in actions { c[Int(a)] += 1 }
        return c
    }
}

/// Errors of the trainer and the estimators.
public enum LearnError: Error, Equatable, CustomStringConvertible {
    case invalidData(String)
    case invalidConfiguration(String)
    case missingBehaviourProbabilities(String)
    case diverged(String)

    public var description: String {
        switch self {
        case .invalidData(let m): return "invalid training data: \(m)"
        case .invalidConfiguration(let m): return "invalid configuration: \(m)"
        case .missingBehaviourProbabilities(let m): return m
        case .diverged(let m): return "training diverged: \(m)"
        }
    }
}
