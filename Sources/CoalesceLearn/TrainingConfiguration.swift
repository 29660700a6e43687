import CoalesceCore

/// The offline algorithms the trainer implements (docs/training.md).
public enum OfflineAlgorithm: String, Sendable, CaseIterable, Codable {
    /// Behaviour cloning: a classifier of the logged action (baseline).
    case behaviourCloning = "bc"
    /// Neural fitted Q iteration: each epoch regresses on targets from the previous epoch's network.
    case nfq
    /// DQN on a fixed dataset: max over a target network.
    case dqn
    /// Double DQN: online network picks, target network evaluates.
    case doubleDQN = "double-dqn"
    /// Discrete CQL (Kumar et al. 2020): Double DQN plus α·(logsumexp_a Q(s,a) − Q(s,a_data)).
    case cql
    /// Discrete BCQ (Fujimoto et al. 2019): actions with π̂_b(a|s)/max π̂_b < τ are excluded.
    case bcq
    /// Tabular Q iteration over a quantile discretisation.
    case tabular
    /// Tabular Q iteration with the conservative option (unseen actions excluded, count penalty α/√n).
    case tabularCQL = "tabular-cql"

    /// Whether the model is a Q-table.
    public var isTabular: Bool { self == .tabular || self == .tabularCQL }
}

/// How the target network follows the online network.
public enum TargetUpdate: Sendable, Hashable, CustomStringConvertible {
    /// Copy every `steps` gradient steps.
    case hard(steps: Int)
    /// θ' ← (1−τ)θ' + τθ after every step.
    case polyak(tau: Float)

    /// Parses `hard:500` or `polyak:0.005`.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "hard": guard let n = Int(parts[1]), n > 0 else { return nil }; self = .hard(steps: n)
        case "polyak": guard let t = Float(parts[1]), t > 0, t <= 1 else { return nil }; self = .polyak(tau: t)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .hard(let n): return "hard:\(n)"
        case .polyak(let t): return "polyak:\(t)"
        }
    }
}

/// How rewards are scaled before the Q-network regresses on them.
public enum RewardNormalisation: String, Sendable, Hashable, CaseIterable {
    /// Every reward divided by the training rewards' standard deviation (one scale).
    case global
    /// Every row's reward divided by a scale of its own state, σ(s) = the mean |r| of the
    /// training rows in s's cell of a quantile discretisation (`StateRewardScale`), floored
    /// at a low quantile of |r|. The TD target becomes r_i/σ(s_i) + γ·(σ(s'_i)/σ(s_i))·Q̃(s'_i, ·),
    /// so Q̃ = Q/σ exactly and, σ being a function of the features alone, the greedy action
    /// is unchanged; but every state's action differences are learned at the same relative
    /// precision: a 0.05 gap between two settings on a quiet link is not drowned by the
    /// ±1000 rewards of an overloaded one.
    case perState = "state"
}

