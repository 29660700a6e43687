import Testing
@testable import CoalesceCore

@Suite("Objectives cannot be gamed")
struct ObjectiveTests {
    func components(p99: Double? = 50, cpu: Double = 0.3, drop: Double = 0, backlog: Double = 0, changed: Double = 0) -> RewardComponents {
        RewardComponents(latencyP99Us: p99, cpuBusy: cpu, cpuPerPacketUs: 2, dropFraction: drop, backlogFraction: backlog,
                         changed: changed, throughputPps: 1000, interruptsPerS: 100)
    }

    @Test func formulaMatchesTheDocumentation() {
        let o = Objective.latency
        let c = components(p99: 150)
        let ratio = 150.0 / o.sloP99Us
        let expected = -(o.latencyWeight * (ratio + o.sloPenalty * (ratio - 1)) + o.cpuWeight * 0.3 + o.cpuPerPacketWeight * 2)
        #expect(abs(o.reward(c) - expected) < 1e-12)
    }

    @Test(arguments: Objective.presets)
    func coalescingForeverLoses(_ o: Objective) {
        // Huge latency and a growing backlog, in exchange for almost no CPU.
        let forever = components(p99: 50_000, cpu: 0.01, backlog: 5)
        let moderate = components(p99: o.sloP99Us * 0.8, cpu: 0.6)
        #expect(o.reward(moderate) > o.reward(forever))
    }

    @Test(arguments: Objective.presets)
    func droppingLoses(_ o: Objective) {
        let dropping = components(p99: 10, cpu: 0.05, drop: 0.05)
        let serving = components(p99: o.sloP99Us, cpu: 0.9)
        #expect(o.reward(serving) > o.reward(dropping))
    }

    @Test(arguments: Objective.presets)
    func changesCost(_ o: Objective) {
        #expect(o.reward(components(changed: 1)) < o.reward(components(changed: 0)))
    }

    @Test func latencyPresetPrefersLowerP99AndThroughputPresetPrefersLowerCPU() {
        let lowLatencyHighCPU = components(p99: 40, cpu: 0.8)
        let highLatencyLowCPU = components(p99: 400, cpu: 0.2)
        #expect(Objective.latency.reward(lowLatencyHighCPU) > Objective.latency.reward(highLatencyLowCPU))
        var cheap = highLatencyLowCPU
        cheap.cpuPerPacketUs = 0.5
        var costly = lowLatencyHighCPU
        costly.cpuPerPacketUs = 4
        #expect(Objective.throughput.reward(cheap) > Objective.throughput.reward(costly))
    }

    @Test func customFileOverridesABaseAndRejectsUnknownFields() throws {
        let o = try Objective.decode(json: Array(#"{"base":"latency","slo_p99_us":250}"#.utf8), source: "obj.json")
        #expect(o.sloP99Us == 250 && o.latencyWeight == Objective.latency.latencyWeight)
        #expect(throws: ObjectiveError.invalidField(source: "obj.json", field: "cpu_wieght", reason: "unknown field")) {
            try Objective.decode(json: Array(#"{"cpu_wieght":1}"#.utf8), source: "obj.json")
        }
        #expect(throws: ObjectiveError.self) {
            try Objective.decode(json: Array(#"{"slo_p99_us":-3}"#.utf8), source: "obj.json")
        }
    }
}
