import CoalesceCore
import Testing
@testable import CoalesceLearn

/// Per-state reward normalisation (`--reward-normalisation state`): the transform
/// itself, and that it keeps small action differences of quiet states learnable
/// next to states whose rewards are thousands of times larger.
@Suite struct RewardNormalisationTests {
    /// Two episodes of three rows each, one feature.
    func smallDataset() throws -> OfflineDataset {
        try OfflineDataset(
            featureCount: 1, actionCount: 2, states: [0, 1, 2, 3, 4, 5], nextStates: [1, 2, 3, 4, 5, 6],
            actions: [0, 1, 0, 1, 0, 1], rewards: [-2, -0.5, -8, -0.01, -100, -4], terminals: Array(repeating: false, count: 6),
            behaviourProbabilities: nil, episodes: [0, 0, 0, 1, 1, 1])
    }

    @Test func eachRowIsDividedByThePreviousRewardsMagnitudeWithinItsEpisode() throws {
        let data = try smallDataset().perStateNormalised(floor: 0.1)
        // σ: row 0 has no predecessor (uses |r_0| = 2); rows 1, 2 use |r_0|, |r_1|;
        // row 3 starts episode 1 (|r_3| = 0.01 → floor 0.1); rows 4, 5 use floor, 100.
        let sigma: [Float] = [2, 2, 0.5, 0.1, 0.1, 100]
        let raw: [Float] = [-2, -0.5, -8, -0.01, -100, -4]
        for i in 0..<6 { #expect(abs(data.rewards[i] - raw[i] / sigma[i]) < 1e-6, "row \(i)") }
        // Bootstrap factor σ_{i+1}/σ_i with σ_{i+1} = max(floor, |r_i|).
        let next: [Float] = [2, 0.5, 8, 0.1, 100, 4]
        for i in 0..<6 { #expect(abs(data.bootstrapFactors![i] - next[i] / sigma[i]) < 1e-6, "row \(i)") }
    }

    @Test func theNormalisedTargetIsTheTrueTargetInTheNextStatesUnits() throws {
        // (r_i + γ·Q(s'_i)) / σ_i must equal r̃_i + γ·f_i·Q̃(s'_i) with Q̃(s'_i) = Q(s'_i)/σ_{i+1},
        // where σ_{i+1} is the scale the next row of the episode gets.
        let raw = try smallDataset()
        let data = raw.perStateNormalised(floor: 0.1)
        let gamma: Float = 0.9, q: Float = -37
        for i in [0, 1, 3, 4] {
            let sigma = raw.rewards[i] / data.rewards[i]
            let sigmaNext = raw.rewards[i + 1] / data.rewards[i + 1]
            let truth = (raw.rewards[i] + gamma * q) / sigma
            let normalised = data.rewards[i] + gamma * data.bootstrapFactors![i] * (q / sigmaNext)
            #expect(abs(truth - normalised) < 1e-4 * abs(truth), "row \(i)")
        }
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
