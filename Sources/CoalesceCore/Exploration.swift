/// How an `ExplorationPolicy` departs from its base policy.
public enum ExplorationMode: Sendable, Hashable {
    /// With probability ε a uniformly random allowed action, otherwise the base action.
    case epsilonGreedy(epsilon: Double)
    /// Boltzmann over the base policy's scores (or over a one-hot of its action when it
    /// has none) at `temperature`, restricted to the allowed actions.
    case softmax(temperature: Double)
}

/// Explores around a base policy, within an allowed subset of actions, and reports
/// the probability π_b(a|s) of the action it chose — off-policy evaluation needs it.
///
/// With `hold` > 1 a fresh choice is made only every `hold` steps and repeated in
/// between (probability 1 for the repeats, since the repeat is deterministic given
/// the step): this gives the data stretches long enough to see each setting's
/// steady-state effect.
public struct ExplorationPolicy<Base: Policy>: Policy {
    public private(set) var base: Base
    public let mode: ExplorationMode
    /// Allowed action ids (nil = all).
    public let allowed: [Int]?
    public let hold: Int
    private var rng: SeededGenerator
    private var held: Int?

    public init(base: Base, mode: ExplorationMode, allowed: [Int]? = nil, hold: Int = 1, seed: UInt64) {
        self.base = base
        self.mode = mode
        self.allowed = allowed.map { Array(Set($0)).sorted() }
        self.hold = max(1, hold)
        self.rng = SeededGenerator.stream(seed: seed, 0xE8)
    }

    public var identity: String {
        let m: String
        switch mode {
        case .epsilonGreedy(let e): m = "epsilon=\(e)"
        case .softmax(let t): m = "softmax=\(t)"
        }
        return "explore(\(m),hold=\(hold),base=\(base.identity))"
    }

    /// The probability of every action under this policy for `context` (the base
    /// policy is consulted, so call this instead of `decide`, not in addition).
    public mutating func distribution(_ context: DecisionContext) throws(PolicyError) -> [Double] {
        let n = context.actionSpace.count
        let candidates = (allowed ?? Array(0..<n)).filter { $0 >= 0 && $0 < n }
        guard !candidates.isEmpty else { throw .actionOutOfRange(-1, count: n) }
        let baseDecision = try base.decide(context)
        var p = [Double](repeating: 0, count: n)
        switch mode {
        case .epsilonGreedy(let epsilon):
            let e = max(0, min(1, epsilon))
            let greedy = candidates.contains(baseDecision.action) ? baseDecision.action : nil
            let share = (greedy == nil ? 1 : e) / Double(candidates.count)
            for a in candidates { p[a] = share }
            if let g = greedy { p[g] += 1 - e }
        case .softmax(let temperature):
            let scores = try base.scores(context)
                ?? (0..<n).map { $0 == baseDecision.action ? 1.0 : 0.0 }
            // Actions the base does not score (a space extended beyond a model's) are not candidates.
            let scored = candidates.filter { $0 < scores.count && scores[$0].isFinite }
            guard !scored.isEmpty else { throw .nonFiniteOutput("no scored action among the allowed ones") }
            let t = max(1e-6, temperature)
            let top = scored.map { scores[$0] }.max() ?? 0
            var total = 0.0
            for a in scored {
                let w = CoreMath.exp((scores[a] - top) / t)
                p[a] = w
                total += w
            }
            for a in scored { p[a] /= total }
        }
        return p
    }

    public mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision {
        if let h = held, context.step % hold != 0 { return Decision(action: h, probability: 1) }
        let p = try distribution(context)
        var u = rng.nextUnit()
        var chosen = p.lastIndex { $0 > 0 } ?? 0
        for (a, pa) in p.enumerated() where pa > 0 {
            if u < pa { chosen = a; break }
            u -= pa
        }
        held = chosen
        return Decision(action: chosen, probability: p[chosen])
    }
}
