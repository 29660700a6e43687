/// Settings of one control loop run.
public struct ControlLoopConfig: Sendable {
    /// Control interval, ns.
    public var intervalNs: UInt64
    /// The objective the rewards are computed under.
    public var objective: Objective
    /// The actions the policy chooses among.
    public var actionSpace: ActionSpace
    /// Safety limits.
    public var guardConfig: GuardConfig
    /// Episode identifier written in dataset rows (no commas).
    public var episode: String

    public init(intervalNs: UInt64, objective: Objective, actionSpace: ActionSpace,
                guardConfig: GuardConfig = .permissive, episode: String) {
        self.intervalNs = intervalNs
        self.objective = objective
        self.actionSpace = actionSpace
        self.guardConfig = guardConfig
        self.episode = episode
    }
}

/// One control step: the observation and state at the end of an interval, the
/// action taken on it, and the reward measured over the interval that followed.
/// This is exactly one dataset row.
public struct StepRecord: Sendable {
    public var episode: String
    public var step: Int
    public var observation: Observation
    public var state: [Float]
    /// The action in effect before this step's decision (nil when outside the space).
    public var previousAction: Int?
    /// The action in effect after this step's decision.
    public var action: Int
    /// π_b(action | state) of the behaviour (policy + guard). 1 when the guard decided.
    public var probability: Double
    public var policy: String
    /// Set when the guard changed or held back the policy's proposal.
    public var guardReason: GuardReason?
    /// Measured over the interval after the action.
    public var components: RewardComponents
    public var reward: Double
    /// Ground truth over the interval after the action (simulator only).
    public var truth: GroundTruth?
    /// Packets dropped during the interval after the action: the simulator's ground truth,
    /// else the host's drop counters (the same count `components.dropFraction` is made of).
    public var droppedPackets: UInt64 = 0
    /// The process ended (never set by the loop: hosts keep running).
    public var terminal: Bool
    /// The episode ends here without a next state (run length, or a stale sample).
    public var timeout: Bool
}

/// Totals of one run of the loop.
public struct LoopSummary: Sendable {
    public var steps = 0
    public var changes = 0
    public var totalReward = 0.0
    public var fallbacks: [GuardReason: Int] = [:]
    /// Errors the target returned when a setting was applied (interface, reason).
    public var applyErrors: [String] = []
}

/// The one control loop behind every role: the collector (exploring policy,
/// recording), the agent (model policy), and A/B runs. Generic over the target,
/// so the loop tested in the simulator is the loop that runs on hosts.
///
/// Each step: advance one interval → sample → features → policy → guard → apply
/// (only when the chosen setting differs from the one in effect) → once the next
/// interval has been measured, emit the step's `StepRecord`.
public struct ControlLoop<T: Target, P: Policy> {
    public var target: T
    public var policy: P
    public let config: ControlLoopConfig
    /// `config.actionSpace`, extended with the setting found at start when the
    /// space does not contain it (that setting is the fallback).
    public let actionSpace: ActionSpace
    /// The setting in effect when the loop started.
    public private(set) var initialSetting: CoalescingSetting?
    private var extractor = FeatureExtractor()
    private var guardrail: Guard
    private var current: Int?
    private var pending: StepRecord?
    private var step = 0
    private var summary = LoopSummary()
    private var segment = 0
    private var space: ActionSpace

    public init(target: T, policy: P, config: ControlLoopConfig) {
        self.target = target
        self.policy = policy
        self.config = config
        self.actionSpace = config.actionSpace
        self.space = config.actionSpace
        self.guardrail = Guard(config: config.guardConfig)
    }

    /// Runs `steps` decisions (and one more interval to measure the last one),
    /// handing each completed record to `onRecord`. `shouldStop` is polled every
    /// interval (signals). Returns the run's totals.
    public mutating func run(
        steps: Int, onRecord: (StepRecord) throws -> Void = { _ in }, shouldStop: () -> Bool = { false }
    ) throws -> LoopSummary {
        try begin()
        for _ in 0..<steps {
            if shouldStop() { break }
            try step(onRecord: onRecord)
        }
        try finish(measureLast: !shouldStop(), onRecord: onRecord)
        return summary
    }

    /// Takes the first sample and remembers the setting in effect (the fallback).
    /// Called by `run`; call it yourself when driving the loop step by step.
    public mutating func begin() throws {
        guard initialSetting == nil else { return }
        let first = try target.sample()
        initialSetting = first.observation.setting
        _ = extractor.next(first.observation)
        space = recordedActionSpace
        current = space.index(of: first.observation.setting)
    }

