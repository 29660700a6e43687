import CoalesceCore

/// Settings of the off-policy estimators.
public struct OPEConfiguration: Sendable, Hashable {
    public var gamma: Double = 0.9
    /// Window length H; nil = the smallest H with γ^H ≤ 0.01.
    public var horizon: Int? = nil
    public var bootstrapSamples: Int = 200
    /// Two-sided confidence level of the bootstrap intervals.
    public var confidence: Double = 0.95
    public var seed: UInt64 = 0
    public var fqe = FQEConfiguration()

    public init() {}

    /// The horizon in use.
    public var effectiveHorizon: Int {
        if let horizon { return max(1, horizon) }
        guard gamma > 0 else { return 1 }
        return max(1, Int((LearnMath.log(0.01) / LearnMath.log(gamma)).rounded(.up)))
    }
}

/// One estimate with its bootstrap interval.
public struct PolicyValueEstimate: Sendable, Hashable, Codable {
    /// Expected discounted return per window start, in reward units.
    public var value: Double
    public var lower: Double
    public var upper: Double
    /// Kish effective sample size of the full-window importance weights (IS and DR only).
    public var effectiveSampleSize: Double?

    public init(value: Double, lower: Double, upper: Double, effectiveSampleSize: Double? = nil) {
        self.value = value
        self.lower = lower
        self.upper = upper
        self.effectiveSampleSize = effectiveSampleSize
    }
}

/// What `OffPolicyEvaluator.evaluate` reports.
public struct OPEReport: Sendable, Codable {
    public var gamma: Double
    public var horizon: Int
    /// Window starts used (every row from which H steps, or a terminal, follow).
    public var windows: Int
    /// Bootstrap units (blocks of H consecutive window starts).
    public var bootstrapUnits: Int
    /// Fraction of rows where the target policy picks the logged action.
    public var agreement: Double
    /// Fitted Q evaluation of the target policy.
    public var fqe: PolicyValueEstimate
    /// Per-decision weighted importance sampling; nil when π_b is missing.
    public var weightedImportanceSampling: PolicyValueEstimate?
    /// Weighted doubly robust (FQE as the model); nil when π_b is missing.
    public var doublyRobust: PolicyValueEstimate?
    /// The behaviour policy's value: on-policy Monte Carlo over the same windows.
    public var behaviour: PolicyValueEstimate
    /// Why IS/DR are missing, when they are.
    public var refusal: String?
    /// The range every policy's value must lie in, given the data's rewards:
    /// [min(r_min, 0), max(r_max, 0)] / (1 − γ); nil for γ ≥ 1. An estimate outside it
    /// is an artefact of the estimator (an FQE that has not converged or extrapolates),
    /// not a property of the policy. Encoded as `[low, high]`.
    public var valueBounds: ClosedRange<Double>?

    /// The estimates that lie outside `valueBounds`.
    public var estimatesOutsideBounds: [OutOfBoundsEstimate] {
        guard let bounds = valueBounds else { return [] }
        let all: [(OPEEstimator, PolicyValueEstimate?)] = [(.fqe, fqe), (.weightedImportanceSampling, weightedImportanceSampling),
                                                           (.doublyRobust, doublyRobust)]
        return all.compactMap { estimator, e in
            guard let v = e?.value, v.isFinite, !bounds.contains(v) else { return nil }
            return OutOfBoundsEstimate(estimator: estimator, value: v)
        }
    }
}

/// The model-value estimators of an `OPEReport` (the behaviour policy's own value aside).
public enum OPEEstimator: String, Sendable, CaseIterable {
    case fqe = "FQE"
    case weightedImportanceSampling = "weighted IS"
    case doublyRobust = "weighted DR"

    /// Whether the estimate goes through the fitted Q-function (so an unconverged FQE moves it).
    public var usesFittedQ: Bool { self != .weightedImportanceSampling }
}

/// An estimate `OPEReport.estimatesOutsideBounds` flags.
public struct OutOfBoundsEstimate: Sendable, Hashable {
    public var estimator: OPEEstimator
    public var value: Double
    /// The estimator's name as reports print it.
    public var name: String { estimator.rawValue }
}

