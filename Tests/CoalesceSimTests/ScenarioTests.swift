import CoalesceCore
import Foundation
import Testing
@testable import CoalesceSim

@Suite("Scenario files and built-ins")
struct ScenarioTests {
    func error(_ json: String, source: String = "web.json") -> String? {
        do { _ = try Scenario.decode(json: json, source: source); return nil } catch { return error.description }
    }

    @Test func invalidFieldErrorsNameTheFileAndTheField() {
        let json = """
        {"name": "web", "traffic": [
          {"kind": "poisson", "rate_pps": 1000},
          {"kind": "poisson", "name": "b", "rate_pps": 5},
          {"kind": "poisson", "name": "c", "rate_pps": 0}
        ]}
        """
        #expect(error(json) == "web.json: traffic[2].rate_pps: must be > 0")
    }

    @Test func unknownKeysAreErrors() {
        #expect(error(#"{"name": "x", "traffic": [{"kind": "poisson", "rate_pps": 1}], "colour": 1}"#)
                == "web.json: colour: unknown field")
        #expect(error(#"{"name": "x", "nic": {"queues": 2, "ringsize": 4}, "traffic": [{"kind": "poisson", "rate_pps": 1}]}"#)
                == "web.json: nic.ringsize: unknown field")
        #expect(error(#"{"name": "x", "traffic": [{"kind": "poisson", "rate_pps": 1, "sise": {}}]}"#)
                == "web.json: traffic[0].sise: unknown field")
    }

    @Test func wrongTypesMissingFieldsAndBadEnumsAreNamed() {
        #expect(error(#"{"traffic": [{"kind": "poisson", "rate_pps": 1}]}"#) == "web.json: name: is required")
        #expect(error(#"{"name": "x", "duration_s": "long", "traffic": [{"kind": "poisson", "rate_pps": 1}]}"#)
                == "web.json: duration_s: must be a number, found a string")
        #expect(error(#"{"name": "x", "nic": {"timer": "fast"}, "traffic": [{"kind": "poisson", "rate_pps": 1}]}"#)
                == "web.json: nic.timer: must be one of eqe, cqe, throttle, found 'fast'")
        #expect(error(#"{"name": "x", "traffic": [{"kind": "poisson", "rate_pps": 1, "size": {"kind": "bimodal", "p_small": 2}}]}"#)
                == "web.json: traffic[0].size.p_small: must be between 0 and 1")
        #expect(error(#"{"name": "x", "traffic": [{"kind": "poisson", "name": "a", "rate_pps": 1}], "phases": [{"duration_s": 1, "rates": {"b": 1}}]}"#)
                == "web.json: phases[0].rates.b: no traffic source is named 'b'")
        #expect(error(#"{"name": "x", "initial_setting": "rx-usecs=fast", "traffic": [{"kind": "poisson", "rate_pps": 1}]}"#)
                == "web.json: initial_setting: invalid value 'fast' for 'rx-usecs'")
        #expect(error("{not json", source: "bad.json")?.hasPrefix("bad.json: not valid JSON") == true)
    }

    @Test func defaultsApplyWhenFieldsAreOmitted() throws {
        let s = try Scenario.decode(json: #"{"name": "x", "traffic": [{"kind": "poisson", "rate_pps": 1000}]}"#, source: "x.json")
        #expect(s.durationS == 10 && s.intervalMs == 100 && s.split == .train)
        #expect(s.nic == NICConfig() && s.cpu == CPUConfig() && s.virtualization == nil)
        #expect(s.traffic[0].size == .fixed(bytes: 64) && s.traffic[0].flows == 64)
        #expect(s.layerCount == 1)
    }

    @Test func everyBuiltinRoundTripsThroughJSONAndValidates() throws {
        for s in BuiltinScenarios.all {
            let text = try s.jsonText()
            let back = try Scenario.decode(json: text, source: "\(s.name).json")
            #expect(back == s, "\(s.name) does not round-trip")
            _ = try s.parsedInitialSetting()
        }
    }

    @Test func builtinsCoverTheRequiredKindsWithAboutAThirdHeldOut() throws {
        let all = BuiltinScenarios.all
        #expect(all.count >= 12)
        #expect(Set(all.map(\.name)).count == all.count)
        for s in all { #expect(!s.description.isEmpty && !s.description.contains("\n")) }
        let holdout = all.filter { $0.split == .holdout }
        #expect(holdout.count * 4 >= all.count && holdout.count * 2 <= all.count)
        #expect(holdout.contains { $0.virtualization != nil })
        // regime-switch trains (issue #3 records on it); each layer count has a training scenario.
        #expect(BuiltinScenarios.named("regime-switch")?.split == .train)
        for layers in [1, 2] { #expect(all.contains { $0.layerCount == layers && $0.split == .train }) }
        #expect(all.contains { $0.virtualization != nil && $0.layerCount == 1 })
        #expect(all.contains { $0.virtualization != nil && $0.layerCount == 2 })
        #expect(BuiltinScenarios.named("nope") == nil)
    }

    @Test func loadReadsAFileAndReplaysItsTraceRelativeToIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coalesce-sim-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var csv = "timestamp_ns,size,flow\n"
        for i in 0..<100 { csv += "\(i * 10_000),\(i % 2 == 0 ? 64 : 1500),\(i % 3)\n" }
        try csv.write(to: dir.appendingPathComponent("t.csv"), atomically: true, encoding: .utf8)
        let json = #"{"name": "replay", "duration_s": 0.01, "interval_ms": 1, "traffic": [{"kind": "trace", "path": "t.csv", "loop": false}]}"#
        try json.write(to: dir.appendingPathComponent("replay.json"), atomically: true, encoding: .utf8)
        let s = try Scenario.load(path: dir.appendingPathComponent("replay.json").path)
        var t = try SimTarget(scenario: s, seed: 1)
        t.run(untilNs: 5_000_000)
        let r = t.runSummary
        #expect(r.simulatedPackets == 100)
        #expect(t.engine.counters.delivered == 100)
        #expect(t.engine.counters.deliveredBytes == 50 * 64 + 50 * 1500)

        try "timestamp_ns,size\n10,64\n5,64\n".write(to: dir.appendingPathComponent("t.csv"), atomically: true, encoding: .utf8)
        let bad = try Scenario.load(path: dir.appendingPathComponent("replay.json").path)
        #expect(throws: SimError.self) { _ = try SimTarget(scenario: bad, seed: 1) }
        #expect(throws: ScenarioError.self) { _ = try Scenario.load(path: dir.appendingPathComponent("missing.json").path) }
    }
}

@Suite("Simulator mechanics")
struct MechanicsTests {
    @Test func histogramQuantilesAreWithinOnePercent() {
        var h = LatencyHistogram()
        var rng = SeededGenerator(seed: 9)
        var values: [UInt64] = []
        for _ in 0..<50_000 {
            let v = UInt64(rng.exponential(mean: 40_000)) + 1
            values.append(v)
            h.record(v)
        }
        values.sort()
        for q in [0.5, 0.9, 0.99, 0.999] {
            let exact = Double(values[Int((q * Double(values.count)).rounded(.up)) - 1])
            let got = Double(h.quantile(q)!)
            #expect(abs(got - exact) / exact < 0.01, "q \(q): \(got) vs \(exact)")
        }
        #expect(h.count == 50_000)
        var small = LatencyHistogram()
        small.record(5); small.record(100)
        #expect(small.quantile(0.5) == 5 && small.quantile(1) == 100)
    }

    @Test func packetsAreConservedAndCPUTimeAddsUp() throws {
        for name in ["overload-spike", "virt-two-layers", "small-ring"] {
            var s = BuiltinScenarios.named(name)!
            s.traffic = s.traffic.filter { if case .requestResponse = $0.kind { return false } else { return true } }
            var t = try SimTarget(scenario: s, seed: 11)
            var offered: UInt64 = 0, delivered: UInt64 = 0, dropped: UInt64 = 0
            var last: Sample?
            for _ in 0..<4 {
                try t.advance(intervalNs: 25_000_000)
                let sample = try t.sample()
                offered += sample.truth!.offeredPackets
                delivered += sample.truth!.deliveredPackets
                dropped += sample.truth!.droppedPackets
                last = sample
            }
            let backlog = last!.truth!.backlogPackets
            #expect(offered == delivered + dropped + backlog, "\(name): \(offered) ≠ \(delivered) + \(dropped) + \(backlog)")
            let o = last!.observation
            #expect(o.cpu.totalNs == t.nowNs * UInt64(o.cpuCount), "\(name): CPU time does not add up")
            #expect(o.interrupts.count == s.simulatedLayerCount)
            #expect(o.totalDrops == dropped)
        }
    }

    @Test func applyChecksLayersAndTakesEffectInTheObservation() throws {
        var t = try SimTarget(scenario: BuiltinScenarios.named("virt-two-layers")!, seed: 1)
        #expect(t.layerCount == 2)
        #expect(throws: SimError.self) { try t.apply(setting("rx-usecs=8")) }
        let s = try setting("nic.rx-usecs=64,vnic.rx-usecs=0,vnic.rx-frames=1", layers: 2)
        try t.apply(s)
        try t.advance(intervalNs: 10_000_000)
        let sample = try t.sample()
        #expect(sample.observation.setting == s)
        #expect(sample.observation.latency != nil)
        #expect(t.intervals.count == 1 && t.intervals[0].offeredPps > 0)
    }

    @Test func everyBuiltinRunsUnderStaticAndAdaptiveSettings() throws {
        for s in BuiltinScenarios.all {
            for spec in ["rx-usecs=16,rx-frames=32", "adaptive-rx=dim-eqe", "adaptive-rx=itr"] {
                var t = try SimTarget(scenario: s, seed: 2)
                try t.apply(setting(spec, layers: s.layerCount))
                try t.advance(intervalNs: 5_000_000)
                let sample = try t.sample()
                #expect(sample.truth!.offeredPackets > 0 || s.name == "diurnal-ramp", "\(s.name) offered nothing")
                #expect(t.runSummary.simulatedPackets > 0 || s.name == "diurnal-ramp")
            }
        }
    }

    @Test func onOffSourcesAverageTheirDutyCycle() throws {
        for dist in [PeriodDistribution.exponential, .lognormal, .pareto] {
            let s = Scenario(name: "test-onoff", description: "test", durationS: 1, traffic: [
                TrafficSource(name: "b", kind: .onOff(ratePps: 100_000, onMs: 1, offMs: 4, periods: dist, shape: dist == .pareto ? 2.5 : 0.5))])
            let r = try SimTarget.runStatic(scenario: s, setting: setting("rx-usecs=16,rx-frames=32"), seed: 8, seconds: 2)
            let offered = Double(r.simulatedPackets) / 2
            #expect(abs(offered - 20_000) < 3_000, "\(dist): \(offered) pps offered, duty cycle gives 20000")
        }
    }

    @Test func rampsRiseAndFallIncludingTheLastPhase() throws {
        var s = poissonScenario(ratePps: 100_000)
        s.phases = [TrafficPhase(durationS: 0.2, rates: ["udp": 0], rampTo: ["udp": 1]),
                    TrafficPhase(durationS: 0.2, rates: ["udp": 1], rampTo: ["udp": 0])]
        var t = try SimTarget(scenario: s, seed: 12)
        var rates: [Double] = []
        for _ in 0..<5 {
            try t.advance(intervalNs: 100_000_000)
            rates.append(Double(try t.sample().truth!.offeredPackets) / 0.1)
        }
        // Mean scales 0.25, 0.75, 0.75, 0.25, then 0 after the last ramp ends.
        for (got, want) in zip(rates, [25_000.0, 75_000, 75_000, 25_000, 0]) {
            #expect(abs(got - want) < 4_000, "offered \(rates)")
        }
    }

    /// A bulk flow sends only in phases where its scale is > 0: it stops when its phase
    /// ends and starts again when a later phase turns it back on. (It used to keep
    /// sending to the end of the run once started, so `regime-switch`'s bulk transfer
    /// ran on through the bursts phase and every later cycle.)
    @Test func bulkFlowsStopWhenTheirPhaseEndsAndResumeWhenItReturns() throws {
        let s = Scenario(
            name: "bulk-phases", description: "test", durationS: 1,
            traffic: [TrafficSource(name: "bulk", kind: .bulk(flows: 2, windowBytes: 131_072), size: .fixed(bytes: 1500)),
                      TrafficSource(name: "udp", kind: .poisson(ratePps: 10_000), size: .fixed(bytes: 64))],
            phases: [TrafficPhase(durationS: 0.3, rates: ["bulk": 1]), TrafficPhase(durationS: 0.3, rates: ["udp": 1]),
                     TrafficPhase(durationS: 0.4, rates: ["bulk": 1])])
        var t = try SimTarget(scenario: s, seed: 3)
        var rates: [Double] = []
        for _ in 0..<10 {
            try t.advance(intervalNs: 100_000_000)
            rates.append(Double(try t.sample().truth!.offeredPackets) / 0.1)
        }
        // Two 1500-byte flows sharing 10 Gb/s: ~830k pps. Intervals 4 and 5
        // (0.4–0.6 s) lie wholly in the UDP-only phase, after the bulk flows' last
        // in-flight window has drained; 8 and 9 in the bulk phase that follows.
        #expect(rates[1] > 500_000, "bulk phase: \(rates)")
        #expect(abs(rates[4] - 10_000) < 3_000 && abs(rates[5] - 10_000) < 3_000, "UDP-only phase: \(rates)")
        #expect(rates[8] > 500_000 && rates[9] > 500_000, "bulk phase again: \(rates)")
    }

    @Test func phasesChangeTheOfferedMix() throws {
        var t = try SimTarget(scenario: BuiltinScenarios.named("overload-spike")!, seed: 4)
        var rates: [Double] = []
        for _ in 0..<8 {
            try t.advance(intervalNs: 500_000_000 / 2)
            rates.append(Double(try t.sample().truth!.offeredPackets) / 0.25)
        }
        // 150 kpps, then the 2.5 Mpps spike from 1.5 s to 2.5 s.
        #expect(abs(rates[0] - 150_000) < 10_000)
        #expect(rates[6] > 2_000_000)
    }
}
