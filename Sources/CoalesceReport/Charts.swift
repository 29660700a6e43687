/// How one policy is drawn throughout the report (same colour and marker in every chart).
struct PolicyStyle: Sendable {
    var color: String
    var marker: MarkerShape
}

/// Colours and markers for every non-static policy of a report, assigned in order of
/// first appearance (Okabe–Ito colours, distinguishable with common colour-vision deficiencies).
struct PolicyStyles: Sendable {
    private var styles: [String: PolicyStyle] = [:]
    static let staticColor = "#8a8a8a"
    static let bestStaticColor = "#333333"

    init(_ scenarios: [ScenarioSummary]) {
        let learned: [PolicyStyle] = [
            PolicyStyle(color: "#0072B2", marker: .star), PolicyStyle(color: "#CC79A7", marker: .star),
            PolicyStyle(color: "#332288", marker: .square), PolicyStyle(color: "#882255", marker: .square),
        ]
        let others: [PolicyStyle] = [
            PolicyStyle(color: "#D55E00", marker: .square), PolicyStyle(color: "#56B4E9", marker: .triangleDown),
            PolicyStyle(color: "#999933", marker: .circle), PolicyStyle(color: "#44AA99", marker: .triangleDown),
        ]
        var nextLearned = 0, nextOther = 0
        for s in scenarios {
            for p in s.policies where p.kind != .staticSetting && styles[p.policy] == nil {
                let name = p.policy.lowercased()
                if p.kind == .learned {
                    styles[p.policy] = learned[nextLearned % learned.count]
                    nextLearned += 1
                } else if name.hasPrefix("dim-cqe") {
                    styles[p.policy] = PolicyStyle(color: "#F0A000", marker: .triangleDown)
                } else if name.hasPrefix("dim") {
                    styles[p.policy] = PolicyStyle(color: "#E69F00", marker: .diamond)
                } else if name.hasPrefix("itr") {
                    styles[p.policy] = PolicyStyle(color: "#009E73", marker: .triangle)
                } else {
                    styles[p.policy] = others[nextOther % others.count]
                    nextOther += 1
                }
            }
        }
    }

    func style(_ policy: String) -> PolicyStyle {
        styles[policy] ?? PolicyStyle(color: PolicyStyles.staticColor, marker: .circle)
    }
}

/// Short display names: `static:` dropped, model paths reduced to the file name.
enum DisplayName {
    static func of(_ policy: String) -> String {
        if policy.hasPrefix("static:") { return String(policy.dropFirst(7)) }
        if policy.hasPrefix("model:") {
            let path = policy.dropFirst(6)
            return "model:" + (path.split(separator: "/").last.map(String.init) ?? String(path))
        }
        return policy
    }

    static func truncated(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }
}

/// The three charts of one scenario.
struct ScenarioCharts {
    let scenario: ScenarioSummary
    let index: Int
    let styles: PolicyStyles

    var statics: [PolicySummary] { scenario.policies.filter { $0.kind == .staticSetting } }
    var dynamic: [PolicySummary] { scenario.policies.filter { $0.kind != .staticSetting } }

    // MARK: (a) latency vs CPU

