import Testing
@testable import CoalesceCore

@Suite("Guard rules")
struct GuardTests {
    let space = ActionSpace.bareMetal
    func metrics(p99Us: UInt64 = 50, reset: Bool = false, seconds: Double = 0.1) -> IntervalMetrics {
        let s = space.settings[0]
        let a = Observation(timestampNs: 1_000_000_000, rxPackets: reset ? 1_000_000_000_000 : 0, setting: s)
        let lat = LatencySummary(count: 10, p50Ns: 1000, p99Ns: p99Us * 1000, p999Ns: p99Us * 1000, maxNs: p99Us * 1000)
        let b = Observation(timestampNs: 1_000_000_000 + UInt64(seconds * 1e9), rxPackets: 10, latency: lat, setting: s)
        return IntervalMetrics(previous: a, current: b)!
    }
    let state = [Float](repeating: 0, count: FeatureExtractor.count)

    @Test func acceptsAnAllowedProposal() {
        var g = Guard(config: GuardConfig(allowed: [0, 3]))
        let v = g.review(proposed: 3, current: 0, metrics: metrics(), state: state, nowNs: 1, actionSpace: space)
        #expect(v.action == 3 && v.reason == nil)
    }

    @Test func refusesActionsOutsideTheAllowedSet() {
        var g = Guard(config: GuardConfig(allowed: [0, 3]))
        let v = g.review(proposed: 5, current: 0, metrics: metrics(), state: state, nowNs: 1, actionSpace: space)
        #expect(v.action == 0 && v.reason == .notAllowed)
    }

    @Test func enforcesMinimumDwell() {
        var g = Guard(config: GuardConfig(minDwellNs: 1_000_000_000))
        g.noteChange(at: 10_000_000_000)
        let held = g.review(proposed: 4, current: 2, metrics: metrics(), state: state, nowNs: 10_500_000_000, actionSpace: space)
        #expect(held.action == 2 && held.reason == .dwell)
        let later = g.review(proposed: 4, current: 2, metrics: metrics(), state: state, nowNs: 11_000_000_000, actionSpace: space)
        #expect(later.action == 4 && later.reason == nil)
    }

    @Test func limitsStepsBetweenStaticSettingsOnly() {
        var g = Guard(config: GuardConfig(maxStep: 2))
        let v = g.review(proposed: 9, current: 1, metrics: metrics(), state: state, nowNs: 1, actionSpace: space)
        #expect(v.action == 3 && v.reason == .maxStep)
        let adaptive = g.review(proposed: 12, current: 1, metrics: metrics(), state: state, nowNs: 1, actionSpace: space)
        #expect(adaptive.action == 12)
    }

    @Test func fallsBackOnStaleInconsistentOrFailed() {
        var g = Guard(config: GuardConfig(fallbackAction: 0, maxSampleIntervalNs: 200_000_000))
        #expect(g.review(proposed: 3, current: 3, metrics: nil, state: nil, nowNs: 1, actionSpace: space).reason == .staleSample)
        #expect(g.review(proposed: 3, current: 3, metrics: metrics(seconds: 1), state: state, nowNs: 1, actionSpace: space).reason == .staleSample)
        #expect(g.review(proposed: 3, current: 3, metrics: metrics(reset: true), state: state, nowNs: 1, actionSpace: space).reason == .inconsistentSample)
        var nan = state
        nan[2] = .nan
        #expect(g.review(proposed: 3, current: 3, metrics: metrics(), state: nan, nowNs: 1, actionSpace: space).reason == .inconsistentSample)
        let failed = g.review(proposed: nil, current: 3, metrics: metrics(), state: state, nowNs: 1, actionSpace: space)
        #expect(failed.reason == .policyFailed && failed.action == 0 && failed.isFallback)
    }

