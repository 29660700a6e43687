import Testing
@testable import CoalesceCore

/// Hand-built models (no trainer needed) for the model-file and policy tests.
enum SampleModels {
    static func network(seed: UInt64, shape: MLPShape) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<shape.parameterCount).map { _ in Float(g.nextUnit() * 0.6 - 0.3) }
    }

    static func mlp(seed: UInt64 = 1, filterThreshold: Double? = nil) -> ModelFile {
        let shape = MLPShape(inputs: FeatureExtractor.count, hidden: [64, 64], outputs: ActionSpace.bareMetal.count)
        var tensors = [TensorInfo(name: "q_network", count: shape.parameterCount)]
        var arrays = [network(seed: seed, shape: shape)]
        if filterThreshold != nil {
            tensors.append(TensorInfo(name: "behaviour_network", count: shape.parameterCount))
            arrays.append(network(seed: seed + 100, shape: shape))
        }
        let mean = (0..<FeatureExtractor.count).map { Float($0) * 0.5 }
        let scale = (0..<FeatureExtractor.count).map { 1 + Float($0) * 0.25 }
        let metadata = ModelMetadata(
            kind: .mlp, featureNames: FeatureExtractor.featureNames, normalisation: FeatureNormalisation(mean: mean, scale: scale),
            actionSpace: .bareMetal, objective: .latency, algorithm: filterThreshold == nil ? "cql" : "bcq",
            hyperParameters: ["gamma": "0.9", "hidden": "64,64"],
            datasets: [DatasetFingerprint(name: "a.csv", sha256: String(repeating: "ab", count: 32), rows: 1000)],
            createdAtEpoch: 1_700_000_000, toolVersion: "test", rewardScale: 2, network: shape,
            behaviourNetwork: filterThreshold == nil ? nil : shape, actionFilterThreshold: filterThreshold, tensors: tensors)
        return ModelFile(metadata: metadata, tensors: arrays)
    }

    /// An ensemble of `members` random networks choosing by `EnsembleRule`.
    static func ensemble(members: Int = 4, pessimism: Double = 1, defaultAction: Int = 3) -> ModelFile {
        var model = mlp()
        let shape = model.metadata.network!
        for k in 1..<members {
            model.metadata.tensors.append(TensorInfo(name: EnsembleRule.tensorName(member: k), count: shape.parameterCount))
            model.tensors.append(network(seed: 10 + UInt64(k), shape: shape))
        }
        model.metadata.ensemble = EnsembleRule(members: members, pessimism: pessimism, defaultAction: defaultAction)
        return model
    }

    static func table() -> ModelFile {
        let d = StateDiscretisation(featureIndices: [0, 2], edges: [[-0.5, 0.5], [0]])
        let actions = ActionSpace.bareMetal.count
        let values = (0..<(d.cellCount * actions)).map { Float(($0 * 7919) % 101) / 10 }
        let metadata = ModelMetadata(
            kind: .qTable, featureNames: FeatureExtractor.featureNames,
            normalisation: .identity(count: FeatureExtractor.count), actionSpace: .bareMetal, objective: .balanced,
            algorithm: "tabular-cql", hyperParameters: [:], datasets: [], createdAtEpoch: 0, toolVersion: "test",
            discretisation: d, tensors: [TensorInfo(name: "q_table", count: values.count)])
        return ModelFile(metadata: metadata, tensors: [values])
    }

    static func state(_ g: inout SeededGenerator) -> [Float] {
        (0..<FeatureExtractor.count).map { _ in Float(g.nextUnit() * 12 - 3) }
    }
}

@Suite struct ModelFileTests {
    func error(decoding bytes: [UInt8]) -> ModelFileError? {
        do {
            _ = try ModelFile.decode(bytes, source: "m.model")
            return nil
        } catch {
            return error
        }
    }

    @Test func encodeDecodeRoundTripsExactly() throws {
        for model in [SampleModels.mlp(), SampleModels.mlp(filterThreshold: 0.3), SampleModels.table(), SampleModels.ensemble()] {
            let bytes = try model.encoded()
            #expect(Array(bytes.prefix(8)) == Array("COALMODL".utf8))
            let decoded = try ModelFile.decode(bytes)
            #expect(decoded == model)
            #expect(try decoded.encoded() == bytes)
        }
    }

    @Test func metadataCarriesWhatTheFormatPromises() throws {
        let decoded = try ModelFile.decode(try SampleModels.mlp().encoded())
        #expect(decoded.metadata.featureNames == FeatureExtractor.featureNames)
        #expect(decoded.metadata.actionSpace == .bareMetal)
        #expect(decoded.metadata.objective == .latency)
        #expect(decoded.metadata.createdAt == "2023-11-14T22:13:20Z")
        #expect(decoded.metadata.datasets.first?.rows == 1000)
        #expect(decoded.metadata.hyperParameters["hidden"] == "64,64")
    }