    /// One control step: advance, sample, decide, guard, apply; emits the previous
    /// step's record once this interval has measured it.
    public mutating func step(onRecord: (StepRecord) throws -> Void = { _ in }) throws {
        try stepOnce(space: space, decide: true, onRecord: onRecord)
    }

    /// Ends the episode: optionally measures the last decision's interval, then
    /// emits the last record with `timeout` set. Returns the totals.
    @discardableResult
    public mutating func finish(measureLast: Bool = true, onRecord: (StepRecord) throws -> Void = { _ in }) throws -> LoopSummary {
        if pending != nil && measureLast { try stepOnce(space: space, decide: false, onRecord: onRecord) }
        if var last = pending {
            last.timeout = true
            try emit(last, onRecord)
            pending = nil
        }
        return summary
    }

    /// Totals so far.
    public var totals: LoopSummary { summary }

    private mutating func emit(_ record: StepRecord, _ onRecord: (StepRecord) throws -> Void) throws {
        summary.totalReward += record.reward
        try onRecord(record)
    }

    private mutating func stepOnce(space: ActionSpace, decide: Bool, onRecord: (StepRecord) throws -> Void) throws {
        try target.advance(intervalNs: config.intervalNs)
        let sample = try target.sample()
        let observation = sample.observation
        let features = extractor.next(observation)

        // Complete the previous step's record with what this interval measured.
        if var prev = pending, let f = features {
            prev.timeout = !decide
            prev.components = RewardComponents(
                metrics: f.metrics, truth: sample.truth, changed: prev.previousAction != prev.action)
            prev.reward = config.objective.reward(prev.components)
            prev.truth = sample.truth
            prev.droppedPackets = sample.truth?.droppedPackets ?? f.metrics.drops
            try emit(prev, onRecord)
            pending = nil
        } else if var prev = pending {
            // No usable measurement: the episode segment ends without a next state.
            prev.timeout = true
            try emit(prev, onRecord)
            pending = nil
        }
        guard decide else { return }

        var proposal: Decision?
        if let f = features {
            let context = DecisionContext(
                step: step, state: f.state, observation: observation, currentAction: current, actionSpace: space)
            proposal = try? policy.decide(context)
            if let p = proposal, p.action < 0 || p.action >= space.count { proposal = nil }
        }
        let verdict = guardrail.review(
            proposed: proposal?.action, current: current, metrics: features?.metrics, state: features?.state,
            nowNs: observation.timestampNs, actionSpace: space)
        if verdict.isFallback, let r = verdict.reason { summary.fallbacks[r, default: 0] += 1 }
        let fallbackAction = initialSetting.flatMap { space.index(of: $0) }
        let chosen = verdict.action ?? fallbackAction ?? current ?? 0
        let previous = current
        if chosen != current {
            do {
                try target.apply(space.settings[chosen])
                guardrail.noteChange(at: observation.timestampNs)
                current = chosen
                summary.changes += 1
            } catch {
                summary.applyErrors.append("\(target.name): \(error)")
                if verdict.isFallback { throw error }
            }
        }
        summary.steps += 1
        defer { step += 1 }
        guard let f = features else {
            segment += 1
            return
        }
        // A fallback or a dwell hold is deterministic given the history: π_b = 1. Otherwise
        // the policy's own probability (also when the guard clipped or refused it: approximate).
        let probability = verdict.isFallback || verdict.reason == .dwell ? 1 : (proposal?.probability ?? 1)
        pending = StepRecord(
            episode: segment == 0 ? config.episode : "\(config.episode).\(segment)", step: step,
            observation: observation, state: f.state, previousAction: previous, action: current ?? chosen,
            probability: probability, policy: policy.identity, guardReason: verdict.reason,
            components: RewardComponents(latencyP99Us: nil, cpuBusy: 0, cpuPerPacketUs: 0, dropFraction: 0,
                                         backlogFraction: 0, changed: 0, throughputPps: 0, interruptsPerS: 0),
            reward: 0, truth: nil, terminal: false, timeout: false)
    }

    /// The action space records refer to (the configured one, plus the start setting if it was absent).
    public var recordedActionSpace: ActionSpace {
        guard let initial = initialSetting, actionSpace.index(of: initial) == nil else { return actionSpace }
        return (try? actionSpace.extended(with: [initial])) ?? actionSpace
    }

    /// Puts the setting found at start back in effect.
    public mutating func restoreInitialSetting() throws {
        if let s = initialSetting { try target.apply(s) }
    }
}
