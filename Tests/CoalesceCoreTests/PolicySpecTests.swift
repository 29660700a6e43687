import Testing
@testable import CoalesceCore

@Suite("Policy specs")
struct PolicySpecTests {
    @Test func parsesEveryKind() throws {
        #expect(try PolicySpec.parse("dim") == .adaptive(.dimEQE))
        #expect(try PolicySpec.parse("dim-cqe") == .adaptive(.dimCQE))
        #expect(try PolicySpec.parse("itr") == .adaptive(.intelITR))
        #expect(try PolicySpec.parse("static:rx-usecs=8,rx-frames=32") == .staticSetting("rx-usecs=8,rx-frames=32"))
        #expect(try PolicySpec.parse("model:/tmp/m.model") == .model(path: "/tmp/m.model"))
    }

    @Test func exploreBaseKeepsItsOwnCommas() throws {
        let spec = try PolicySpec.parse("explore:base=static:rx-usecs=8,rx-frames=16,epsilon=0.3,hold=5,allowed=0-3;14")
        guard case .explore(let base, let mode, let hold, let allowed, _) = spec else { Issue.record("not explore"); return }
        #expect(base == .staticSetting("rx-usecs=8,rx-frames=16"))
        #expect(mode == .epsilonGreedy(epsilon: 0.3))
        #expect(hold == 5)
        #expect(allowed == [0, 1, 2, 3, 14])
        #expect(try PolicySpec.parse(spec.description) == spec)
    }

    @Test func rejectsBadSpecsWithReasons() {
        #expect(throws: PolicySpecError.self) { try PolicySpec.parse("dimm") }
        #expect(throws: PolicySpecError.self) { try PolicySpec.parse("explore:epsilon=2") }
        #expect(throws: PolicySpecError.self) { try PolicySpec.parse("explore:epsilon=0.1,softmax=1") }
        #expect(throws: PolicySpecError.self) { try PolicySpec.parse("explore:color=red") }
        #expect(throws: PolicySpecError.self) { try PolicySpec.requiredSettings(.staticSetting("rx-usecs=x"))(in: .bareMetal) }
    }

    @Test func staticSpecsTakeTXDefaultsFromTheSpace() throws {
        let s = try PolicySpec.staticSetting("rx-usecs=8,rx-frames=16").requiredSettings(in: .bareMetal)[0]
        #expect(ActionSpace.bareMetal.index(of: s) == 3)
    }

    @Test func adaptiveSpecsUseTheSpaceEntries() throws {
        let dim = try PolicySpec.adaptive(.dimEQE).requiredSettings(in: .virtualized)[0]
        #expect(dim.layers.allSatisfy { $0.adaptiveRx == .dimEQE })
        #expect(ActionSpace.virtualized.index(of: dim) == 15)
        let itr = try PolicySpec.adaptive(.intelITR).requiredSettings(in: .bareMetal)[0]
        #expect(ActionSpace.bareMetal.index(of: itr) == 14)
    }

    @Test func uniformExplorationCoversTheAllowedSet() throws {
        var p = try PolicySpec.parse("explore:allowed=2;5").makePolicy(space: .bareMetal, seed: 3, loadModel: { _ in fatalError() })
        let ctx = DecisionContext(step: 0, state: [], observation: Observation(timestampNs: 1, setting: ActionSpace.bareMetal.settings[0]),
                                  currentAction: 0, actionSpace: .bareMetal)
        var seen = Set<Int>()
        for _ in 0..<100 {
            let d = try p.decide(ctx)
            seen.insert(d.action)
            #expect(d.probability == 0.5)
        }
        #expect(seen == [2, 5])
    }
}
