@testable import CoalesceCore

/// A scripted stand-in for a host, used only to test the control loop's logic
/// (ordering, guard, records). A mock is right here: the loop's contract is what is
/// under test, and the real targets (simulator, Linux host) have their own suites.
/// Counters grow by a rate that depends on the rx-usecs in effect.
struct ScriptedTarget: Target {
    var layerCount = 1
    var name = "scripted"
    var now: UInt64 = 1_000_000_000
    var setting = ActionSpace.bareMetal.settings[0]
    var rx: UInt64 = 0
    var irq: UInt64 = 0
    var busy: UInt64 = 0
    var idle: UInt64 = 0
    var applied: [CoalescingSetting] = []
    /// When set, `advance` does not move the clock (a stale sample).
    var freezeClockAtStep: Int?
    var steps = 0
    /// When set, the next sample reports a counter reset.
    var resetAtStep: Int?
    /// Packets dropped per interval while rx-usecs is 0 (interrupt overload), else none.
    var dropsPerIntervalUnmoderated: UInt64 = 0
    var dropped: UInt64 = 0

    mutating func advance(intervalNs: UInt64) throws {
        steps += 1
        if freezeClockAtStep != steps { now += intervalNs }
        let packets: UInt64 = 10_000
        rx += packets
        let usecs = UInt64(setting.layers[0].rxUsecs)
        irq += usecs == 0 ? packets : min(packets, 100_000 / usecs)
        busy += 10_000_000 + (usecs == 0 ? 20_000_000 : 2_000_000)
        idle += 50_000_000
        if usecs == 0 { dropped += dropsPerIntervalUnmoderated }
        if resetAtStep == steps { rx = 5; irq = 1 }
    }

    mutating func sample() throws -> Sample {
        let usecs = Double(setting.layers[0].rxUsecs)
        let latency = LatencySummary(count: 100, p50Ns: UInt64(10_000 + usecs * 500), p99Ns: UInt64(20_000 + usecs * 1000),
                                     p999Ns: UInt64(30_000 + usecs * 1000), maxNs: UInt64(40_000 + usecs * 1000))
        let o = Observation(timestampNs: now, rxPackets: rx, rxBytes: rx * 100, rxMissed: dropped, interrupts: [irq],
                            cpu: CPUTimes(userNs: 0, systemNs: busy, irqNs: 0, softirqNs: 0, idleNs: idle),
                            latency: latency, setting: setting)
        return Sample(observation: o)
    }

    mutating func apply(_ setting: CoalescingSetting) throws {
        self.setting = setting
        applied.append(setting)
    }
}