    /// p99 latency against CPU: the static settings as the trade-off curve (joined in action
    /// order, numbered), every other policy as a marker with CI whiskers on both axes.
    func tradeOff() -> String {
        let width = 590.0
        let plot = PlotRect(x: 78, y: 16, width: 494, height: 330)
        var legend: [LegendEntry] = []
        if !statics.isEmpty {
            legend.append(LegendEntry(label: "static settings (numbered, see key)", color: PolicyStyles.staticColor,
                                      marker: .circle, line: true, lineWidth: 1.5))
        }
        if scenario.bestStatic != nil {
            legend.append(LegendEntry(label: "best static in hindsight", color: "none", marker: nil))
        }
        for p in dynamic {
            let st = styles.style(p.policy)
            legend.append(LegendEntry(label: DisplayName.truncated(DisplayName.of(p.policy), 34), color: st.color, marker: st.marker))
        }
        let legendTop = plot.bottom + 52
        let height = legendTop + SVGCanvas.legendHeight(legend, width: width - 20) + 8
        var c = SVGCanvas(width: width, height: height)

        var xs: [Double] = [], ys: [Double] = []
        for p in statics { xs.append(p.figures.cpuPercent.mean); ys.append(p.figures.latencyP99Us.mean) }
        for p in dynamic {
            xs += [p.figures.cpuPercent.ci.lower, p.figures.cpuPercent.ci.upper, p.figures.cpuPercent.mean]
            ys += [p.figures.latencyP99Us.ci.lower, p.figures.latencyP99Us.ci.upper, p.figures.latencyP99Us.mean]
        }
        let positive = ys.filter { $0 > 0 }
        let logY = (positive.max() ?? 1) / max(positive.min() ?? 1, 1e-9) >= 8
        let xScale = AxisScale.fitting(xs, start: plot.x, end: plot.right, logarithmic: false, includeZero: true)
        let yScale = AxisScale.fitting(ys, start: plot.bottom, end: plot.y, logarithmic: logY, includeZero: !logY)
        c.axes(plot, x: xScale, y: yScale, xTitle: "CPU (% of one core, mean over seeds)",
               yTitle: "p99 latency (µs\(logY ? ", log scale" : ""))")
        func at(_ cpu: Double, _ p99: Double) -> Point { Point(x: xScale.position(cpu), y: yScale.position(p99)) }

        // Static curve.
        let curve = statics.map { at($0.figures.cpuPercent.mean, $0.figures.latencyP99Us.mean) }
        c.polyline(curve, stroke: PolicyStyles.staticColor, width: 1.5)
        for (i, p) in statics.enumerated() {
            let pt = curve[i]
            let best = p.policy == scenario.bestStatic
            c.circle(pt, r: 4, fill: best ? PolicyStyles.bestStaticColor : PolicyStyles.staticColor)
            c.text(String(i + 1), at: Point(x: pt.x + 6, y: pt.y - 6), size: 11,
                   fill: best ? "#000" : "#555", weight: best ? "bold" : nil)
            if best { c.circle(pt, r: 9, fill: "none", stroke: "#000", strokeWidth: 1.5) }
        }
        // Adaptive and learned policies with whiskers (95 % CI over seeds) on both axes.
        for p in dynamic {
            let st = styles.style(p.policy)
            let f = p.figures
            let centre = at(f.cpuPercent.mean, f.latencyP99Us.mean)
            if !f.cpuPercent.ci.isDegenerate {
                let a = at(f.cpuPercent.ci.lower, f.latencyP99Us.mean), b = at(f.cpuPercent.ci.upper, f.latencyP99Us.mean)
                c.line(a, b, stroke: st.color, width: 1.8)
                c.line(Point(x: a.x, y: a.y - 4), Point(x: a.x, y: a.y + 4), stroke: st.color, width: 1.8)
                c.line(Point(x: b.x, y: b.y - 4), Point(x: b.x, y: b.y + 4), stroke: st.color, width: 1.8)
            }
            if !f.latencyP99Us.ci.isDegenerate {
                let a = at(f.cpuPercent.mean, f.latencyP99Us.ci.lower), b = at(f.cpuPercent.mean, f.latencyP99Us.ci.upper)
                c.line(a, b, stroke: st.color, width: 1.8)
                c.line(Point(x: a.x - 4, y: a.y), Point(x: a.x + 4, y: a.y), stroke: st.color, width: 1.8)
                c.line(Point(x: b.x - 4, y: b.y), Point(x: b.x + 4, y: b.y), stroke: st.color, width: 1.8)
            }
            c.marker(st.marker, at: centre, size: 6.5, fill: st.color,
                     title: "\(p.policy): CPU \(NumberText.estimate(f.cpuPercent)) %, p99 \(NumberText.estimate(f.latencyP99Us)) µs")
        }
        c.legend(legend, origin: Point(x: 12, y: legendTop), width: width - 20)
        if scenario.bestStatic != nil, let i = legend.firstIndex(where: { $0.label == "best static in hindsight" }) {
            // The ring sample for the "best static" entry.
            let p = SVGCanvas.legendLayout(legend, origin: Point(x: 12, y: legendTop), width: width - 20).positions[i]
            c.circle(Point(x: p.x + 12, y: p.y + 9), r: 4, fill: PolicyStyles.bestStaticColor)
            c.circle(Point(x: p.x + 12, y: p.y + 9), r: 8, fill: "none", stroke: "#000", strokeWidth: 1.5)
        }
        return c.render(id: "tradeoff-\(index)", label: "p99 latency versus CPU on scenario \(scenario.name)")
    }

    // MARK: (b) latency CDFs

