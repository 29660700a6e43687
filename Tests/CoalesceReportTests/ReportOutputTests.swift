import CoalesceCore
import Foundation
import Testing
@testable import CoalesceReport

@Suite("Comparison JSON and HTML")
struct ReportOutputTests {
    static let report: ComparisonReport = try! ComparisonReport(SyntheticComparison.input())

    func decodedJSON() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(Self.report.json()))
        return try #require(object as? [String: Any])
    }

    @Test func jsonHasEveryRequiredKeyWithTheRightType() throws {
        let root = try decodedJSON()
        let scenarios = try #require(root["scenarios"] as? [[String: Any]])
        #expect(scenarios.count == 3)
        for s in scenarios {
            #expect(s["name"] is String)
            #expect(s["best_static"] is String)
            let policies = try #require(s["policies"] as? [[String: Any]])
            #expect(policies.count == 9)
            for p in policies {
                #expect(p["policy"] is String)
                for key in ["reward_mean", "throughput_pps", "latency_p50_us", "latency_p99_us", "latency_p999_us",
                            "cpu_percent", "interrupts_per_s", "drops", "changes"] {
                    #expect(p[key] is NSNumber, "\(key) is not a number")
                }
                let ci = try #require(p["reward_ci95"] as? [NSNumber])
                #expect(ci.count == 2 && ci[0].doubleValue <= ci[1].doubleValue)
                let delta = try #require(p["delta_vs_baseline"] as? [String: Any])
                #expect(delta["reward"] is NSNumber)
                let dci = try #require(delta["ci95"] as? [NSNumber])
                #expect(dci.count == 2 && dci[0].doubleValue <= dci[1].doubleValue)
            }
        }
    }

    @Test func jsonNumbersAreNeverBooleansOrStrings() {
        // JSONSerialization on Linux bridges 0/1 to Bool, so check the text itself.
        let text = String(decoding: Self.report.json(), as: UTF8.self)
        for key in ["reward_mean", "drops", "changes", "cpu_percent", "reward"] {
            for bad in ["true", "false", "\"", "null"] {
                #expect(!text.contains("\"\(key)\": \(bad)"), "\(key) holds \(bad)")
            }
        }
    }

    @Test func jsonFiguresAreMeansOverSeedsAndTheBaselineDeltaIsZero() throws {
        let input = SyntheticComparison.input()
        let root = try decodedJSON()
        let scenarios = try #require(root["scenarios"] as? [[String: Any]])
        for (s, sIn) in zip(scenarios, input.scenarios) {
            let best = try #require(s["best_static"] as? String)
            let statics = sIn.policies.filter { $0.kind == .staticSetting }
            let expected = statics.max { ABStatistics.mean($0.runs.map(\.reward)) < ABStatistics.mean($1.runs.map(\.reward)) }!
            #expect(best == expected.policy)
            let policies = try #require(s["policies"] as? [[String: Any]])
            for (p, pIn) in zip(policies, sIn.policies) {
                #expect(p["policy"] as? String == pIn.policy)
                let mean = ABStatistics.mean(pIn.runs.map(\.latencyP99Us))
                #expect(abs((p["latency_p99_us"] as! NSNumber).doubleValue - mean) <= 1e-9 * mean)
                let drops = ABStatistics.mean(pIn.runs.map { Double($0.drops) })
                #expect((p["drops"] as! NSNumber).doubleValue == drops)
                if pIn.policy == best {
                    let delta = p["delta_vs_baseline"] as! [String: Any]
                    #expect((delta["reward"] as! NSNumber).doubleValue == 0)
                    #expect((delta["ci95"] as! [NSNumber]).map(\.doubleValue) == [0, 0])
                }
            }
        }
        #expect((root["seeds"] as? [NSNumber])?.count == 5)
    }

    @Test func jsonKeepsTheDocumentedKeyOrderAndEscapesStrings() throws {
        let text = String(decoding: Self.report.json(), as: UTF8.self)
        let keys = ["\"policy\"", "\"reward_mean\"", "\"reward_ci95\"", "\"throughput_pps\"", "\"latency_p50_us\"",
                    "\"latency_p99_us\"", "\"latency_p999_us\"", "\"cpu_percent\"", "\"interrupts_per_s\"",
                    "\"drops\"", "\"changes\"", "\"delta_vs_baseline\""]
        let positions = keys.map { text.range(of: $0)!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(ReportJSON.string("a\"b\\c\n\u{1}").serialized() == "\"a\\\"b\\\\c\\n\\u0001\"\n")
        #expect(ReportJSON.number(.nan).serialized() == "null\n")
        #expect(ReportJSON.number(2.5).serialized() == "2.5\n" && ReportJSON.number(-3).serialized() == "-3\n")
    }

    @Test func htmlIsSelfContainedWithOneChartGroupPerScenario() {
        let html = Self.report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.lowercased().contains("<script") && !html.contains("<img") && !html.contains("@import")
                && !html.contains("url("))
        let opens = html.components(separatedBy: "<svg ").count - 1
        let closes = html.components(separatedBy: "</svg>").count - 1
        #expect(opens == closes && opens == 3 * 3)
        #expect(html.components(separatedBy: "class=\"chart-group\"").count - 1 == 3)
        for i in 0..<3 {
            for id in ["charts-\(i)", "tradeoff-\(i)", "cdf-\(i)", "timeseries-\(i)", "scenario-\(i)"] {
                #expect(html.contains("id=\"\(id)\""), "missing \(id)")
            }
        }
        #expect(html.components(separatedBy: "<table").count == html.components(separatedBy: "</table>").count)
        #expect(html.contains("</html>"))
    }

    @Test func htmlSeparatesTrainingAndHeldOutScenariosAndShowsBareMetal() {
        let html = Self.report.html()
        let train = html.range(of: "data-split=\"train\"")
        let holdout = html.range(of: "data-split=\"holdout\"")
        #expect(train != nil && holdout != nil)
        #expect(train!.lowerBound < holdout!.lowerBound)
        #expect(html.contains("id=\"bare-metal-bursty-virt\""))
        #expect(!html.contains("id=\"bare-metal-steady-rr\""))
    }

    @Test func htmlFlagsALearnedPolicyThatLosesToTheBestStatic() throws {
        var input = SyntheticComparison.input(scenarios: [SyntheticComparison.specs[0]])
        let best = try ComparisonReport(input).scenarios[0].bestStatic!
        let bestRuns = input.scenarios[0].policies.first { $0.policy == best }!.runs
        let i = input.scenarios[0].policies.firstIndex { $0.kind == .learned }!
        input.scenarios[0].policies[i].runs = bestRuns.enumerated().map { k, r in
            var r = r
            r.reward -= 0.05 + 0.002 * Double(k)
            return r
        }
        let report = try ComparisonReport(input)
        #expect(report.scenarios[0].learned[0].vsBestStatic?.verdict == .worse)
        let html = report.html()
        #expect(html.contains("<tr class=\"loss\">"))
        #expect(html.contains("LOSES to best static"))
        #expect(html.contains("class=\"findings\""))
    }

    @Test func htmlEscapesEveryText() throws {
        var input = SyntheticComparison.input(seedCount: 2, scenarios: [SyntheticComparison.specs[0]])
        input.title = "<script>alert('x')</script> & co"
        input.scenarios[0].name = "a<b>\"c\""
        input.scenarios[0].policies[0].policy = "static:<i>"
        input.notes = ["1 < 2 & 3 > 2"]
        let html = try ComparisonReport(input).html()
        #expect(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<i>"))
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"))
        #expect(html.contains("a&lt;b&gt;&quot;c&quot;"))
        #expect(html.contains("1 &lt; 2 &amp; 3 &gt; 2"))
    }

    @Test func singleSeedReportSaysSoInsteadOfInventingIntervals() throws {
        let report = try ComparisonReport(SyntheticComparison.input(seedCount: 1))
        let html = report.html()
        #expect(html.contains("Only one seed"))
        #expect(html.contains("(1 seed)"))
        #expect(report.scenarios.allSatisfy { $0.learned.allSatisfy { $0.vsBestStatic?.verdict == .singleSeed } })
    }

    @Test func missingSeriesAndDistributionsRenderAsAnExplicitNote() throws {
        var input = SyntheticComparison.input(seedCount: 2, scenarios: [SyntheticComparison.specs[1]])
        for i in input.scenarios[0].policies.indices {
            input.scenarios[0].policies[i].series = nil
            input.scenarios[0].policies[i].latencyCDF = nil
        }
        let html = try ComparisonReport(input).html()
        #expect(html.contains("No latency distributions were recorded"))
        #expect(html.contains("No adaptive or learned policy recorded a time series"))
        #expect(html.contains("id=\"cdf-0\"") && html.contains("id=\"timeseries-0\""))
    }

    @Test func numberFormattingIsFixedAndLocaleFree() {
        #expect(NumberText.fixed(1.005, 2) == "1.00" || NumberText.fixed(1.005, 2) == "1.01")
        #expect(NumberText.fixed(-0.004, 2) == "0.00")
        #expect(NumberText.fixed(-12.345, 1) == "-12.3")
        #expect(NumberText.fixed(7, 0) == "7")
        #expect(NumberText.short(0.012345) == "0.0123")
        #expect(NumberText.si(1_250_000) == "1.25 M")
        #expect(NumberText.tick(20000) == "20k" && NumberText.tick(0.5) == "0.5")
        #expect(abs(ChartMath.log10(1234.5) - 3.091491) < 1e-6)
        #expect(abs(ChartMath.ln(0.001) + 6.907755278982137) < 1e-12)
    }
}

