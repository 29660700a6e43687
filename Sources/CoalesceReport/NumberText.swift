/// Number formatting for the report, written out (rather than `String(format:)`) so the
/// library needs no Foundation and its output is the same under every locale.
enum NumberText {
    /// `x` rounded to `decimals` places ("1.50", "-0.03", "12"); "–" for NaN/∞.
    static func fixed(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return "–" }
        let d = max(0, min(decimals, 9))
        var scale: Int64 = 1
        for _ in 0..<d { scale *= 10 }
        guard abs(x) * Double(scale) < 9e15 else { return String(Int64(x.rounded())) }
        let n = Int64((abs(x) * Double(scale)).rounded())
        let whole = n / scale
        var text = String(whole)
        if d > 0 {
            let frac = String(n % scale)
            text += "." + String(repeating: "0", count: d - frac.count) + frac
        }
        return (x < 0 && n != 0 ? "-" : "") + text
    }

    /// How many decimals show `significant` digits of the largest magnitude in `values`
    /// (between 0 and 5).
    static func decimals(for values: [Double], significant: Int = 3) -> Int {
        let m = values.filter(\.isFinite).map(abs).max() ?? 0
        guard m > 0 else { return 0 }
        return max(0, min(5, significant - 1 - ChartMath.decade(m)))
    }

    /// `x` with about three significant digits.
    static func short(_ x: Double) -> String { fixed(x, decimals(for: [x])) }

    /// "mean [lo, hi]" with a shared number of decimals; one seed gives "mean (1 seed)".
    static func estimate(_ e: Estimate) -> String {
        let values = [e.mean, e.ci.lower, e.ci.upper]
        let d = decimals(for: values)
        let point = fixed(values[0], d)
        if e.ci.isDegenerate { return point + " (1 seed)" }
        return "\(point) [\(fixed(values[1], d)), \(fixed(values[2], d))]"
    }

    /// HTML for a table cell: the mean, and the interval on a second, smaller line.
    static func estimateCell(_ e: Estimate, signed: Bool = false) -> String {
        let values = [e.mean, e.ci.lower, e.ci.upper]
        let d = decimals(for: values, significant: signed ? 2 : 3)
        // Typographic minus, as in the signed differences next to these cells.
        let f: (Double) -> String = signed ? { NumberText.signed($0, d) } : { NumberText.fixed($0, d).replacing("-", with: "−") }
        if e.ci.isDegenerate { return f(e.mean) + "<br><span class=\"ci\">1 seed, no CI</span>" }
        return f(e.mean) + "<br><span class=\"ci\">[\(f(e.ci.lower)), \(f(e.ci.upper))]</span>"
    }

    /// A signed difference: "+1.2", "−0.40", "0".
    static func signed(_ x: Double, _ decimals: Int) -> String {
        let t = fixed(x, decimals)
        if t.hasPrefix("-") { return "−" + t.dropFirst() }
        return t.allSatisfy({ $0 == "0" || $0 == "." }) ? t : "+" + t
    }

    /// An estimate's signed point alone, to the decimals `signedEstimate` gives it.
    static func signedPoint(_ e: Estimate) -> String {
        signed(e.mean, estimateDecimals(e))
    }

    /// "Δ [lo, hi]" with signs.
    static func signedEstimate(_ e: Estimate) -> String {
        let d = estimateDecimals(e)
        let point = signed(e.mean, d)
        if e.ci.isDegenerate { return point + " (1 seed)" }
        return "\(point) [\(signed(e.ci.lower, d)), \(signed(e.ci.upper, d))]"
    }

    /// Decimals for a signed estimate: two significant digits of its point and bounds.
    private static func estimateDecimals(_ e: Estimate) -> Int {
        decimals(for: [e.mean, e.ci.lower, e.ci.upper], significant: 2)
    }

    /// A rate with a unit prefix: "850 k", "1.25 M", "999".
    static func si(_ x: Double) -> String {
        guard x.isFinite else { return "–" }
        let a = abs(x)
        if a >= 1e9 { return short(x / 1e9) + " G" }
        if a >= 1e6 { return short(x / 1e6) + " M" }
        if a >= 1e3 { return short(x / 1e3) + " k" }
        return short(x)
    }

    /// A mean count (drops, changes): whole numbers without decimals, large ones with a unit prefix.
    static func count(_ x: Double) -> String {
        guard x.isFinite else { return "–" }
        if abs(x) >= 10_000 { return si(x) }
        return x == x.rounded() ? fixed(x, 0) : fixed(x, 1)
    }

    /// An axis tick label: compact, without trailing zeros ("0.5", "20", "1k", "1.5M").
    static func tick(_ x: Double) -> String {
        let a = abs(x)
        func trim(_ s: String) -> String {
            guard s.contains(".") else { return s }
            var t = Substring(s)
            while t.hasSuffix("0") { t = t.dropLast() }
            if t.hasSuffix(".") { t = t.dropLast() }
            return String(t)
        }
        if a >= 1e6 { return trim(fixed(x / 1e6, 2)) + "M" }
        if a >= 1e4 { return trim(fixed(x / 1e3, 1)) + "k" }
        return trim(fixed(x, 4))
    }
}

/// Escapes text for HTML element content and attribute values (SVG shares the rules).
enum Escape {
    static func html(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