    /// Latency CDFs of the seed-0 runs on a log latency axis, with a tail panel (1 − CDF, log
    /// scale) below so p99 and p99.9 differences are visible.
    func latencyCDF() -> String {
        let width = 590.0
        let withCDF = scenario.policies.filter { !($0.latencyCDF ?? []).isEmpty }
        let top = PlotRect(x: 78, y: 16, width: 494, height: 200)
        let tail = PlotRect(x: 78, y: top.bottom + 46, width: 494, height: 150)
        var legend: [LegendEntry] = []
        if withCDF.contains(where: { $0.kind == .staticSetting }) {
            legend.append(LegendEntry(label: "static settings", color: "#c4c4c4", marker: nil, line: true, lineWidth: 1.2))
        }
        if let best = scenario.bestStatic, withCDF.contains(where: { $0.policy == best }) {
            legend.append(LegendEntry(label: "best static (\(DisplayName.truncated(DisplayName.of(best), 24)))",
                                      color: PolicyStyles.bestStaticColor, marker: nil, line: true, dash: "6 3"))
        }
        for p in withCDF where p.kind != .staticSetting {
            legend.append(LegendEntry(label: DisplayName.truncated(DisplayName.of(p.policy), 34),
                                      color: styles.style(p.policy).color, marker: nil, line: true, lineWidth: 2.4))
        }
        let legendTop = tail.bottom + 50
        let height = legendTop + SVGCanvas.legendHeight(legend, width: width - 20) + 8
        var c = SVGCanvas(width: width, height: height)
        guard !withCDF.isEmpty else {
            c.rect(x: top.x, y: top.y, width: top.width, height: tail.bottom - top.y, fill: "#fafafa", stroke: "#bbb")
            c.text("No latency distributions were recorded for this scenario.", at: Point(x: top.x + top.width / 2, y: top.y + 120),
                   size: 13, anchor: .middle, fill: "#666")
            return c.render(id: "cdf-\(index)", label: "latency CDFs on scenario \(scenario.name) (not recorded)")
        }
        let latencies = withCDF.flatMap { ($0.latencyCDF ?? []).map(\.latencyUs) }
        let x1 = AxisScale.fitting(latencies, start: top.x, end: top.right, logarithmic: true)
        let y1 = AxisScale(lower: 0, upper: 1, start: top.bottom, end: top.y, logarithmic: false)
        c.axes(top, x: x1, y: y1, xTitle: "", yTitle: "fraction ≤ latency", yTicks: [0, 0.25, 0.5, 0.75, 0.9, 1])
        let tailFloor = 1e-4
        let x2 = AxisScale(lower: x1.lower, upper: x1.upper, start: tail.x, end: tail.right, logarithmic: true)
        let y2 = AxisScale(lower: tailFloor, upper: 1, start: tail.bottom, end: tail.y, logarithmic: true)
        c.axes(tail, x: x2, y: y2, xTitle: "packet latency (µs, log scale; seed-0 run)", yTitle: "1 − fraction (log)",
               yTicks: [1, 0.1, 0.01, 0.001, 0.0001])
        for (q, label) in [(0.01, "p99"), (0.001, "p99.9")] {
            let py = y2.position(q)
            c.line(Point(x: tail.x, y: py), Point(x: tail.right, y: py), stroke: "#b0b0b0", width: 1, dash: "3 3")
            c.text(label, at: Point(x: tail.right - 4, y: py - 4), size: 10.5, anchor: .end, fill: "#777")
        }
        let py50 = y1.position(0.5)
        c.line(Point(x: top.x, y: py50), Point(x: top.right, y: py50), stroke: "#b0b0b0", width: 1, dash: "3 3")
        c.text("median", at: Point(x: top.right - 4, y: py50 - 4), size: 10.5, anchor: .end, fill: "#777")

        // Statics first (background), then the best static, then the others on top.
        let ordered = withCDF.filter { $0.kind == .staticSetting && $0.policy != scenario.bestStatic }
            + withCDF.filter { $0.policy == scenario.bestStatic }
            + withCDF.filter { $0.kind != .staticSetting }
        for p in ordered {
            let pts = (p.latencyCDF ?? []).filter { $0.latencyUs > 0 }.sorted { $0.latencyUs < $1.latencyUs }
            let color: String, w: Double, dash: String?
            if p.kind == .staticSetting {
                let best = p.policy == scenario.bestStatic
                color = best ? PolicyStyles.bestStaticColor : "#c4c4c4"
                w = best ? 2 : 1.2
                dash = best ? "6 3" : nil
            } else {
                color = styles.style(p.policy).color
                w = 2.4
                dash = nil
            }
            c.polyline(pts.map { Point(x: x1.position($0.latencyUs), y: y1.position(min(max($0.fraction, 0), 1))) },
                       stroke: color, width: w, dash: dash)
            let tailPoints = pts.map { Point(x: x2.position($0.latencyUs), y: y2.position(max(1 - $0.fraction, tailFloor))) }
            c.polyline(tailPoints, stroke: color, width: w, dash: dash)
        }
        c.legend(legend, origin: Point(x: 12, y: legendTop), width: width - 20)
        return c.render(id: "cdf-\(index)", label: "latency CDFs on scenario \(scenario.name)")
    }

