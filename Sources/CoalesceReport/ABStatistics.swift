import CoalesceCore

/// A confidence interval of a mean (or of a mean paired difference) over seeds.
public struct ConfidenceInterval: Sendable, Hashable, Codable {
    /// Lower bound.
    public var lower: Double
    /// Upper bound.
    public var upper: Double
    /// How many seeds the interval was computed from. With one seed there is no spread to
    /// resample: the interval collapses to the point and says nothing about uncertainty.
    public var sampleCount: Int

    /// Creates an interval.
    public init(lower: Double, upper: Double, sampleCount: Int) {
        self.lower = lower
        self.upper = upper
        self.sampleCount = sampleCount
    }

    /// True when the interval was computed from fewer than two seeds (it is then the point itself).
    public var isDegenerate: Bool { sampleCount < 2 }
    /// `upper - lower`.
    public var width: Double { upper - lower }
    /// Whether `value` lies in [lower, upper].
    public func contains(_ value: Double) -> Bool { lower <= value && value <= upper }
    /// Whether the interval lies entirely above or entirely below zero (and is not degenerate).
    public var excludesZero: Bool { !isDegenerate && (lower > 0 || upper < 0) }
}

/// A mean over seeds with its bootstrap confidence interval.
public struct Estimate: Sendable, Hashable, Codable {
    /// The sample mean over seeds.
    public var mean: Double
    /// Its percentile-bootstrap confidence interval.
    public var ci: ConfidenceInterval

    /// Creates an estimate.
    public init(mean: Double, ci: ConfidenceInterval) {
        self.mean = mean
        self.ci = ci
    }
}

/// The outcome of a paired comparison of rewards (higher reward is better).
public enum Verdict: String, Sendable, Hashable, Codable, CaseIterable {
    /// The paired CI of the reward difference lies entirely above 0.
    case better
    /// The paired CI lies entirely below 0.
    case worse
    /// The paired CI contains 0.
    case indistinguishable
    /// One seed only: no interval, so no statistical verdict (the point estimate is still shown).
    case singleSeed = "single-seed"

    /// Reads a paired reward difference (policy − reference).
    public init(delta: Estimate) {
        if delta.ci.isDegenerate { self = .singleSeed }
        else if delta.ci.lower > 0 { self = .better }
        else if delta.ci.upper < 0 { self = .worse }
        else { self = .indistinguishable }
    }
}

/// How bootstrap intervals are computed.
public struct BootstrapConfiguration: Sendable, Hashable, Codable {
    /// Number of bootstrap resamples (default 2000).
    public var resamples: Int
    /// Confidence level (default 0.95).
    public var confidence: Double
    /// Base seed; each interval derives its own stream from this seed and its labels, so an
    /// interval does not change when other policies or scenarios are added.
    public var seed: UInt64

    /// Creates a configuration.
    public init(resamples: Int = 2000, confidence: Double = 0.95, seed: UInt64 = 0xC0A1_E5CE) {
        self.resamples = max(1, resamples)
        self.confidence = min(max(confidence, 0), 1)
        self.seed = seed
    }
}

/// Errors of the statistics functions.
public enum ABStatisticsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The two samples of a paired comparison have different lengths.
    case unpaired(policyCount: Int, referenceCount: Int)
    /// A sample is empty.
    case empty

    /// What is wrong with the samples.
    public var description: String {
        switch self {
        case .unpaired(let a, let b):
            return "paired difference: the policy has \(a) runs and the reference \(b); runs are paired by seed index and must match"
        case .empty: return "statistics: empty sample"
        }
    }
}

