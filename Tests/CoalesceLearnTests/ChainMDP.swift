import CoalesceCore
@testable import CoalesceLearn

/// A small deterministic chain with a known optimal policy, for the learning tests.
///
/// States 0…5, goal 5 (absorbing). Actions: 0 left, 1 right, 2 stay; optional
/// extra actions behave like "stay". Reward −1 for every step that does not end
/// in the goal, 0 for steps that do. With γ = 0.9 the optimal action is "right"
/// in every non-goal state, and V*(s) = −Σ_{t < 4−s} γ^t … (computed by `value`).
struct ChainMDP {
    static let stateCount = 6
    static let goal = 5
    let actionCount: Int

    func step(_ s: Int, _ a: Int) -> (next: Int, reward: Float) {
        if s == Self.goal { return (s, 0) }
        let next: Int
        switch a {
        case 0: next = max(0, s - 1)
        case 1: next = min(Self.goal, s + 1)
        default: next = s
        }
        return (next, next == Self.goal ? 0 : -1)
    }

    /// Features: the position scaled to [0, 1], then a one-hot of the state.
    static func features(_ s: Int) -> [Float] {
        var f = [Float(s) / Float(stateCount - 1)]
        for i in 0..<stateCount { f.append(i == s ? 1 : 0) }
        return f
    }

    static var featureCount: Int { stateCount + 1 }

    /// Every (state, action) of `actions`, `repeats` times, each transition its own episode.
    func coverage(actions: [Int], repeats: Int) -> OfflineDataset {
        var states: [Float] = [], next: [Float] = [], acts: [Int32] = [], rewards: [Float] = [], episodes: [Int] = []
        for r in 0..<repeats {
            for s in 0..<Self.stateCount {
                for a in actions {
                    let (n, reward) = step(s, a)
                    states += Self.features(s)
                    next += Self.features(n)
                    acts.append(Int32(a))
                    rewards.append(reward)
                    episodes.append(episodes.count + r * 0)
                }
            }
        }
        return try! OfflineDataset(featureCount: Self.featureCount, actionCount: actionCount, states: states, nextStates: next,
                                   actions: acts, rewards: rewards, terminals: Array(repeating: false, count: acts.count),
                                   behaviourProbabilities: nil, episodes: episodes)
    }

    /// Long episodes from random starts under ε-greedy around "right" (π_b logged).
    func episodes(count: Int, length: Int, epsilon: Double, seed: UInt64) -> OfflineDataset {
        var g = SeededGenerator(seed: seed)
        var states: [Float] = [], next: [Float] = [], acts: [Int32] = [], rewards: [Float] = [], episodes: [Int] = []
        var probabilities: [Double] = []
        for e in 0..<count {
            var s = g.nextIndex(Self.stateCount - 1)
            for _ in 0..<length {
                let a = g.nextUnit() < epsilon ? g.nextIndex(actionCount) : 1
                let p = (a == 1 ? 1 - epsilon : 0) + epsilon / Double(actionCount)
                let (n, r) = step(s, a)
                states += Self.features(s)
                next += Self.features(n)
                acts.append(Int32(a))
                rewards.append(r)
                episodes.append(e)
                probabilities.append(p)
                s = n
            }
        }
        return try! OfflineDataset(featureCount: Self.featureCount, actionCount: actionCount, states: states, nextStates: next,
                                   actions: acts, rewards: rewards, terminals: Array(repeating: false, count: acts.count),
                                   behaviourProbabilities: probabilities, episodes: episodes)
    }

    /// V^π(s) of "always right": −Σ_{t < steps to goal − 1} γ^t.
    static func valueOfRight(_ s: Int, gamma: Double) -> Double {
        var v = 0.0, d = 1.0
        for _ in 0..<max(0, goal - s - 1) { v -= d; d *= gamma }
        return v
    }
}

/// The greedy action of a model file in state s of the chain.
func greedy(_ model: ModelFile, _ s: Int) throws -> Int {
    var policy = try ModelPolicy(model: model)
    return try policy.greedyAction(ChainMDP.features(s))
}

/// A model file from a training result on the chain.
func chainModel(_ result: TrainingResult, actionCount: Int) throws -> ModelFile {
    let settings = (0..<actionCount).map {
        CoalescingSetting(layers: [LayerSetting(rxUsecs: UInt32($0 * 8), rxFrames: UInt32($0 + 1))])
    }
    let space = try ActionSpace(name: "chain-\(actionCount)", settings: settings)
    let names = ["position"] + (0..<ChainMDP.stateCount).map { "is_\($0)" }
    return try result.modelFile(featureNames: names, actionSpace: space, objective: .latency, datasets: [],
                                createdAtEpoch: 0, toolVersion: "test")
}
