// The comparison file (docs/comparison-json.md). The keys the issue fixes come first in
// each object, in the documented order; added keys follow them.

extension ComparisonReport {
    /// The comparison as UTF-8 JSON (see docs/comparison-json.md): figures are means over seeds,
    /// `reward_ci95` and `delta_vs_baseline.ci95` are percentile-bootstrap intervals over seeds.
    public func json() -> [UInt8] { Array(jsonValue().serialized().utf8) }

    func jsonValue() -> ReportJSON {
        .object([
            ("scenarios", .array(scenarios.map(scenarioJSON))),
            ("title", .string(input.title)),
            ("objective", .string(input.objective)),
            ("baseline", .string(input.baseline ?? "best_static")),
            ("seeds", .array(input.seeds.map(ReportJSON.seed))),
            ("bootstrap", .object([
                ("method", .string("percentile")),
                ("paired", .bool(true)),
                ("resamples", .integer(Int64(bootstrap.resamples))),
                ("confidence", .number(bootstrap.confidence)),
                ("seed", ReportJSON.seed(bootstrap.seed)),
            ])),
            ("notes", .array(input.notes.map { .string($0) })),
        ])
    }

    private func scenarioJSON(_ s: ScenarioSummary) -> ReportJSON {
        var members: [(String, ReportJSON)] = [
            ("name", .string(s.name)),
            ("best_static", .string(s.bestStatic)),
            ("policies", .array(s.policies.map(policyJSON))),
            ("description", .string(s.description)),
            ("split", .string(s.split)),
            ("layer_count", .integer(Int64(s.layerCount))),
            ("baseline", .string(s.baseline)),
            ("dim_policy", .string(s.dimPolicy)),
        ]
        if let b = s.bareMetalReference {
            members.append(("bare_metal", .object([
                ("throughput_pps", .number(b.throughputPps)),
                ("latency_p50_us", .number(b.latencyP50Us)),
                ("latency_p99_us", .number(b.latencyP99Us)),
                ("latency_p999_us", .number(b.latencyP999Us)),
                ("cpu_percent", .number(b.cpuPercent)),
                ("interrupts_per_s", .number(b.interruptsPerS)),
                ("drops", .number(Double(b.drops))),
                ("changes", .number(Double(b.changes))),
                ("reward", .number(b.reward)),
            ])))
        } else {
            members.append(("bare_metal", .null))
        }
        if let oracle = s.staticOracle {
            let late: ReportJSON = s.reactiveOracle.map { .object(oracleMembers($0, headroom: s.reactiveHeadroom)) } ?? .null
            members.append(("static_oracle", .object(oracleMembers(oracle, headroom: s.switchingHeadroom) + [("one_interval_late", late)])))
        } else {
            members.append(("static_oracle", .null))
        }
        return .object(members)
    }

    private func interval(_ ci: ConfidenceInterval) -> ReportJSON { .array([.number(ci.lower), .number(ci.upper)]) }

    /// An oracle's `reward_mean`, `reward_ci95` and `headroom_vs_best_static`.
    private func oracleMembers(_ oracle: Estimate, headroom: Estimate?) -> [(String, ReportJSON)] {
        [("reward_mean", .number(oracle.mean)),
         ("reward_ci95", interval(oracle.ci)),
         ("headroom_vs_best_static", headroom.map { h in .object([("reward", .number(h.mean)), ("ci95", interval(h.ci))]) } ?? .null)]
    }

    private func comparisonJSON(_ c: PairedComparison?) -> ReportJSON {
        guard let c else { return .null }
        return .object([
            ("reference", .string(c.reference)),
            ("reward", .number(c.reward.mean)),
            ("ci95", interval(c.reward.ci)),
            ("verdict", .string(c.verdict.rawValue)),
            ("latency_p99_us", .number(c.latencyP99Us.mean)),
            ("latency_p99_us_ci95", interval(c.latencyP99Us.ci)),
            ("cpu_percent", .number(c.cpuPercent.mean)),
            ("cpu_percent_ci95", interval(c.cpuPercent.ci)),
            ("throughput_pps", .number(c.throughputPps.mean)),
            ("throughput_pps_ci95", interval(c.throughputPps.ci)),
        ])
    }

    private func policyJSON(_ p: PolicySummary) -> ReportJSON {
        let f = p.figures
        var members: [(String, ReportJSON)] = [
            ("policy", .string(p.policy)),
            ("reward_mean", .number(f.reward.mean)),
            ("reward_ci95", interval(f.reward.ci)),
            ("throughput_pps", .number(f.throughputPps.mean)),
            ("latency_p50_us", .number(f.latencyP50Us.mean)),
            ("latency_p99_us", .number(f.latencyP99Us.mean)),
            ("latency_p999_us", .number(f.latencyP999Us.mean)),
            ("cpu_percent", .number(f.cpuPercent.mean)),
            ("interrupts_per_s", .number(f.interruptsPerS.mean)),
            ("drops", .number(f.drops.mean)),
            ("changes", .number(f.changes.mean)),
            ("delta_vs_baseline", .object([
                ("reward", .number(p.deltaVsBaseline.reward.mean)),
                ("ci95", interval(p.deltaVsBaseline.reward.ci)),
                ("baseline", .string(p.deltaVsBaseline.reference)),
                ("verdict", .string(p.deltaVsBaseline.verdict.rawValue)),
                ("latency_p99_us", .number(p.deltaVsBaseline.latencyP99Us.mean)),
                ("latency_p99_us_ci95", interval(p.deltaVsBaseline.latencyP99Us.ci)),
                ("cpu_percent", .number(p.deltaVsBaseline.cpuPercent.mean)),
                ("cpu_percent_ci95", interval(p.deltaVsBaseline.cpuPercent.ci)),
            ])),
            ("kind", .string(p.kind.rawValue)),
            ("seed_count", .integer(Int64(f.reward.ci.sampleCount))),
            ("throughput_pps_ci95", interval(f.throughputPps.ci)),
            ("latency_p99_us_ci95", interval(f.latencyP99Us.ci)),
            ("cpu_percent_ci95", interval(f.cpuPercent.ci)),
            ("latency_p50_us_ci95", interval(f.latencyP50Us.ci)),
            ("interrupts_per_s_ci95", interval(f.interruptsPerS.ci)),
        ]
        if p.kind == .learned {
            members.append(("vs_best_static", comparisonJSON(p.vsBestStatic)))
            members.append(("vs_dim", comparisonJSON(p.vsDIM)))
        }
        return .object(members)
    }
}
