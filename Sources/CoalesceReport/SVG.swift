// A tiny hand-written SVG writer. There is no Swift charting package in this project, and the
// report must be one self-contained file that renders offline; the charts need only lines,
// markers, text and axes, so a few primitives written out here do the job with no dependency.

/// Plain math the charts need, written out so the library needs no Foundation.
enum ChartMath {
    static func pow10(_ k: Int) -> Double {
        var r = 1.0
        if k >= 0 { for _ in 0..<k { r *= 10 } } else { for _ in 0..<(-k) { r /= 10 } }
        return r
    }

    /// floor(log10(x)) for x > 0.
    static func decade(_ x: Double) -> Int {
        var k = 0
        var v = x
        while v >= 10 { v /= 10; k += 1 }
        while v < 1 { v *= 10; k -= 1 }
        return k
    }

    /// Natural logarithm by range reduction and the atanh series (1e-15 relative accuracy),
    /// so log axes need no Foundation.
    static func ln(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return x == 0 ? -.infinity : .nan }
        let ln2 = 0.693_147_180_559_945_3
        var m = x
        var e = 0
        while m > 1.5 { m /= 2; e += 1 }
        while m < 0.75 { m *= 2; e -= 1 }
        let y = (m - 1) / (m + 1)
        let y2 = y * y
        var term = y
        var sum = 0.0
        var k = 1.0
        for _ in 0..<30 {
            sum += term / k
            term *= y2
            k += 2
        }
        return 2 * sum + Double(e) * ln2
    }

    static func log10(_ x: Double) -> Double { ln(x) / 2.302_585_092_994_046 }
}

/// A point in SVG user units.
struct Point: Sendable {
    var x: Double
    var y: Double
}

/// A plot area inside a chart.
struct PlotRect: Sendable {
    var x: Double
    var y: Double
    var width: Double
    var height: Double
    var right: Double { x + width }
    var bottom: Double { y + height }
}

/// Maps data values to pixels along one axis, linear or logarithmic, and proposes ticks.
struct AxisScale: Sendable {
    var lower: Double
    var upper: Double
    var start: Double  // pixel of `lower`
    var end: Double    // pixel of `upper`
    var logarithmic: Bool

    /// A scale whose domain covers `values` with nice rounded ends.
    static func fitting(_ values: [Double], start: Double, end: Double, logarithmic: Bool,
                        includeZero: Bool = false, padding: Double = 0.05) -> AxisScale {
        let finite = values.filter { $0.isFinite && (!logarithmic || $0 > 0) }
        var lo = finite.min() ?? (logarithmic ? 1 : 0)
        var hi = finite.max() ?? (logarithmic ? 10 : 1)
        if logarithmic {
            if hi <= lo { lo /= 2; hi *= 2 }
            // Round outward to 1-2-5 steps so the ends carry tick labels.
            lo = niceLogFloor(lo * 0.9)
            hi = niceLogCeil(hi * 1.1)
        } else {
            if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
            if hi <= lo { let pad = lo == 0 ? 1 : abs(lo) * 0.1; lo -= pad; hi += pad }
            let span = hi - lo
            if !(includeZero && lo == 0) { lo -= span * padding }
            hi += span * padding
            if includeZero && values.allSatisfy({ $0 >= 0 }) { lo = max(lo, 0) }
            let step = niceStep(span / 5)
            lo = (lo / step).rounded(.down) * step
            hi = (hi / step).rounded(.up) * step
        }
        return AxisScale(lower: lo, upper: hi, start: start, end: end, logarithmic: logarithmic)
    }

    func position(_ v: Double) -> Double {
        if logarithmic {
            let a = ChartMath.log10(lower), b = ChartMath.log10(upper)
            let x = ChartMath.log10(max(v, lower * 1e-3))
            return start + (x - a) / (b - a) * (end - start)
        }
        return start + (v - lower) / (upper - lower) * (end - start)
    }

    /// Tick values: 1-2-5 steps for linear axes; decades (with 2 and 5 when the range spans
    /// fewer than three decades) for log axes.
    func ticks(target: Int = 6) -> [Double] {
        if logarithmic {
            var out: [Double] = []
            let first = ChartMath.decade(lower), last = ChartMath.decade(upper)
            let spans = last - first
            let multipliers: [Double] = spans <= 1 ? [1, 2, 3, 5] : spans <= 3 ? [1, 2, 5] : [1]
            for k in first...last {
                for m in multipliers {
                    let v = m * ChartMath.pow10(k)
                    if v >= lower * 0.999, v <= upper * 1.001 { out.append(v) }
                }
            }
            return out
        }
        let step = AxisScale.niceStep((upper - lower) / Double(target))
        var out: [Double] = []
        var v = (lower / step).rounded(.up) * step
        while v <= upper + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = ChartMath.pow10(ChartMath.decade(raw))
        let f = raw / p
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p
    }

