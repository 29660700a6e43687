import CoalesceCore
import Testing
@testable import CoalesceLearn

@Suite struct OffPolicyEvaluationTests {
    let chain = ChainMDP(actionCount: 3)

    func configuration() -> OPEConfiguration {
        var c = OPEConfiguration()
        c.gamma = 0.9
        c.horizon = 10
        c.bootstrapSamples = 100
        c.fqe.hidden = [32, 32]
        c.fqe.steps = 3000
        c.fqe.batchSize = 128
        c.fqe.targetUpdateSteps = 100
        c.fqe.learningRate = 3e-3
        return c
    }

    /// Mean V^right over the window starts the estimators use (H-step windows inside each episode).
    func truth(_ data: OfflineDataset, horizon: Int) -> Double {
        var total = 0.0, n = 0.0
        for r in data.episodeRanges {
            for k in r where k + horizon <= r.upperBound {
                let position = data.states[k * data.featureCount]
                let s = Int((position * Float(ChainMDP.stateCount - 1)).rounded())
                total += ChainMDP.valueOfRight(s, gamma: 0.9)
                n += 1
            }
        }
        return total / n
    }

    @Test func estimatorsRecoverTheKnownValueOfATargetPolicy() throws {
        let data = chain.episodes(count: 60, length: 30, epsilon: 0.5, seed: 11)
        let right = [Int32](repeating: 1, count: data.count)
        let report = try OffPolicyEvaluator.evaluate(data: data, targetActions: right, targetNextActions: right,
                                                     configuration: configuration())
        let v = truth(data, horizon: 10)
        #expect(v < -0.2, "the windows must not all start at the goal")
        #expect(abs(report.fqe.value - v) < 0.15, "FQE \(report.fqe.value) vs \(v)")
        let wis = try #require(report.weightedImportanceSampling)
        let dr = try #require(report.doublyRobust)
        #expect(abs(wis.value - v) < 0.3, "WIS \(wis.value) vs \(v)")
        #expect(abs(dr.value - v) < 0.2, "DR \(dr.value) vs \(v)")
        #expect(wis.lower <= wis.value && wis.value <= wis.upper)
        #expect((wis.effectiveSampleSize ?? 0) > 1 && (wis.effectiveSampleSize ?? 0) < Double(report.windows))
        // The behaviour policy explores half of the time and is worse than "right".
        #expect(report.behaviour.value < v)
    }

    @Test func importanceSamplingIsRefusedWithoutBehaviourProbabilities() throws {
        var data = chain.episodes(count: 10, length: 20, epsilon: 0.5, seed: 2)
        data.behaviourProbabilities = nil
        var c = configuration()
        c.fqe.steps = 200
        let right = [Int32](repeating: 1, count: data.count)
        let report = try OffPolicyEvaluator.evaluate(data: data, targetActions: right, targetNextActions: right, configuration: c)
        #expect(report.weightedImportanceSampling == nil)
        #expect(report.doublyRobust == nil)
        #expect(report.refusal?.contains("π_b") == true)
    }

    @Test func onPolicyWeightsReduceImportanceSamplingToMonteCarlo() throws {
        // With the target equal to the logged action everywhere and π_b = 1, WIS is the plain average return.
        var data = chain.episodes(count: 10, length: 20, epsilon: 0.5, seed: 3)
        data.behaviourProbabilities = Array(repeating: 1, count: data.count)
        let c = configuration()
        let zeros = [Double](repeating: 0, count: data.count)
        let report = try OffPolicyEvaluator.estimate(data: data, targetActions: data.actions, qLogged: zeros, vTarget: zeros,
                                                     vNext: zeros, configuration: c)
        let wis = try #require(report.weightedImportanceSampling)
        #expect(abs(wis.value - report.behaviour.value) < 1e-9)
        #expect(abs((wis.effectiveSampleSize ?? 0) - Double(report.windows)) < 1e-6)
    }

    @Test("a value no policy can reach given the data's rewards is flagged, a plausible one is not")
    func estimatesOutsideTheRewardRangeAreFlagged() throws {
        let data = chain.episodes(count: 10, length: 20, epsilon: 0.5, seed: 4)
        let c = configuration()
        let rewardMin = Double(data.rewards.min()!), rewardMax = Double(data.rewards.max()!)
        let bounds = (min(rewardMin, 0) / (1 - c.gamma))...(max(rewardMax, 0) / (1 - c.gamma))
        let zeros = [Double](repeating: 0, count: data.count)
        let plausible = try OffPolicyEvaluator.estimate(data: data, targetActions: data.actions, qLogged: zeros,
                                                        vTarget: zeros, vNext: zeros, configuration: c)
        #expect(plausible.valueBounds == bounds)
        #expect(plausible.estimatesOutsideBounds.isEmpty)
        // A value model that says every state is worth more than the best reward forever
        // (an FQE that diverged): FQE, and DR through it, leave the range.
        let diverged = [Double](repeating: bounds.upperBound + 5, count: data.count)
        let report = try OffPolicyEvaluator.estimate(data: data, targetActions: data.actions, qLogged: zeros,
                                                     vTarget: diverged, vNext: diverged, configuration: c)
        #expect(report.estimatesOutsideBounds.map(\.name).contains("FQE"))
        #expect(!report.estimatesOutsideBounds.map(\.name).contains("weighted IS"), "WIS averages observed rewards")
    }
}