/// Off-policy estimators of a deterministic target policy's value from logged data
/// (docs/training.md, "Off-policy evaluation").
///
/// The value is the expected discounted return Σ_t γ^t r_t from the states of the
/// data. Importance sampling works on windows of H steps starting at every row
/// (H with γ^H ≤ 1 % by default, so truncation costs < 1 % of the value's range);
/// only windows that run H steps or reach a terminal are used. Bootstrap
/// intervals resample blocks of H consecutive window starts (a block bootstrap,
/// because neighbouring windows overlap); FQE's interval covers the sampling of
/// start states, not the error of the fitted Q.
public enum OffPolicyEvaluator {
    /// Evaluates a model file on `data` (raw features, rewards in objective units).
    public static func evaluate(model: ModelFile, data: OfflineDataset, configuration: OPEConfiguration) throws(LearnError) -> OPEReport {
        let policy: ModelPolicy
        do { policy = try ModelPolicy(model: model) } catch { throw .invalidData("\(error)") }
        guard policy.featureCount == data.featureCount, policy.actionCount == data.actionCount else {
            throw .invalidData("model reads \(policy.featureCount) features / \(policy.actionCount) actions, data has \(data.featureCount) / \(data.actionCount)")
        }
        let (actions, nextActions) = try greedyActions(policy, data)
        return try evaluate(data: data, targetActions: actions, targetNextActions: nextActions, configuration: configuration)
    }

    /// The policy's action on every state and next state.
    public static func greedyActions(_ policy: ModelPolicy, _ data: OfflineDataset) throws(LearnError) -> ([Int32], [Int32]) {
        var p = policy
        var actions = [Int32](), next = [Int32]()
        actions.reserveCapacity(data.count)
        next.reserveCapacity(data.count)
        let f = data.featureCount
        do {
            for i in 0..<data.count {
                actions.append(Int32(try p.greedyAction(Array(data.states[(i * f)..<((i + 1) * f)]))))
                next.append(Int32(try p.greedyAction(Array(data.nextStates[(i * f)..<((i + 1) * f)]))))
            }
        } catch { throw .invalidData("\(error)") }
        return (actions, next)
    }

    /// Evaluates the deterministic policy that picks `targetActions[i]` in s_i and
    /// `targetNextActions[i]` in s'_i.
    public static func evaluate(data: OfflineDataset, targetActions: [Int32], targetNextActions: [Int32],
                                configuration: OPEConfiguration) throws(LearnError) -> OPEReport {
        guard targetActions.count == data.count, targetNextActions.count == data.count else {
            throw .invalidData("one target action per row is required")
        }
        var fqeConfiguration = configuration.fqe
        fqeConfiguration.gamma = configuration.gamma
        let fitted = try FittedQEvaluation.fit(data: data, targetNextActions: targetNextActions, configuration: fqeConfiguration)
        let q = fitted.values(states: data.states, featureCount: data.featureCount)
        let qNext = fitted.values(states: data.nextStates, featureCount: data.featureCount)
        let a = data.actionCount
        let qLogged = (0..<data.count).map { Double(q[$0 * a + Int(data.actions[$0])]) }
        let vTarget = (0..<data.count).map { Double(q[$0 * a + Int(targetActions[$0])]) }
        let vNext = (0..<data.count).map { Double(qNext[$0 * a + Int(targetNextActions[$0])]) }
        return try estimate(data: data, targetActions: targetActions, qLogged: qLogged, vTarget: vTarget, vNext: vNext,
                            configuration: configuration)
    }

