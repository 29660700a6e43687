extension ComparisonReport {
    /// A one-screen plain-text summary for the terminal: per scenario and learned policy, the
    /// reward difference against the best static setting and DIM with its CI and verdict,
    /// training scenarios first, then held-out ones; losses are marked with `!`.
    public func textSummary() -> String {
        var rows: [[String]] = [["", "scenario", "split", "learned", "best static", "Δ reward vs best static", "Δ reward vs DIM", "oracle headroom", "1 interval late"]]
        let ordered = scenarios.filter { $0.split == "train" } + scenarios.filter { $0.split != "train" }
        var leftOut: [String] = []
        for s in ordered {
            let shared = Self.pairsEveryStaticSettingShares(s)
            if !shared.isEmpty, !leftOut.contains(shared.joined(separator: ",")) { leftOut.append(shared.joined(separator: ",")) }
            for p in s.learned {
                func cell(_ c: PairedComparison?) -> String {
                    guard let c else { return "—" }
                    return NumberText.signedEstimate(c.reward) + " " + c.verdict.rawValue
                }
                let loses = [p.vsBestStatic, p.vsDIM].contains { $0?.verdict == .worse }
                rows.append([loses ? "!" : " ", s.name, s.split, DisplayName.of(p.policy),
                             s.bestStatic.map { Self.setting(DisplayName.of($0), without: shared) } ?? "—",
                             cell(p.vsBestStatic), cell(p.vsDIM),
                             s.switchingHeadroom.map { NumberText.signedEstimate($0) } ?? "—",
                             s.reactiveHeadroom.map(NumberText.signedPoint) ?? "—"])
            }
        }
        guard rows.count > 1 else { return "no learned policy in this comparison\n" }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            let line = r.enumerated().map { i, c in c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "  ")
            var trimmed = Substring(line)
            while trimmed.hasSuffix(" ") { trimmed = trimmed.dropLast() }
            out += trimmed + "\n"
        }
        out += "Δ: mean paired reward difference over \(input.seeds.count) seed(s) with its "
        out += "\(NumberText.fixed(bootstrap.confidence * 100, 0)) % bootstrap CI; ! = significantly worse than a reference\n"
        if !leftOut.isEmpty {
            out += "best static: without what every static setting of its scenario shares ("
            out += leftOut.joined(separator: "; ") + ")\n"
        }
        if scenarios.contains(where: { $0.switchingHeadroom != nil }) {
            out += "oracle headroom: the best static setting of every interval (in hindsight) minus the best static setting "
            out += "over the run — the most any policy switching between static settings could gain there\n"
        }
        if scenarios.contains(where: { $0.reactiveHeadroom != nil }) {
            out += "1 interval late: the same oracle taking in each interval the setting that was best in the one before — "
            out += "what chasing the interval just seen gains; a reference, not a bound (its CI: report and JSON)\n"
        }
        return out
    }

    /// The `key=value` pairs that every static setting run on `scenario` has (e.g. the
    /// tx-usecs every setting of the action space keeps): the summary leaves them out of
    /// the best-static column, which would otherwise be the widest on the screen.
    static func pairsEveryStaticSettingShares(_ scenario: ScenarioSummary) -> [String] {
        let settings = scenario.policies.filter { $0.kind == .staticSetting }
            .map { DisplayName.of($0.policy).split(separator: ",").map(String.init) }
        guard settings.count > 1, let first = settings.first else { return [] }
        return first.filter { pair in settings.allSatisfy { $0.contains(pair) } }
    }

    /// `setting` without the pairs in `shared` (unchanged if nothing would be left).
    static func setting(_ setting: String, without shared: [String]) -> String {
        let kept = setting.split(separator: ",").map(String.init).filter { !shared.contains($0) }
        return kept.isEmpty ? setting : kept.joined(separator: ",")
    }
}
