import Testing
@testable import CoalesceCore

@Suite("Exploration reports the probability of what it chose")
struct ExplorationPolicyTests {
    let space = ActionSpace.bareMetal
    func context(step: Int = 0) -> DecisionContext {
        DecisionContext(step: step, state: [Float](repeating: 0, count: FeatureExtractor.count),
                        observation: Observation(timestampNs: 1, setting: space.settings[0]), currentAction: 0,
                        actionSpace: space)
    }

    @Test func epsilonGreedyProbabilitiesAreExact() throws {
        var p = ExplorationPolicy(base: StaticPolicy(action: 3, identity: "static"), mode: .epsilonGreedy(epsilon: 0.2),
                                  allowed: [1, 3, 5, 7], seed: 1)
        let d = try p.distribution(context())
        #expect(abs(d[3] - (0.8 + 0.05)) < 1e-12)
        #expect(abs(d[1] - 0.05) < 1e-12 && d[0] == 0)
        #expect(abs(d.reduce(0, +) - 1) < 1e-12)
    }

    @Test func chosenFrequenciesMatchReportedProbabilities() throws {
        var p = ExplorationPolicy(base: StaticPolicy(action: 3, identity: "static"), mode: .epsilonGreedy(epsilon: 0.4),
                                  allowed: [1, 3, 5, 7], seed: 7)
        var counts = [Int: Int]()
        let n = 20_000
        for _ in 0..<n {
            let d = try p.decide(context())
            counts[d.action, default: 0] += 1
            #expect(d.probability == (d.action == 3 ? 0.7 : 0.1))
        }
        #expect(Set(counts.keys).isSubset(of: [1, 3, 5, 7]))
        #expect(abs(Double(counts[3]!) / Double(n) - 0.7) < 0.02)
        #expect(abs(Double(counts[5]!) / Double(n) - 0.1) < 0.015)
    }

    @Test func baseOutsideTheAllowedSetMakesItUniform() throws {
        var p = ExplorationPolicy(base: StaticPolicy(action: 0, identity: "static"), mode: .epsilonGreedy(epsilon: 0.1),
                                  allowed: [2, 4], seed: 1)
        let d = try p.distribution(context())
        #expect(d[2] == 0.5 && d[4] == 0.5)
    }

    @Test func softmaxOverBaseScores() throws {
        struct Scored: Policy {
            var identity = "scored"
            mutating func decide(_ c: DecisionContext) throws(PolicyError) -> Decision { Decision(action: 2) }
            func scores(_ c: DecisionContext) throws(PolicyError) -> [Double]? { (0..<c.actionSpace.count).map { $0 == 2 ? 1 : 0 } }
        }
        var p = ExplorationPolicy(base: Scored(), mode: .softmax(temperature: 1), allowed: [1, 2], seed: 3)
        let d = try p.distribution(context())
        let e = CoreMath.exp(1)
        #expect(abs(d[2] - e / (e + 1)) < 1e-12)
    }

    @Test func holdRepeatsTheChoiceWithProbabilityOne() throws {
        var p = ExplorationPolicy(base: StaticPolicy(action: 3, identity: "s"), mode: .epsilonGreedy(epsilon: 1),
                                  hold: 4, seed: 9)
        let first = try p.decide(context(step: 0))
        for step in 1..<4 {
            let d = try p.decide(context(step: step))
            #expect(d.action == first.action && d.probability == 1)
        }
        #expect(try p.decide(context(step: 4)).probability == 1.0 / 16)
    }

    @Test func sameSeedSameChoices() throws {
        func run() throws -> [Int] {
            var p = ExplorationPolicy(base: StaticPolicy(action: 0, identity: "s"), mode: .epsilonGreedy(epsilon: 0.5), seed: 42)
            return try (0..<50).map { try p.decide(context(step: $0)).action }
        }
        #expect(try run() == run())
    }
}
