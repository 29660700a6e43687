import CoalesceCore
import Testing

@Suite("built-in action spaces")
struct ActionSpaceTests {
    /// What the Linux 6.1 e1000e driver accepts for rx-usecs (`e1000_set_coalesce`).
    static func e1000eAccepts(_ usecs: UInt32) -> Bool {
        usecs <= 4 ? usecs != 2 : (10...10_000).contains(usecs)
    }

    /// What the driver reports back after `ethtool -C rx-usecs N` (`e1000_get_coalesce`).
    static func e1000eReadBack(_ usecs: UInt32) -> UInt32 {
        guard usecs > 4 else { return usecs }
        let stored = (1_000_000 / usecs) & ~3
        return 1_000_000 / stored
    }

    @Test("the e1000e space holds only rx-usecs values the driver accepts and reports back unchanged")
    func e1000eValues() throws {
        let space = ActionSpace.e1000e
        #expect(space.name == "e1000e-8")
        #expect(space.layerCount == 1)
        #expect(space.count == 8)
        let usecs = space.settings.map { $0.layers[0].rxUsecs }
        #expect(usecs == [0, 200, 500, 1000, 2000, 5000, 1, 3])
        for u in usecs {
            #expect(Self.e1000eAccepts(u), "rx-usecs \(u) is EINVAL on e1000e")
            #expect(Self.e1000eReadBack(u) == u, "rx-usecs \(u) reads back as \(Self.e1000eReadBack(u))")
        }
        // Only rx-usecs: e1000e has no rx-frames, tx-* or adaptive flags, and the NAPI knobs stay off.
        for s in space.settings {
            var l = s.layers[0]
            l.rxUsecs = 0
            l.adaptiveRx = .off
            #expect(l == .unmoderated)
        }
    }

    @Test("e1000e: static settings first (least to most moderation), then the driver's two ITR modes")
    func e1000eOrder() {
        let layers = ActionSpace.e1000e.settings.map { $0.layers[0] }
        let statics = layers.prefix { $0.adaptiveRx == .off }
        #expect(statics.count == 6)
        #expect(zip(statics, statics.dropFirst()).allSatisfy { $0.rxUsecs < $1.rxUsecs })
        // Under QEMU's 128 µs throttle floor every static value above 0 must still differ.
        #expect(statics.dropFirst().allSatisfy { $0.rxUsecs > 128 })
        #expect(layers.suffix(2).map(\.adaptiveRx) == [.intelITR, .intelITR])
        #expect(ActionSpace.e1000e.settings[6].specText == "rx-usecs=1,adaptive-rx=itr")
        #expect(ActionSpace.e1000e.settings[7].specText == "rx-usecs=3,adaptive-rx=itr")
    }

    @Test("built-in spaces are found by short and by full name; unknown names are refused")
    func named() throws {
        #expect(try ActionSpace.named("e1000e") == .e1000e)
        #expect(try ActionSpace.named("e1000e-8") == .e1000e)
        #expect(try ActionSpace.named("bare-metal") == .bareMetal)
        #expect(try ActionSpace.named("bare-metal-16") == .bareMetal)
        #expect(try ActionSpace.named("virtualized") == .virtualized)
        #expect(throws: ActionSpaceError.unknownName("e1000", known: ["bare-metal", "virtualized", "e1000e"])) {
            try ActionSpace.named("e1000")
        }
    }

    @Test("a static spec over the e1000e space lands on its actions; the itr spec on the driver's default mode")
    func specsInSpace() throws {
        let space = ActionSpace.e1000e
        let s500 = try PolicySpec.parse("static:rx-usecs=500").requiredSettings(in: space)
        #expect(space.index(of: s500[0]) == 2)
        let itr = PolicySpec.adaptiveSetting(.intelITR, space)
        #expect(space.index(of: itr) == 6)
        let explicit = try PolicySpec.parse("static:rx-usecs=3,adaptive-rx=itr").requiredSettings(in: space)
        #expect(space.index(of: explicit[0]) == 7)
    }

    @Test("a model over the e1000e space stores it in its file and reads it back")
    func modelFile() throws {
        let shape = MLPShape(inputs: FeatureExtractor.count, hidden: [8], outputs: ActionSpace.e1000e.count)
        let metadata = ModelMetadata(
            kind: .mlp, featureNames: FeatureExtractor.featureNames,
            normalisation: .identity(count: FeatureExtractor.count), actionSpace: .e1000e, objective: .latency,
            algorithm: "cql", hyperParameters: [:], datasets: [], createdAtEpoch: 0, toolVersion: "test",
            rewardScale: 1, network: shape, tensors: [TensorInfo(name: "q_network", count: shape.parameterCount)])
        let file = ModelFile(metadata: metadata, tensors: [Array(repeating: 0.01, count: shape.parameterCount)])
        let back = try ModelFile.decode(try file.encoded())
        #expect(back.metadata.actionSpace == .e1000e)
        try back.checkCompatible(featureNames: FeatureExtractor.featureNames, actionSpace: .e1000e)
        #expect(throws: ModelFileError.self) {
            try back.checkCompatible(featureNames: FeatureExtractor.featureNames, actionSpace: .bareMetal)
        }
    }
}
