import CoalesceCore
#if canImport(Glibc)
import Glibc
#endif

/// A verified model file: its policy and identity.
struct LoadedModel {
    var file: ModelFile
    var sha256: String
    var path: String

    /// A short identity for logs and metrics: algorithm, objective and checksum prefix.
    var version: String { "\(file.metadata.algorithm)/\(file.metadata.objective.name)/\(sha256.prefix(12))" }
}

/// Errors loading a model in the agent.
enum AgentModelError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalid(path: String, reason: String)
    case needsLatency(path: String)
    case layerMismatch(path: String, model: Int, target: Int)

    var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): cannot read: \(r)"
        case .invalid(let p, let r): return "\(p): refused: \(r)"
        case .needsLatency(let p):
            return "\(p): the model was trained with latency features, but no latency probe runs here; start the agent with --probe HOST:PORT or use a model trained without latency"
        case .layerMismatch(let p, let m, let t):
            return "\(p): the model sets \(m) coalescing layer(s), the target has \(t)"
        }
    }
}

/// Reads and fully verifies model files, and notices when the file changes.
///
/// Changes are detected by polling `stat(2)` (inode, size, mtime) once per control
/// interval — one syscall, no inotify thread — and on SIGHUP. A new file replaces
/// the running policy only after it has been read whole and verified (magic,
/// version, SHA-256, features, actions); otherwise the old policy keeps running.
struct ModelSource {
    let path: String
    private var lastIdentity: FileIdentity?

    struct FileIdentity: Equatable {
        var inode: UInt64
        var size: Int64
        var mtimeNs: Int64
    }

    init(path: String) { self.path = path }

    static func identity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(inode: UInt64(st.st_ino), size: Int64(st.st_size),
                            mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// True when the file differs from the last one loaded (or cannot be seen).
    func changed() -> Bool {
        Self.identity(path) != lastIdentity
    }

    /// Loads and verifies the file; checks it fits the target.
    mutating func load(layerCount: Int, latencyAvailable: Bool) throws -> LoadedModel {
        let before = Self.identity(path)
        let bytes = try Self.readAll(path)
        let file: ModelFile
        do { file = try ModelFile.decode(bytes, source: path) } catch {
            lastIdentity = before  // do not retry the same broken file every interval
            throw AgentModelError.invalid(path: path, reason: "\(error)")
        }
        lastIdentity = before
        do { try file.checkCompatible(featureNames: FeatureExtractor.featureNames, actionSpace: file.metadata.actionSpace, source: path) } catch {
            throw AgentModelError.invalid(path: path, reason: "\(error)")
        }
        if file.metadata.actionSpace.layerCount != layerCount {
            throw AgentModelError.layerMismatch(path: path, model: file.metadata.actionSpace.layerCount, target: layerCount)
        }
        if file.metadata.usesLatency && !latencyAvailable { throw AgentModelError.needsLatency(path: path) }
        return LoadedModel(file: file, sha256: SHA256.hex(SHA256.hash(bytes)), path: path)
    }

    /// The action space of the file as it is now (verified like any load).
    func peekActionSpace() throws -> ActionSpace {
        do { return try ModelFile.decode(try Self.readAll(path), source: path).metadata.actionSpace } catch let e as AgentModelError {
            throw e
        } catch { throw AgentModelError.invalid(path: path, reason: "\(error)") }
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        do { return try FileBytes.read(path) } catch { throw AgentModelError.unreadable(path: path, reason: error.reason) }
    }
}

/// The running policy, replaceable between control steps (hot reload). With an
/// exploration rate it wraps the model in ε-greedy exploration so recorded rows
/// carry the true π_b.
struct SwappablePolicy: Policy {
    private var current: AnyPolicy
    private(set) var model: LoadedModel
    let epsilon: Double
    let seed: UInt64
    /// The action the running ensemble keeps unless confident (nil: not an ensemble).
    private(set) var ensembleDefault: Int?

    /// `ensembleDefault` replaces an ensemble model's own default action.
    init(model: LoadedModel, epsilon: Double, seed: UInt64, ensembleDefault: Int? = nil) throws {
        self.model = model
        self.epsilon = epsilon
        self.seed = seed
        (self.current, self.ensembleDefault) = try Self.make(model, epsilon: epsilon, seed: seed, ensembleDefault: ensembleDefault)
    }

    /// `ensembleDefault` applies to ensemble models only: any other model keeps none.
    static func make(_ model: LoadedModel, epsilon: Double, seed: UInt64, ensembleDefault: Int?) throws -> (AnyPolicy, Int?) {
        let policy = try ModelPolicy(model: model.file, identity: "model:\(model.version)",
                                     ensembleDefault: model.file.metadata.ensemble == nil ? nil : ensembleDefault)
        let chosen = policy.ensembleDefault
        guard epsilon > 0 else { return (AnyPolicy(policy), chosen) }
        let allowed = Array(0..<policy.actionCount)
        return (AnyPolicy(ExplorationPolicy(base: policy, mode: .epsilonGreedy(epsilon: epsilon), allowed: allowed, seed: seed)), chosen)
    }

    /// Replaces the policy atomically (between two steps).
    mutating func replace(with model: LoadedModel, ensembleDefault: Int? = nil) throws {
        (current, self.ensembleDefault) = try Self.make(model, epsilon: epsilon, seed: seed, ensembleDefault: ensembleDefault)
        self.model = model
    }

    var identity: String { current.identity }

    mutating func decide(_ context: DecisionContext) throws(PolicyError) -> Decision {
        try current.decide(context)
    }

    func scores(_ context: DecisionContext) throws(PolicyError) -> [Double]? { try current.scores(context) }
}
