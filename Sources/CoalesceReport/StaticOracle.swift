/// The hindsight oracle over static settings that the comparison's "oracle headroom" reports.
public enum StaticOracle {
    /// The mean over steps of the best reward any of the runs earned in that step: the
    /// hindsight per-interval oracle over those runs (same seed, so the same traffic).
    /// Runs of unequal length are cut to the shortest.
    ///
    /// With `lateBy: k`, each step instead earns what the run that was best `k` steps
    /// earlier earned in it, and the first `k` steps what the run with the best mean
    /// earned: the oracle as a policy that follows what it has seen would play it.
    /// `lag` must not be negative. NaN when there are no runs or no steps.
    public static func meanReward(_ stepRewards: [[Double]], lateBy lag: Int = 0) -> Double {
        precondition(lag >= 0, "an oracle cannot see the future's future: lateBy must be ≥ 0")
        let steps = stepRewards.map(\.count).min() ?? 0
        guard steps > 0 else { return .nan }  // also when there are no runs
        func best(_ score: (Int) -> Double) -> Int {
            stepRewards.indices.max { score($0) < score($1) }!
        }
        // The run the first `lag` steps take (none when the oracle is not late).
        let bestOverall = lag == 0 ? 0 : best { run in stepRewards[run][..<steps].reduce(0, +) }
        var total = 0.0
        for t in 0..<steps {
            let run = t < lag ? bestOverall : best { stepRewards[$0][t - lag] }
            total += stepRewards[run][t]
        }
        return total / Double(steps)
    }
}
