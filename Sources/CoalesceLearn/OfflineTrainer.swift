import CoalesceCore

/// The outcome of a training run: everything a model file needs, plus the history.
public struct TrainingResult: Sendable {
    public var configuration: TrainingConfiguration
    public var kind: ModelKind
    public var normalisation: FeatureNormalisation
    public var rewardScale: Double
    public var network: MLPShape?
    public var parameters: [Float]
    public var behaviourNetwork: MLPShape?
    public var behaviourParameters: [Float]?
    public var discretisation: StateDiscretisation?
    /// Members 1… of an ensemble (member 0 is `parameters`), each the same `network` shape.
    public var ensembleParameters: [[Float]] = []
    /// The ensemble's decision rule, when there are members.
    public var ensemble: EnsembleRule?
    /// The training states' support (raw features), for an ensemble's support check.
    public var support: FeatureSupport?
    /// Per epoch (or per tabular sweep) figures.
    public var history: [EpochReport]
    /// Epoch whose parameters were kept (the best validation loss).
    public var bestEpoch: Int
    public var stoppedEarly: Bool
    public var trainingRows: Int
    public var validationRows: Int
    /// How many split units (episodes, or episode segments) the split used.
    public var splitUnits: Int
    public var gradientSteps: Int

    /// The model file for this result.
    public func modelFile(featureNames: [String], actionSpace: ActionSpace, objective: Objective,
                          datasets: [DatasetFingerprint], createdAtEpoch: Int64, toolVersion: String,
                          summary: [String: Double] = [:]) throws(LearnError) -> ModelFile {
        var tensors: [TensorInfo] = []
        var arrays: [[Float]] = []
        switch kind {
        case .qTable:
            tensors.append(TensorInfo(name: "q_table", count: parameters.count))
            arrays.append(parameters)
        case .mlp:
            tensors.append(TensorInfo(name: "q_network", count: parameters.count))
            arrays.append(parameters)
            if let b = behaviourParameters {
                tensors.append(TensorInfo(name: "behaviour_network", count: b.count))
                arrays.append(b)
            }
            for (k, member) in ensembleParameters.enumerated() {
                tensors.append(TensorInfo(name: EnsembleRule.tensorName(member: k + 1), count: member.count))
                arrays.append(member)
            }
        }
        var metadata = ModelMetadata(
            kind: kind, featureNames: featureNames, normalisation: normalisation, actionSpace: actionSpace,
            objective: objective, algorithm: configuration.algorithm.rawValue,
            hyperParameters: configuration.hyperParameters, datasets: datasets, createdAtEpoch: createdAtEpoch,
            toolVersion: toolVersion, rewardScale: rewardScale, network: network, behaviourNetwork: behaviourNetwork,
            actionFilterThreshold: behaviourNetwork == nil ? nil : Double(configuration.bcqThreshold),
            discretisation: discretisation, tensors: tensors, trainingSummary: summary)
        metadata.ensemble = ensemble
        metadata.support = support
        let model = ModelFile(metadata: metadata, tensors: arrays)
        do { try model.validate() } catch { throw .invalidData("trained model is inconsistent: \(error)") }
        return model
    }
}

