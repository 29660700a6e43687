import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// Errors loading a model file from disk.
enum ModelLoadError: Error, CustomStringConvertible {
    case unreadable(String, String)
    /// `--ensemble-default` names no action of the model's space.
    case ensembleDefaultNotInSpace(path: String, setting: String, space: String)
    var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read model: \(r)"
        case .ensembleDefaultNotInSpace(let p, let setting, let space):
            return "\(p): --ensemble-default '\(setting)' is not an action of the model's space '\(space)' (see `coalesce inspect \(p)`)"
        }
    }
}

/// Loads and verifies model files, once per path.
final class ModelStore {
    private var files: [String: ModelFile] = [:]
    /// A setting that replaces every ensemble model's default action (`--ensemble-default`);
    /// models that are not ensembles are unaffected.
    let ensembleDefault: String?

    init(ensembleDefault: String? = nil) {
        self.ensembleDefault = ensembleDefault
    }

    func file(_ path: String) throws -> ModelFile {
        if let f = files[path] { return f }
        let bytes = try Self.readBytes(path)
        let f = try ModelFile.decode(bytes, source: path)
        files[path] = f
        return f
    }

    /// A fresh policy for the model at `path` (policies carry scratch buffers: one per run).
    func policy(_ path: String) throws -> AnyPolicy {
        AnyPolicy(try modelPolicy(path))
    }

    /// The same as `policy`, unerased (for callers that need the model's scores or sizes).
    func modelPolicy(_ path: String) throws -> ModelPolicy {
        let model = try file(path)
        return try ModelPolicy(model: model, identity: "model:" + path,
                               ensembleDefault: try Self.ensembleDefault(ensembleDefault, of: model, path: path))
    }

    /// The action id of `setting` in an ensemble `model`'s space (nil: no setting, or not an ensemble).
    private static func ensembleDefault(_ setting: String?, of model: ModelFile, path: String) throws -> Int? {
        guard let setting, model.metadata.ensemble != nil else { return nil }
        let space = model.metadata.actionSpace
        guard let id = space.index(ofSpec: setting) else {
            throw ModelLoadError.ensembleDefaultNotInSpace(path: path, setting: setting, space: space.name)
        }
        return id
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
