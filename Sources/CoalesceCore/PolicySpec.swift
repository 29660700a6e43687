/// A policy named on the command line:
///
/// - `static:rx-usecs=8,rx-frames=32` — one fixed setting (keys as in `ethtool -C`;
///   `nic.`/`vnic.` prefixes address one layer; unset keys take the action space's
///   first setting's values, so TX moderation matches the space)
/// - `dim`, `dim-cqe`, `itr` — hand the RX moderation to the driver's own adaptive
///   algorithm on every layer (Linux DIM EQE/CQE profiles, Intel adaptive ITR)
/// - `explore:base=SPEC,epsilon=0.2[,hold=5][,allowed=0-11][,seed=N]` or
///   `explore:...,softmax=0.5` — exploration around a base policy (default base: uniform)
/// - `model:FILE` — a trained model file
public indirect enum PolicySpec: Sendable, Hashable, CustomStringConvertible {
    case staticSetting(String)
    case adaptive(AdaptiveAlgorithm)
    case explore(base: PolicySpec?, mode: ExplorationMode, hold: Int, allowed: [Int]?, seed: UInt64?)
    case model(path: String)

    static let exploreKeys: Set<String> = ["base", "epsilon", "softmax", "hold", "allowed", "seed"]

    /// Parses a spec; errors name the part at fault.
    public static func parse(_ text: String) throws(PolicySpecError) -> PolicySpec {
        let t = text.trimmedWhitespace
        switch t {
        case "dim", "dim-eqe": return .adaptive(.dimEQE)
        case "dim-cqe": return .adaptive(.dimCQE)
        case "itr": return .adaptive(.intelITR)
        default: break
        }
        if t.hasPrefix("static:") { return .staticSetting(String(t.dropFirst(7))) }
        if t.hasPrefix("model:") {
            let path = String(t.dropFirst(6))
            guard !path.isEmpty else { throw .malformed(text, "model: needs a file path") }
            return .model(path: path)
        }
        if t == "explore" || t.hasPrefix("explore:") {
            var base: String?
            var epsilon: Double?
            var temperature: Double?
            var hold = 1
            var allowed: [Int]?
            var seed: UInt64?
            var lastKey = ""
            for token in t.dropFirst(8).split(separator: ",", omittingEmptySubsequences: false) where !token.isEmpty {
                let kv = token.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2, exploreKeys.contains(kv[0]) {
                    lastKey = kv[0]
                    switch kv[0] {
                    case "base": base = kv[1]
                    case "epsilon":
                        guard let e = Double(kv[1]), e >= 0, e <= 1 else { throw .malformed(text, "epsilon must be in [0, 1]") }
                        epsilon = e
                    case "softmax":
                        guard let x = Double(kv[1]), x > 0 else { throw .malformed(text, "softmax temperature must be > 0") }
                        temperature = x
                    case "hold":
                        guard let h = Int(kv[1]), h >= 1 else { throw .malformed(text, "hold must be an integer ≥ 1") }
                        hold = h
                    case "allowed": allowed = try parseAllowed(kv[1], text)
                    default:
                        guard let s = UInt64(kv[1]) else { throw .malformed(text, "seed must be a non-negative integer") }
                        seed = s
                    }
                } else if lastKey == "base", let b = base {
                    base = b + "," + token  // the base spec's own parameters
                } else {
                    throw .malformed(text, "unknown explore parameter '\(token)'; known: \(exploreKeys.sorted().joined(separator: ", "))")
                }
            }
            if epsilon != nil && temperature != nil { throw .malformed(text, "give epsilon or softmax, not both") }
            let mode: ExplorationMode = temperature.map { .softmax(temperature: $0) } ?? .epsilonGreedy(epsilon: epsilon ?? (base == nil ? 1 : 0.2))
            return .explore(base: try base.map { b throws(PolicySpecError) in try parse(b) }, mode: mode, hold: hold,
                            allowed: allowed, seed: seed)
        }
        throw .malformed(text, "expected static:KEY=VALUE,..., dim, dim-cqe, itr, explore:..., or model:FILE")
    }

    static func parseAllowed(_ value: String, _ text: String) throws(PolicySpecError) -> [Int] {
        var ids: [Int] = []
        for part in value.split(separator: ";") {
            let bounds = part.split(separator: "-").map { Int($0) }
            if bounds.count == 1, let a = bounds[0] { ids.append(a) }
            else if bounds.count == 2, let a = bounds[0], let b = bounds[1], a <= b { ids += Array(a...b) }
            else { throw .malformed(text, "allowed takes action ids like 0-11;14") }
        }
        return ids
    }

    public var description: String {
        switch self {
        case .staticSetting(let s): return "static:" + s
        case .adaptive(let a): return a == .dimEQE ? "dim" : a.rawValue
        case .model(let p): return "model:" + p
        case .explore(let base, let mode, let hold, let allowed, let seed):
            var parts: [String] = []
            switch mode {
            case .epsilonGreedy(let e): parts.append("epsilon=\(e)")
            case .softmax(let t): parts.append("softmax=\(t)")
            }
            if hold != 1 { parts.append("hold=\(hold)") }
            if let a = allowed { parts.append("allowed=" + a.map(String.init).joined(separator: ";")) }
            if let s = seed { parts.append("seed=\(s)") }
            if let b = base { parts.append("base=\(b)") }
            return "explore:" + parts.joined(separator: ",")
        }
    }

    /// The fixed settings this spec needs in the action space (static and adaptive specs).
    public func requiredSettings(in space: ActionSpace) throws(PolicySpecError) -> [CoalescingSetting] {
        switch self {
        case .staticSetting(let text):
            do {
                return [try CoalescingSetting.parse(text, layerCount: space.layerCount, base: Self.baseLayer(space))]
            } catch { throw .badSetting(text, error) }
        case .adaptive(let algorithm):
            return [Self.adaptiveSetting(algorithm, space)]
        case .explore(let base, _, _, _, _):
            return try base?.requiredSettings(in: space) ?? []
        case .model:
            return []
        }
    }

    /// The layer defaults static specs start from: the first setting of the space with moderation removed.
    static func baseLayer(_ space: ActionSpace) -> LayerSetting {
        var l = space.settings[0].layers[0]
        l.adaptiveRx = .off
        l.adaptiveTx = .off
        return l
    }

    /// The setting for "the driver's adaptive algorithm on every layer": the space's
    /// own entry when it has one, else the first setting with `adaptive-rx` switched on.
    public static func adaptiveSetting(_ algorithm: AdaptiveAlgorithm, _ space: ActionSpace) -> CoalescingSetting {
        if let s = space.settings.first(where: { $0.layers.allSatisfy { $0.adaptiveRx == algorithm } }) { return s }
        var s = space.settings[0]
        for i in s.layers.indices {
            s.layers[i].adaptiveRx = algorithm
            if s.layers[i].rxUsecs == 0 { s.layers[i].rxUsecs = 8; s.layers[i].rxFrames = 16 }
        }
        return s
    }

    /// Builds the policy over `space`, which must already contain `requiredSettings`.
    /// `loadModel` turns a `model:` path into a policy (the CLI and agent supply it).
    public func makePolicy(
        space: ActionSpace, seed: UInt64, loadModel: (String) throws -> AnyPolicy
    ) throws -> AnyPolicy {
        switch self {
        case .staticSetting, .adaptive:
            let setting = try requiredSettings(in: space)[0]
            guard let id = space.index(of: setting) else { throw PolicySpecError.notInSpace(description, space.name) }
            return AnyPolicy(StaticPolicy(action: id, identity: description))
        case .model(let path):
            return try loadModel(path)
        case .explore(let base, let mode, let hold, let allowed, let s):
            let basePolicy = try base?.makePolicy(space: space, seed: seed, loadModel: loadModel)
                ?? AnyPolicy(StaticPolicy(action: 0, identity: "uniform"))
            let effectiveMode: ExplorationMode
            if base == nil, case .epsilonGreedy = mode { effectiveMode = .epsilonGreedy(epsilon: 1) } else { effectiveMode = mode }
            if let a = allowed, let bad = a.first(where: { $0 < 0 || $0 >= space.count }) {
                throw PolicySpecError.malformed(description, "allowed action \(bad) is outside the space (\(space.count) actions)")
            }
            return AnyPolicy(ExplorationPolicy(base: basePolicy, mode: effectiveMode, allowed: allowed, hold: hold, seed: s ?? seed))
        }
    }
}

/// Errors in a policy spec.
public enum PolicySpecError: Error, CustomStringConvertible {
    case malformed(String, String)
    case badSetting(String, SettingSpecError)
    case notInSpace(String, String)

    public var description: String {
        switch self {
        case .malformed(let t, let r): return "policy '\(t)': \(r)"
        case .badSetting(let t, let e): return "policy 'static:\(t)': \(e)"
        case .notInSpace(let t, let s): return "policy '\(t)': its setting is not in action space '\(s)'"
        }
    }
}
