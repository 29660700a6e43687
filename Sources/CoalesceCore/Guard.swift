/// Why the guard replaced or held back a policy's proposal.
public enum GuardReason: String, Sendable, Hashable, CaseIterable {
    /// The proposal is not in the allowed set (model space ∩ what the device accepts).
    case notAllowed = "not_allowed"
    /// The last change was less than the minimum dwell time ago.
    case dwell
    /// The proposal is further from the current action than `maxStep`; moved one bounded step instead.
    case maxStep = "max_step"
    /// The sample is older than allowed, or time did not advance.
    case staleSample = "stale_sample"
    /// The sample is inconsistent (counter reset, non-finite state).
    case inconsistentSample = "inconsistent_sample"
    /// The policy failed to decide.
    case policyFailed = "policy_failed"
    /// The latency SLO was breached for too many intervals in a row.
    case sloBreached = "slo_breached"
    /// The core was saturated and dropping packets; a move to less interrupt moderation was held back.
    case overload
}

/// Safety limits around any policy.
public struct GuardConfig: Sendable, Hashable {
    /// Allowed action ids; nil allows the whole space.
    public var allowed: Set<Int>?
    /// Minimum time between two changes, ns.
    public var minDwellNs: UInt64
    /// Largest move in action-id order per change; nil = unlimited. Only applies when
    /// both actions are static settings (adaptive actions can always be entered and left).
    public var maxStep: Int?
    /// The action used on fallback; nil keeps the setting found at start (the loop
    /// restores it through `ControlLoop`).
    public var fallbackAction: Int?
    /// A sample whose interval exceeds this many ns is stale.
    public var maxSampleIntervalNs: UInt64
    /// p99 latency, µs, above which an interval counts as an SLO breach; nil = no SLO check.
    public var sloP99Us: Double?
    /// Consecutive breaching intervals that trigger the fallback.
    public var sloBreachIntervals: Int
    /// Intervals to stay on the fallback after an SLO trigger before the policy may act again.
    public var fallbackHoldIntervals: Int
    /// Overload rule: when the last interval's CPU busy fraction was at least this and
    /// packets were dropped, a proposal with less interrupt moderation than the setting in
    /// effect (`moderationUs`) is held back. Fewer interrupts is the only way out of an
    /// interrupt livelock; a learned policy that has never seen one may propose the opposite.
    /// nil = off.
    public var overloadCPUFraction: Double?

    public init(allowed: Set<Int>? = nil, minDwellNs: UInt64 = 0, maxStep: Int? = nil, fallbackAction: Int? = nil,
                maxSampleIntervalNs: UInt64 = UInt64.max, sloP99Us: Double? = nil, sloBreachIntervals: Int = 3,
                fallbackHoldIntervals: Int = 10, overloadCPUFraction: Double? = nil) {
        self.allowed = allowed
        self.minDwellNs = minDwellNs
        self.maxStep = maxStep
        self.fallbackAction = fallbackAction
        self.maxSampleIntervalNs = maxSampleIntervalNs
        self.sloP99Us = sloP99Us
        self.sloBreachIntervals = sloBreachIntervals
        self.fallbackHoldIntervals = fallbackHoldIntervals
        self.overloadCPUFraction = overloadCPUFraction
    }

    /// No limits: the policy's choice is applied as is.
    public static let permissive = GuardConfig()
}

/// The guard's ruling on one proposal.
public struct GuardVerdict: Sendable, Hashable {
    /// The action to put in effect; nil means "the fallback setting found at start".
    public var action: Int?
    /// Why the proposal was not applied as is; nil when it was.
    public var reason: GuardReason?
    /// True when `action` is the fallback.
    public var isFallback: Bool
}

/// Reviews each proposal: allowed set, minimum dwell, maximum step, and fallback on
/// stale or inconsistent data, policy failure, or a breached latency SLO.
public struct Guard: Sendable {
    public var config: GuardConfig
    private var lastChangeNs: UInt64?
    private var breachStreak = 0
    private var holdLeft = 0

    public init(config: GuardConfig) { self.config = config }

    /// Records that the setting changed at `timestampNs` (for the dwell rule).
    public mutating func noteChange(at timestampNs: UInt64) { lastChangeNs = timestampNs }

    /// The fallback verdict for `reason`.
    public func fallback(_ reason: GuardReason) -> GuardVerdict {
        GuardVerdict(action: config.fallbackAction, reason: reason, isFallback: true)
    }

    /// Rules on `proposed` (nil when the policy failed) given the current action,
    /// the interval's metrics and the time now.
    public mutating func review(
        proposed: Int?, current: Int?, metrics: IntervalMetrics?, state: [Float]?, nowNs: UInt64,
        actionSpace: ActionSpace
    ) -> GuardVerdict {
        guard let m = metrics, let s = state else { return fallback(.staleSample) }
        if UInt64(m.seconds * 1e9) > config.maxSampleIntervalNs { return fallback(.staleSample) }
        if s.contains(where: { !$0.isFinite }) || m.counterEvents.contains(where: { $0.hasSuffix(":reset") }) {
            return fallback(.inconsistentSample)
        }
        if let slo = config.sloP99Us, let lat = m.latency, lat.count > 0 {
            breachStreak = Double(lat.p99Ns) / 1000 > slo ? breachStreak + 1 : 0
            if breachStreak >= config.sloBreachIntervals {
                breachStreak = 0
                holdLeft = config.fallbackHoldIntervals
                return fallback(.sloBreached)
            }
        }
        if holdLeft > 0 {
            holdLeft -= 1
            return fallback(.sloBreached)
        }
        guard var action = proposed else { return fallback(.policyFailed) }
        if let allowed = config.allowed, !allowed.contains(action) {
            return GuardVerdict(action: current, reason: .notAllowed, isFallback: false)
        }
        guard let cur = current, action != cur else { return GuardVerdict(action: action, reason: nil, isFallback: false) }
        if let limit = config.overloadCPUFraction, m.cpuBusyFraction >= limit, m.drops > 0,
           let proposed = Self.moderationUs(action, actionSpace), let inEffect = Self.moderationUs(cur, actionSpace),
           proposed < inEffect {
            return GuardVerdict(action: cur, reason: .overload, isFallback: false)
        }
        if let last = lastChangeNs, nowNs &- last < config.minDwellNs {
            return GuardVerdict(action: cur, reason: .dwell, isFallback: false)
        }
        var reason: GuardReason?
        if let step = config.maxStep, Self.isStatic(action, actionSpace), Self.isStatic(cur, actionSpace),
           abs(action - cur) > step {
            action = cur + (action > cur ? step : -step)
            reason = .maxStep
        }
        return GuardVerdict(action: action, reason: reason, isFallback: false)
    }

    /// How long a static setting lets packets wait before interrupting, summed over layers:
    /// rx-usecs, plus the GRO flush timeout when hard IRQs are deferred (NAPI then polls on
    /// that timer instead of taking interrupts). nil for adaptive settings, whose moderation
    /// is not fixed.
    static func moderationUs(_ action: Int, _ space: ActionSpace) -> Double? {
        guard isStatic(action, space) else { return nil }
        return space.settings[action].layers.reduce(0.0) { total, l in
            total + Double(l.rxUsecs) + (l.napiDeferHardIrqs > 0 ? Double(l.groFlushTimeoutNs) / 1000 : 0)
        }
    }

    static func isStatic(_ action: Int, _ space: ActionSpace) -> Bool {
        space.settings[action].layers.allSatisfy { $0.adaptiveRx == .off && $0.adaptiveTx == .off }
    }
}
