import Testing
@testable import CoalesceCore

/// One row of `e1000_update_itr()`'s transition table.
struct ITRTransition: Sendable, CustomStringConvertible {
    let from: ITRClass
    let packets: Int
    let bytes: Int
    let to: ITRClass
    let why: String

    init(_ from: ITRClass, _ packets: Int, _ bytes: Int, _ to: ITRClass, _ why: String) {
        self.from = from
        self.packets = packets
        self.bytes = bytes
        self.to = to
        self.why = why
    }

    var description: String { "\(from) + \(packets) pkts/\(bytes) B -> \(to) (\(why))" }
}

@Suite("Intel adaptive ITR (e1000e)")
struct ITRTests {
    /// Every branch of e1000_update_itr(), with the boundary on each side of each threshold.
    static let transitions: [ITRTransition] = [
        // lowest_latency
        .init(.lowest, 0, 0, .lowest, "no packets: unchanged"),
        .init(.lowest, 1, 9000, .bulk, "jumbo/TSO: bytes/packet > 8000"),
        .init(.lowest, 1, 8000, .low, "8000 B/packet is not > 8000; < 5 packets and > 512 B"),
        .init(.lowest, 4, 2000, .low, "< 5 packets and > 512 bytes"),
        .init(.lowest, 4, 512, .lowest, "512 bytes is not > 512"),
        .init(.lowest, 5, 7500, .lowest, "5 packets is not < 5"),
        .init(.lowest, 60, 3840, .lowest, "many small packets stay lowest"),
        // low_latency, more than 10000 bytes
        .init(.low, 1, 12000, .bulk, "bytes > 10000 and bytes/packet > 8000"),
        .init(.low, 9, 10800, .bulk, "bytes > 10000 and < 10 packets"),
        .init(.low, 20, 26000, .bulk, "bytes > 10000 and bytes/packet 1300 > 1200"),
        .init(.low, 40, 12000, .lowest, "bytes > 10000, > 35 packets of <= 1200 bytes"),
        .init(.low, 36, 12000, .lowest, "36 packets is > 35"),
        .init(.low, 35, 12000, .low, "35 packets is not > 35"),
        .init(.low, 10, 12000, .low, "10 packets of 1200 bytes: no rule fires"),
        // low_latency, at most 10000 bytes
        .init(.low, 4, 10000, .bulk, "10000 is not > 10000; bytes/packet 2500 > 2000"),
        .init(.low, 5, 10000, .low, "bytes/packet 2000 is not > 2000"),
        .init(.low, 2, 500, .lowest, "<= 2 packets and < 512 bytes"),
        .init(.low, 2, 512, .low, "512 bytes is not < 512"),
        .init(.low, 3, 300, .low, "3 packets is not <= 2"),
        .init(.low, 0, 0, .low, "no packets: unchanged"),
        // bulk_latency
        .init(.bulk, 40, 28000, .low, "bytes > 25000 and > 35 packets"),
        .init(.bulk, 20, 30000, .bulk, "bytes > 25000 but only 20 packets"),
        .init(.bulk, 40, 25000, .bulk, "25000 is not > 25000 and not < 6000"),
        .init(.bulk, 4, 5999, .low, "bytes < 6000"),
        .init(.bulk, 4, 6000, .bulk, "6000 is not < 6000"),
        .init(.bulk, 0, 0, .bulk, "no packets: unchanged"),
    ]

    @Test(arguments: transitions)
    func updateItrTransition(_ t: ITRTransition) {
        #expect(t.from.next(packets: t.packets, bytes: t.bytes) == t.to, "\(t)")
    }

    @Test func classRatesAndOrder() {
        #expect(ITRClass.lowest.interruptsPerSecond == 70_000)
        #expect(ITRClass.low.interruptsPerSecond == 20_000)
        #expect(ITRClass.bulk.interruptsPerSecond == 4_000)
        #expect(ITRClass.lowest < .low && ITRClass.low < .bulk)
        #expect(max(ITRClass.lowest, .bulk) == .bulk)
    }

    @Test func startsAtTwentyThousandWithBothDirectionsLowest() {
        for mode in [ITRMode.dynamic, .conservative] {
            let itr = IntelITR(mode: mode)
            #expect(itr.interruptsPerSecond == 20_000)
            #expect(itr.rxClass == .lowest && itr.txClass == .lowest)
            #expect(itr.itrClass == .low)
            #expect(itr.intervalNs == 50_000)
        }
        #expect(ITRMode.dynamic.ethtoolRxUsecs == 1)
        #expect(ITRMode.conservative.ethtoolRxUsecs == 3)
    }