    @Test func everyFlippedByteIsRefused() throws {
        let bytes = try SampleModels.table().encoded()
        for position in stride(from: 16, to: bytes.count, by: 97) {
            var corrupted = bytes
            corrupted[position] ^= 0x40
            let e = error(decoding: corrupted)
            if case .checksumMismatch = e { continue }
            // A flipped length field can also make the file look truncated or padded.
            if case .truncated = e, position >= 12 { continue }
            if case .inconsistent = e { continue }
            Issue.record("byte \(position): \(String(describing: e))")
        }
        var weights = bytes
        weights[bytes.count - 40] ^= 1
        guard case .checksumMismatch(let source, _, _) = error(decoding: weights) else {
            Issue.record("a flipped weight byte must fail the checksum"); return
        }
        #expect(source == "m.model")
    }

    @Test func truncatedFilesAreRefusedAsTruncated() throws {
        let bytes = try SampleModels.mlp().encoded()
        for length in [0, 5, 8, 15, 20, 200, bytes.count / 2, bytes.count - 33, bytes.count - 1] {
            guard case .truncated(_, let expected, let found) = error(decoding: Array(bytes.prefix(length))) else {
                Issue.record("length \(length) was not reported as truncated"); continue
            }
            #expect(found == length)
            #expect(expected > found)
        }
    }

    @Test func badMagicAndUnknownVersionAreNamed() throws {
        var bytes = try SampleModels.table().encoded()
        var wrongMagic = bytes
        wrongMagic[0] = UInt8(ascii: "X")
        guard case .badMagic = error(decoding: wrongMagic) else { Issue.record("bad magic not detected"); return }
        bytes[8] = 2
        guard case .unsupportedVersion(_, let found, let supported) = error(decoding: bytes) else {
            Issue.record("version 2 not refused"); return
        }
        #expect(found == 2 && supported == 1)
        #expect(ModelFileError.unsupportedVersion("m", found: 2, supported: 1).description.contains("version 2"))
    }

    @Test func inconsistentTensorsCannotBeWritten() {
        var model = SampleModels.mlp()
        model.tensors[0].removeLast()
        #expect(throws: ModelFileError.self) { try model.encoded() }
        var table = SampleModels.table()
        table.metadata.discretisation = StateDiscretisation(featureIndices: [0], edges: [[1, 0]])
        #expect(throws: ModelFileError.self) { try table.encoded() }
    }

    @Test func featuresOrActionsThatDoNotMatchAreRefused() throws {
        let model = SampleModels.mlp()
        try model.checkCompatible(featureNames: FeatureExtractor.featureNames, actionSpace: .bareMetal)
        var names = FeatureExtractor.featureNames
        names.swapAt(0, 1)
        #expect(throws: ModelFileError.featureMismatch("model", model: FeatureExtractor.featureNames, expected: names)) {
            try model.checkCompatible(featureNames: names, actionSpace: .bareMetal)
        }
        do {
            try model.checkCompatible(featureNames: FeatureExtractor.featureNames, actionSpace: .virtualized)
            Issue.record("a different action space was accepted")
        } catch {
            guard case .actionSpaceMismatch(_, let m, _, let e, _, let first) = error else { Issue.record("\(error)"); return }
            #expect(m == "bare-metal-16" && e == "virtualized-16" && first == 0)
        }
    }

    @Test func inconsistentEnsemblesAreRefusedByName() {
        func refusal(_ change: (inout ModelFile) -> Void) -> String {
            var model = SampleModels.ensemble(members: 3)
            change(&model)
            do { try model.validate(source: "e.model"); return "" } catch { return "\(error)" }
        }
        #expect(refusal { _ in } == "")
        #expect(refusal { $0.metadata.ensemble!.members = 4 }.contains("tensor 'q_network_3' must hold"))
        #expect(refusal { $0.metadata.ensemble!.members = 1 }.contains("at least 2 members"))
        #expect(refusal { $0.metadata.ensemble!.defaultAction = 16 }.contains("default action 16 is not one of the 16 actions"))
        #expect(refusal { $0.metadata.ensemble!.pessimism = -1 }.contains("pessimism -1.0"))
        #expect(refusal { $0.metadata.ensemble!.pessimism = .nan }.contains("pessimism nan"))
        #expect(refusal { $0.tensors[2].removeLast(); $0.metadata.tensors[2].count -= 1 }.contains("q_network_2"))
    }

    @Test func isoTimestampsAreCivilUTC() {
        #expect(ISO8601UTC.format(epochSeconds: 0) == "1970-01-01T00:00:00Z")
        #expect(ISO8601UTC.format(epochSeconds: 951_782_400) == "2000-02-29T00:00:00Z")
        #expect(ISO8601UTC.format(epochSeconds: 1_700_000_000) == "2023-11-14T22:13:20Z")
    }
}
