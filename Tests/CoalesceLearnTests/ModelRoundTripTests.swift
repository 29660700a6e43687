import CoalesceCore
import Testing
@testable import CoalesceLearn

@Suite struct ModelRoundTripTests {
    @Test func modelPolicyMatchesTheTrainersForwardPass() throws {
        var g = SeededGenerator(seed: 21)
        let shape = MLPShape(inputs: FeatureExtractor.count, hidden: [64, 64], outputs: ActionSpace.bareMetal.count)
        let net = MLP(shape: shape, capacity: 32, generator: &g)
        for i in 0..<shape.parameterCount where i % 3 == 0 { net.parameters[i] += Float(g.nextGaussian() * 0.05) }
        let normalisation = FeatureNormalisation(mean: (0..<13).map { Float($0) / 3 }, scale: (0..<13).map { 0.5 + Float($0) / 7 })
        let metadata = ModelMetadata(
            kind: .mlp, featureNames: FeatureExtractor.featureNames, normalisation: normalisation, actionSpace: .bareMetal,
            objective: .latency, algorithm: "double-dqn", hyperParameters: [:], datasets: [], createdAtEpoch: 0,
            toolVersion: "test", network: shape, tensors: [TensorInfo(name: "q_network", count: shape.parameterCount)])
        let file = try ModelFile.decode(try ModelFile(metadata: metadata, tensors: [net.parameterArray]).encoded())
        let policy = try ModelPolicy(model: file)
        let states = (0..<(32 * 13)).map { _ in Float(g.nextGaussian() * 4 + 2) }
        for i in 0..<states.count { net.input[i] = normalisation.apply(states[i], feature: i % 13) }
        net.forward(rows: 32)
        var worst: Float = 0
        for r in 0..<32 {
            let q = try policy.evaluate(Array(states[(r * 13)..<((r + 1) * 13)])).scores
            for a in 0..<16 { worst = max(worst, abs(q[a] - net.output[r * 16 + a])) }
        }
        #expect(worst < 1e-5, "largest difference \(worst)")
    }

    @Test func trainedModelsSurviveSaveAndLoadWithIdenticalActions() throws {
        let chain = ChainMDP(actionCount: 3)
        let data = chain.coverage(actions: [0, 1, 2], repeats: 5)
        for algorithm in [OfflineAlgorithm.bcq, .tabularCQL] {
            var c = TrainingConfiguration()
            c.algorithm = algorithm
            c.hidden = [16]
            c.epochs = 2
            c.stepsPerEpoch = 20
            c.batchSize = 16
            let result = try OfflineTrainer.train(training: data, validation: data.rows([0, 1, 2]), configuration: c)
            let model = try chainModel(result, actionCount: 3)
            let reloaded = try ModelFile.decode(try model.encoded())
            #expect(reloaded == model)
            var a = try ModelPolicy(model: model), b = try ModelPolicy(model: reloaded)
            var g = SeededGenerator(seed: 2)
            for _ in 0..<100 {
                let s = (0..<ChainMDP.featureCount).map { _ in Float(g.nextUnit() * 2 - 0.5) }
                #expect(try a.greedyAction(s) == b.greedyAction(s))
            }
        }
    }
}