    static func niceLogFloor(_ x: Double) -> Double {
        let p = ChartMath.pow10(ChartMath.decade(x))
        let f = x / p
        return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p
    }

    static func niceLogCeil(_ x: Double) -> Double {
        let p = ChartMath.pow10(ChartMath.decade(x))
        let f = x / p
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p
    }
}

/// The shape of a policy's marker.
enum MarkerShape: Sendable {
    case circle, square, diamond, triangle, triangleDown, star
}

/// Accumulates SVG elements; `render` wraps them in one `<svg>` element.
struct SVGCanvas {
    var width: Double
    var height: Double
    private(set) var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func n(_ x: Double) -> String { NumberText.fixed(x, 1) }

    mutating func raw(_ element: String) { elements.append(element) }

    mutating func line(_ a: Point, _ b: Point, stroke: String, width: Double = 1, dash: String? = nil) {
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        raw("<line x1=\"\(Self.n(a.x))\" y1=\"\(Self.n(a.y))\" x2=\"\(Self.n(b.x))\" y2=\"\(Self.n(b.y))\" stroke=\"\(stroke)\" stroke-width=\"\(width)\"\(d)/>")
    }

    /// The `points` attribute of a polyline or polygon: "x,y x,y …".
    static func pointList(_ points: [Point]) -> String {
        points.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ")
    }

    mutating func polyline(_ points: [Point], stroke: String, width: Double = 1.5, dash: String? = nil) {
        guard points.count > 1 else { return }
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        let list = Self.pointList(points)
        raw("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(width)\" stroke-linejoin=\"round\"\(d)/>")
    }

    mutating func polygon(_ points: [Point], fill: String, opacity: Double = 1) {
        let list = Self.pointList(points)
        raw("<polygon points=\"\(list)\" fill=\"\(fill)\" stroke=\"none\" opacity=\"\(NumberText.fixed(opacity, 2))\"/>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String = "none") {
        raw("<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"\(fill)\" stroke=\"\(stroke)\"/>")
    }

    mutating func circle(_ c: Point, r: Double, fill: String, stroke: String = "none", strokeWidth: Double = 1) {
        raw("<circle cx=\"\(Self.n(c.x))\" cy=\"\(Self.n(c.y))\" r=\"\(Self.n(r))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"\(strokeWidth)\"/>")
    }

    /// A marker of `shape` centred on `c`, with an optional hover title.
    mutating func marker(_ shape: MarkerShape, at c: Point, size s: Double, fill: String, title: String? = nil) {
        let stroke = "#222"
        let t = title.map { "<title>\(Escape.html($0))</title>" } ?? ""
        func poly(_ pts: [Point]) -> String {
            let list = Self.pointList(pts)
            return "<polygon points=\"\(list)\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1\">\(t)</polygon>"
        }
        switch shape {
        case .circle:
            raw("<circle cx=\"\(Self.n(c.x))\" cy=\"\(Self.n(c.y))\" r=\"\(Self.n(s * 0.85))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1\">\(t)</circle>")
        case .square:
            raw(poly([Point(x: c.x - s * 0.8, y: c.y - s * 0.8), Point(x: c.x + s * 0.8, y: c.y - s * 0.8),
                      Point(x: c.x + s * 0.8, y: c.y + s * 0.8), Point(x: c.x - s * 0.8, y: c.y + s * 0.8)]))
        case .diamond:
            raw(poly([Point(x: c.x, y: c.y - s * 1.1), Point(x: c.x + s * 1.1, y: c.y),
                      Point(x: c.x, y: c.y + s * 1.1), Point(x: c.x - s * 1.1, y: c.y)]))
        case .triangle:
            raw(poly([Point(x: c.x, y: c.y - s * 1.1), Point(x: c.x + s, y: c.y + s * 0.75),
                      Point(x: c.x - s, y: c.y + s * 0.75)]))
        case .triangleDown:
            raw(poly([Point(x: c.x, y: c.y + s * 1.1), Point(x: c.x + s, y: c.y - s * 0.75),
                      Point(x: c.x - s, y: c.y - s * 0.75)]))
        case .star:
            var pts: [Point] = []
            // Ten vertices at 36° steps: cos/sin of k·36° − 90° from a table (no Foundation).
            let cosTable = [0.0, 0.587785, 0.951057, 0.951057, 0.587785, 0.0, -0.587785, -0.951057, -0.951057, -0.587785]
            let sinTable = [-1.0, -0.809017, -0.309017, 0.309017, 0.809017, 1.0, 0.809017, 0.309017, -0.309017, -0.809017]
            for k in 0..<10 {
                let r = k % 2 == 0 ? s * 1.35 : s * 0.6
                pts.append(Point(x: c.x + r * cosTable[k], y: c.y + r * sinTable[k]))
            }
            raw(poly(pts))
        }
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ s: String, at p: Point, size: Double = 12, anchor: Anchor = .start, fill: String = "#222",
                       weight: String? = nil, rotate: Double? = nil) {
        var attrs = "x=\"\(Self.n(p.x))\" y=\"\(Self.n(p.y))\" font-size=\"\(Self.n(size))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(fill)\""
        if let weight { attrs += " font-weight=\"\(weight)\"" }
        if let rotate { attrs += " transform=\"rotate(\(Self.n(rotate)) \(Self.n(p.x)) \(Self.n(p.y)))\"" }
        raw("<text \(attrs)>\(Escape.html(s))</text>")
    }

    /// Axes with ticks, grid lines, tick labels and axis titles around `plot`.
    mutating func axes(_ plot: PlotRect, x: AxisScale, y: AxisScale, xTitle: String, yTitle: String,
                       yTicks: [Double]? = nil, xTickLabels: Bool = true) {
        rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "#fcfcfc", stroke: "#999")
        for v in x.ticks() {
            let px = x.position(v)
            guard px >= plot.x - 0.5, px <= plot.right + 0.5 else { continue }
            line(Point(x: px, y: plot.y), Point(x: px, y: plot.bottom), stroke: "#e4e4e4")
            line(Point(x: px, y: plot.bottom), Point(x: px, y: plot.bottom + 5), stroke: "#555")
            if xTickLabels {
                text(NumberText.tick(v), at: Point(x: px, y: plot.bottom + 18), size: 11, anchor: .middle, fill: "#333")
            }
        }
        for v in yTicks ?? y.ticks() {
            let py = y.position(v)
            guard py >= plot.y - 0.5, py <= plot.bottom + 0.5 else { continue }
            line(Point(x: plot.x, y: py), Point(x: plot.right, y: py), stroke: "#e4e4e4")
            line(Point(x: plot.x - 5, y: py), Point(x: plot.x, y: py), stroke: "#555")
            text(NumberText.tick(v), at: Point(x: plot.x - 8, y: py + 4), size: 11, anchor: .end, fill: "#333")
        }
        rect(x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: "none", stroke: "#888")
        text(xTitle, at: Point(x: plot.x + plot.width / 2, y: plot.bottom + 38), size: 12.5, anchor: .middle)
        let ym = plot.y + plot.height / 2
        text(yTitle, at: Point(x: plot.x - 50, y: ym), size: 12.5, anchor: .middle, rotate: -90)
    }

