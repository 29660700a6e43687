import CoalesceCore
import Testing
@testable import CoalesceSim

/// Builds a bare-metal scenario with one Poisson source.
func poissonScenario(ratePps: Double, bytes: Int = 64, timer: TimerSemantic = .eqe, appNs: Double = 0,
                     cpu: CPUConfig = CPUConfig(), rxRing: Int = 1024) -> Scenario {
    Scenario(name: "test-poisson", description: "test", durationS: 1,
             nic: NICConfig(rxRing: rxRing, timer: timer),
             cpu: cpu, traffic: [TrafficSource(name: "udp", kind: .poisson(ratePps: ratePps), size: .fixed(bytes: bytes), appNs: appNs)])
}

func setting(_ spec: String, layers: Int = 1) throws -> CoalescingSetting {
    try CoalescingSetting.parse(spec, layerCount: layers)
}

func run(_ scenario: Scenario, _ spec: String, seconds: Double, seed: UInt64 = 7) throws -> RunSummary {
    try SimTarget.runStatic(scenario: scenario, setting: setting(spec, layers: scenario.layerCount), seed: seed, seconds: seconds)
}

@Suite("Physics of interrupt moderation")
struct PhysicsTests {
    @Test func eqeInterruptRateIsBoundedByOneOverRxUsecs() throws {
        let s = poissonScenario(ratePps: 300_000)
        for usecs in [20, 50, 100] {
            let r = try run(s, "rx-usecs=\(usecs),rx-frames=0", seconds: 0.2)
            let bound = 1e6 / Double(usecs)
            #expect(r.interruptsPerS <= bound * 1.001, "rx-usecs \(usecs): \(r.interruptsPerS) irq/s > bound \(bound)")
            // At 300 kpps the timer binds: the rate sits close to the bound.
            #expect(r.interruptsPerS >= bound * 0.7, "rx-usecs \(usecs): \(r.interruptsPerS) irq/s, timer should bind")
        }
    }

    @Test func unmoderatedInterruptRateMatchesPacketRateAtLowLoad() throws {
        let r = try run(poissonScenario(ratePps: 5_000), "rx-usecs=0,rx-frames=1", seconds: 0.5)
        let ratio = r.interruptsPerS / r.throughputPps
        #expect(ratio > 0.97 && ratio <= 1.0001, "interrupts per packet \(ratio)")
    }

    @Test func isolatedPacketsWaitRxUsecsUnderEQEButNotUnderThrottling() throws {
        let eqe = poissonScenario(ratePps: 1_000)
        let throttle = poissonScenario(ratePps: 1_000, timer: .throttle)
        let base = try run(eqe, "rx-usecs=0,rx-frames=1", seconds: 0.5).latencyP50Us
        let delayed = try run(eqe, "rx-usecs=50,rx-frames=0", seconds: 0.5).latencyP50Us
        let throttled = try run(throttle, "rx-usecs=50,rx-frames=0", seconds: 0.5).latencyP50Us
        #expect(abs(delayed - base - 50) < 3, "EQE added \(delayed - base) µs, expected ≈ 50")
        #expect(abs(throttled - base) < 3, "throttling added \(throttled - base) µs, expected ≈ 0")
    }

    @Test func latencyGrowsWithRxUsecsAndWithLoadUnderThrottling() throws {
        // Throttling: isolated packets pass at once, so added latency appears only as load rises.
        var addedByLoad: [Double] = []
        for rate in [1_000.0, 20_000, 200_000] {
            let s = poissonScenario(ratePps: rate, timer: .throttle)
            let base = try run(s, "rx-usecs=0,rx-frames=1", seconds: 0.2).latencyP50Us
            var previous = base
            for usecs in [16, 64, 128] {
                let p50 = try run(s, "rx-usecs=\(usecs),rx-frames=0", seconds: 0.2).latencyP50Us
                #expect(p50 >= previous - 0.5, "rate \(rate): p50 \(p50) at rx-usecs \(usecs) below \(previous)")
                previous = p50
            }
            addedByLoad.append(previous - base)
        }
        #expect(addedByLoad[0] < addedByLoad[1] && addedByLoad[1] < addedByLoad[2], "added latency by load: \(addedByLoad)")
    }