/// Every knob of a training run. Defaults are the documented ones (docs/training.md).
public struct TrainingConfiguration: Sendable, Hashable {
    public var algorithm: OfflineAlgorithm = .cql
    public var hidden: [Int] = [64, 64]
    public var gamma: Double = 0.9
    public var epochs: Int = 30
    public var batchSize: Int = 256
    /// Gradient steps per epoch; nil = one dataset's worth of samples (rows / batch, at least 200).
    public var stepsPerEpoch: Int? = nil
    public var learningRate: Float = 1e-3
    public var maxGradientNorm: Float = 10
    public var huberDelta: Float = 1
    public var targetUpdate: TargetUpdate = .hard(steps: 200)
    /// Rate τ of an exponential moving average of the online Q-network's parameters
    /// (θ̄ ← (1−τ)θ̄ + τθ after every step); when set, the model stores θ̄ instead of the
    /// last iterate, which averages out the step-to-step noise of Adam on noisy rewards.
    /// nil = store the last parameters. Not used by `bc` (it keeps its best epoch).
    public var weightAveraging: Float? = nil
    /// How rewards are scaled for the Q-network (`--reward-normalisation`).
    public var rewardNormalisation: RewardNormalisation = .global
    /// With `.perState`: the quantile of |r| over the training rows used as the scale floor.
    public var stateScaleFloorQuantile: Double = 0.1
    /// CQL's α (also the tabular conservative penalty).
    public var cqlAlpha: Float = 1
    /// BCQ's τ.
    public var bcqThreshold: Float = 0.3
    /// Early stopping: epochs without improvement of the validation loss before stopping (0 = never).
    public var patience: Int = 5
    public var seed: UInt64 = 0
    public var validationFraction: Double = 0.2
    /// Q-table: bins per selected feature.
    public var binsPerFeature: Int = 4
    /// Q-table: maximum number of cells.
    public var maxCells: Int = 4096
    /// Q-table: maximum sweeps.
    public var maxSweeps: Int = 500
    /// Q-networks trained on bootstrap resamples of the training rows (1 = one network on
    /// all of them). With more, the model keeps `ensembleDefaultAction` unless another
    /// action is confidently better across the members (`EnsembleRule`).
    public var ensembleMembers: Int = 1
    /// κ of `EnsembleRule`: standard deviations of the members' advantages a change must clear.
    public var ensemblePessimism: Double = 1
    /// The ensemble's default action; nil = the action with the lowest 95th percentile of
    /// regret over the training states (`OfflineTrainer.leastRegretAction`).
    public var ensembleDefaultAction: Int? = nil
    /// An ensemble keeps its default where a feature lies outside the training rows'
    /// [q, 1 − q] quantiles (widened by `supportMargin` of that span): `FeatureSupport`.
    /// 0 = no support check.
    public var supportQuantile: Double = 0.001
    /// How far the support box reaches beyond the quantiles, as a fraction of their span.
    public var supportMargin: Double = 0.1

    public init() {}

    /// The hyper-parameters as text, for the model's metadata.
    public var hyperParameters: [String: String] {
        var h: [String: String] = [
            "algorithm": algorithm.rawValue, "gamma": "\(gamma)", "seed": "\(seed)",
            "validation_fraction": "\(validationFraction)",
        ]
        if algorithm.isTabular {
            h["bins_per_feature"] = "\(binsPerFeature)"
            h["max_cells"] = "\(maxCells)"
            h["max_sweeps"] = "\(maxSweeps)"
            if algorithm == .tabularCQL { h["conservative_alpha"] = "\(cqlAlpha)" }
        } else {
            h["hidden"] = hidden.map(String.init).joined(separator: ",")
            h["epochs"] = "\(epochs)"
            h["batch_size"] = "\(batchSize)"
            h["steps_per_epoch"] = stepsPerEpoch.map { "\($0)" } ?? "auto"
            h["learning_rate"] = "\(learningRate)"
            h["max_gradient_norm"] = "\(maxGradientNorm)"
            h["huber_delta"] = "\(huberDelta)"
            h["target_update"] = targetUpdate.description
            if let tau = weightAveraging { h["weight_averaging"] = "\(tau)" }
            if rewardNormalisation == .perState {
                h["reward_normalisation"] = rewardNormalisation.rawValue
                h["state_scale_floor_quantile"] = "\(stateScaleFloorQuantile)"
            }
            h["patience"] = "\(patience)"
            h["optimizer"] = "adam(0.9,0.999,1e-8)"
            h["init"] = "he-normal"
            if algorithm == .cql { h["cql_alpha"] = "\(cqlAlpha)" }
            if algorithm == .bcq { h["bcq_threshold"] = "\(bcqThreshold)" }
            if ensembleMembers > 1 {
                h["ensemble_members"] = "\(ensembleMembers)"
                h["ensemble_pessimism"] = "\(ensemblePessimism)"
                h["ensemble_default_action"] = ensembleDefaultAction.map { "\($0)" } ?? "auto"
                h["ensemble_resampling"] = "bootstrap-rows"
                h["support_quantile"] = "\(supportQuantile)"
                if supportQuantile > 0 { h["support_margin"] = "\(supportMargin)" }
            }
        }
        return h
    }

