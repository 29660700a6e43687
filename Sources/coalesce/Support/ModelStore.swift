import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// Errors loading a model file from disk.
enum ModelLoadError: Error, CustomStringConvertible {
    case unreadable(String, String)
    var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read model: \(r)"
        }
    }
}

/// Loads and verifies model files, once per path.
final class ModelStore {
    private var files: [String: ModelFile] = [:]

    func file(_ path: String) throws -> ModelFile {
        if let f = files[path] { return f }
        let bytes = try Self.readBytes(path)
        let f = try ModelFile.decode(bytes, source: path)
        files[path] = f
        return f
    }

    /// A fresh policy for the model at `path` (policies carry scratch buffers: one per run).
    func policy(_ path: String) throws -> AnyPolicy {
        AnyPolicy(try ModelPolicy(model: try file(path), identity: "model:" + path))
    }

    /// The action space of the first model any spec names, if any.
    func actionSpace(of specs: [PolicySpec]) throws -> ActionSpace? {
        for spec in specs {
            var s: PolicySpec? = spec
            while let current = s {
                switch current {
                case .model(let path): return try file(path).metadata.actionSpace
                case .explore(let base, _, _, _, _): s = base
                default: s = nil
                }
            }
        }
        return nil
    }

    static func readBytes(_ path: String) throws -> [UInt8] {
        do { return try FileBytes.read(path) } catch { throw ModelLoadError.unreadable(path, error.reason) }
    }
}