@Suite("Text summary")
struct TextSummaryTests {
    @Test func textSummaryListsEveryLearnedPolicyAndMarksLosses() throws {
        let report = try ComparisonReport(SyntheticComparison.input())
        let text = report.textSummary()
        let lines = text.split(separator: "\n")
        // Header, three scenario rows, footnote.
        #expect(lines.count == 5)
        #expect(lines[1].contains("steady-rr") && lines[2].contains("regime-change") && lines[3].contains("bursty-virt"))
        let lossRows = lines.filter { $0.hasPrefix("!") }
        let losers = report.scenarios.filter { $0.learned.contains { [$0.vsBestStatic, $0.vsDIM].contains { $0?.verdict == .worse } } }
        #expect(lossRows.count == losers.count)
        #expect(!losers.isEmpty, "the fixture's held-out scenario should show a loss")
    }

    @Test("the best-static column leaves out the pairs every static setting of the scenario shares, and says which")
    func bestStaticColumnDropsSharedPairs() throws {
        #expect(ComparisonReport.setting("rx-usecs=8,rx-frames=16,tx-usecs=16,tx-frames=32", without: ["tx-usecs=16", "tx-frames=32"])
                == "rx-usecs=8,rx-frames=16")
        #expect(ComparisonReport.setting("tx-usecs=16", without: ["tx-usecs=16"]) == "tx-usecs=16", "never an empty cell")
        // The fixture's static settings differ in every pair: nothing is left out, and no note.
        let plain = try ComparisonReport(SyntheticComparison.input())
        #expect(plain.scenarios.allSatisfy { ComparisonReport.pairsEveryStaticSettingShares($0).isEmpty })
        #expect(!plain.textSummary().contains("best static: without"))
        // Give every static setting a shared tx-usecs, as the lab's action spaces do.
        var input = SyntheticComparison.input()
        for i in input.scenarios.indices {
            for j in input.scenarios[i].policies.indices where input.scenarios[i].policies[j].kind == .staticSetting {
                input.scenarios[i].policies[j].policy += ",tx-usecs=16"
            }
        }
        let report = try ComparisonReport(input)
        let text = report.textSummary()
        #expect(text.contains("best static: without what every static setting of its scenario shares (tx-usecs=16)"))
        let rows = text.split(separator: "\n").filter { $0.contains("steady-rr") }
        #expect(!rows.isEmpty && rows.allSatisfy { !$0.contains("tx-usecs=16") })
    }

    /// Two static settings on three seeds whose per-interval oracle is given.
    func oracleInput(oracle: [Double], reactive: [Double]? = nil) -> ComparisonInput {
        func runs(_ rewards: [Double]) -> [RunFigures] {
            rewards.map { RunFigures(throughputPps: 1000, latencyP50Us: 10, latencyP99Us: 50, latencyP999Us: 80,
                                     cpuPercent: 20, interruptsPerS: 5000, drops: 0, changes: 0, reward: $0) }
        }
        let scenario = ScenarioRuns(
            name: "two-regimes", description: "d", split: "holdout", layerCount: 1, actionNames: ["a", "b"],
            policies: [PolicyRuns(policy: "static:rx-usecs=0", kind: .staticSetting, runs: runs([-1.0, -1.2, -1.1])),
                       PolicyRuns(policy: "static:rx-usecs=8", kind: .staticSetting, runs: runs([-0.9, -1.0, -1.0])),
                       PolicyRuns(policy: "model:m", kind: .learned, runs: runs([-0.8, -0.95, -0.9]))],
            staticOracleRewards: oracle, reactiveOracleRewards: reactive)
        return ComparisonInput(title: "t", objective: "latency", seeds: [1, 2, 3], scenarios: [scenario])
    }

    @Test func oracleHeadroomIsThePairedGainOverTheBestStaticInJSONTextAndHTML() throws {
        let report = try ComparisonReport(oracleInput(oracle: [-0.7, -0.9, -0.8]))
        let s = report.scenarios[0]
        #expect(s.bestStatic == "static:rx-usecs=8")
        let headroom = try #require(s.switchingHeadroom)
        // mean of (−0.7+0.9, −0.9+1.0, −0.8+1.0) = 0.1667
        #expect(abs(headroom.mean - 0.5 / 3) < 1e-9)
        #expect(abs(try #require(s.staticOracle).mean - (-0.8)) < 1e-9)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        let scenario = try #require((root["scenarios"] as? [[String: Any]])?.first)
        let oracle = try #require(scenario["static_oracle"] as? [String: Any])
        #expect(abs((oracle["reward_mean"] as! Double) + 0.8) < 1e-9)
        let h = try #require(oracle["headroom_vs_best_static"] as? [String: Any])
        #expect(abs((h["reward"] as! Double) - 0.5 / 3) < 1e-9)
        #expect(report.textSummary().contains("oracle headroom:"), "the footnote that explains the column")
        #expect(report.textSummary().contains("+0.17"))
        #expect(report.html().contains("<p class=\"oracle\"><strong>Oracle headroom:</strong>"), "the sentence under the scenario's table")
    }

    @Test func theOracleTakesEachStepsBestRunAndOneIntervalLateTheRunBestInTheStepBefore() {
        // Two runs whose best setting alternates: the oracle takes every step's best, the
        // late oracle always follows the previous step's winner and so takes every loser.
        let runs: [[Double]] = [[-1, -3, -1, -3], [-2, -2, -2, -2]]
        #expect(StaticOracle.meanReward(runs) == (-1 - 2 - 1 - 2) / 4.0)
        // Step 0: the run with the best total (−8 each: the first of equals, run 0); then
        // run 0 (best in step 0) in step 1, run 1 (best in step 1) in step 2, run 0 in step 3.
        #expect(StaticOracle.meanReward(runs, lateBy: 1) == (-1 - 3 - 2 - 3) / 4.0)
        // Two steps late: steps 0 and 1 take run 0; step t ≥ 2 takes the best of step t − 2.
        #expect(StaticOracle.meanReward(runs, lateBy: 2) == (-1 - 3 - 1 - 2) / 4.0)
        // Steady runs: lateness costs nothing, and the oracle is the best run.
        let steady: [[Double]] = [[-1, -1, -1], [-2, -2, -2]]
        #expect(StaticOracle.meanReward(steady, lateBy: 1) == -1 && StaticOracle.meanReward(steady) == -1)
        // Runs of unequal length are cut to the shortest; nothing to take is NaN.
        #expect(StaticOracle.meanReward([[-1, -1, -9], [-2, -2]]) == -1)
        #expect(StaticOracle.meanReward([]).isNaN && StaticOracle.meanReward([[], [-1]]).isNaN)
    }

    @Test func theOneIntervalLateOracleIsReportedNextToTheOracleInJSONTextAndHTML() throws {
        let report = try ComparisonReport(oracleInput(oracle: [-0.7, -0.9, -0.8], reactive: [-1.0, -1.1, -1.3]))
        let s = report.scenarios[0]
        // Paired against the best static (rx-usecs=8: −0.9, −1.0, −1.0): mean of (−0.1, −0.1, −0.3).
        let late = try #require(s.reactiveHeadroom)
        #expect(abs(late.mean - (-0.5 / 3)) < 1e-9)
        #expect(abs(try #require(s.reactiveOracle).mean - (-3.4 / 3)) < 1e-9)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        let scenario = try #require((root["scenarios"] as? [[String: Any]])?.first)
        let oracle = try #require(scenario["static_oracle"] as? [String: Any])
        let lateJSON = try #require(oracle["one_interval_late"] as? [String: Any])
        #expect(abs((lateJSON["reward_mean"] as! Double) + 3.4 / 3) < 1e-9)
        let h = try #require(lateJSON["headroom_vs_best_static"] as? [String: Any])
        #expect(abs((h["reward"] as! Double) + 0.5 / 3) < 1e-9)
        #expect((h["ci95"] as? [Double])?.count == 2)
        let text = report.textSummary()
        #expect(text.contains("1 interval late:"), "the footnote that explains the column")
        let row = try #require(text.split(separator: "\n").first { $0.contains("two-regimes") })
        #expect(row.hasSuffix("  −0.17"), "the last column, its point estimate: \(row)")
        #expect(report.html().contains("one interval late:</span><br>−0.17<br>"), "under the headroom in the summary table")
        #expect(report.html().contains("One interval late — "), "the sentence under the scenario's table")
        // Without it, the key is null and neither the footnote nor the sentence appear.
        let without = try ComparisonReport(oracleInput(oracle: [-0.7, -0.9, -0.8]))
        let root2 = try #require(try JSONSerialization.jsonObject(with: Data(without.json())) as? [String: Any])
        let oracle2 = try #require(((root2["scenarios"] as? [[String: Any]])?.first)?["static_oracle"] as? [String: Any])
        #expect(oracle2["one_interval_late"] is NSNull)
        #expect(!without.textSummary().contains("1 interval late:"))
        #expect(!without.html().contains("One interval late —"))
    }

    @Test func aReactiveOracleWithTheWrongSeedCountIsRefusedByName() {
        #expect(throws: ReportError.oracleCountMismatch(scenario: "two-regimes", field: "reactive_oracle_rewards", entries: 1, seeds: 3)) {
            try ComparisonReport(oracleInput(oracle: [-1, -1, -1], reactive: [-1]))
        }
    }

    @Test func withoutAnOracleTheKeyIsNullAndTheTextSaysNothing() throws {
        var input = oracleInput(oracle: [0, 0, 0])
        input.scenarios[0].staticOracleRewards = nil
        let report = try ComparisonReport(input)
        #expect(report.scenarios[0].switchingHeadroom == nil)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        let scenario = try #require((root["scenarios"] as? [[String: Any]])?.first)
        #expect(scenario["static_oracle"] is NSNull)
        #expect(!report.textSummary().contains("oracle headroom:"))
    }

    @Test func anOracleWithTheWrongSeedCountIsRefusedByName() {
        #expect(throws: ReportError.oracleCountMismatch(scenario: "two-regimes", field: "static_oracle_rewards", entries: 2, seeds: 3)) {
            try ComparisonReport(oracleInput(oracle: [-1, -1]))
        }
    }

    @Test func seriesFromDifferentActionSpacesKeepTheirOwnSettingNames() {
        // Two live A/B policies: each space is the base plus its own appended setting,
        // so both appended settings have id 2 in their own space.
        let shared = SharedActionNames(spaces: [["rx-usecs=0", "rx-usecs=8", "gro-flush-timeout=0"],
                                                ["rx-usecs=0", "rx-usecs=8", "gro-flush-timeout=20000"]])
        #expect(shared.names == ["rx-usecs=0", "rx-usecs=8", "gro-flush-timeout=0", "gro-flush-timeout=20000"])
        let points = [SeriesPoint(t: 0, offeredPps: 10, action: 2), SeriesPoint(t: 0.1, offeredPps: 10, action: 1)]
        #expect(shared.translate(points, fromSpace: 0).map(\.action) == [2, 1])
        let second = shared.translate(points, fromSpace: 1)
        #expect(second.map { shared.names[$0.action] } == ["gro-flush-timeout=20000", "rx-usecs=8"])
        #expect(second.map(\.t) == [0, 0.1] && second.map(\.offeredPps) == [10, 10])
    }
}
