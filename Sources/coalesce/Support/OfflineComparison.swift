import CoalesceCore
import CoalesceLearn
import Foundation

/// Offline A/B on logged data: every policy's value estimated from the same
/// datasets with FQE, per-decision weighted importance sampling and doubly robust,
/// each with a bootstrap CI (CoalesceLearn's estimators, as `coalesce evaluate`).
struct OfflineComparison {
    var datasets: [String]
    var policies: [PolicySpec]
    var objective: Objective
    var configuration: OPEConfiguration
    /// `--ensemble-default` for ensemble models.
    var ensembleDefault: String? = nil

    struct Row: Codable {
        var policy: String
        var fqe: PolicyValueEstimate
        var weightedImportanceSampling: PolicyValueEstimate?
        var doublyRobust: PolicyValueEstimate?
        var refusal: String?
        var agreementWithLogged: Double
        /// The estimators (`fqe`, `doubly_robust`, …) whose value lies outside the result's `valueBounds`.
        var outsideValueBounds: [String]

        enum CodingKeys: String, CodingKey {
            case policy, fqe, refusal
            case weightedImportanceSampling = "weighted_importance_sampling"
            case doublyRobust = "doubly_robust"
            case agreementWithLogged = "agreement_with_logged"
            case outsideValueBounds = "outside_value_bounds"
        }
    }

    struct Result: Codable {
        var objective: String
        var datasets: [String]
        var transitions: Int
        var behaviour: PolicyValueEstimate
        /// The range any policy's value lies in given the data's rewards (`OPEReport.valueBounds`).
        var valueBounds: ClosedRange<Double>?
        var policies: [Row]

        enum CodingKeys: String, CodingKey {
            case objective, datasets, transitions, behaviour, policies
            case valueBounds = "value_bounds"
        }
    }

    /// An estimator's key in `Row`'s JSON.
    static func key(_ estimator: OPEEstimator) -> String {
        switch estimator {
        case .fqe: Row.CodingKeys.fqe.rawValue
        case .weightedImportanceSampling: Row.CodingKeys.weightedImportanceSampling.rawValue
        case .doublyRobust: Row.CodingKeys.doublyRobust.rawValue
        }
    }

    func run() throws -> Result {
        let loaded = try datasets.map { try Dataset.read(path: $0) }
        let conversion = try OfflineDataset.converting(loaded, objective: objective)
        let data = conversion.dataset
        let space = conversion.actionSpace
        let models = ModelStore(ensembleDefault: ensembleDefault)
        var rows: [Row] = []
        var behaviour: PolicyValueEstimate?
        var bounds: ClosedRange<Double>?
        for spec in policies {
            var actions: [Int32], next: [Int32]
            switch spec {
            case .model(let path):
                let policy = try models.modelPolicy(path)
                guard policy.actionCount == space.count else {
                    throw LabError.invalidOption("\(spec): the model has \(policy.actionCount) actions, the data's space '\(space.name)' \(space.count)")
                }
                (actions, next) = try OffPolicyEvaluator.greedyActions(policy, data)
            case .staticSetting, .adaptive:
                let setting = try spec.requiredSettings(in: space)[0]
                guard let id = space.index(of: setting) else {
                    throw LabError.invalidOption("\(spec): its setting \(setting.specText) is not an action of the data's space '\(space.name)', so logged data cannot evaluate it")
                }
                actions = Array(repeating: Int32(id), count: data.count)
                next = actions
            case .explore:
                throw LabError.invalidOption("\(spec): offline comparison evaluates deterministic policies (static, dim, itr, model)")
            }
            let report = try OffPolicyEvaluator.evaluate(data: data, targetActions: actions, targetNextActions: next,
                                                         configuration: configuration)
            behaviour = behaviour ?? report.behaviour
            bounds = bounds ?? report.valueBounds
            rows.append(Row(policy: spec.description, fqe: report.fqe, weightedImportanceSampling: report.weightedImportanceSampling,
                            doublyRobust: report.doublyRobust, refusal: report.refusal, agreementWithLogged: report.agreement,
                            outsideValueBounds: report.estimatesOutsideBounds.map { Self.key($0.estimator) }))
        }
        rows.sort { ($0.doublyRobust?.value ?? $0.fqe.value) > ($1.doublyRobust?.value ?? $1.fqe.value) }
        return Result(objective: objective.name, datasets: datasets, transitions: data.count,
                      behaviour: behaviour ?? PolicyValueEstimate(value: 0, lower: 0, upper: 0), valueBounds: bounds, policies: rows)
    }

    static func table(_ r: Result) -> String {
        func ci(_ e: PolicyValueEstimate?) -> String {
            guard let e else { return "refused" }
            var s = "\(Format.fixed(e.value, 3)) [\(Format.fixed(e.lower, 3)), \(Format.fixed(e.upper, 3))]"
            if let ess = e.effectiveSampleSize { s += " ESS \(Format.fixed(ess, 0))" }
            return s
        }
        var t = TextTable(["rank", "policy", "FQE [95% CI]", "weighted IS [95% CI]", "doubly robust [95% CI]", "agrees with log"],
                          alignments: [.right, .left, .right, .right, .right, .right])
        for (i, row) in r.policies.enumerated() {
            func marked(_ e: PolicyValueEstimate?, _ estimator: OPEEstimator) -> String {
                ci(e) + (row.outsideValueBounds.contains(key(estimator)) ? " !" : "")
            }
            t.add([String(i + 1), row.policy, marked(row.fqe, .fqe), marked(row.weightedImportanceSampling, .weightedImportanceSampling),
                   marked(row.doublyRobust, .doublyRobust), Format.fixed(row.agreementWithLogged * 100, 1) + " %"])
        }
        var out = t.render()
        if let b = r.valueBounds, r.policies.contains(where: { !$0.outsideValueBounds.isEmpty }) {
            out += "\n! outside [\(Format.fixed(b.lowerBound, 3)), \(Format.fixed(b.upperBound, 3))], the range the data's rewards allow any policy: "
                + "an artefact of the estimator (FQE not converged or extrapolating; more --fqe-steps or more data), "
                + "so that rank means nothing"
        }
        out += "\nbehaviour policy (on-policy Monte Carlo): \(ci(r.behaviour)) — \(r.transitions) transitions, objective \(r.objective)"
        if let refusal = r.policies.compactMap(\.refusal).first { out += "\nIS/DR refused: \(refusal)" }
        return out
    }
}