    /// The estimators given a Q̂ of the target policy: Q̂(s_i, a_i), V̂(s_i) = Q̂(s_i, π(s_i))
    /// and V̂(s'_i) for every row. Exposed so that any value model can be plugged in.
    public static func estimate(data: OfflineDataset, targetActions: [Int32], qLogged: [Double], vTarget: [Double],
                                vNext: [Double], configuration: OPEConfiguration) throws(LearnError) -> OPEReport {
        let h = configuration.effectiveHorizon
        let gamma = configuration.gamma
        let hasPropensities = data.behaviourProbabilities != nil
        let pb = data.behaviourProbabilities ?? []
        // Per bootstrap unit sums; index t in 0...h.
        var units: [UnitSums] = []
        var windows = 0
        for range in data.episodeRanges {
            var unit = UnitSums(horizon: h)
            var inUnit = 0
            for k in range {
                // Window k..<end, full length or ending in a terminal.
                var end = k
                while end < range.upperBound && end - k < h {
                    end += 1
                    if data.terminals[end - 1] { break }
                }
                guard end - k == h || data.terminals[end - 1] else { continue }
                windows += 1
                unit.add(window: k..<end, data: data, targetActions: targetActions, pb: pb, usePropensities: hasPropensities,
                         qLogged: qLogged, vTarget: vTarget, vNext: vNext, gamma: gamma)
                inUnit += 1
                if inUnit == h {
                    units.append(unit)
                    unit = UnitSums(horizon: h)
                    inUnit = 0
                }
            }
            if inUnit > 0 { units.append(unit) }
        }
        guard windows > 0 else {
            let longest = data.episodeRanges.map(\.count).max() ?? 0
            throw .invalidData("no window of \(h) steps fits in any episode (the longest has \(longest) steps); "
                               + "evaluate on longer episodes or with a smaller window (coalesce evaluate --horizon)")
        }
        var total = UnitSums(horizon: h)
        for u in units { total.merge(u) }
        var generator = SeededGenerator.stream(seed: configuration.seed, 0xB007)
        func interval(_ statistic: (UnitSums) -> Double) -> PolicyValueEstimate {
            let point = statistic(total)
            var draws: [Double] = []
            draws.reserveCapacity(configuration.bootstrapSamples)
            var sample = UnitSums(horizon: h)
            for _ in 0..<configuration.bootstrapSamples {
                sample.reset()
                for _ in 0..<units.count { sample.merge(units[generator.nextIndex(units.count)]) }
                let v = statistic(sample)
                if v.isFinite { draws.append(v) }
            }
            draws.sort()
            guard !draws.isEmpty else { return PolicyValueEstimate(value: point, lower: point, upper: point) }
            let tail = (1 - configuration.confidence) / 2
            return PolicyValueEstimate(value: point, lower: CoreMath.quantile(sorted: draws, tail),
                                       upper: CoreMath.quantile(sorted: draws, 1 - tail))
        }
        let agreement = Double(zip(targetActions, data.actions).filter { $0 == $1 }.count) / Double(max(1, data.count))
        var bounds: ClosedRange<Double>?
        if gamma < 1, let rMin = data.rewards.min(), let rMax = data.rewards.max() {
            bounds = (min(Double(rMin), 0) / (1 - gamma))...(max(Double(rMax), 0) / (1 - gamma))
        }
        var report = OPEReport(
            gamma: gamma, horizon: h, windows: windows, bootstrapUnits: units.count, agreement: agreement,
            fqe: interval { $0.fqe }, weightedImportanceSampling: nil, doublyRobust: nil,
            behaviour: interval { $0.onPolicy(gamma: gamma) }, refusal: nil, valueBounds: bounds)
        if hasPropensities {
            var wis = interval { $0.weightedIS(gamma: gamma) }
            wis.effectiveSampleSize = total.effectiveSampleSize
            var dr = interval { $0.weightedDR(gamma: gamma) }
            dr.effectiveSampleSize = total.effectiveSampleSize
            report.weightedImportanceSampling = wis
            report.doublyRobust = dr
        } else {
            report.refusal = "the data does not record π_b(a|s), the behaviour policy's probability of each logged action; "
                + "importance sampling and doubly robust estimates need it (record with an explore: policy, which logs it)"
        }
        return report
    }
}

/// Sums over the windows of one bootstrap unit, per step t of the window.
struct UnitSums {
    let horizon: Int
    /// Σ ρ_t (importance weight up to and including step t), for windows reaching t.
    var weight: [Double]
    /// Σ ρ_t r_t.
    var weightedReward: [Double]
    /// Σ ρ_t (r_t − Q̂(s_t, a_t)).
    var weightedResidual: [Double]
    /// Σ ρ_{t−1} V̂(s_t) for windows reaching t (t = 0: Σ V̂(s_0); t = end: V̂ of the state after the window).
    var previousWeightedValue: [Double]
    /// Σ ρ_{t-1} over the windows entering step t (the normaliser of previousWeightedValue).
    var previousWeight: [Double]
    /// Σ r_t and windows reaching t (on-policy Monte Carlo).
    var reward: [Double]
    var reach: [Double]
    /// Σ V̂(s_0) and the window count.
    var startValue = 0.0
    var count = 0.0
    /// Σ ρ and Σ ρ² of full-window weights (effective sample size).
    var finalWeight = 0.0
    var finalWeightSquared = 0.0

