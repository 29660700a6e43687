import CoalesceCore
import Testing
@testable import CoalesceLearn

@Suite struct LearningTests {
    let chain = ChainMDP(actionCount: 3)

    func configuration(_ algorithm: OfflineAlgorithm) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.algorithm = algorithm
        c.gamma = 0.9
        c.hidden = [32, 32]
        c.batchSize = 64
        c.epochs = 12
        c.stepsPerEpoch = 250
        c.learningRate = 3e-3
        c.targetUpdate = .hard(steps: 100)
        c.patience = 0
        c.seed = 3
        c.binsPerFeature = 6
        c.maxCells = 6
        return c
    }

    func train(_ c: TrainingConfiguration, _ data: OfflineDataset) throws -> ModelFile {
        let result = try OfflineTrainer.train(training: data, validation: data.rows(Array(0..<12)), configuration: c)
        return try chainModel(result, actionCount: data.actionCount)
    }

    @Test func tabularQIterationFindsTheOptimalPolicy() throws {
        let model = try train(configuration(.tabular), chain.coverage(actions: [0, 1, 2], repeats: 4))
        #expect(model.metadata.discretisation?.cellCount == 6)
        for s in 0..<ChainMDP.goal { #expect(try greedy(model, s) == 1, "state \(s)") }
    }

    @Test func tabularValuesMatchTheBellmanSolution() throws {
        let data = chain.coverage(actions: [0, 1, 2], repeats: 2)
        let d = TabularLearner.learnDiscretisation(data, bins: 6, maxCells: 6)
        var learner = TabularLearner(data: data, discretisation: d, gamma: 0.9, conservativeAlpha: nil)
        _ = learner.fit(maxSweeps: 500, tolerance: 1e-7)
        let values = learner.finalValues()
        for s in 0..<ChainMDP.goal {
            let cell = ChainMDP.features(s).withUnsafeBufferPointer { d.cell(of: $0) }
            // Q*(s, right) = r + γ V*(s+1), and V* of the chain under "right".
            let expected = (s + 1 == ChainMDP.goal ? 0 : -1) + 0.9 * ChainMDP.valueOfRight(s + 1, gamma: 0.9)
            #expect(abs(Double(values[cell * 3 + 1]) - expected) < 1e-4, "state \(s)")
        }
    }

    @Test(arguments: [OfflineAlgorithm.doubleDQN, .dqn, .nfq, .cql, .bcq])
    func networkQLearningFindsTheOptimalPolicy(_ algorithm: OfflineAlgorithm) throws {
        var c = configuration(algorithm)
        c.cqlAlpha = 0.5
        c.bcqThreshold = 0.2
        let model = try train(c, chain.coverage(actions: [0, 1, 2], repeats: 20))
        for s in 0..<ChainMDP.goal { #expect(try greedy(model, s) == 1, "\(algorithm) state \(s)") }
    }

    @Test func behaviourCloningImitatesTheLoggedPolicy() throws {
        let data = chain.episodes(count: 40, length: 20, epsilon: 0.1, seed: 5)
        let model = try train(configuration(.behaviourCloning), data)
        for s in 0..<ChainMDP.goal { #expect(try greedy(model, s) == 1, "state \(s)") }
    }

    @Test func conservativeLearnersNeverChooseAnActionAbsentFromTheData() throws {
        // Action 3 exists but the data never tries it.
        let wide = ChainMDP(actionCount: 4)
        let data = wide.coverage(actions: [0, 1, 2], repeats: 20)
        var c = configuration(.cql)
        c.cqlAlpha = 1
        let cql = try train(c, data)
        let conservativeTable = try train(configuration(.tabularCQL), data)
        for s in 0..<ChainMDP.stateCount {
            #expect(try greedy(cql, s) != 3, "CQL state \(s)")
            #expect(try greedy(conservativeTable, s) != 3, "tabular-cql state \(s)")
        }
        // Without the conservative option the unseen action keeps its optimistic
        // initial value 0 above every (negative) seen value and is chosen.
        let naive = try train(configuration(.tabular), data)
        #expect(try greedy(naive, 0) == 3)
    }

    @Test func sameDataAndSeedGiveAByteIdenticalModel() throws {
        let data = chain.coverage(actions: [0, 1, 2], repeats: 5)
        var c = configuration(.cql)
        c.epochs = 2
        let a = try train(c, data).encoded()
        let b = try train(c, data).encoded()
        #expect(a == b)
        c.seed = 4
        #expect(try train(c, data).encoded() != a)
    }

    @Test func weightAveragingAtRateOneStoresTheLastIterate() throws {
        let data = chain.coverage(actions: [0, 1, 2], repeats: 5)
        var c = configuration(.cql)
        c.epochs = 2
        let last = try OfflineTrainer.train(training: data, validation: data, configuration: c).parameters
        c.weightAveraging = 1
        let averagedAtOne = try OfflineTrainer.train(training: data, validation: data, configuration: c).parameters
        #expect(averagedAtOne == last)
        c.weightAveraging = 0.01
        let averaged = try OfflineTrainer.train(training: data, validation: data, configuration: c)
        #expect(averaged.parameters != last)
        #expect(averaged.configuration.hyperParameters["weight_averaging"] == "0.01")
    }

    @Test func averagedNetworkStillFindsTheOptimalPolicy() throws {
        var c = configuration(.cql)
        c.cqlAlpha = 0.5
        c.weightAveraging = 0.01
        c.huberDelta = 10
        let model = try train(c, chain.coverage(actions: [0, 1, 2], repeats: 20))
        for s in 0..<ChainMDP.goal { #expect(try greedy(model, s) == 1, "state \(s)") }
    }

    @Test func outOfRangeHuberDeltaAndAveragingRateAreRefused() {
        var c = configuration(.cql)
        c.huberDelta = 0
        #expect(throws: LearnError.self) { try c.validate() }
        c.huberDelta = 1
        c.weightAveraging = 1.5
        #expect(throws: LearnError.self) { try c.validate() }
        c.weightAveraging = 0
        #expect(throws: LearnError.self) { try c.validate() }
        c.weightAveraging = 0.001
        #expect(throws: Never.self) { try c.validate() }
    }

    @Test func splitKeepsEpisodesWhole() {
        let data = chain.episodes(count: 30, length: 10, epsilon: 0.3, seed: 1)
        let (train, valid, units) = data.split(validationFraction: 0.2, seed: 9)
        #expect(units == 30)
        #expect(train.count + valid.count == data.count)
        #expect(Set(train.episodes).isDisjoint(with: Set(valid.episodes)))
        #expect(valid.count == 60)
    }
}
