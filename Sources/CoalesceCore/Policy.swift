/// What a policy sees when it decides.
public struct DecisionContext: Sendable {
    /// Control step number within the episode (0-based).
    public var step: Int
    /// The state vector (`FeatureExtractor.featureNames` order).
    public var state: [Float]
    /// The raw observation at the end of the last interval.
    public var observation: Observation
    /// The action id in effect, if the setting in effect belongs to the action space.
    public var currentAction: Int?
    /// The actions to choose among.
    public var actionSpace: ActionSpace

    public init(step: Int, state: [Float], observation: Observation, currentAction: Int?, actionSpace: ActionSpace) {
        self.step = step
        self.state = state
        self.observation = observation
        self.currentAction = currentAction
        self.actionSpace = actionSpace
    }
}

/// A policy's choice: an action id and the probability with which the policy
/// chose it, π(a|s). Deterministic policies report 1.
public struct Decision: Sendable, Hashable {
    public var action: Int
    public var probability: Double

    public init(action: Int, probability: Double = 1) {
        self.action = action
        self.probability = probability
    }
}

/// Why a policy could not decide.
public enum PolicyError: Error, Equatable, CustomStringConvertible {
    /// The state vector does not have the length the policy expects.
    case stateLength(expected: Int, found: Int)
    /// The state holds NaN or infinity.
    case nonFiniteState(index: Int)
    /// The policy computed a non-finite value (e.g. a model's Q-values).
    case nonFiniteOutput(String)
    /// The policy chose an action outside the action space.
    case actionOutOfRange(Int, count: Int)

    public var description: String {
        switch self {
        case .stateLength(let e, let f): return "state has \(f) features, the policy expects \(e)"
        case .nonFiniteState(let i): return "state feature \(i) is not finite"
        case .nonFiniteOutput(let what): return "policy output is not finite: \(what)"
        case .actionOutOfRange(let a, let n): return "policy chose action \(a), the space has \(n)"
        }
    }
}

/// A coalescing policy: maps the state to an action.
///
/// Policies are value types; those with internal state (an RNG, a hold counter)
/// mutate themselves when they decide.
public protocol Policy {
    /// Identity logged in datasets, e.g. `static:rx-usecs=8`, `explore(eps=0.2,base=dim)`.
    var identity: String { get }
    /// Chooses an action.
    mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision
    /// Per-action preferences (e.g. Q-values), higher is better, when the policy has them.
    /// Used by softmax exploration. The default is `nil`.
    func scores(_ context: DecisionContext) throws(PolicyError) -> [Double]?
}

extension Policy {
    public func scores(_ context: DecisionContext) throws(PolicyError) -> [Double]? { nil }
}

/// Always the same action.
public struct StaticPolicy: Policy, Sendable {
    public let action: Int
    public let identity: String

    public init(action: Int, identity: String) {
        self.action = action
        self.identity = identity
    }

    public mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision {
        guard action >= 0, action < context.actionSpace.count else {
            throw .actionOutOfRange(action, count: context.actionSpace.count)
        }
        return Decision(action: action, probability: 1)
    }
}

/// A type-erased policy, so that a CLI can hold "whatever the spec said".
public struct AnyPolicy: Policy {
    private var base: any Policy

    public init(_ base: any Policy) { self.base = base }

    public var identity: String { base.identity }

    public mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision {
        try base.decide(context)
    }

    public func scores(_ context: DecisionContext) throws(PolicyError) -> [Double]? {
        try base.scores(context)
    }
}