    @Test func cpuPerPacketFallsAsCoalescingRises() throws {
        let s = poissonScenario(ratePps: 300_000, bytes: 256)
        var previous = Double.infinity
        for (usecs, frames) in [(0, 1), (8, 16), (32, 64), (128, 256)] {
            let r = try run(s, "rx-usecs=\(usecs),rx-frames=\(frames)", seconds: 0.2)
            #expect(r.cpuNsPerPacket < previous, "rx-usecs \(usecs): \(r.cpuNsPerPacket) ns/packet, not below \(previous)")
            previous = r.cpuNsPerPacket
        }
    }

    @Test func deliveredThroughputCollapsesWithoutCoalescingAboveInterruptCapacity() throws {
        // Per packet: irq 1.5 µs + softirq ~0.45 µs + receive 0.5 µs + app 0.5 µs; one core.
        func delivered(_ rate: Double, _ spec: String) throws -> Double {
            try run(poissonScenario(ratePps: rate, appNs: 500), spec, seconds: 0.1).throughputPps
        }
        let unmoderated = "rx-usecs=0,rx-frames=1"
        let peak = try [200_000.0, 300_000, 400_000].map { try delivered($0, unmoderated) }.max()!
        let overloaded = try delivered(1_500_000, unmoderated)
        #expect(overloaded < 0.75 * peak, "livelock: \(overloaded) pps delivered at 1.5 Mpps vs peak \(peak)")
        // Coalescing keeps the same overload productive.
        let coalesced = try delivered(1_500_000, "rx-usecs=64,rx-frames=64")
        #expect(coalesced > peak, "with coalescing \(coalesced) pps vs unmoderated peak \(peak)")
    }

    @Test func virtualizedLatencyExceedsBareMetalForTheSameTraffic() throws {
        let bare = BuiltinScenarios.named("rpc-low")!
        var virt = bare
        virt.virtualization = VirtualizationConfig(vnicCoalescing: true)
        let spec = "rx-usecs=8,rx-frames=32,tx-usecs=16,tx-frames=32"
        let b = try run(bare, spec, seconds: 0.2)
        let v = try run(virt, spec, seconds: 0.2)
        #expect(v.latencyP50Us > b.latencyP50Us + 10, "virtualized p50 \(v.latencyP50Us) µs vs bare metal \(b.latencyP50Us) µs")
        #expect(v.latencyP99Us > b.latencyP99Us)
        #expect(v.cpuNsPerPacket > b.cpuNsPerPacket)
    }

    @Test func windowLimitedBulkThroughputFallsWithExcessiveRxUsecs() throws {
        let s = Scenario(name: "test-bulk", description: "test", durationS: 1,
                         traffic: [TrafficSource(name: "bulk", kind: .bulk(flows: 1, windowBytes: 32_768), size: .fixed(bytes: 1500))])
        func bytesPerS(_ usecs: Int) throws -> Double {
            try run(s, "rx-usecs=\(usecs),rx-frames=0,tx-usecs=\(usecs),tx-frames=0", seconds: 0.1).throughputBytesPerS
        }
        let moderate = try bytesPerS(4)
        let excessive = try bytesPerS(128)
        #expect(excessive < 0.5 * moderate, "bulk: \(excessive) B/s at rx-usecs 128 vs \(moderate) B/s at 4")
        // The window bound: at most one window per round trip (≥ 2 × wire delay + rx-usecs).
        #expect(excessive <= 32_768 / (138e-6) * 1.05)
    }

