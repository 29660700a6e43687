import CoalesceCore
import Testing
@testable import CoalesceLearn

/// Per-state reward normalisation (`--reward-normalisation state`): the transform
/// itself, and that it keeps small action differences of quiet states learnable
/// next to states whose rewards are thousands of times larger.
@Suite struct RewardNormalisationTests {
    /// Six rows, one feature; states 0–2 are "quiet" (|r| ≈ 1), states 10–12 "loud" (|r| ≈ 100).
    func smallDataset() throws -> OfflineDataset {
        try OfflineDataset(
            featureCount: 1, actionCount: 2, states: [0, 1, 2, 10, 11, 12], nextStates: [1, 2, 10, 11, 12, 0],
            actions: [0, 1, 0, 1, 0, 1], rewards: [-1, -2, -0.5, -100, -50, -150], terminals: Array(repeating: false, count: 6),
            behaviourProbabilities: nil, episodes: [0, 0, 0, 0, 0, 0])
    }

    @Test func rewardsAndBootstrapFactorsUseTheScaleOfEachStateAndNextState() throws {
        let raw = try smallDataset()
        let scale: (UnsafeBufferPointer<Float>) -> Float = { $0[0] < 5 ? 2 : 100 }
        let data = raw.scaledPerState(by: scale)
        let sigma: [Float] = [2, 2, 2, 100, 100, 100], sigmaNext: [Float] = [2, 2, 100, 100, 100, 2]
        for i in 0..<6 {
            #expect(abs(data.rewards[i] - raw.rewards[i] / sigma[i]) < 1e-6, "row \(i)")
            #expect(abs(data.bootstrapFactors![i] - sigmaNext[i] / sigma[i]) < 1e-6, "row \(i)")
            // (r + γ·Q(s'))/σ(s) = r̃ + γ·f·Q̃(s') with Q̃(s') = Q(s')/σ(s').
            let q: Float = -37, gamma: Float = 0.9
            let truth = (raw.rewards[i] + gamma * q) / sigma[i]
            #expect(abs(truth - (data.rewards[i] + gamma * data.bootstrapFactors![i] * q / sigmaNext[i])) < 1e-4 * abs(truth))
        }
    }

    @Test func theLearnedScaleIsTheFlooredMeanMagnitudeOfTheStatesCell() throws {
        let raw = try smallDataset()
        let scale = StateRewardScale(learningFrom: raw, floorQuantile: 0.1, bins: 2, maxCells: 2)
        #expect(scale.discretisation.cellCount == 2)
        let quiet = [Float(1)].withUnsafeBufferPointer { scale.scale(of: $0) }
        let loud = [Float(11)].withUnsafeBufferPointer { scale.scale(of: $0) }
        #expect(abs(quiet - 3.5 / 3) < 1e-5, "mean |r| of the quiet rows")
        #expect(abs(loud - 100) < 1e-4, "mean |r| of the loud rows")
        // With a floor above the quiet rows' magnitude, the floor wins.
        let floored = StateRewardScale(learningFrom: raw, floorQuantile: 0.7, bins: 2, maxCells: 2)
        #expect([Float(1)].withUnsafeBufferPointer { floored.scale(of: $0) } == 50)
    }

    /// A contextual bandit: in the quiet context action 0 is better by 0.05 (−0.20 vs
    /// −0.25); in the loud context action 1 is better (−900 vs −1000, noise ±200).
    func twoContexts(seed: UInt64) throws -> OfflineDataset {
        var g = SeededGenerator(seed: seed)
        var states: [Float] = [], next: [Float] = [], actions: [Int32] = [], rewards: [Float] = [], episodes: [Int] = []
        for e in 0..<200 {
            let loud = e % 2 == 1
            for _ in 0..<20 {
                let a = g.nextIndex(2)
                let noise = Float(g.nextUnit() * 2 - 1)
                let r: Float = loud ? (a == 1 ? -900 : -1000) + 200 * noise : (a == 0 ? -0.20 : -0.25) + 0.01 * noise
                states.append(loud ? 1 : 0)
                next.append(loud ? 1 : 0)
                actions.append(Int32(a))
                rewards.append(r)
                episodes.append(e)
            }
        }
        return try OfflineDataset(featureCount: 1, actionCount: 2, states: states, nextStates: next, actions: actions,
                                  rewards: rewards, terminals: Array(repeating: false, count: actions.count),
                                  behaviourProbabilities: nil, episodes: episodes)
    }

    @Test func quietStatesKeepTheirSmallActionDifferencesNextToLoudOnes() throws {
        let data = try twoContexts(seed: 11)
        var c = TrainingConfiguration()
        c.algorithm = .cql
        c.cqlAlpha = 0.1
        c.gamma = 0
        c.hidden = [16]
        c.batchSize = 64
        c.epochs = 10
        c.stepsPerEpoch = 200
        c.learningRate = 3e-3
        c.patience = 0
        c.seed = 5
        c.rewardNormalisation = .perState
        let result = try OfflineTrainer.train(training: data, validation: data.rows(Array(0..<40)), configuration: c)
        #expect(result.rewardScale == 1)
        #expect(result.configuration.hyperParameters["state_scale_floor_quantile"] == "0.1")
        #expect(result.configuration.hyperParameters["reward_normalisation"] == "state")
        let settings = (0..<2).map { CoalescingSetting(layers: [LayerSetting(rxUsecs: UInt32($0 * 8), rxFrames: 1)]) }
        let model = try result.modelFile(
            featureNames: ["loud"], actionSpace: try ActionSpace(name: "two", settings: settings), objective: .latency,
            datasets: [], createdAtEpoch: 0, toolVersion: "test")
        var policy = try ModelPolicy(model: model)
        #expect(try policy.greedyAction([0]) == 0, "quiet context: −0.20 beats −0.25")
        #expect(try policy.greedyAction([1]) == 1, "loud context: −900 beats −1000")
    }

    @Test func tabularAlgorithmsRefusePerStateNormalisation() {
        var c = TrainingConfiguration()
        c.algorithm = .tabular
        c.rewardNormalisation = .perState
        #expect(throws: LearnError.self) { try c.validate() }
        c.algorithm = .cql
        c.stateScaleFloorQuantile = 1
        #expect(throws: LearnError.self) { try c.validate() }
    }
}
