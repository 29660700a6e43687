import ArgumentParser
import CoalesceCore
import CoalesceLearn
import CoalesceReport
import Foundation

/// `coalesce evaluate`: off-policy estimates of a model's value on recorded data.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Estimate a model's value from recorded data: FQE, weighted IS and doubly robust, with bootstrap CIs.",
        discussion: """
            Values are expected discounted returns (γ from the model unless --gamma) per start state of the \
            data, in reward units of the objective (the model's unless --objective). IS and DR need π_b of \
            every logged action; data without it gets FQE only, and the reason is printed. See docs/training.md.
            """)

    @Option(name: .long, help: "The model file.")
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: "Dataset files (schema v1).")
    var data: [String]

    @Option(name: .long, help: "Objective to score the data under (default: the model's).")
    var objective: String?

    @Option(name: .long, help: "Discount factor (default: the model's training γ).")
    var gamma: Double?

    @Option(name: .long, help: "Importance-sampling window length (default: smallest H with γ^H ≤ 0.01).")
    var horizon: Int?

    @Option(name: .long, help: "Bootstrap resamples.")
    var bootstrap: Int = 200

    @Option(name: .long, help: "FQE gradient steps.")
    var fqeSteps: Int = 10_000

    @Option(name: .long, help: "Random seed (FQE, bootstrap).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "OpenBLAS threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Also write the estimates as JSON to this file.")
    var json: String?

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("--data needs at least one dataset file") }
        guard bootstrap >= 10 else { throw ValidationError("--bootstrap must be ≥ 10") }
    }

    func run() throws {
        Self.reexecForBLASKernelIfTopLevel()
        BLAS.setThreadCount(threads)
        let file = try ModelFile.decode(try ModelStore.readBytes(model), source: model)
        let objective = try self.objective.map(TrainCommand.resolveObjective) ?? file.metadata.objective
        var datasets: [Dataset] = []
        for path in data {
            let d = try Dataset.read(path: path)
            for w in d.warnings { Terminal.error("warning: \(w)") }
            datasets.append(d)
        }
        let conversion = try OfflineDataset.converting(datasets, objective: objective)
        guard file.metadata.featureNames == conversion.featureNames else {
            throw ModelFileError.featureMismatch(model, model: file.metadata.featureNames, expected: conversion.featureNames)
        }
        let modelSpace = file.metadata.actionSpace
        guard conversion.actionSpace.settings.starts(with: modelSpace.settings) else {
            throw ModelFileError.actionSpaceMismatch(
                model, model: modelSpace.name, modelCount: modelSpace.count, expected: conversion.actionSpace.name,
                expectedCount: conversion.actionSpace.count,
                firstDifference: zip(modelSpace.settings, conversion.actionSpace.settings).enumerated().first { $0.element.0 != $0.element.1 }?.offset)
        }
        var c = OPEConfiguration()
        c.gamma = gamma ?? file.metadata.hyperParameters["gamma"].flatMap(Double.init) ?? 0.9
        c.horizon = horizon
        c.bootstrapSamples = bootstrap
        c.seed = seed
        c.fqe.steps = fqeSteps
        c.fqe.seed = seed
        let policy = try ModelPolicy(model: file)
        let (actions, nextActions) = try OffPolicyEvaluator.greedyActions(policy, conversion.dataset)
        let report = try OffPolicyEvaluator.evaluate(data: conversion.dataset, targetActions: actions,
                                                     targetNextActions: nextActions, configuration: c)
        print("model: \(model) (\(file.metadata.algorithm), objective \(objective.name))")
        print("data: \(conversion.dataset.count) transitions, \(conversion.episodes) episode(s); γ = \(c.gamma), window H = \(report.horizon), \(report.windows) windows")
        print(Self.table(report))
        if let json { try JSONOutput.write(report, to: json) }
    }

    /// The estimates as a table (also used by `train`).
    static func table(_ r: OPEReport) -> String {
        func ci(_ e: PolicyValueEstimate) -> String { "[\(Format.fixed(e.lower, 4)), \(Format.fixed(e.upper, 4))]" }
        var t = TextTable(["estimator", "value", "95% CI", "ESS"])
        t.add(["model: FQE", Format.fixed(r.fqe.value, 4), ci(r.fqe), "-"])
        if let w = r.weightedImportanceSampling {
            t.add(["model: per-decision WIS", Format.fixed(w.value, 4), ci(w), Format.fixed(w.effectiveSampleSize ?? 0, 1)])
        }
        if let d = r.doublyRobust {
            t.add(["model: weighted DR", Format.fixed(d.value, 4), ci(d), Format.fixed(d.effectiveSampleSize ?? 0, 1)])
        }
        t.add(["behaviour: on-policy MC", Format.fixed(r.behaviour.value, 4), ci(r.behaviour), "-"])
        var text = t.render()
        text += "\nthe model picks the logged action in \(Format.fixed(r.agreement * 100, 1)) % of rows"
        if let refusal = r.refusal { text += "\nIS and DR not reported: \(refusal)" }
        if let bounds = r.valueBounds {
            for e in r.estimatesOutsideBounds {
                text += "\nunreliable: the \(e.name) estimate \(Format.fixed(e.value, 4)) lies outside [\(Format.fixed(bounds.lowerBound, 4)), "
                    + "\(Format.fixed(bounds.upperBound, 4))], the range the data's rewards allow any policy; "
                    + (e.estimator.usesFittedQ
                        ? "the fitted Q-function has not converged or extrapolates (give FQE more steps: evaluate --fqe-steps, train --ope-steps; or more data)"
                        : "the importance weights rest on too few windows")
            }
        }
        return text
    }
}
