#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A trained policy as stored on disk (docs/model-format.md):
///
///     offset 0        8 bytes   magic "COALMODL"
///     8               u32 LE    format version (1)
///     12              u32 LE    metadata length n
///     16              n bytes   metadata, UTF-8 JSON with sorted keys (`ModelMetadata`)
///     16+n            u64 LE    weights length m (bytes, a multiple of 4)
///     24+n            m bytes   Float32 LE values of `metadata.tensors`, in order
///     24+n+m          32 bytes  SHA-256 of every preceding byte
public struct ModelFile: Sendable, Equatable {
    /// The 8 bytes every model file starts with.
    public static let magic: [UInt8] = Array("COALMODL".utf8)
    /// The format version this code writes and reads.
    public static let formatVersion: UInt32 = 1

    public var metadata: ModelMetadata
    /// The weight arrays, one per `metadata.tensors` entry, in the same order.
    public var tensors: [[Float]]

    /// A model; `validate()` checks that the tensors match the metadata.
    public init(metadata: ModelMetadata, tensors: [[Float]]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The tensor called `name`, if present.
    public func tensor(_ name: String) -> [Float]? {
        guard let i = metadata.tensors.firstIndex(where: { $0.name == name }), i < tensors.count else { return nil }
        return tensors[i]
    }

    /// The file's bytes. Deterministic: the same model always gives the same bytes.
    public func encoded() throws(ModelFileError) -> [UInt8] {
        try validate()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json: [UInt8]
        do { json = Array(try encoder.encode(metadata)) } catch { throw .metadata("cannot encode: \(error)") }
        var bytes = Self.magic
        appendLE(&bytes, Self.formatVersion)
        appendLE(&bytes, UInt32(json.count))
        bytes += json
        let floatCount = tensors.reduce(0) { $0 + $1.count }
        appendLE(&bytes, UInt64(floatCount * 4))
        bytes.reserveCapacity(bytes.count + floatCount * 4 + 32)
        for t in tensors { for x in t { appendLE(&bytes, x.bitPattern) } }
        bytes += SHA256.hash(bytes)
        return bytes
    }

    /// Parses and verifies a model file: magic, version, lengths, checksum, metadata
    /// and the consistency of tensors with it. `source` names the file in errors.
    public static func decode(_ bytes: [UInt8], source: String = "model") throws(ModelFileError) -> ModelFile {
        guard bytes.count >= 8 else { throw .truncated(source, expected: 8, found: bytes.count) }
        guard Array(bytes[0..<8]) == magic else { throw .badMagic(source, found: Array(bytes[0..<8])) }
        guard bytes.count >= 16 else { throw .truncated(source, expected: 16, found: bytes.count) }
        let version: UInt32 = readLE(bytes, at: 8)
        guard version == formatVersion else { throw .unsupportedVersion(source, found: version, supported: formatVersion) }
        let metadataLength = Int(readLE(bytes, at: 12) as UInt32)
        guard bytes.count >= 24 + metadataLength else {
            throw .truncated(source, expected: 24 + metadataLength, found: bytes.count)
        }
        let weightBytes: UInt64 = readLE(bytes, at: 16 + metadataLength)
        guard weightBytes % 4 == 0, weightBytes <= UInt64(Int.max / 2) else {
            throw .inconsistent(source, "weights length \(weightBytes) is not a whole number of Float32 values")
        }
        let expected = 24 + metadataLength + Int(weightBytes) + 32
        guard bytes.count >= expected else { throw .truncated(source, expected: expected, found: bytes.count) }
        guard bytes.count == expected else {
            throw .inconsistent(source, "\(bytes.count - expected) unexpected byte(s) after the checksum")
        }
        let stored = Array(bytes[(expected - 32)...])
        let computed = SHA256.hash(Array(bytes[..<(expected - 32)]))
        guard stored == computed else {
            throw .checksumMismatch(source, stored: SHA256.hex(stored), computed: SHA256.hex(computed))
        }
        let metadata: ModelMetadata
        do {
            metadata = try JSONDecoder().decode(ModelMetadata.self, from: Data(bytes[16..<(16 + metadataLength)]))
        } catch {
            throw .metadata("\(source): \(DecodingErrorText.describe(error))")
        }
        var tensors: [[Float]] = []
        var offset = 24 + metadataLength
        let declared = metadata.tensors.reduce(0) { $0 + max(0, $1.count) }
        guard declared * 4 == Int(weightBytes) else {
            throw .inconsistent(source, "metadata declares \(declared) weights, the file holds \(weightBytes / 4)")
        }
        for info in metadata.tensors {
            var t = [Float](repeating: 0, count: info.count)
            for i in 0..<info.count { t[i] = Float(bitPattern: readLE(bytes, at: offset + 4 * i)) }
            offset += 4 * info.count
            tensors.append(t)
        }
        let model = ModelFile(metadata: metadata, tensors: tensors)
        try model.validate(source: source)
        return model
    }

    /// Checks that the metadata is self-consistent and the tensors have the declared sizes.
    public func validate(source: String = "model") throws(ModelFileError) {
        let m = metadata
        let n = m.featureNames.count
        guard n > 0 else { throw .inconsistent(source, "no feature names") }
        guard m.normalisation.mean.count == n, m.normalisation.scale.count == n else {
            throw .inconsistent(source, "normalisation has \(m.normalisation.mean.count) means and \(m.normalisation.scale.count) scales for \(n) features")
        }
        guard m.normalisation.scale.allSatisfy({ $0.isFinite && $0 > 0 }), m.normalisation.mean.allSatisfy(\.isFinite) else {
            throw .inconsistent(source, "normalisation holds a non-finite mean or a non-positive scale")
        }
        guard tensors.count == m.tensors.count else {
            throw .inconsistent(source, "metadata lists \(m.tensors.count) tensors, \(tensors.count) present")
        }
        for (info, t) in zip(m.tensors, tensors) where info.count != t.count {
            throw .inconsistent(source, "tensor '\(info.name)' declares \(info.count) values, holds \(t.count)")
        }
        for (info, t) in zip(m.tensors, tensors) {
            if let i = t.firstIndex(where: { !$0.isFinite }) {
                throw .inconsistent(source, "tensor '\(info.name)' value \(i) is not finite")
            }
        }
        if let support = m.support {
            guard support.low.count == n, support.high.count == n else {
                throw .inconsistent(source, "support has \(support.low.count) low and \(support.high.count) high bounds for \(n) features")
            }
            for i in 0..<n where !(support.low[i].isFinite && support.high[i].isFinite && support.low[i] <= support.high[i]) {
                throw .inconsistent(source, "support of feature '\(m.featureNames[i])' is not a finite interval (\(support.low[i]) … \(support.high[i]))")
            }
        }
        let actions = m.actionSpace.count
        switch m.kind {
        case .qTable:
            guard let d = m.discretisation, d.isValid(featureCount: n) else {
                throw .inconsistent(source, "q-table model without a valid discretisation")
            }
            guard let q = tensor("q_table") else { throw .inconsistent(source, "q-table model without tensor 'q_table'") }
            guard q.count == d.cellCount * actions else {
                throw .inconsistent(source, "q_table holds \(q.count) values, expected \(d.cellCount) cells × \(actions) actions")
            }
        case .mlp:
            guard let shape = m.network, shape.isValid else { throw .inconsistent(source, "mlp model without a valid network shape") }
            guard shape.inputCount == n else {
                throw .inconsistent(source, "network has \(shape.inputCount) inputs for \(n) features")
            }
            guard shape.outputCount == actions else {
                throw .inconsistent(source, "network has \(shape.outputCount) outputs for \(actions) actions")
            }
            guard tensor("q_network")?.count == shape.parameterCount else {
                throw .inconsistent(source, "tensor 'q_network' must hold \(shape.parameterCount) parameters for \(shape)")
            }
            if let e = m.ensemble {
                guard e.members >= 2 else { throw .inconsistent(source, "an ensemble needs at least 2 members, not \(e.members)") }
                guard e.pessimism.isFinite, e.pessimism >= 0 else {
                    throw .inconsistent(source, "ensemble pessimism \(e.pessimism) is not a finite number ≥ 0")
                }
                guard e.defaultAction >= 0, e.defaultAction < actions else {
                    throw .inconsistent(source, "ensemble default action \(e.defaultAction) is not one of the \(actions) actions")
                }
                guard m.behaviourNetwork == nil else { throw .inconsistent(source, "an ensemble cannot also have a BCQ filter") }
                for k in 1..<e.members {
                    let name = EnsembleRule.tensorName(member: k)
                    guard tensor(name)?.count == shape.parameterCount else {
                        throw .inconsistent(source, "tensor '\(name)' must hold \(shape.parameterCount) parameters for \(shape)")
                    }
                }
            }
            if let b = m.behaviourNetwork {
                guard b.isValid, b.inputCount == n, b.outputCount == actions else {
                    throw .inconsistent(source, "behaviour network \(b) does not map \(n) features to \(actions) actions")
                }
                guard tensor("behaviour_network")?.count == b.parameterCount else {
                    throw .inconsistent(source, "tensor 'behaviour_network' must hold \(b.parameterCount) parameters for \(b)")
                }
                guard let tau = m.actionFilterThreshold, tau >= 0, tau <= 1 else {
                    throw .inconsistent(source, "behaviour network without a threshold in [0, 1]")
                }
            }
        }
    }

    /// Checks that the model reads exactly `featureNames` and chooses among exactly
    /// `actionSpace` (same settings, same order).
    public func checkCompatible(featureNames: [String], actionSpace: ActionSpace, source: String = "model") throws(ModelFileError) {
        guard metadata.featureNames == featureNames else {
            throw .featureMismatch(source, model: metadata.featureNames, expected: featureNames)
        }
        guard metadata.actionSpace.settings == actionSpace.settings else {
            let firstDifference = zip(metadata.actionSpace.settings, actionSpace.settings).enumerated()
                .first { $0.element.0 != $0.element.1 }?.offset
            throw .actionSpaceMismatch(source, model: metadata.actionSpace.name, modelCount: metadata.actionSpace.count,
                                       expected: actionSpace.name, expectedCount: actionSpace.count,
                                       firstDifference: firstDifference)
        }
    }
}

/// Why a model file was refused.
public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    /// The file does not start with "COALMODL".
    case badMagic(String, found: [UInt8])
    /// The format version is not one this build reads.
    case unsupportedVersion(String, found: UInt32, supported: UInt32)
    /// The file ends before the length its header declares.
    case truncated(String, expected: Int, found: Int)
    /// The SHA-256 at the end does not match the content.
    case checksumMismatch(String, stored: String, computed: String)
    /// The metadata JSON cannot be read.
    case metadata(String)
    /// Lengths, shapes or values contradict each other.
    case inconsistent(String, String)
    /// The model reads other features than the caller provides.
    case featureMismatch(String, model: [String], expected: [String])
    /// The model chooses among other actions than the caller's action space.
    case actionSpaceMismatch(String, model: String, modelCount: Int, expected: String, expectedCount: Int, firstDifference: Int?)