    @Test func intervalAndRegister() {
        var itr = IntelITR()
        #expect(itr.registerValue == 195) // 1e9 / (20000 * 256)
        #expect(itr.hardwareIntervalNs == 49_920)
        let changed = itr.update(rxPackets: 1, rxBytes: 9000, txPackets: 0, txBytes: 0)
        #expect(changed)
        #expect(itr.interruptsPerSecond == 4_000)
        #expect(itr.intervalNs == 250_000)
        #expect(itr.registerValue == 976)
    }

    @Test func risingRateMovesByQuarterStepsAndFallingRateAtOnce() {
        var itr = IntelITR()
        // Small packets keep rx at lowest: 20000 -> 37500 -> 55000 -> 70000.
        var rates: [UInt32] = []
        for _ in 0..<5 {
            let changed = itr.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
            #expect(changed == (rates.count < 3))
            rates.append(itr.interruptsPerSecond)
        }
        #expect(rates == [37_500, 55_000, 70_000, 70_000, 70_000])
        #expect(itr.itrClass == .lowest)
        // Jumbo frames: straight down to bulk in one interrupt.
        let fell = itr.update(rxPackets: 1, rxBytes: 9000, txPackets: 0, txBytes: 0)
        #expect(fell)
        #expect(itr.interruptsPerSecond == 4_000)
        #expect(itr.itrClass == .bulk)
        // Back to low: 4000 -> 9000 -> 14000 -> 19000 -> 20000 (quarter of the 20000 target per step).
        rates = []
        for _ in 0..<5 {
            _ = itr.update(rxPackets: 4, rxBytes: 4000, txPackets: 0, txBytes: 0)
            rates.append(itr.interruptsPerSecond)
        }
        #expect(rates == [9_000, 14_000, 19_000, 20_000, 20_000])
        #expect(itr.itrClass == .low)
        // From low to lowest the rate also climbs, and a fall to low is immediate.
        _ = itr.update(rxPackets: 1, rxBytes: 100, txPackets: 0, txBytes: 0)
        #expect(itr.itrClass == .lowest)
        #expect(itr.interruptsPerSecond == 37_500)
        _ = itr.update(rxPackets: 1, rxBytes: 100, txPackets: 0, txBytes: 0)
        #expect(itr.interruptsPerSecond == 55_000)
        let fellToLow = itr.update(rxPackets: 2, rxBytes: 3000, txPackets: 0, txBytes: 0)
        #expect(fellToLow)
        #expect(itr.itrClass == .low)
        #expect(itr.interruptsPerSecond == 20_000)
    }

