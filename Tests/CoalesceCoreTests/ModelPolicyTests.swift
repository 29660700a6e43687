import Testing
@testable import CoalesceCore

@Suite struct ModelPolicyTests {
    /// Straightforward Double-precision forward pass of the stored (PyTorch-layout) weights.
    func reference(_ model: ModelFile, _ state: [Float], tensor: String = "q_network") -> [Double] {
        let m = model.metadata
        let shape = tensor == "behaviour_network" ? m.behaviourNetwork! : m.network!
        let p = model.tensor(tensor)!
        var x = state.indices.map { Double(m.normalisation.apply(state[$0], feature: $0)) }
        for l in 0..<shape.layerCount {
            let n = shape.layerSizes[l], out = shape.layerSizes[l + 1]
            var y = [Double](repeating: 0, count: out)
            for o in 0..<out {
                var s = Double(p[shape.biasOffset(l) + o])
                for i in 0..<n { s += Double(p[shape.weightOffset(l) + o * n + i]) * x[i] }
                y[o] = l == shape.layerCount - 1 ? s : max(0, s)
            }
            x = y
        }
        return x
    }

    @Test func mlpScoresMatchAReferenceForwardPass() throws {
        let model = SampleModels.mlp()
        let policy = try ModelPolicy(model: model)
        var g = SeededGenerator(seed: 3)
        for _ in 0..<50 {
            let s = SampleModels.state(&g)
            let (scores, allowed) = try policy.evaluate(s)
            let expected = reference(model, s)
            for a in scores.indices { #expect(abs(Double(scores[a]) - expected[a]) <= 1e-5 * max(1, abs(expected[a]))) }
            #expect(allowed.allSatisfy { $0 })
        }
    }

    /// The ensemble rule recomputed in Double from each member's reference forward pass.
    func referenceBounds(_ model: ModelFile, _ state: [Float]) -> [Double] {
        let e = model.metadata.ensemble!
        let q = (0..<e.members).map { reference(model, state, tensor: EnsembleRule.tensorName(member: $0)) }
        return q[0].indices.map { a in
            let d = q.map { $0[a] - $0[e.defaultAction] }
            let mean = d.reduce(0, +) / Double(d.count)
            let variance = d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d.count - 1)
            return mean - e.pessimism * variance.squareRoot()
        }
    }

