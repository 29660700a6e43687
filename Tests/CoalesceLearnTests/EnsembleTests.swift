import CoalesceCore
import Testing
@testable import CoalesceLearn

/// Ensembles (`train --ensemble K`): how the default action is chosen, and that a
/// trained ensemble changes setting where the data clearly support it and keeps
/// the default where they do not.
@Suite struct EnsembleTests {
    @Test func theAutomaticDefaultIsTheActionRarelyFarFromTheBest() {
        // 10 states × 2 actions. Action 0 is best in 9 states, 0.5 behind in one;
        // action 1 is always 0.1 behind the best. Mean regret: 0.05 vs 0.09.
        var values: [Float] = []
        for s in 0..<10 { values += s == 9 ? [-1.5, -1.0] : [-1.0, -1.1] }
        #expect(OfflineTrainer.leastRegretAction(values: values, actionCount: 2) == 1, "95th percentile: 0.1 < 0.5")
        #expect(OfflineTrainer.leastRegretAction(values: values, actionCount: 2, quantile: 0.5) == 0, "median: 0 < 0.1")
        // Equal regrets: the lowest id.
        #expect(OfflineTrainer.leastRegretAction(values: [1, 1, 2, 2], actionCount: 2) == 0)
    }

    /// One feature x ∈ [0, 1). Action 1 beats action 0 by 1 for x < 0.3 (little noise)
    /// and loses by 1 for 0.3 ≤ x < 0.9; for x ≥ 0.9 (a tenth of the rows) it is better
    /// by 0.3 on average but with noise ±8, so the data cannot tell. Action 2 is bad.
    func bandit(seed: UInt64, rows: Int = 3000) throws -> OfflineDataset {
        var g = SeededGenerator(seed: seed)
        var states: [Float] = [], actions: [Int32] = [], rewards: [Float] = []
        for _ in 0..<rows {
            let x = Float(g.nextUnit())
            let a = g.nextIndex(3)
            let noise = Float(g.nextUnit() * 2 - 1)
            let r: Float
            switch a {
            case 0: r = -1 + 0.05 * noise
            case 1: r = x < 0.3 ? 0 + 0.05 * noise : (x < 0.9 ? -2 + 0.05 * noise : -0.7 + 8 * noise)
            default: r = -3 + 0.05 * noise
            }
            states.append(x)
            actions.append(Int32(a))
            rewards.append(r)
        }
        return try OfflineDataset(featureCount: 1, actionCount: 3, states: states, nextStates: states, actions: actions,
                                  rewards: rewards, terminals: Array(repeating: true, count: rows),
                                  behaviourProbabilities: nil, episodes: Array(0..<rows))
    }

    func configuration(members: Int, pessimism: Double) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.algorithm = .dqn
        c.gamma = 0
        c.hidden = [32]
        c.batchSize = 64
        c.epochs = 4
        c.stepsPerEpoch = 500
        c.learningRate = 3e-3
        c.huberDelta = 100
        c.patience = 0
        c.seed = 3
        c.ensembleMembers = members
        c.ensemblePessimism = pessimism
        c.ensembleDefaultAction = 0
        return c
    }

    func policy(_ result: TrainingResult) throws -> ModelPolicy {
        let settings = (0..<3).map { CoalescingSetting(layers: [LayerSetting(rxUsecs: UInt32($0 * 8), rxFrames: 1)]) }
        let model = try result.modelFile(
            featureNames: ["x"], actionSpace: try ActionSpace(name: "three", settings: settings), objective: .latency,
            datasets: [], createdAtEpoch: 0, toolVersion: "test")
        // Through the file format, as a host would load it.
        return try ModelPolicy(model: try ModelFile.decode(try model.encoded(), source: "ensemble.model"))
    }

    @Test func anEnsembleChangesOnlyWhereTheDataClearlySupportIt() throws {
        let data = try bandit(seed: 21)
        let result = try OfflineTrainer.train(training: data, validation: try bandit(seed: 22, rows: 300),
                                              configuration: configuration(members: 5, pessimism: 1))
        #expect(result.ensembleParameters.count == 4)
        #expect(Set(([result.parameters] + result.ensembleParameters).map { $0.prefix(8).map(\.bitPattern) }).count == 5,
                "each member has its own initialisation and resample")
        #expect(result.ensemble == EnsembleRule(members: 5, pessimism: 1, defaultAction: 0))
        #expect(result.gradientSteps == 5 * 4 * 500)
        #expect(result.configuration.hyperParameters["ensemble_members"] == "5")
        var ensemble = try policy(result)
        #expect(try ensemble.greedyAction([0.15]) == 1, "clearly better: change")
        #expect(try ensemble.greedyAction([0.6]) == 0, "worse: keep the default")
        #expect(try ensemble.greedyAction([0.95]) == 0, "better on average but the data cannot tell: keep the default")
        // The bound of action 1 at x = 0.95 is below 0 although its members' mean may be above.
        let bounds = try ensemble.evaluate([0.95]).scores
        #expect(bounds[0] == 0 && bounds[1] < 0 && bounds[2] < 0)

        // The training support (x ∈ [0, 1)): far outside it the default is kept.
        let support = try #require(result.support)
        #expect(support.low[0] < 0.01 && support.low[0] > -0.11 && support.high[0] > 0.99 && support.high[0] < 1.11)
        #expect(try ensemble.greedyAction([-5]) == 0 && ensemble.greedyAction([5]) == 0)

        // Same data, same seed: the same ensemble, bit for bit.
        let again = try OfflineTrainer.train(training: data, validation: try bandit(seed: 22, rows: 300),
                                             configuration: configuration(members: 5, pessimism: 1))
        #expect(again.parameters == result.parameters && again.ensembleParameters == result.ensembleParameters)
    }

    @Test func withoutPessimismTheEnsembleFollowsItsMeanAdvantage() throws {
        let data = try bandit(seed: 21)
        let result = try OfflineTrainer.train(training: data, validation: try bandit(seed: 22, rows: 300),
                                              configuration: configuration(members: 5, pessimism: 0))
        var ensemble = try policy(result)
        for x: Float in [0.05, 0.15, 0.25, 0.5, 0.7] {
            let bounds = try ensemble.evaluate([x]).scores
            let best = bounds[1] > 0 || bounds[2] > 0 ? (bounds[1] >= bounds[2] ? 1 : 2) : 0
            #expect(try ensemble.greedyAction([x]) == best)
            #expect(best == (x < 0.3 ? 1 : 0), "x = \(x)")
        }
    }

    @Test func ensemblesNeedAQNetworkAlgorithmAndSaneSettings() {
        var c = TrainingConfiguration()
        c.ensembleMembers = 3
        for algorithm in [OfflineAlgorithm.bcq, .behaviourCloning, .tabular] {
            c.algorithm = algorithm
            #expect(throws: LearnError.self) { try c.validate() }
        }
        c.algorithm = .cql
        #expect(throws: Never.self) { try c.validate() }
        c.ensemblePessimism = -1
        #expect(throws: LearnError.self) { try c.validate() }
        c.ensemblePessimism = 1
        c.ensembleMembers = 0
        #expect(throws: LearnError.self) { try c.validate() }
    }
}