/// A/B statistics over seeds: means, percentile-bootstrap CIs, paired differences, verdicts.
///
/// Deterministic: every bootstrap draws from a `SeededGenerator` whose seed derives from the
/// configuration's seed and the caller's labels (scenario, policy, metric).
public enum ABStatistics {
    /// The arithmetic mean (NaN for an empty sample).
    public static func mean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        return values.reduce(0, +) / Double(values.count)
    }

    /// The `q`-quantile of already sorted values with linear interpolation between order
    /// statistics (Hyndman–Fan type 7, the default of R and NumPy).
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = Double(sorted.count - 1) * min(max(q, 0), 1)
        let i = Int(h.rounded(.down))
        let j = min(i + 1, sorted.count - 1)
        return sorted[i] + (h - Double(i)) * (sorted[j] - sorted[i])
    }

    /// The mean of `values` with its percentile-bootstrap confidence interval: resample the
    /// values with replacement `resamples` times, take each resample's mean, and report the
    /// (1−c)/2 and (1+c)/2 quantiles of those means. One value (one seed) gives the point as a
    /// degenerate interval; identical values give exactly [value, value].
    public static func bootstrapMean(_ values: [Double], configuration: BootstrapConfiguration = .init(),
                                     labels: [String] = []) throws(ABStatisticsError) -> Estimate {
        guard !values.isEmpty else { throw .empty }
        let m = mean(values)
        let n = values.count
        if n == 1 || values.allSatisfy({ $0 == values[0] }) {
            let point = n == 1 ? m : values[0]
            return Estimate(mean: point, ci: ConfidenceInterval(lower: point, upper: point, sampleCount: n))
        }
        var rng = SeededGenerator(seed: streamSeed(configuration.seed, labels))
        var means = [Double](repeating: 0, count: configuration.resamples)
        for r in 0..<configuration.resamples {
            var sum = 0.0
            for _ in 0..<n { sum += values[index(below: n, &rng)] }
            means[r] = sum / Double(n)
        }
        means.sort()
        let alpha = 1 - configuration.confidence
        return Estimate(mean: m, ci: ConfidenceInterval(lower: quantile(sorted: means, alpha / 2),
                                                        upper: quantile(sorted: means, 1 - alpha / 2),
                                                        sampleCount: n))
    }

    /// The mean paired difference `policy[i] − reference[i]` over seed indices i, with a
    /// percentile-bootstrap CI that resamples seed indices jointly (both runs of a resampled
    /// seed enter together, so the traffic each seed generated cancels out).
    public static func pairedDifference(_ policy: [Double], _ reference: [Double],
                                        configuration: BootstrapConfiguration = .init(),
                                        labels: [String] = []) throws(ABStatisticsError) -> Estimate {
        guard policy.count == reference.count else {
            throw .unpaired(policyCount: policy.count, referenceCount: reference.count)
        }
        // Resampling seed indices jointly and differencing equals resampling the per-seed
        // differences, which is what this does.
        let differences = zip(policy, reference).map { $0 - $1 }
        return try bootstrapMean(differences, configuration: configuration, labels: labels)
    }

    /// The index of the highest mean reward among the runs (first on ties), or nil if empty.
    public static func bestByMeanReward(_ candidates: [[RunFigures]]) -> Int? {
        var best: (index: Int, reward: Double)?
        for (i, runs) in candidates.enumerated() where !runs.isEmpty {
            let r = mean(runs.map(\.reward))
            if best == nil || r > best!.reward { best = (i, r) }
        }
        return best?.index
    }

    /// A uniform index in 0..<n from the generator. Written out (rather than `Int.random(in:using:)`,
    /// whose algorithm the standard library may change) so the intervals stay reproducible.
    static func index(below n: Int, _ rng: inout SeededGenerator) -> Int {
        min(Int(rng.nextUnit() * Double(n)), n - 1)
    }

    /// A seed for one interval: FNV-1a over the labels, mixed with the base seed.
    static func streamSeed(_ base: UInt64, _ labels: [String]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for label in labels {
            for byte in label.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x0000_0100_0000_01B3  // separator, so ["ab","c"] ≠ ["a","bc"]
        }
        return base ^ h
    }
}