    public var description: String {
        switch self {
        case .badMagic(let s, let found):
            return "\(s): not a Coalesce model file (starts with \(found.map { String($0, radix: 16) }), expected 'COALMODL')"
        case .unsupportedVersion(let s, let v, let supported):
            return "\(s): model format version \(v) is not supported (this build reads version \(supported))"
        case .truncated(let s, let e, let f): return "\(s): truncated: \(f) bytes, the header requires \(e)"
        case .checksumMismatch(let s, let stored, let computed):
            return "\(s): checksum mismatch (stored \(stored), content hashes to \(computed)): the file is corrupted"
        case .metadata(let m): return "model metadata unreadable: \(m)"
        case .inconsistent(let s, let m): return "\(s): inconsistent model: \(m)"
        case .featureMismatch(let s, let model, let expected):
            let missing = expected.filter { !model.contains($0) }, extra = model.filter { !expected.contains($0) }
            return "\(s): the model reads features [\(model.joined(separator: ", "))], this build provides [\(expected.joined(separator: ", "))]"
                + (missing.isEmpty ? "" : "; missing from model: \(missing.joined(separator: ", "))")
                + (extra.isEmpty ? "" : "; unknown here: \(extra.joined(separator: ", "))")
        case .actionSpaceMismatch(let s, let m, let mc, let e, let ec, let d):
            return "\(s): the model chooses among '\(m)' (\(mc) actions), the target uses '\(e)' (\(ec) actions)"
                + (d.map { "; action \($0) differs" } ?? "")
        }
    }
}

@inline(__always)
private func appendLE<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { bytes.append(contentsOf: $0) }
}

@inline(__always)
private func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
    return v
}