    /// Checks ranges.
    public func validate() throws(LearnError) {
        guard gamma >= 0, gamma < 1 else { throw .invalidConfiguration("gamma \(gamma) must be in [0, 1)") }
        guard epochs > 0 else { throw .invalidConfiguration("epochs must be > 0") }
        guard batchSize > 0 else { throw .invalidConfiguration("batch size must be > 0") }
        guard hidden.allSatisfy({ $0 > 0 }) else { throw .invalidConfiguration("hidden layer sizes must be > 0") }
        guard learningRate > 0 else { throw .invalidConfiguration("learning rate must be > 0") }
        guard huberDelta > 0 else { throw .invalidConfiguration("Huber delta must be > 0") }
        if let tau = weightAveraging {
            guard tau > 0, tau <= 1 else { throw .invalidConfiguration("weight averaging rate \(tau) must be in (0, 1]") }
        }
        if rewardNormalisation == .perState {
            guard !algorithm.isTabular, algorithm != .behaviourCloning else {
                throw .invalidConfiguration("per-state reward normalisation applies to the Q-network algorithms, not \(algorithm.rawValue)")
            }
            guard stateScaleFloorQuantile > 0, stateScaleFloorQuantile < 1 else {
                throw .invalidConfiguration("state scale floor quantile \(stateScaleFloorQuantile) must be in (0, 1)")
            }
        }
        guard cqlAlpha >= 0 else { throw .invalidConfiguration("CQL alpha must be ≥ 0") }
        guard bcqThreshold >= 0, bcqThreshold <= 1 else { throw .invalidConfiguration("BCQ threshold must be in [0, 1]") }
        guard validationFraction >= 0, validationFraction < 1 else { throw .invalidConfiguration("validation fraction must be in [0, 1)") }
        guard ensembleMembers >= 1, ensembleMembers <= 32 else {
            throw .invalidConfiguration("ensemble members \(ensembleMembers) must be in 1…32")
        }
        if ensembleMembers > 1 {
            guard [.nfq, .dqn, .doubleDQN, .cql].contains(algorithm) else {
                throw .invalidConfiguration("an ensemble needs a Q-network algorithm (nfq, dqn, double-dqn, cql), not \(algorithm.rawValue)")
            }
            guard ensemblePessimism.isFinite, ensemblePessimism >= 0 else {
                throw .invalidConfiguration("ensemble pessimism \(ensemblePessimism) must be a finite number ≥ 0")
            }
            if let a = ensembleDefaultAction, a < 0 { throw .invalidConfiguration("ensemble default action \(a) must be ≥ 0") }
            guard supportQuantile >= 0, supportQuantile < 0.5 else {
                throw .invalidConfiguration("support quantile \(supportQuantile) must be in [0, 0.5)")
            }
            guard supportMargin >= 0, supportMargin.isFinite else {
                throw .invalidConfiguration("support margin \(supportMargin) must be a finite number ≥ 0")
            }
        }
        guard binsPerFeature >= 2, maxCells >= 1 else { throw .invalidConfiguration("Q-table needs ≥ 2 bins per feature and ≥ 1 cell") }
    }
}

/// Figures of one epoch (or one tabular sweep).
public struct EpochReport: Sendable, Hashable, Codable {
    public var epoch: Int
    /// Mean training loss over the epoch's steps.
    public var trainingLoss: Double
    /// Validation loss (Huber TD loss, or cross-entropy for BC).
    public var validationLoss: Double
    /// Mean |TD error| on the validation rows (accuracy of the logged action for BC).
    public var validationTDError: Double
}

/// Progress callback payload.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    public var lastReport: EpochReport?
}