    // MARK: (c) time series

    /// The offered rate (top panel) and, in one panel per adaptive or learned policy, the
    /// action it chose at each step (seed-0 run), with the offered rate shaded behind it.
    func timeSeries() -> String {
        let width = 1200.0
        let withSeries = dynamic.filter { !($0.series ?? []).isEmpty }
        let left = 190.0, right = 20.0
        let rateHeight = 120.0, panelHeight = 92.0, gap = 16.0
        let plotWidth = width - left - right
        let panelsTop = 16 + rateHeight + gap
        let axisBottom = panelsTop + Double(withSeries.count) * (panelHeight + gap)
        let height = axisBottom + 40
        var c = SVGCanvas(width: width, height: max(height, 200))
        guard !withSeries.isEmpty else {
            c.rect(x: left, y: 16, width: plotWidth, height: 150, fill: "#fafafa", stroke: "#bbb")
            c.text("No adaptive or learned policy recorded a time series for this scenario.",
                   at: Point(x: left + plotWidth / 2, y: 95), size: 13, anchor: .middle, fill: "#666")
            return c.render(id: "timeseries-\(index)", label: "actions over time on scenario \(scenario.name) (not recorded)")
        }
        let allPoints = withSeries.flatMap { $0.series ?? [] }
        // The last point holds for one more control interval (the typical spacing of points).
        let times = Array(Set(allPoints.map(\.t))).sorted()
        let interval = times.count > 1 ? (times[times.count - 1] - times[0]) / Double(times.count - 1) : 1
        let tMax = max((times.last ?? 0) + interval, 1e-9)
        let tMin = min(allPoints.map(\.t).min() ?? 0, 0)
        let xScale = AxisScale.fitting([tMin, tMax], start: left, end: left + plotWidth, logarithmic: false,
                                       includeZero: true, padding: 0)
        // The offered rate of the first policy's run (same seed, so the same traffic for all).
        let offered = (withSeries[0].series ?? []).sorted { $0.t < $1.t }
        let rateMax = max(offered.map(\.offeredPps).max() ?? 1, 1)
        let ratePlot = PlotRect(x: left, y: 16, width: plotWidth, height: rateHeight)
        let rateScale = AxisScale.fitting([0, rateMax], start: ratePlot.bottom, end: ratePlot.y, logarithmic: false,
                                          includeZero: true, padding: 0.05)
        c.axes(ratePlot, x: xScale, y: rateScale, xTitle: "", yTitle: "offered (pkt/s)", xTickLabels: false)
        let ratePoints = steps(offered.map { ($0.t, $0.offeredPps) }, tEnd: tMax)
        c.polygon([Point(x: xScale.position(ratePoints.first?.0 ?? 0), y: ratePlot.bottom)]
                  + ratePoints.map { Point(x: xScale.position($0.0), y: rateScale.position($0.1)) }
                  + [Point(x: xScale.position(ratePoints.last?.0 ?? tMax), y: ratePlot.bottom)], fill: "#9ab", opacity: 0.45)
        c.polyline(ratePoints.map { Point(x: xScale.position($0.0), y: rateScale.position($0.1)) }, stroke: "#456", width: 1.3)
        c.text("offered rate", at: Point(x: ratePlot.x + 8, y: ratePlot.y + 15), size: 11.5, fill: "#345", weight: "bold")

        let actionCount = max(scenario.actionNames.count, (allPoints.map(\.action).max() ?? 0) + 1)
        for (k, p) in withSeries.enumerated() {
            let st = styles.style(p.policy)
            let panel = PlotRect(x: left, y: panelsTop + Double(k) * (panelHeight + gap), width: plotWidth, height: panelHeight)
            let yScale = AxisScale(lower: -0.5, upper: Double(actionCount) - 0.5, start: panel.bottom, end: panel.y,
                                   logarithmic: false)
            let series = (p.series ?? []).sorted { $0.t < $1.t }
            let used = Array(Set(series.map(\.action))).sorted()
            // Label the used actions, skipping any that would collide with the previous label.
            var labelled: [Int] = []
            for a in used where labelled.isEmpty
                || abs(yScale.position(Double(a)) - yScale.position(Double(labelled.last!))) >= 13 {
                labelled.append(a)
            }
            c.rect(x: panel.x, y: panel.y, width: panel.width, height: panel.height, fill: "#fcfcfc", stroke: "#999")
            // The offered rate, shaded and scaled to the panel, so actions can be read against load.
            let own = steps(series.map { ($0.t, $0.offeredPps) }, tEnd: tMax)
            let shade = AxisScale(lower: 0, upper: rateScale.upper, start: panel.bottom, end: panel.y, logarithmic: false)
            c.polygon([Point(x: xScale.position(own.first?.0 ?? 0), y: panel.bottom)]
                      + own.map { Point(x: xScale.position($0.0), y: shade.position($0.1)) }
                      + [Point(x: xScale.position(own.last?.0 ?? tMax), y: panel.bottom)], fill: "#d8dee4", opacity: 0.7)
            for v in xScale.ticks(target: 10) {
                let px = xScale.position(v)
                c.line(Point(x: px, y: panel.y), Point(x: px, y: panel.bottom), stroke: "#ececec")
            }
            for a in labelled {
                let py = yScale.position(Double(a))
                c.line(Point(x: panel.x, y: py), Point(x: panel.right, y: py), stroke: "#e0e0e0")
                c.line(Point(x: panel.x - 5, y: py), Point(x: panel.x, y: py), stroke: "#555")
                c.text(actionLabel(a), at: Point(x: panel.x - 8, y: py + 4), size: 10.5,
                       anchor: .end, fill: "#333")
            }
            let actionSteps = steps(series.map { ($0.t, Double($0.action)) }, tEnd: tMax)
            c.polyline(actionSteps.map { Point(x: xScale.position($0.0), y: yScale.position($0.1)) }, stroke: st.color, width: 2.2)
            let title = DisplayName.truncated(DisplayName.of(p.policy), 60)
            let titleWidth = SVGCanvas.textWidth(title, size: 12) + 30
            c.rect(x: panel.right - 4 - titleWidth, y: panel.y + 3, width: titleWidth, height: 18, fill: "#ffffff")
            c.marker(st.marker, at: Point(x: panel.right - 14, y: panel.y + 12), size: 5, fill: st.color)
            c.text(title, at: Point(x: panel.right - 26, y: panel.y + 16), size: 12, anchor: .end, fill: st.color, weight: "bold")
            c.rect(x: panel.x, y: panel.y, width: panel.width, height: panel.height, fill: "none", stroke: "#888")
        }
        let bottom = axisBottom - gap
        for v in xScale.ticks(target: 10) {
            let px = xScale.position(v)
            c.line(Point(x: px, y: bottom), Point(x: px, y: bottom + 5), stroke: "#555")
            c.text(NumberText.tick(v), at: Point(x: px, y: bottom + 18), size: 11, anchor: .middle, fill: "#333")
        }
        c.text("time (s, seed-0 run) — lines: action in effect (setting id: text); grey: offered rate on the same scale as the top panel",
               at: Point(x: left + plotWidth / 2, y: bottom + 36), size: 12.5, anchor: .middle)
        c.text("action chosen", at: Point(x: 16, y: panelsTop + (axisBottom - panelsTop) / 2), size: 12.5, anchor: .middle,
               rotate: -90)
        return c.render(id: "timeseries-\(index)", label: "actions over time on scenario \(scenario.name)")
    }

    /// The actions any adaptive or learned policy chose (for the key under the chart).
    var usedActions: [Int] {
        Array(Set(dynamic.flatMap { ($0.series ?? []).map(\.action) })).sorted()
    }

    /// Whether action names are short enough to stand on the axis; otherwise the axis shows
    /// ids and the key under the chart names them.
    var actionNamesFitAxis: Bool {
        usedActions.allSatisfy { $0 >= scenario.actionNames.count || scenario.actionNames[$0].count <= 22 }
    }

    func actionLabel(_ a: Int) -> String {
        guard a < scenario.actionNames.count else { return "action \(a)" }
        return actionNamesFitAxis ? "\(a): \(scenario.actionNames[a])" : "action \(a)"
    }

    /// A step function's vertices: each value holds until the next point's time (the last until `tEnd`).
    func steps(_ points: [(Double, Double)], tEnd: Double) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for (i, p) in points.enumerated() {
            let next = i + 1 < points.count ? points[i + 1].0 : max(tEnd, p.0)
            out.append(p)
            out.append((next, p.1))
        }
        return out
    }

}