    @Test func ensembleKeepsTheDefaultUnlessAnAdvantageIsConfidentlyPositive() throws {
        var g = SeededGenerator(seed: 8)
        var changed = 0, kept = 0
        for pessimism in [0.0, 1, 3] {
            let model = SampleModels.ensemble(members: 4, pessimism: pessimism, defaultAction: 3)
            var policy = try ModelPolicy(model: model)
            for _ in 0..<100 {
                let s = SampleModels.state(&g)
                let bounds = referenceBounds(model, s)
                let scores = try policy.evaluate(s).scores
                for a in bounds.indices { #expect(abs(Double(scores[a]) - bounds[a]) <= 1e-4 * max(1, abs(bounds[a])), "action \(a)") }
                let best = bounds.indices.max { bounds[$0] < bounds[$1] }!
                // Near-ties (between bounds, or of a bound with the default's 0) may round
                // either way in Float; skip them.
                let others = bounds.indices.filter { $0 != 3 }.map { bounds[$0] }.sorted(by: >)
                guard abs(others[0]) > 1e-3, others[0] - others[1] > 1e-3 else { continue }
                let expected = bounds[best] > 0 ? best : 3
                #expect(try policy.greedyAction(s) == expected)
                if expected == 3 { kept += 1 } else { changed += 1 }
            }
        }
        // Both branches of the rule were exercised.
        #expect(changed > 10 && kept > 10)
        // A very pessimistic ensemble never leaves the default (random members disagree).
        var stubborn = try ModelPolicy(model: SampleModels.ensemble(pessimism: 1e6, defaultAction: 5))
        for _ in 0..<50 { #expect(try stubborn.greedyAction(SampleModels.state(&g)) == 5) }
    }

    @Test func outsideItsTrainingSupportAnEnsembleKeepsTheDefault() throws {
        // κ = 0: the ensemble follows its mean advantage wherever it is allowed to.
        var model = SampleModels.ensemble(members: 4, pessimism: 0, defaultAction: 3)
        let n = FeatureExtractor.count
        model.metadata.support = FeatureSupport(low: Array(repeating: -3, count: n), high: Array(repeating: 9, count: n))
        var free = try ModelPolicy(model: SampleModels.ensemble(members: 4, pessimism: 0, defaultAction: 3))
        var checked = try ModelPolicy(model: model)
        var g = SeededGenerator(seed: 12)
        var changedInside = 0, changedOutside = 0
        for k in 0..<100 {
            var s = SampleModels.state(&g)     // values in [−3, 9): inside
            #expect(try checked.greedyAction(s) == free.greedyAction(s))
            if try free.greedyAction(s) != 3 { changedInside += 1 }
            s[k % n] = k % 2 == 0 ? 9.5 : -3.5  // one feature outside
            if try free.greedyAction(s) != 3 { changedOutside += 1 }
            #expect(try checked.greedyAction(s) == 3)
        }
        #expect(changedInside > 10 && changedOutside > 10, "the check, not the networks, kept the default")
        // Support bounds must describe every feature with a finite interval.
        model.metadata.support = FeatureSupport(low: [0], high: [1])
        #expect(throws: ModelFileError.self) { try model.validate() }
        model.metadata.support = FeatureSupport(low: Array(repeating: 1, count: n), high: Array(repeating: 0, count: n))
        #expect(throws: ModelFileError.self) { try model.validate() }
    }

    @Test func supportIsTheQuantileBoxWidenedByTheMargin() {
        // Feature 0: 0…100; feature 1: constant 5.
        let states: [Float] = (0...100).flatMap { [Float($0), 5] }
        let support = FeatureSupport.of(states: states, featureCount: 2, quantile: 0.05, margin: 0.1)
        #expect(support.low == [5 - 9, 5] && support.high == [95 + 9, 5])
        #expect([Float(-3.9), 5].withUnsafeBufferPointer { support.contains($0.baseAddress!) })
        #expect(![Float(-4.1), 5].withUnsafeBufferPointer { support.contains($0.baseAddress!) })
        #expect(![Float(50), 5.001].withUnsafeBufferPointer { support.contains($0.baseAddress!) })
        #expect(![Float.nan, 5].withUnsafeBufferPointer { support.contains($0.baseAddress!) })
    }

    @Test func theOperatorCanReplaceAnEnsemblesDefault() throws {
        var g = SeededGenerator(seed: 9)
        var kept = try ModelPolicy(model: SampleModels.ensemble(pessimism: 1e6, defaultAction: 5), ensembleDefault: 2)
        #expect(kept.ensembleDefault == 2)
        for _ in 0..<30 { #expect(try kept.greedyAction(SampleModels.state(&g)) == 2) }
        #expect(try ModelPolicy(model: SampleModels.ensemble(defaultAction: 5)).ensembleDefault == 5)
        #expect(try ModelPolicy(model: SampleModels.mlp()).ensembleDefault == nil)
        #expect(throws: ModelFileError.self) { try ModelPolicy(model: SampleModels.mlp(), ensembleDefault: 1) }
        #expect(throws: ModelFileError.self) { try ModelPolicy(model: SampleModels.ensemble(), ensembleDefault: 16) }
    }

    @Test func greedyActionIsTheArgmaxAndDecideAgrees() throws {
        var policy = try ModelPolicy(model: SampleModels.mlp())
        var g = SeededGenerator(seed: 4)
        for step in 0..<30 {
            let s = SampleModels.state(&g)
            let scores = try policy.evaluate(s).scores
            let best = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }!
            let context = DecisionContext(step: step, state: s, observation: Observation(timestampNs: 0, setting: ActionSpace.bareMetal.settings[0]), currentAction: nil, actionSpace: .bareMetal)
            #expect(try policy.decide(context) == Decision(action: best, probability: 1))
        }
    }

    @Test func qTablePicksTheBestActionOfTheStatesCell() throws {
        let model = SampleModels.table()
        var policy = try ModelPolicy(model: model)
        let values = model.tensor("q_table")!
        let actions = ActionSpace.bareMetal.count
        for (x0, x2, cell) in [(-1.0, -1.0, 0), (0.0, -1.0, 1), (0.5, -1.0, 2), (2.0, 0.0, 5), (-0.6, 3.0, 3)] as [(Float, Float, Int)] {
            var s = [Float](repeating: 0, count: FeatureExtractor.count)
            s[0] = x0
            s[2] = x2
            let row = Array(values[(cell * actions)..<((cell + 1) * actions)])
            let best = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
            #expect(try policy.greedyAction(s) == best, "state (\(x0), \(x2)) → cell \(cell)")
        }
    }

    @Test func bcqFilterNeverPicksADisallowedAction() throws {
        let model = SampleModels.mlp(filterThreshold: 0.5)
        var policy = try ModelPolicy(model: model)
        var g = SeededGenerator(seed: 5)
        var restricted = 0
        for _ in 0..<50 {
            let s = SampleModels.state(&g)
            let logits = reference(model, s, tensor: "behaviour_network")
            let top = logits.max()!
            // π̂_b(a|s) ≥ τ·max π̂_b  ⇔  logit_a − max logit ≥ log τ (margin for float rounding).
            let clearlyOut = logits.map { $0 - top < -0.6931471805599453 - 1e-4 }
            let allowed = clearlyOut.map { !$0 }
            let action = try policy.greedyAction(s)
            #expect(allowed[action])
            let scores = reference(model, s)
            if scores.indices.max(by: { scores[$0] < scores[$1] }) != action { restricted += 1 }
            let ctx = DecisionContext(step: 0, state: s, observation: Observation(timestampNs: 0, setting: ActionSpace.bareMetal.settings[0]), currentAction: nil, actionSpace: .bareMetal)
            let reported = try policy.scores(ctx)!
            for a in reported.indices where clearlyOut[a] { #expect(reported[a] == -.infinity) }
        }
        #expect(restricted > 0, "the filter should change some decisions for this model")
    }

    @Test func saveLoadGivesIdenticalActions() throws {
        for model in [SampleModels.mlp(), SampleModels.mlp(filterThreshold: 0.3), SampleModels.table()] {
            var before = try ModelPolicy(model: model)
            var after = try ModelPolicy(model: try ModelFile.decode(try model.encoded()))
            var g = SeededGenerator(seed: 6)
            for _ in 0..<100 {
                let s = SampleModels.state(&g)
                #expect(try before.greedyAction(s) == after.greedyAction(s))
                #expect(try before.evaluate(s).scores == after.evaluate(s).scores)
            }
        }
    }

    @Test func badStatesAreRefusedWithTypedErrors() throws {
        var policy = try ModelPolicy(model: SampleModels.mlp())
        #expect(throws: PolicyError.stateLength(expected: 13, found: 3)) { try policy.greedyAction([1, 2, 3]) }
        var s = [Float](repeating: 0, count: 13)
        s[4] = .nan
        #expect(throws: PolicyError.nonFiniteState(index: 4)) { try policy.greedyAction(s) }
    }
}