/// Runs one training job end to end: normalisation, reward scaling, the chosen
/// algorithm with per-epoch validation and early stopping.
public enum OfflineTrainer {
    /// Trains on `training` and validates on `validation` (raw features, rewards in
    /// objective units). `progress` is called after every epoch and every ~2 % of steps.
    public static func train(
        training rawTraining: OfflineDataset, validation rawValidation: OfflineDataset,
        configuration: TrainingConfiguration, splitUnits: Int = 0,
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws(LearnError) -> TrainingResult {
        try configuration.validate()
        guard rawTraining.count > 0 else { throw .invalidData("no training transitions") }
        let normalisation = rawTraining.featureNormalisation()
        let normalisedTraining = rawTraining.normalised(normalisation)
        let normalisedValidation = rawValidation.normalised(normalisation)
        let rewardScale: Double
        let training: OfflineDataset, validation: OfflineDataset
        if configuration.rewardNormalisation == .perState {
            // Q-values come out in units of each state's own scale (docs/training.md).
            rewardScale = 1
            let scale = StateRewardScale(learningFrom: normalisedTraining, floorQuantile: configuration.stateScaleFloorQuantile)
            training = normalisedTraining.scaledPerState(by: scale.scale(of:))
            validation = normalisedValidation.scaledPerState(by: scale.scale(of:))
        } else {
            rewardScale = rawTraining.rewardScale
            training = normalisedTraining.scaled(by: Float(1 / rewardScale))
            validation = normalisedValidation.scaled(by: Float(1 / rewardScale))
        }
        var result = TrainingResult(
            configuration: configuration, kind: .mlp, normalisation: normalisation, rewardScale: rewardScale,
            network: nil, parameters: [], behaviourNetwork: nil, behaviourParameters: nil, discretisation: nil,
            history: [], bestEpoch: 0, stoppedEarly: false, trainingRows: training.count,
            validationRows: validation.count, splitUnits: splitUnits, gradientSteps: 0)

        if configuration.algorithm.isTabular {
            let d = TabularLearner.learnDiscretisation(training, bins: configuration.binsPerFeature, maxCells: configuration.maxCells)
            var learner = TabularLearner(data: training, discretisation: d, gamma: configuration.gamma,
                                         conservativeAlpha: configuration.algorithm == .tabularCQL ? configuration.cqlAlpha : nil)
            var history: [EpochReport] = []
            let sweeps = learner.fit(maxSweeps: configuration.maxSweeps) { sweep, change in
                history.append(EpochReport(epoch: sweep, trainingLoss: Double(change), validationLoss: .nan, validationTDError: .nan))
                progress?(TrainingProgress(step: sweep, totalSteps: configuration.maxSweeps, epoch: sweep, lastReport: history.last))
            }
            let td = learner.tdError(on: validation)
            if !history.isEmpty { history[history.count - 1].validationTDError = td; history[history.count - 1].validationLoss = td }
            result.kind = .qTable
            result.discretisation = d
            result.parameters = learner.finalValues()
            result.history = history
            result.bestEpoch = sweeps
            return result
        }

        var behaviour: MLP?
        var stepsDone = 0
        let stepsPerEpoch = configuration.stepsPerEpoch ?? max(200, training.count / configuration.batchSize)
        let phases = configuration.algorithm == .bcq ? 2 : 1
        let members = configuration.ensembleMembers
        let totalSteps = stepsPerEpoch * configuration.epochs * phases * members
        if configuration.algorithm == .bcq {
            var bc = configuration
            bc.algorithm = .behaviourCloning
            let learner = try NetworkLearner(data: training, configuration: bc)
            let phase = runEpochs(learner, validation: validation, stepsPerEpoch: stepsPerEpoch, stepOffset: 0,
                                  totalSteps: totalSteps, progress: progress)
            stepsDone += phase.steps
            behaviour = learner.online
            result.behaviourNetwork = learner.online.shape
            result.behaviourParameters = learner.online.parameterArray
        }
        var memberParameters: [[Float]] = []
        for k in 0..<members {
            // One network on all rows; or, for an ensemble, member k on its own bootstrap
            // resample of the rows with its own seed (initialisation and batches).
            var memberConfiguration = configuration
            var memberData = training
            if members > 1 {
                memberConfiguration.seed = configuration.seed &+ UInt64(k)
                var draw = SeededGenerator.stream(seed: configuration.seed, 0xB0075 &+ UInt64(k))
                memberData = training.rows((0..<training.count).map { _ in draw.nextIndex(training.count) })
            }
            let learner = try NetworkLearner(data: memberData, configuration: memberConfiguration, behaviour: behaviour)
            learner.behaviourForValidation = behaviour
            let phase = runEpochs(learner, validation: validation, stepsPerEpoch: stepsPerEpoch, stepOffset: stepsDone,
                                  totalSteps: totalSteps, progress: progress)
            stepsDone += phase.steps
            memberParameters.append((learner.averaged ?? learner.online).parameterArray)
            if k == 0 {
                result.network = learner.online.shape
                result.history = phase.history
                result.bestEpoch = phase.bestEpoch
                result.stoppedEarly = phase.stoppedEarly
            }
        }
        result.parameters = memberParameters[0]
        result.ensembleParameters = Array(memberParameters.dropFirst())
        result.gradientSteps = stepsDone
        if memberParameters.contains(where: { $0.contains { !$0.isFinite } }) {
            throw .diverged("non-finite network parameters after \(result.gradientSteps) steps; lower --learning-rate or raise --gamma margin")
        }
        if members > 1, let shape = result.network {
            let values = ensembleMeanValues(of: memberParameters, shape: shape, states: normalisedTraining)
            let defaultAction = configuration.ensembleDefaultAction
                ?? Self.leastRegretAction(values: values, actionCount: shape.outputCount)
            guard defaultAction < training.actionCount else {
                throw .invalidConfiguration("ensemble default action \(defaultAction) is not one of the \(training.actionCount) actions")
            }
            result.ensemble = EnsembleRule(members: members, pessimism: configuration.ensemblePessimism, defaultAction: defaultAction)
            if configuration.supportQuantile > 0 {
                result.support = FeatureSupport.of(states: rawTraining.states, featureCount: rawTraining.featureCount,
                                                   quantile: configuration.supportQuantile, margin: configuration.supportMargin)
            }
        }
        return result
    }

    /// The quantile of per-state regret `leastRegretAction` ranks actions by.
    public static let defaultRegretQuantile = 0.95

    /// The action whose regret, max_a' Q(s,a') − Q(s,a), is lowest at the
    /// `quantile` over the states (`values`: states × actions, row-major): the single
    /// setting that is rarely far from the best one. An average would favour the
    /// setting that is best in most states even when it is very bad in a few (e.g. low
    /// moderation in overload); this is the fallback the ensemble keeps when unsure.
    /// Ties go to the lowest action id.
    public static func leastRegretAction(values: [Float], actionCount: Int, quantile: Double = defaultRegretQuantile) -> Int {
        let states = values.count / max(1, actionCount)
        guard states > 0 else { return 0 }
        var regrets = [[Float]](repeating: [], count: actionCount)
        for a in 0..<actionCount { regrets[a].reserveCapacity(states) }
        for s in 0..<states {
            let row = values[(s * actionCount)..<((s + 1) * actionCount)]
            let best = row.max()!
            for a in 0..<actionCount { regrets[a].append(best - row[row.startIndex + a]) }
        }
        let rank = min(states - 1, Int((quantile * Double(states)).rounded(.up)) - 1)
        let scores = regrets.map { $0.sorted()[max(0, rank)] }
        return scores.indices.reduce(0) { scores[$1] < scores[$0] ? $1 : $0 }
    }

    /// Q-values of every state (rows of `data`) for every action, averaged over the
    /// networks: states × actions, row-major.
    static func ensembleMeanValues(of networks: [[Float]], shape: MLPShape, states data: OfflineDataset) -> [Float] {
        let block = 256, actions = shape.outputCount
        var unused = SeededGenerator(seed: 0)
        let net = MLP(shape: shape, capacity: block, generator: &unused)
        var values = [Float](repeating: 0, count: data.count * actions)
        let f = data.featureCount, weight = 1 / Float(networks.count)
        for parameters in networks {
            net.load(parameters)
            var start = 0
            while start < data.count {
                let rows = min(block, data.count - start)
                data.states.withUnsafeBufferPointer { net.setInputs(from: $0.baseAddress! + start * f, rows: rows) }
                net.forward(rows: rows)
                for i in 0..<(rows * actions) { values[start * actions + i] += weight * net.output[i] }
                start += rows
            }
        }
        return values
    }

    /// Epoch loop with validation, early stopping and restoring the best parameters.
    private static func runEpochs(
        _ learner: NetworkLearner, validation: OfflineDataset, stepsPerEpoch: Int, stepOffset: Int, totalSteps: Int,
        progress: ((TrainingProgress) -> Void)?
    ) -> (history: [EpochReport], bestEpoch: Int, stoppedEarly: Bool, steps: Int) {
        let configuration = learner.configuration
        var history: [EpochReport] = []
        var best = Double.infinity, bestEpoch = 0, bestParameters = learner.online.parameterArray
        var sinceBest = 0, stoppedEarly = false, steps = 0
        let reportEvery = max(1, totalSteps / 50)
        for epoch in 1...configuration.epochs {
            var loss = 0.0
            for _ in 0..<stepsPerEpoch {
                loss += learner.step()
                steps += 1
                if steps % reportEvery == 0 {
                    progress?(TrainingProgress(step: stepOffset + steps, totalSteps: totalSteps, epoch: epoch, lastReport: history.last))
                }
            }
            learner.endEpoch()
            let v = learner.validate(on: validation)
            let report = EpochReport(epoch: epoch, trainingLoss: loss / Double(stepsPerEpoch), validationLoss: v.loss,
                                     validationTDError: v.tdError)
            history.append(report)
            progress?(TrainingProgress(step: stepOffset + steps, totalSteps: totalSteps, epoch: epoch, lastReport: report))
            let score = v.loss.isNaN ? report.trainingLoss : v.loss
            if score < best - 1e-4 * abs(best) || epoch == 1 {
                best = score
                bestEpoch = epoch
                bestParameters = learner.online.parameterArray
                sinceBest = 0
            } else {
                sinceBest += 1
                // Never before a third of the epochs: values need that long to propagate.
                if configuration.patience > 0 && sinceBest >= configuration.patience && !v.loss.isNaN
                    && epoch >= configuration.epochs / 3 {
                    stoppedEarly = true
                    break
                }
            }
        }
        // Behaviour cloning keeps its best held-out epoch. For Q-learning the TD loss
        // is not a measure of policy quality (it grows as values propagate), so the
        // final parameters are kept and early stopping only ends a plateau.
        if configuration.algorithm == .behaviourCloning { learner.online.load(bestParameters) } else { bestEpoch = history.count }
        return (history, bestEpoch, stoppedEarly, steps)
    }
}
