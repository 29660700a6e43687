import CoalesceCore

/// Tabular offline Q iteration over a quantile discretisation.
///
/// Each sweep is one synchronous Bellman backup under the data's empirical model:
///
///     Q(c,a) ← mean over rows i with (cell(s_i), a_i) = (c, a) of  r_i + γ·(1 − done_i)·V(cell(s'_i))
///     V(c)   = max over actions a of Q(c, a)                (conservative: over actions seen in c)
///
/// With the conservative option (`tabular-cql`), actions never logged in a cell
/// are excluded from the max and from the policy, and seen pairs are lowered by
/// α/√n(c,a) — a lower confidence bound, the tabular analogue of CQL's penalty.
/// Without it, unseen pairs keep their initial value 0 (naive Q-learning, which
/// overestimates them whenever rewards are negative).
public struct TabularLearner {
    public let discretisation: StateDiscretisation
    public let actionCount: Int
    public let gamma: Float
    /// Conservative penalty α, or nil for naive Q iteration.
    public let conservativeAlpha: Float?
    /// Q values, cells × actions.
    public private(set) var values: [Float]
    private let cells: [Int32]
    private let nextCells: [Int32]
    private let actions: [Int32]
    private let continues: [Float]
    private let counts: [Float]
    private let rewardSums: [Float]

