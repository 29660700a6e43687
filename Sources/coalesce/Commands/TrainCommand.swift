import ArgumentParser
import CoalesceCore
import CoalesceLearn
import CoalesceReport
import Foundation

/// `coalesce train`: learn a policy offline from recorded datasets.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a coalescing policy offline from recorded datasets (docs/training.md).",
        discussion: """
            Algorithms: \(OfflineAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")). Rewards are \
            recomputed from each row's logged components under --objective, so one dataset trains policies \
            for different objectives. Rows are split into training and validation by episode. Same data and \
            same seed give a byte-identical model (the creation time comes from --created-at, \
            SOURCE_DATE_EPOCH, or the newest dataset file's modification time).
            """)

    @Option(name: .long, parsing: .upToNextOption, help: "Dataset files (schema v1).")
    var data: [String]

    @Option(name: .long, help: "Algorithm: bc, nfq, dqn, double-dqn, cql, bcq, tabular, tabular-cql.")
    var algorithm: String = "cql"

    @Option(name: .long, help: "Objective: latency, balanced, throughput, or a JSON file (docs/objectives.md).")
    var objective: String

    @Option(name: .long, help: "Where to write the model file.")
    var out: String

    @Option(name: .long, help: "Maximum epochs (network algorithms).")
    var epochs: Int = 30

    @Option(name: .long, help: "Batch size.")
    var batch: Int = 256

    @Option(name: .long, help: "Hidden layer sizes, comma-separated.")
    var hidden: String = "64,64"

    @Option(name: .long, help: "Discount factor γ.")
    var gamma: Double = 0.9

    @Option(name: .long, help: "Random seed (initialisation, batches, split).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Fraction of episodes held out for validation and OPE.")
    var validationFraction: Double = 0.2

    @Option(name: .long, help: "Adam learning rate.")
    var learningRate: Float = 1e-3

    @Option(name: .long, help: "Gradient steps per epoch (default: rows / batch, at least 200).")
    var stepsPerEpoch: Int?

    @Option(name: .long, help: "CQL penalty α (also the tabular-cql penalty).")
    var cqlAlpha: Float = 1

    @Option(name: .long, help: "BCQ threshold τ.")
    var bcqThreshold: Float = 0.3

    @Option(name: .long, help: "Huber loss threshold δ on the TD error, in reward-std units (large = squared error, which estimates the mean reward).")
    var huberDelta: Float = 1

    @Option(name: .long, help: "Keep an exponential moving average of the Q-network's parameters with this rate per step and store it as the model (0 = store the last parameters).")
    var averageWeights: Float = 0

    @Option(name: .long, help: "Reward scaling for the Q-network: global (divide by the rewards' std) or state (divide each row by its state's own reward magnitude, so quiet and overloaded states are learned at the same relative precision; docs/training.md).")
    var rewardNormalisation: String = "global"

    @Option(name: .long, help: "Train this many Q-networks on bootstrap resamples of the rows; the model then keeps --default-action unless another action is confidently better across them (docs/training.md). 1 = one network.")
    var ensemble: Int = 1

    @Option(name: .long, help: "Ensemble: standard deviations of the members' advantages a change away from the default must clear.")
    var pessimism: Double = 1

    @Option(name: .long, help: "Ensemble: the action kept unless another is confidently better: an action id (`coalesce inspect`), a setting (e.g. rx-usecs=8,rx-frames=16), or auto (the action whose regret against the best one, by the ensemble's mean Q-values, is lowest at the \(Self.percent(OfflineTrainer.defaultRegretQuantile))th percentile of the training states).")
    var defaultAction: String = "auto"

    @Option(name: .long, help: "Ensemble: keep the default action in states where a feature lies outside the training rows' [q, 1 − q] quantiles (widened by \(Self.percent(TrainingConfiguration().supportMargin)) % of that span); 0 turns the check off.")
    var supportQuantile: Double = 0.001

    @Option(name: .long, help: "Target network update: hard:STEPS or polyak:TAU.")
    var targetUpdate: String = "hard:200"

    @Option(name: .long, help: "Early stopping: epochs without validation improvement (0 = off).")
    var patience: Int = 5

    @Option(name: .long, help: "Q-table: quantile bins per feature.")
    var bins: Int = 4

    @Option(name: .long, help: "Q-table: maximum number of cells.")
    var maxCells: Int = 4096

    @Option(name: .long, help: "OpenBLAS threads.")
    var threads: Int = 1

    @Option(name: .long, help: "FQE gradient steps for the held-out evaluation (0 = skip OPE).")
    var opeSteps: Int = 5000

    @Option(name: .long, help: "Creation time to record, Unix seconds (default: SOURCE_DATE_EPOCH, else the newest dataset's mtime).")
    var createdAt: Int64?

    @Option(name: .long, help: "Also write the training report as JSON to this file (docs/train-json.md).")
    var json: String?

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("--data needs at least one dataset file") }
        guard OfflineAlgorithm(rawValue: algorithm) != nil else {
            throw ValidationError("unknown --algorithm '\(algorithm)'; one of \(OfflineAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard TargetUpdate(parsing: targetUpdate) != nil else { throw ValidationError("--target-update must be hard:STEPS or polyak:TAU") }
        guard hiddenSizes != nil else { throw ValidationError("--hidden must be positive integers separated by commas, e.g. 64,64") }
        guard RewardNormalisation(rawValue: rewardNormalisation) != nil else {
            throw ValidationError("--reward-normalisation must be one of \(RewardNormalisation.allCases.map(\.rawValue).joined(separator: ", ")), not '\(rewardNormalisation)'")
        }
    }

    var hiddenSizes: [Int]? {
        let parts = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return parts.map { $0! }
    }

    func run() throws {
        Self.reexecForBLASKernelIfTopLevel()
        BLAS.setThreadCount(threads)
        let objective = try Self.resolveObjective(objective)
        var datasets: [Dataset] = []
        for path in data {
            let d = try Dataset.read(path: path)
            for w in d.warnings { Terminal.error("warning: \(w)") }
            datasets.append(d)
        }
        let conversion = try OfflineDataset.converting(datasets, objective: objective)
        var c = TrainingConfiguration()
        c.algorithm = OfflineAlgorithm(rawValue: algorithm)!
        c.hidden = hiddenSizes!
        c.gamma = gamma
        c.epochs = epochs
        c.batchSize = batch
        c.stepsPerEpoch = stepsPerEpoch
        c.learningRate = learningRate
        c.cqlAlpha = cqlAlpha
        c.bcqThreshold = bcqThreshold
        c.targetUpdate = TargetUpdate(parsing: targetUpdate)!
        c.huberDelta = huberDelta
        c.rewardNormalisation = RewardNormalisation(rawValue: rewardNormalisation)!
        c.weightAveraging = averageWeights > 0 ? averageWeights : nil
        c.patience = patience
        c.seed = seed
        c.validationFraction = validationFraction
        c.binsPerFeature = bins
        c.maxCells = maxCells
        c.ensembleMembers = ensemble
        c.ensemblePessimism = pessimism
        c.ensembleDefaultAction = try Self.defaultActionId(defaultAction, space: conversion.actionSpace)
        c.supportQuantile = supportQuantile
        try c.validate()

        let split = conversion.dataset.split(validationFraction: validationFraction, seed: seed)
        var progress = ProgressLine("train \(algorithm)")
        let result = try OfflineTrainer.train(training: split.training, validation: split.validation, configuration: c,
                                              splitUnits: split.units) { p in
            var detail = "epoch \(p.epoch)"
            if let r = p.lastReport, r.validationTDError.isFinite { detail += " val TD \(Format.fixed(r.validationTDError, 4))" }
            progress.update(fraction: Double(p.step) / Double(max(1, p.totalSteps)), detail: detail)
        }
        progress.finish()

        var model = try result.modelFile(
            featureNames: conversion.featureNames, actionSpace: conversion.actionSpace, objective: objective,
            datasets: conversion.fingerprints, createdAtEpoch: try creationTime(), toolVersion: "coalesce \(CoalesceVersion.current)")
        model.metadata.latencyFeatures = datasets.allSatisfy { $0.header.latencyFeatures }

        var ope: OPEReport?
        var opeRefusal: String?
        if opeSteps > 0 && split.validation.count > 0 {
            var oc = OPEConfiguration()
            oc.gamma = gamma
            oc.seed = seed
            oc.fqe.steps = opeSteps
            oc.fqe.seed = seed
            do { ope = try OffPolicyEvaluator.evaluate(model: model, data: split.validation, configuration: oc) } catch {
                opeRefusal = "\(error)"
            }
        }
        let last = result.history.last
        var summary: [String: Double] = [
            "training_rows": Double(result.trainingRows), "validation_rows": Double(result.validationRows),
            "epochs_run": Double(result.history.count), "gradient_steps": Double(result.gradientSteps),
        ]
        if let last {
            summary["training_loss"] = last.trainingLoss
            if last.validationLoss.isFinite { summary["validation_loss"] = last.validationLoss }
            if last.validationTDError.isFinite { summary["validation_td_error"] = last.validationTDError }
        }
        if let ope {
            summary["ope_fqe"] = ope.fqe.value
            summary["ope_behaviour"] = ope.behaviour.value
            if let w = ope.weightedImportanceSampling { summary["ope_wis"] = w.value; summary["ope_ess"] = w.effectiveSampleSize ?? 0 }
            if let d = ope.doublyRobust { summary["ope_dr"] = d.value }
        }
        // JSON has no NaN: an estimate that is not finite (e.g. weighted importance sampling
        // when no validation trajectory matches the policy: 0/0) is left out, as above.
        model.metadata.trainingSummary = summary.filter { $0.value.isFinite }
        let bytes = try model.encoded()
        try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)

        print(report(result, conversion: conversion, split: split, ope: ope, refusal: opeRefusal, bytes: bytes.count))
        if let json {
            try JSONOutput.write(TrainJSON(result: result, model: out, sha256: SHA256.hex(SHA256.hash(bytes)), ope: ope,
                                           opeRefusal: opeRefusal, droppedRows: conversion.droppedRows), to: json)
        }
    }

    /// `--default-action`: nil for auto, else an id or a setting of `space`.
    static func defaultActionId(_ text: String, space: ActionSpace) throws -> Int? {
        if text == "auto" { return nil }
        if let id = Int(text) {
            guard id >= 0, id < space.count else {
                throw ValidationError("--default-action \(id) is not an action id of the data's space '\(space.name)' (0…\(space.count - 1))")
            }
            return id
        }
        let found: Int?
        do { found = try space.index(parsing: text) } catch {
            throw ValidationError("--default-action '\(text)': \(error)")
        }
        guard let id = found else {
            throw ValidationError("--default-action '\(text)' is not an action of the data's space '\(space.name)'")
        }
        return id
    }

    /// --created-at, else SOURCE_DATE_EPOCH, else the newest dataset file's modification time:
    /// never the wall clock, so retraining on the same files gives the same bytes.
    func creationTime() throws -> Int64 {
        if let createdAt { return createdAt }
        if let text = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"] {
            guard let v = Int64(text) else { throw ValidationError("SOURCE_DATE_EPOCH '\(text)' is not an integer") }
            return v
        }
        var newest: Int64 = 0
        for path in data {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let date = attributes[.modificationDate] as? Date { newest = max(newest, Int64(date.timeIntervalSince1970)) }
        }
        return newest
    }

    static func resolveObjective(_ text: String) throws -> Objective {
        if let preset = Objective.named(text) { return preset }
        guard FileManager.default.fileExists(atPath: text) else { throw ObjectiveError.unknownPreset(text) }
        return try Objective.decode(json: try ModelStore.readBytes(text), source: text)
    }

    func report(_ r: TrainingResult, conversion: DatasetConversion, split: (training: OfflineDataset, validation: OfflineDataset, units: Int),
                ope: OPEReport?, refusal: String?, bytes: Int) -> String {
        var lines: [String] = []
        lines.append("data: \(conversion.dataset.count) transitions from \(data.count) file(s), \(conversion.episodes) episode(s)"
                     + (conversion.droppedRows > 0 ? ", \(conversion.droppedRows) row(s) without a next state left out" : ""))
        lines.append("split: \(r.trainingRows) training / \(r.validationRows) validation rows over \(split.units) unit(s)")
        // The weights' last bits depend on the BLAS kernel family: say which one ran.
        lines.append("blas: \(LearnBenchmark.environment)")
        var t = TextTable(r.kind == .qTable ? ["sweep", "max change"] : ["epoch", "train loss", "val loss", algorithm == "bc" ? "val accuracy" : "val |TD|"])
        let shown = r.history.count <= 12 ? r.history : Array(r.history.prefix(5)) + Array(r.history.suffix(6))
        for h in shown {
            if r.kind == .qTable {
                t.add(["\(h.epoch)", Format.fixed(h.trainingLoss, 6)])
            } else {
                t.add(["\(h.epoch)", Format.fixed(h.trainingLoss, 5), Format.fixed(h.validationLoss, 5), Format.fixed(h.validationTDError, 4)])
            }
        }
        lines.append(t.render())
        if r.kind == .qTable, let last = r.history.last {
            lines.append("converged after \(r.history.count) sweep(s); validation |TD| \(Format.fixed(last.validationTDError, 4)) (reward / \(Format.fixed(r.rewardScale, 4)))")
        } else if r.stoppedEarly {
            lines.append("early stop after epoch \(r.history.count) (no validation improvement for \(patience) epochs)")
        }
        if let e = r.ensemble {
            let c = r.configuration
            let chosenBy = c.ensembleDefaultAction == nil
                ? "auto: least regret at the \(Self.percent(OfflineTrainer.defaultRegretQuantile))th percentile of the training states"
                : "--default-action"
            lines.append("ensemble: \(e.members) networks on bootstrap resamples (history above: member 1); default action \(e.defaultAction) "
                         + "(\(chosenBy)), changes need mean − \(Format.fixed(e.pessimism, 2)) · std of the advantage > 0"
                         + (r.support == nil ? "" : " and the state inside the training support (features within their "
                            + "\(c.supportQuantile)…\(1 - c.supportQuantile) quantiles ± \(Self.percent(c.supportMargin)) %)"))
        }
        if let ope { lines.append("held-out off-policy evaluation:\n" + EvaluateCommand.table(ope)) }
        if let refusal { lines.append("held-out OPE skipped: \(refusal)") }
        lines.append("model: \(out) (\(bytes) bytes, \(r.kind.rawValue), \(algorithm))")
        return lines.joined(separator: "\n")
    }
}

extension TrainCommand {
    /// A fraction as a whole percentage, e.g. 0.95 → "95".
    static func percent(_ fraction: Double) -> String { "\(Int((fraction * 100).rounded()))" }
}

/// The JSON `train --json` writes.
struct TrainJSON: Codable {
    var model: String
    var sha256: String
    var algorithm: String
    var kind: String
    var training_rows: Int
    var validation_rows: Int
    var dropped_rows: Int
    var gradient_steps: Int
    var stopped_early: Bool
    var history: [EpochReport]
    var ope: OPEReport?
    var ope_refusal: String?

    init(result: TrainingResult, model: String, sha256: String, ope: OPEReport?, opeRefusal: String?, droppedRows: Int) {
        self.model = model
        self.sha256 = sha256
        algorithm = result.configuration.algorithm.rawValue
        kind = result.kind.rawValue
        training_rows = result.trainingRows
        validation_rows = result.validationRows
        dropped_rows = droppedRows
        gradient_steps = result.gradientSteps
        stopped_early = result.stoppedEarly
        history = result.history
        self.ope = ope
        ope_refusal = opeRefusal
    }
}