    @Test func everyClassChangeInBothDirections() {
        var itr = IntelITR()
        // lowest -> low
        itr.update(rxPackets: 2, rxBytes: 3000, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .low)
        // low -> bulk
        itr.update(rxPackets: 20, rxBytes: 30000, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .bulk)
        #expect(itr.interruptsPerSecond == 4_000)
        // bulk -> low
        itr.update(rxPackets: 3, rxBytes: 600, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .low)
        // low -> lowest
        itr.update(rxPackets: 40, rxBytes: 12000, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .lowest)
        // lowest -> bulk
        itr.update(rxPackets: 2, rxBytes: 32000, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .bulk)
        #expect(itr.interruptsPerSecond == 4_000)
        // bulk cannot reach lowest directly: it passes through low.
        itr.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .low)
        itr.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
        #expect(itr.rxClass == .lowest)
    }

    @Test func vectorClassIsTheMaximumOfRxAndTx() {
        var itr = IntelITR()
        // rx small packets (lowest), tx large sends (bulk): bulk wins.
        itr.update(rxPackets: 1, rxBytes: 64, txPackets: 1, txBytes: 9000)
        #expect(itr.rxClass == .lowest)
        #expect(itr.txClass == .bulk)
        #expect(itr.itrClass == .bulk)
        #expect(itr.interruptsPerSecond == 4_000)
        // tx goes quiet: its class is kept (no packets, no change), still bulk.
        itr.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
        #expect(itr.itrClass == .bulk)
        // tx small: tx drops to low, the vector follows the larger class.
        itr.update(rxPackets: 1, rxBytes: 64, txPackets: 1, txBytes: 100)
        #expect(itr.txClass == .low)
        #expect(itr.itrClass == .low)
        // rx large, tx small: rx decides now.
        itr.update(rxPackets: 1, rxBytes: 9000, txPackets: 1, txBytes: 100)
        #expect(itr.rxClass == .bulk)
        #expect(itr.txClass == .lowest)
        #expect(itr.itrClass == .bulk)
    }

    @Test func conservativeModeNeverUsesLowest() {
        var itr = IntelITR(mode: .conservative)
        var maxRate: UInt32 = 0
        // Traffic that drives dynamic mode to lowest.
        for _ in 0..<20 {
            itr.update(rxPackets: 1, rxBytes: 64, txPackets: 1, txBytes: 64)
            maxRate = max(maxRate, itr.interruptsPerSecond)
            #expect(itr.rxClass == .low && itr.txClass == .low && itr.itrClass == .low)
        }
        #expect(maxRate == 20_000)
        // Still reaches bulk and comes back to low, never lowest.
        itr.update(rxPackets: 20, rxBytes: 30000, txPackets: 0, txBytes: 0)
        #expect(itr.itrClass == .bulk)
        itr.update(rxPackets: 40, rxBytes: 28000, txPackets: 0, txBytes: 0)
        #expect(itr.itrClass == .low)
        itr.update(rxPackets: 40, rxBytes: 12000, txPackets: 0, txBytes: 0) // low -> lowest in dynamic
        #expect(itr.itrClass == .low)

        var dynamic = IntelITR(mode: .dynamic)
        dynamic.update(rxPackets: 1, rxBytes: 64, txPackets: 1, txBytes: 64)
        #expect(dynamic.itrClass == .lowest)
    }

    @Test func conservativeClampAppliesToTheStoredClassToo() {
        // The clamped class is what the next update starts from. 5 packets of 2400 B:
        // from lowest they stay lowest (not < 5 packets, not jumbo); from low they are
        // > 10000 bytes at > 1200 B/packet, so bulk.
        var conservative = IntelITR(mode: .conservative)
        conservative.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
        #expect(conservative.rxClass == .low)
        conservative.update(rxPackets: 5, rxBytes: 12000, txPackets: 0, txBytes: 0)
        #expect(conservative.rxClass == .bulk)

        var dynamic = IntelITR(mode: .dynamic)
        dynamic.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0)
        #expect(dynamic.rxClass == .lowest)
        dynamic.update(rxPackets: 5, rxBytes: 12000, txPackets: 0, txBytes: 0)
        #expect(dynamic.rxClass == .lowest)
    }

    @Test func noTrafficKeepsTheRate() {
        var itr = IntelITR()
        for _ in 0..<3 { itr.update(rxPackets: 1, rxBytes: 64, txPackets: 0, txBytes: 0) }
        #expect(itr.interruptsPerSecond == 70_000)
        let changed = itr.update(rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0)
        #expect(!changed)
        #expect(itr.interruptsPerSecond == 70_000)
    }

    // MARK: Load steps

    /// What one interrupt sees when packets of `size` bytes arrive at `pps` and
    /// interrupts are throttled to the current rate: at least one packet.
    static func perInterrupt(_ itr: IntelITR, pps: Double, size: Int) -> (packets: Int, bytes: Int) {
        let packets = max(1, Int((pps * Double(itr.intervalNs) * 1e-9).rounded(.up)))
        return (packets, packets * size)
    }

    @Test func loadStepUpLowersTheRateAndStepDownRaisesIt() {
        var itr = IntelITR()
        func run(pps: Double, size: Int, interrupts: Int) -> [UInt32] {
            (0..<interrupts).map { _ in
                let load = Self.perInterrupt(itr, pps: pps, size: size)
                itr.update(rxPackets: load.packets, rxBytes: load.bytes, txPackets: 0, txBytes: 0)
                return itr.interruptsPerSecond
            }
        }
        // Light request traffic (1 kpps of 128 B): the most interrupts.
        let light = run(pps: 1_000, size: 128, interrupts: 10)
        #expect(light.last == 70_000)
        // Step up to 1 Gb/s of full-size frames: fewer interrupts (low class).
        let medium = run(pps: 81_000, size: 1514, interrupts: 10)
        #expect(medium.last == 20_000)
        #expect(itr.itrClass == .low)
        // Step up to jumbo bulk: fewest interrupts.
        let bulk = run(pps: 13_800, size: 9014, interrupts: 10)
        #expect(bulk.last == 4_000)
        #expect(itr.itrClass == .bulk)
        // Step down to light traffic: bulk -> low (target 20000, first step 4000 + 5000),
        // then low -> lowest (target 70000, steps of 17500).
        let back = run(pps: 1_000, size: 128, interrupts: 8)
        #expect(back == [9_000, 26_500, 44_000, 61_500, 70_000, 70_000, 70_000, 70_000])
        #expect(itr.itrClass == .lowest)
    }
}