    /// Learns the discretisation from `data` (normalised states): for every feature the
    /// interior quantiles at k/bins (k = 1 … bins−1), duplicates removed; features
    /// with no interior cut are dropped. Features are ranked by how much the mean
    /// reward differs between their bins (between-bin variance) and added in that
    /// order while the cell count stays ≤ `maxCells`.
    public static func learnDiscretisation(_ data: OfflineDataset, bins: Int, maxCells: Int) -> StateDiscretisation {
        let f = data.featureCount, n = data.count
        guard n > 0 else { return StateDiscretisation(featureIndices: [], edges: []) }
        let meanReward = data.rewards.reduce(0.0) { $0 + Double($1) } / Double(n)
        var candidates: [(feature: Int, edges: [Float], score: Double)] = []
        for feature in 0..<f {
            var column = (0..<n).map { data.states[$0 * f + feature] }
            column.sort()
            var edges: [Float] = []
            for k in 1..<bins {
                let e = column[min(n - 1, k * n / bins)]
                if e > column[0], edges.last.map({ e > $0 }) ?? true { edges.append(e) }
            }
            guard !edges.isEmpty else { continue }
            var sums = [Double](repeating: 0, count: edges.count + 1), counts = sums
            for i in 0..<n {
                let x = data.states[i * f + feature]
                var bin = 0
                while bin < edges.count && edges[bin] <= x { bin += 1 }
                sums[bin] += Double(data.rewards[i])
                counts[bin] += 1
            }
            var score = 0.0
            for b in sums.indices where counts[b] > 0 {
                let d = sums[b] / counts[b] - meanReward
                score += counts[b] * d * d
            }
            candidates.append((feature, edges, score / Double(n)))
        }
        candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.feature < $1.feature }
        var chosen: [(Int, [Float])] = []
        var cellCount = 1
        for c in candidates where cellCount * (c.edges.count + 1) <= maxCells {
            chosen.append((c.feature, c.edges))
            cellCount *= c.edges.count + 1
        }
        chosen.sort { $0.0 < $1.0 }
        return StateDiscretisation(featureIndices: chosen.map(\.0), edges: chosen.map(\.1))
    }

    /// Prepares the sweeps: every row's cell and next cell, counts and reward sums.
    public init(data: OfflineDataset, discretisation: StateDiscretisation, gamma: Double, conservativeAlpha: Float?) {
        self.discretisation = discretisation
        self.actionCount = data.actionCount
        self.gamma = Float(gamma)
        self.conservativeAlpha = conservativeAlpha
        let f = data.featureCount
        var cells = [Int32](repeating: 0, count: data.count), next = cells
        data.states.withUnsafeBufferPointer { s in
            data.nextStates.withUnsafeBufferPointer { ns in
                for i in 0..<data.count {
                    cells[i] = Int32(discretisation.cell(of: UnsafeBufferPointer(rebasing: s[(i * f)..<((i + 1) * f)])))
                    next[i] = Int32(discretisation.cell(of: UnsafeBufferPointer(rebasing: ns[(i * f)..<((i + 1) * f)])))
                }
            }
        }
        self.cells = cells
        self.nextCells = next
        self.actions = data.actions
        self.continues = data.terminals.map { $0 ? 0 : 1 }
        let size = discretisation.cellCount * data.actionCount
        var counts = [Float](repeating: 0, count: size), sums = counts
        for i in 0..<data.count {
            let k = Int(cells[i]) * data.actionCount + Int(data.actions[i])
            counts[k] += 1
            sums[k] += data.rewards[i]
        }
        self.counts = counts
        self.rewardSums = sums
        self.values = [Float](repeating: 0, count: size)
    }

    /// Number of transitions one sweep processes.
    public var transitionCount: Int { cells.count }

    /// V(c) for every cell under the current values.
    private func stateValues() -> [Float] {
        let cellCount = discretisation.cellCount
        var v = [Float](repeating: 0, count: cellCount)
        var visitedSum: Float = 0, visited = 0
        for c in 0..<cellCount {
            var best = -Float.infinity
            for a in 0..<actionCount {
                let k = c * actionCount + a
                if conservativeAlpha != nil && counts[k] == 0 { continue }
                best = max(best, values[k])
            }
            if best > -Float.infinity { v[c] = best; visitedSum += best; visited += 1 } else { v[c] = .nan }
        }
        let fill = visited > 0 ? visitedSum / Float(visited) : 0
        for c in 0..<cellCount where v[c].isNaN { v[c] = fill }
        return v
    }

    /// One synchronous backup over every transition; returns the largest change of a seen Q value.
    @discardableResult
    public mutating func sweep() -> Float {
        let v = stateValues()
        var bootstrap = [Float](repeating: 0, count: values.count)
        let actionCount = self.actionCount
        // The hot loop: one gather and one scatter-add per transition.
        cells.withUnsafeBufferPointer { c in
            nextCells.withUnsafeBufferPointer { nc in
                actions.withUnsafeBufferPointer { a in
                    continues.withUnsafeBufferPointer { cont in
                        v.withUnsafeBufferPointer { vv in
                            bootstrap.withUnsafeMutableBufferPointer { acc in
                                for i in 0..<c.count {
                                    acc[Int(c[i]) &* actionCount &+ Int(a[i])] += cont[i] * vv[Int(nc[i])]
                                }
                            }
                        }
                    }
                }
            }
        }
        var change: Float = 0
        for k in 0..<values.count where counts[k] > 0 {
            var q = (rewardSums[k] + gamma * bootstrap[k]) / counts[k]
            if let alpha = conservativeAlpha { q -= alpha / counts[k].squareRoot() }
            change = max(change, abs(q - values[k]))
            values[k] = q
        }
        return change
    }

    /// Sweeps until the largest change falls below `tolerance` (relative to the largest
    /// |Q|) or `maxSweeps` is reached; then fills what the data never saw (see `finalValues`).
    public mutating func fit(maxSweeps: Int, tolerance: Float = 1e-5, progress: ((Int, Float) -> Void)? = nil) -> Int {
        var done = 0
        for s in 1...max(1, maxSweeps) {
            let change = sweep()
            done = s
            progress?(s, change)
            let largest = values.reduce(Float(0)) { max($0, abs($1)) }
            if change <= tolerance * max(1, largest) { break }
        }
        return done
    }

    /// The table to store: seen pairs as fitted; cells the data never visited take,
    /// per action, the mean over visited cells where it was seen; with the conservative
    /// option an action never seen in a visited cell is set below every seen value so
    /// the policy never picks it.
    public func finalValues() -> [Float] {
        let cellCount = discretisation.cellCount
        var out = values
        var actionMean = [Float](repeating: 0, count: actionCount), actionSeen = [Float](repeating: 0, count: actionCount)
        var lowest = Float.infinity
        for c in 0..<cellCount {
            for a in 0..<actionCount where counts[c * actionCount + a] > 0 {
                actionMean[a] += values[c * actionCount + a]
                actionSeen[a] += 1
                lowest = min(lowest, values[c * actionCount + a])
            }
        }
        if !lowest.isFinite { lowest = 0 }
        let floor = lowest - 1 - (conservativeAlpha ?? 0)
        for a in 0..<actionCount { actionMean[a] = actionSeen[a] > 0 ? actionMean[a] / actionSeen[a] : floor }
        for c in 0..<cellCount {
            let row = c * actionCount
            let visited = (0..<actionCount).contains { counts[row + $0] > 0 }
            for a in 0..<actionCount where counts[row + a] == 0 {
                if !visited { out[row + a] = actionMean[a] } else if conservativeAlpha != nil { out[row + a] = floor }
            }
        }
        return out
    }

    /// Mean |TD error| of `data` (normalised) under the final table.
    public func tdError(on data: OfflineDataset) -> Double {
        guard data.count > 0 else { return .nan }
        let table = finalValues()
        let f = data.featureCount
        var total = 0.0
        data.states.withUnsafeBufferPointer { s in
            data.nextStates.withUnsafeBufferPointer { ns in
                for i in 0..<data.count {
                    let c = discretisation.cell(of: UnsafeBufferPointer(rebasing: s[(i * f)..<((i + 1) * f)]))
                    let n = discretisation.cell(of: UnsafeBufferPointer(rebasing: ns[(i * f)..<((i + 1) * f)]))
                    var v = -Float.infinity
                    for a in 0..<actionCount { v = max(v, table[n * actionCount + a]) }
                    let y = data.rewards[i] + (data.terminals[i] ? 0 : gamma * v)
                    total += Double(abs(table[c * actionCount + Int(data.actions[i])] - y))
                }
            }
        }
        return total / Double(data.count)
    }
}
