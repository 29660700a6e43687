/// How raw state features are normalised before a model sees them:
/// `x' = (x − mean) / scale`, in Float32, feature by feature.
public struct FeatureNormalisation: Sendable, Hashable, Codable {
    public var mean: [Float]
    public var scale: [Float]

    public init(mean: [Float], scale: [Float]) {
        self.mean = mean
        self.scale = scale
    }

    /// No change: mean 0, scale 1.
    public static func identity(count: Int) -> FeatureNormalisation {
        FeatureNormalisation(mean: Array(repeating: 0, count: count), scale: Array(repeating: 1, count: count))
    }

    /// Normalises one feature value (the exact arithmetic the trainer and `ModelPolicy` share).
    @inlinable
    public func apply(_ x: Float, feature i: Int) -> Float { (x - mean[i]) / scale[i] }
}

/// Identifies a dataset a model was trained on.
public struct DatasetFingerprint: Sendable, Hashable, Codable {
    /// The file's name (without directories, so the model does not depend on where it was trained).
    public var name: String
    /// SHA-256 of the file's bytes, lower-case hex.
    public var sha256: String
    /// Transitions (rows) used from it.
    public var rows: Int

    public init(name: String, sha256: String, rows: Int) {
        self.name = name
        self.sha256 = sha256
        self.rows = rows
    }
}

/// What kind of function a model file holds.
public enum ModelKind: String, Sendable, Hashable, Codable {
    /// A Q-table over a `StateDiscretisation`: tensor `q_table`, cells × actions.
    case qTable = "q-table"
    /// A dense network (`MLPShape`) whose outputs are per-action scores
    /// (Q-values, or logits for behaviour cloning): tensor `q_network`, and for BCQ
    /// the behaviour network `behaviour_network`.
    case mlp
}

/// One Float32 array in the weights section.
public struct TensorInfo: Sendable, Hashable, Codable {
    public var name: String
    public var count: Int

    public init(name: String, count: Int) {
        self.name = name
        self.count = count
    }
}

/// The box of raw feature values a model was trained on: per feature, a low and a
/// high quantile of the training states, widened by a margin. A state with any
/// feature outside it is unlike every training state in at least that feature.
public struct FeatureSupport: Sendable, Hashable, Codable {
    public var low: [Float]
    public var high: [Float]

    public init(low: [Float], high: [Float]) {
        self.low = low
        self.high = high
    }

    /// Whether every feature of the raw `state` lies within its bounds.
    @inlinable
    public func contains(_ state: UnsafePointer<Float>) -> Bool {
        for i in low.indices where !(state[i] >= low[i] && state[i] <= high[i]) { return false }
        return true
    }

    /// The support of `states` (rows of `featureCount` raw values): per feature the
    /// `quantile` and 1 − `quantile` of the values, each moved out by `margin` times their distance.
    public static func of(states: [Float], featureCount: Int, quantile: Double, margin: Double) -> FeatureSupport {
        let rows = states.count / max(1, featureCount)
        var low: [Float] = [], high: [Float] = []
        for f in 0..<featureCount {
            var column = (0..<rows).map { states[$0 * featureCount + f] }
            column.sort()
            guard !column.isEmpty else { low.append(0); high.append(0); continue }
            let lo = CoreMath.quantile(sorted: column, quantile), hi = CoreMath.quantile(sorted: column, 1 - quantile)
            let pad = Float(margin) * (hi - lo)
            low.append(lo - pad)
            high.append(hi + pad)
        }
        return FeatureSupport(low: low, high: high)
    }
}

/// How an ensemble model chooses (docs/model-format.md, docs/training.md): it keeps
/// `defaultAction` unless some action's advantage over it is positive with confidence
/// across the members, i.e. mean_k A_k(s,a) − pessimism · std_k A_k(s,a) > 0 where
/// A_k(s,a) = Q_k(s,a) − Q_k(s,defaultAction); among those it takes the largest bound.
/// Where the members disagree (states unlike the training data) the bound is low,
/// so the model stays with the default. With `ModelMetadata.support`, a state
/// outside the training support keeps the default whatever the members say:
/// networks extrapolate there, and may all extrapolate the same wrong way.
public struct EnsembleRule: Sendable, Hashable, Codable {
    /// Number of Q-networks (tensors `q_network`, `q_network_1`, …), at least 2.
    public var members: Int
    /// κ ≥ 0: how many standard deviations of the members' advantages a change must clear.
    public var pessimism: Double
    /// The action kept unless another one is confidently better.
    public var defaultAction: Int

    public init(members: Int, pessimism: Double, defaultAction: Int) {
        self.members = members
        self.pessimism = pessimism
        self.defaultAction = defaultAction
    }