    init(horizon: Int) {
        self.horizon = horizon
        weight = Array(repeating: 0, count: horizon + 1)
        weightedReward = weight
        weightedResidual = weight
        previousWeightedValue = weight
        previousWeight = weight
        reward = weight
        reach = weight
    }

    mutating func reset() { self = UnitSums(horizon: horizon) }

    mutating func merge(_ o: UnitSums) {
        for t in 0...horizon {
            weight[t] += o.weight[t]
            weightedReward[t] += o.weightedReward[t]
            weightedResidual[t] += o.weightedResidual[t]
            previousWeightedValue[t] += o.previousWeightedValue[t]
            previousWeight[t] += o.previousWeight[t]
            reward[t] += o.reward[t]
            reach[t] += o.reach[t]
        }
        startValue += o.startValue
        count += o.count
        finalWeight += o.finalWeight
        finalWeightSquared += o.finalWeightSquared
    }

    mutating func add(window: Range<Int>, data: OfflineDataset, targetActions: [Int32], pb: [Double], usePropensities: Bool,
                      qLogged: [Double], vTarget: [Double], vNext: [Double], gamma: Double) {
        var rho = 1.0
        count += 1
        startValue += vTarget[window.lowerBound]
        for (t, i) in window.enumerated() {
            let r = Double(data.rewards[i])
            reward[t] += r
            reach[t] += 1
            let previous = rho
            previousWeightedValue[t] += previous * vTarget[i]
            previousWeight[t] += previous
            if usePropensities {
                rho *= targetActions[i] == data.actions[i] ? 1 / pb[i] : 0
            }
            weight[t] += rho
            weightedReward[t] += rho * r
            weightedResidual[t] += rho * (r - qLogged[i])
            if t == window.count - 1 && !data.terminals[i] {
                // The window stops before the episode does: bootstrap the tail with V̂(s_H).
                previousWeightedValue[t + 1] += rho * vNext[i]
                previousWeight[t + 1] += rho
            }
        }
        finalWeight += rho
        finalWeightSquared += rho * rho
    }

    var fqe: Double { count > 0 ? startValue / count : .nan }

    func onPolicy(gamma: Double) -> Double {
        var v = 0.0, discount = 1.0
        for t in 0..<horizon where reach[t] > 0 {
            v += discount * reward[t] / reach[t]
            discount *= gamma
        }
        return v
    }

    /// Per-decision weighted IS: Σ_t γ^t Σ ρ_t r_t / Σ ρ_t (steps with no weight contribute nothing).
    func weightedIS(gamma: Double) -> Double {
        guard weight[0] > 0 else { return .nan }
        var v = 0.0, discount = 1.0
        for t in 0..<horizon {
            if weight[t] > 0 { v += discount * weightedReward[t] / weight[t] }
            discount *= gamma
        }
        return v
    }

    /// Weighted doubly robust (Thomas & Brunskill 2016):
    /// Σ_t γ^t [ Σ ρ_{t−1} V̂(s_t) / Σ ρ_{t−1} + Σ ρ_t (r_t − Q̂(s_t,a_t)) / Σ ρ_t ], plus the
    /// γ^H-weighted tail V̂(s_H) of windows that end before their episode does.
    func weightedDR(gamma: Double) -> Double {
        var v = 0.0, discount = 1.0
        for t in 0...horizon {
            if previousWeight[t] > 0 { v += discount * previousWeightedValue[t] / previousWeight[t] }
            if t < horizon && weight[t] > 0 { v += discount * weightedResidual[t] / weight[t] }
            discount *= gamma
        }
        return v
    }

    /// Kish effective sample size of the full-window weights.
    var effectiveSampleSize: Double { finalWeightSquared > 0 ? finalWeight * finalWeight / finalWeightSquared : 0 }
}
