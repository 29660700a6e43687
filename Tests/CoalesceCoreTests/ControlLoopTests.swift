import Testing
@testable import CoalesceCore

/// Cycles through a fixed list of actions.
struct CyclePolicy: Policy {
    var actions: [Int]
    var identity = "cycle"
    mutating func decide(_ c: DecisionContext) throws(PolicyError) -> Decision {
        Decision(action: actions[c.step % actions.count], probability: 0.5)
    }
}

@Suite("Control loop")
struct ControlLoopTests {
    let config = ControlLoopConfig(intervalNs: 100_000_000, objective: .latency, actionSpace: .bareMetal, episode: "e1")

    @Test func appliesOnlyChangesAndRecordsOneRowPerDecision() throws {
        var loop = ControlLoop(target: ScriptedTarget(), policy: CyclePolicy(actions: [0, 3, 3, 5]), config: config)
        var records: [StepRecord] = []
        let summary = try loop.run(steps: 8, onRecord: { records.append($0) })
        #expect(records.count == 8)
        #expect(records.map(\.action) == [0, 3, 3, 5, 0, 3, 3, 5])
        // The start setting is action 0, so the first decision changes nothing.
        #expect(loop.target.applied.count == 5)
        #expect(summary.changes == 5)
        #expect(records.last?.timeout == true && records.dropLast().allSatisfy { !$0.timeout })
        #expect(records.map(\.step) == Array(0..<8))
        #expect(records.allSatisfy { $0.probability == 0.5 && $0.policy == "cycle" })
    }

    @Test func rewardMeasuresTheIntervalAfterTheAction() throws {
        var loop = ControlLoop(target: ScriptedTarget(), policy: CyclePolicy(actions: [0, 9]), config: config)
        var records: [StepRecord] = []
        _ = try loop.run(steps: 4, onRecord: { records.append($0) })
        // Action 9 (rx-usecs 100) raises the scripted p99 over the next interval.
        let p99 = records.map { $0.components.latencyP99Us! }
        #expect(p99[1] > p99[0] && p99[3] > p99[2])
        #expect(records[1].components.changed == 1 && records[0].components.changed == 0)
        #expect(abs(records[0].reward - Objective.latency.reward(records[0].components)) < 1e-12)
    }

    @Test func recordsCountThePacketsDroppedInTheirInterval() throws {
        var target = ScriptedTarget()
        target.dropsPerIntervalUnmoderated = 250
        // Action 0 is unmoderated (drops), action 5 is not.
        var loop = ControlLoop(target: target, policy: CyclePolicy(actions: [0, 5, 0, 5]), config: config)
        var records: [StepRecord] = []
        _ = try loop.run(steps: 4, onRecord: { records.append($0) })
        #expect(records.dropLast().map(\.droppedPackets) == [250, 0, 250])
        // The count and the reward's drop fraction describe the same packets.
        let r = records[0]
        let delivered = r.components.throughputPps * 0.1
        #expect(abs(r.components.dropFraction - 250 / (delivered + 250)) < 1e-9)
    }

    @Test func staleSampleFallsBackAndSplitsTheEpisode() throws {
        var target = ScriptedTarget()
        target.freezeClockAtStep = 3
        var loop = ControlLoop(target: target, policy: CyclePolicy(actions: [5]), config: config)
        var records: [StepRecord] = []
        let summary = try loop.run(steps: 6, onRecord: { records.append($0) })
        #expect(summary.fallbacks[.staleSample] == 1)
        #expect(records.contains { $0.episode == "e1.1" })
        #expect(records.filter(\.timeout).count == 2)
        // The fallback restored the setting found at start (unmoderated).
        #expect(loop.target.applied.contains(ActionSpace.bareMetal.settings[0]))
    }

    @Test func counterResetTriggersInconsistentFallback() throws {
        var target = ScriptedTarget()
        target.resetAtStep = 3
        var loop = ControlLoop(target: target, policy: CyclePolicy(actions: [5]), config: config)
        let summary = try loop.run(steps: 5)
        #expect(summary.fallbacks[.inconsistentSample] == 1)
    }

    @Test func startSettingOutsideTheSpaceIsAddedAsFallback() throws {
        var target = ScriptedTarget()
        target.setting = CoalescingSetting(uniform: LayerSetting(rxUsecs: 77, rxFrames: 5))
        var loop = ControlLoop(target: target, policy: CyclePolicy(actions: [2]), config: config)
        var records: [StepRecord] = []
        _ = try loop.run(steps: 2, onRecord: { records.append($0) })
        #expect(loop.recordedActionSpace.count == 17)
        #expect(records[0].previousAction == 16)
        try loop.restoreInitialSetting()
        #expect(loop.target.setting.layers[0].rxUsecs == 77)
    }
}
