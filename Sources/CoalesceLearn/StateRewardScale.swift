import CoalesceCore

/// A reward scale that is a function of the state features alone: the mean |r| of the
/// training rows in the state's cell of a quantile discretisation (the Q-table's, at most
/// 256 cells, 4 bins per feature), never below a floor (a low quantile of |r|). Cells no
/// training row reached take the mean |r| of all rows. Used by
/// `--reward-normalisation state`: because σ depends on s only,
/// E[r/σ(s) | s, a] = E[r | s, a]/σ(s) and the greedy action is exactly preserved.
public struct StateRewardScale: Sendable {
    public let discretisation: StateDiscretisation
    /// σ per cell, already floored.
    public let cellScales: [Float]

    /// Learns the scale from normalised training rows.
    public init(learningFrom data: OfflineDataset, floorQuantile: Double, bins: Int = 4, maxCells: Int = 256) {
        let discretisation = TabularLearner.learnDiscretisation(data, bins: bins, maxCells: maxCells)
        self.discretisation = discretisation
        let floor = Float(max(1e-6, data.rewardMagnitudeQuantile(floorQuantile)))
        let cells = discretisation.cellCount
        var sums = [Double](repeating: 0, count: cells), counts = [Int](repeating: 0, count: cells)
        var total = 0.0
        data.states.withUnsafeBufferPointer { s in
            for i in 0..<data.count {
                let c = discretisation.cell(of: UnsafeBufferPointer(rebasing: s[(i * data.featureCount)..<((i + 1) * data.featureCount)]))
                let magnitude = Double(abs(data.rewards[i]))
                sums[c] += magnitude
                counts[c] += 1
                total += magnitude
            }
        }
        let overall = Float(total / Double(max(1, data.count)))
        cellScales = (0..<cells).map { c in max(floor, counts[c] > 0 ? Float(sums[c] / Double(counts[c])) : overall) }
    }

    /// σ(s) for a normalised state.
    public func scale(of state: UnsafeBufferPointer<Float>) -> Float {
        cellScales[discretisation.cell(of: state)]
    }
}