    /// The finished `<svg>` element. `id` names the chart for tests and links. Inline SVG in
    /// HTML5 needs no `xmlns`, and leaving it out keeps the file free of any URL.
    func render(id: String, label: String) -> String {
        var out = "<svg id=\"\(Escape.html(id))\" class=\"chart\" role=\"img\" aria-label=\"\(Escape.html(label))\" "
        out += "width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" "
        out += "font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\">\n"
        for e in elements { out += e + "\n" }
        out += "</svg>"
        return out
    }
}

/// One legend entry: a marker and/or line sample and a label.
struct LegendEntry {
    var label: String
    var color: String
    var marker: MarkerShape?
    var line: Bool = false
    var dash: String? = nil
    var lineWidth: Double = 2
}

extension SVGCanvas {
    /// Estimated text width in user units at `size` (DejaVu Sans averages ~0.6 em per glyph).
    static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.6 }

    /// Lays out `entries` in rows that wrap at `width`; returns the height used.
    static func legendHeight(_ entries: [LegendEntry], width: Double) -> Double {
        legendLayout(entries, origin: Point(x: 0, y: 0), width: width).height
    }

    static func legendLayout(_ entries: [LegendEntry], origin: Point, width: Double) -> (positions: [Point], height: Double) {
        var x = origin.x, y = origin.y
        var positions: [Point] = []
        let rowHeight = 18.0
        for e in entries {
            let w = 30 + textWidth(e.label, size: 11.5) + 16
            if x + w > origin.x + width, x > origin.x { x = origin.x; y += rowHeight }
            positions.append(Point(x: x, y: y))
            x += w
        }
        return (positions, entries.isEmpty ? 0 : y - origin.y + rowHeight)
    }

    /// Draws a wrapping legend starting at `origin` (top-left).
    mutating func legend(_ entries: [LegendEntry], origin: Point, width: Double) {
        let layout = SVGCanvas.legendLayout(entries, origin: origin, width: width)
        for (e, p) in zip(entries, layout.positions) {
            let cy = p.y + 9
            if e.line {
                line(Point(x: p.x, y: cy), Point(x: p.x + 24, y: cy), stroke: e.color, width: e.lineWidth, dash: e.dash)
            }
            if let m = e.marker { marker(m, at: Point(x: p.x + 12, y: cy), size: 5, fill: e.color) }
            text(e.label, at: Point(x: p.x + 30, y: cy + 4), size: 11.5, fill: "#222")
        }
    }
}
