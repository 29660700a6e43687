import Testing
@testable import CoalesceCore

@Suite("Counter deltas never go negative")
struct CounterDeltaTests {
    @Test func normalGrowthIsTheDifference() {
        let d = CounterDelta(previous: 100, current: 250)
        #expect(d.value == 150 && d.event == .normal)
    }

    @Test func thirtyTwoBitWrapIsDetected() {
        let d = CounterDelta(previous: UInt64(UInt32.max) - 9, current: 20)
        #expect(d.event == .wrapped32)
        #expect(d.value == 30)
    }

    @Test func decreaseOfAWideCounterIsAReset() {
        let d = CounterDelta(previous: 10_000_000_000, current: 42)
        #expect(d.event == .reset)
        #expect(d.value == 42)
    }

    @Test func implausibleWrapIsAReset() {
        // 1000 → 10 cannot be a wrap (it would mean ~4 billion events): a reset.
        let d = CounterDelta(previous: 1000, current: 10)
        #expect(d.event == .reset && d.value == 10)
    }

    @Test func intervalMetricsReportResetsByName() {
        let s = CoalescingSetting(uniform: .unmoderated)
        let a = Observation(timestampNs: 1_000, rxPackets: 5_000_000_000, interrupts: [10], setting: s)
        let b = Observation(timestampNs: 1_001_000, rxPackets: 7, interrupts: [20], setting: s)
        let m = IntervalMetrics(previous: a, current: b)!
        #expect(m.rxPackets == 7)
        #expect(m.counterEvents == ["rx_packets:reset"])
        #expect(m.rxPacketsPerSecond >= 0)
    }

    @Test func repeatedTimestampGivesNoMetrics() {
        let s = CoalescingSetting(uniform: .unmoderated)
        let a = Observation(timestampNs: 1_000, setting: s)
        #expect(IntervalMetrics(previous: a, current: a) == nil)
    }
}