    /// The name of member `k`'s tensor.
    public static func tensorName(member k: Int) -> String { k == 0 ? "q_network" : "q_network_\(k)" }
}

/// The JSON metadata of a model file (docs/model-format.md).
public struct ModelMetadata: Sendable, Hashable, Codable {
    public var kind: ModelKind
    /// State features, in the order the model reads them.
    public var featureNames: [String]
    public var normalisation: FeatureNormalisation
    /// The actions, with every parameter: output `i` scores `actionSpace.settings[i]`.
    public var actionSpace: ActionSpace
    /// The objective whose reward the model maximises.
    public var objective: Objective
    /// e.g. `cql`, `double-dqn`, `tabular`.
    public var algorithm: String
    /// Every hyper-parameter of the run, as text (sorted by key in the file).
    public var hyperParameters: [String: String]
    /// Training datasets.
    public var datasets: [DatasetFingerprint]
    /// Seconds since 1970 (UTC), see docs/model-format.md for where it comes from.
    public var createdAtEpoch: Int64
    /// The same instant as ISO 8601 text, for people.
    public var createdAt: String
    /// Version of the tool that wrote the file.
    public var toolVersion: String
    /// Rewards were divided by this before training, so Q-values are in reward / rewardScale units.
    public var rewardScale: Double
    /// Network architecture (`mlp`).
    public var network: MLPShape?
    /// BCQ's behaviour network architecture, when the model filters actions.
    public var behaviourNetwork: MLPShape?
    /// BCQ threshold τ: an action is allowed when π̂_b(a|s) ≥ τ · max_a' π̂_b(a'|s).
    public var actionFilterThreshold: Double?
    /// Q-table discretisation (`qTable`).
    public var discretisation: StateDiscretisation?
    /// The arrays of the weights section, in order.
    public var tensors: [TensorInfo]
    /// Final training figures (e.g. `validation_td_error`), for people.
    public var trainingSummary: [String: Double]
    /// Whether the training data had latency features (a probe ran, or the simulator).
    /// A host without a probe must refuse such a model. nil in files that predate the field.
    public var latencyFeatures: Bool?
    /// Set for an ensemble of Q-networks chosen between by a confidence bound (`mlp` only).
    public var ensemble: EnsembleRule?
    /// The raw feature values the model was trained on (`FeatureSupport`); an ensemble
    /// keeps its default outside it. nil: no check (and files that predate the field).
    public var support: FeatureSupport?

    /// True when the model reads latency features and so needs a latency probe.
    public var usesLatency: Bool { latencyFeatures ?? false }

    /// The support box the model's decisions honour: an ensemble keeps its default
    /// outside it; other models have no default to keep, so nil for them.
    public var ensembleSupport: FeatureSupport? { ensemble == nil ? nil : support }

    public init(
        kind: ModelKind, featureNames: [String], normalisation: FeatureNormalisation, actionSpace: ActionSpace,
        objective: Objective, algorithm: String, hyperParameters: [String: String], datasets: [DatasetFingerprint],
        createdAtEpoch: Int64, toolVersion: String, rewardScale: Double = 1, network: MLPShape? = nil,
        behaviourNetwork: MLPShape? = nil, actionFilterThreshold: Double? = nil,
        discretisation: StateDiscretisation? = nil, tensors: [TensorInfo], trainingSummary: [String: Double] = [:]
    ) {
        self.kind = kind
        self.featureNames = featureNames
        self.normalisation = normalisation
        self.actionSpace = actionSpace
        self.objective = objective
        self.algorithm = algorithm
        self.hyperParameters = hyperParameters
        self.datasets = datasets
        self.createdAtEpoch = createdAtEpoch
        self.createdAt = ISO8601UTC.format(epochSeconds: createdAtEpoch)
        self.toolVersion = toolVersion
        self.rewardScale = rewardScale
        self.network = network
        self.behaviourNetwork = behaviourNetwork
        self.actionFilterThreshold = actionFilterThreshold
        self.discretisation = discretisation
        self.tensors = tensors
        self.trainingSummary = trainingSummary
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds, without Foundation's calendar
/// (CoalesceCore stays free of OS services; this is the civil-from-days algorithm
/// of H. Hinnant's date library).
public enum ISO8601UTC {
    public static func format(epochSeconds: Int64) -> String {
        let days = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secondsOfDay = epochSeconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let h = secondsOfDay / 3600, m = (secondsOfDay % 3600) / 60, s = secondsOfDay % 60
        return "\(year)-\(two(month))-\(two(day))T\(two(h)):\(two(m)):\(two(s))Z"
    }
}