    @Test func sloBreachStreakTriggersAndHoldsTheFallback() {
        var g = Guard(config: GuardConfig(fallbackAction: 0, sloP99Us: 100, sloBreachIntervals: 3, fallbackHoldIntervals: 2))
        for _ in 0..<2 {
            #expect(g.review(proposed: 5, current: 5, metrics: metrics(p99Us: 500), state: state, nowNs: 1, actionSpace: space).reason == nil)
        }
        #expect(g.review(proposed: 5, current: 5, metrics: metrics(p99Us: 500), state: state, nowNs: 1, actionSpace: space).reason == .sloBreached)
        #expect(g.review(proposed: 5, current: 0, metrics: metrics(p99Us: 20), state: state, nowNs: 1, actionSpace: space).reason == .sloBreached)
        #expect(g.review(proposed: 5, current: 0, metrics: metrics(p99Us: 20), state: state, nowNs: 1, actionSpace: space).reason == .sloBreached)
        #expect(g.review(proposed: 5, current: 0, metrics: metrics(p99Us: 20), state: state, nowNs: 1, actionSpace: space).reason == nil)
    }

    /// One interval with the given CPU busy fraction and drops.
    func loaded(busy: Double, drops: UInt64) -> IntervalMetrics {
        let s = space.settings[0]
        let a = Observation(timestampNs: 1_000_000_000, setting: s)
        let busyNs = UInt64(busy * 100_000_000)
        let b = Observation(timestampNs: 1_100_000_000, rxPackets: 50_000, rxDropped: drops,
                            cpu: CPUTimes(softirqNs: busyNs, idleNs: 100_000_000 - busyNs), setting: s)
        return IntervalMetrics(previous: a, current: b)!
    }

    @Test func underOverloadLessModerationIsHeldBackButMoreIsAllowed() {
        var g = Guard(config: GuardConfig(overloadCPUFraction: 0.95))
        // Saturated and dropping: 4 (rx-usecs 16) → 1 (rx-usecs 2) is held, → 8 (rx-usecs 64) passes.
        let held = g.review(proposed: 1, current: 4, metrics: loaded(busy: 0.99, drops: 500), state: state, nowNs: 1, actionSpace: space)
        #expect(held.action == 4 && held.reason == .overload && !held.isFallback)
        let up = g.review(proposed: 8, current: 4, metrics: loaded(busy: 0.99, drops: 500), state: state, nowNs: 1, actionSpace: space)
        #expect(up.action == 8 && up.reason == nil)
        // The software-IRQ setting (rx-usecs 8 + 50 µs GRO flush timer with deferred IRQs)
        // counts as 58 µs of moderation: leaving it for rx-usecs 32 is held, for 64 is not.
        let software = space.settings.firstIndex { $0.layers[0].napiDeferHardIrqs > 0 }!
        #expect(g.review(proposed: 6, current: software, metrics: loaded(busy: 1, drops: 1), state: state, nowNs: 1,
                         actionSpace: space).reason == .overload)
        #expect(g.review(proposed: 8, current: software, metrics: loaded(busy: 1, drops: 1), state: state, nowNs: 1,
                         actionSpace: space).reason == nil)
        // Adaptive settings have no fixed moderation: the rule does not apply to them.
        let dim = space.settings.firstIndex { $0.layers[0].adaptiveRx != .off }!
        #expect(g.review(proposed: dim, current: 4, metrics: loaded(busy: 1, drops: 1), state: state, nowNs: 1,
                         actionSpace: space).reason == nil)
    }

    @Test func withoutDropsOrBelowTheCPULimitOrWhenOffTheOverloadRuleIsSilent() {
        var on = Guard(config: GuardConfig(overloadCPUFraction: 0.95))
        #expect(on.review(proposed: 1, current: 4, metrics: loaded(busy: 0.99, drops: 0), state: state, nowNs: 1, actionSpace: space).action == 1)
        #expect(on.review(proposed: 1, current: 4, metrics: loaded(busy: 0.80, drops: 900), state: state, nowNs: 1, actionSpace: space).action == 1)
        var off = Guard(config: GuardConfig())
        #expect(off.review(proposed: 1, current: 4, metrics: loaded(busy: 1, drops: 900), state: state, nowNs: 1, actionSpace: space).action == 1)
    }
}