    @Test func sameSeedGivesIdenticalOutputAndOtherSeedsDiffer() throws {
        let s = BuiltinScenarios.named("rpc-bulk-mix")!
        func trace(seed: UInt64) throws -> [Sample] {
            var t = try SimTarget(scenario: s, seed: seed)
            var out: [Sample] = []
            for step in 0..<5 {
                try t.advance(intervalNs: 20_000_000)
                if step == 2 { try t.apply(setting("rx-usecs=64,rx-frames=64")) }
                out.append(try t.sample())
            }
            return out
        }
        let a = try trace(seed: 42), b = try trace(seed: 42), c = try trace(seed: 43)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func dimMovesTowardsMoreModerationWhenLoadStepsUp() throws {
        // 10 kpps, then 600 kpps: DIM's EQE profile index should rise on the step.
        var s = poissonScenario(ratePps: 600_000, appNs: 100)
        s.phases = [TrafficPhase(durationS: 0.3, rates: ["udp": 10_000.0 / 600_000]), TrafficPhase(durationS: 0.3, rates: ["udp": 1])]
        var t = try SimTarget(scenario: s, seed: 3)
        try t.apply(setting("adaptive-rx=dim-eqe"))
        t.run(untilNs: 300_000_000)
        let low = t.engine.queues[0].dim!.profileIndex
        t.run(untilNs: 600_000_000)
        let high = t.engine.queues[0].dim!.profileIndex
        #expect(high > low, "DIM profile index \(low) at 10 kpps, \(high) at 600 kpps")
        #expect(t.engine.queues[0].dim!.decisions > 10)
    }

    @Test func itrMovesToBulkClassWhenLargePacketLoadStepsUp() throws {
        // Sparse small packets (lowest latency class), then 200 kpps of 1500-byte packets (bulk class).
        let s = Scenario(name: "test-itr", description: "test", durationS: 1, nic: NICConfig(timer: .throttle), traffic: [
            TrafficSource(name: "small", kind: .poisson(ratePps: 2_000), size: .fixed(bytes: 64)),
            TrafficSource(name: "large", kind: .poisson(ratePps: 200_000), size: .fixed(bytes: 1500)),
        ], phases: [TrafficPhase(durationS: 0.2, rates: ["small": 1]), TrafficPhase(durationS: 0.2, rates: ["large": 1])])
        var t = try SimTarget(scenario: s, seed: 5)
        try t.apply(setting("adaptive-rx=itr"))
        t.run(untilNs: 200_000_000)
        let before = t.engine.queues[0].itr!
        let irqBefore = t.runSummary.interruptsPerS
        t.run(untilNs: 400_000_000)
        let after = t.engine.queues[0].itr!
        #expect(before.interruptsPerSecond > after.interruptsPerSecond,
                "ITR rate \(before.interruptsPerSecond)/s before the step, \(after.interruptsPerSecond)/s after")
        // e1000e alternates low ↔ bulk at this load (bulk → low when > 35 packets per interrupt).
        #expect(before.itrClass == .lowest)
        #expect(after.itrClass > .lowest)
        #expect(irqBefore > 0)
    }

    @Test func cqeTimerRestartedByEveryPacketWaitsForAGapOrTheFrameLimit() throws {
        // 200 kpps (mean gap 5 µs), rx-usecs 20: EQE fires every ~20 µs; CQE only after a
        // 20 µs gap (rare) or 64 packets.
        let eqe = try run(poissonScenario(ratePps: 200_000), "rx-usecs=20,rx-frames=64", seconds: 0.2)
        let cqe = try run(poissonScenario(ratePps: 200_000, timer: .cqe), "rx-usecs=20,rx-frames=64", seconds: 0.2)
        #expect(eqe.interruptsPerS > 35_000 && eqe.interruptsPerS <= 50_000, "EQE \(eqe.interruptsPerS) irq/s")
        #expect(cqe.interruptsPerS < eqe.interruptsPerS / 3, "CQE \(cqe.interruptsPerS) vs EQE \(eqe.interruptsPerS) irq/s")
        #expect(cqe.latencyP50Us > eqe.latencyP50Us)
    }

    @Test func napiDeferHardIrqsKeepsPollingOnTheFlushTimer() throws {
        // napi_defer_hard_irqs 2 + gro_flush_timeout 50 µs: after a poll with work, the IRQ
        // stays masked and a timer re-polls, so interrupts almost vanish at steady load.
        let s = poissonScenario(ratePps: 100_000)
        let plain = try run(s, "rx-usecs=0,rx-frames=1", seconds: 0.2)
        let deferred = try run(s, "rx-usecs=0,rx-frames=1,napi-defer-hard-irqs=2,gro-flush-timeout=50000", seconds: 0.2)
        #expect(deferred.interruptsPerS < plain.interruptsPerS / 10, "\(deferred.interruptsPerS) vs \(plain.interruptsPerS) irq/s")
        #expect(deferred.throughputPps > 0.99 * plain.throughputPps)
        // Packets wait for the next timer poll: at most ~50 µs more.
        #expect(deferred.latencyP50Us > plain.latencyP50Us + 10 && deferred.latencyP99Us < plain.latencyP99Us + 60)
    }

    @Test func livelockedSoftirqStarvesTheApplicationWithoutKsoftirqd() throws {
        var cpu = CPUConfig()
        cpu.ksoftirqd = false
        let strict = try run(poissonScenario(ratePps: 2_500_000, appNs: 500, cpu: cpu), "rx-usecs=0,rx-frames=1", seconds: 0.05)
        let shared = try run(poissonScenario(ratePps: 2_500_000, appNs: 500), "rx-usecs=0,rx-frames=1", seconds: 0.05)
        #expect(strict.throughputPps <= shared.throughputPps)
        #expect(shared.drops > 0 && strict.drops > 0)
    }
}
