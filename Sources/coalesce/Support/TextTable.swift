/// A plain-text table with aligned columns, for terminal summaries.
struct TextTable {
    /// How a column's cells line up.
    enum Alignment { case left, right }

    var header: [String]
    var rows: [[String]] = []
    /// Per column; by default the first column is left-aligned (labels) and the rest right-aligned (numbers).
    var alignments: [Alignment]

    init(_ header: [String], alignments: [Alignment]? = nil) {
        self.header = header
        self.alignments = alignments ?? header.indices.map { $0 == 0 ? .left : .right }
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            var text = cells.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return alignments[i] == .left ? c + pad : pad + c
            }.joined(separator: "  ")
            while text.last == " " { text.removeLast() }  // a left-aligned last column's padding
            return text
        }
        var out = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }
}

/// Number formatting for tables.
enum Format {
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "-" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (x * p).rounded() / p
        var s = String(r)
        if digits == 0 { return String(Int64(r)) }
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }

    /// 1234567 → "1.23M", 12345 → "12.3k".
    static func si(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let a = abs(x)
        if a >= 1e9 { return fixed(x / 1e9, 2) + "G" }
        if a >= 1e6 { return fixed(x / 1e6, 2) + "M" }
        if a >= 1e4 { return fixed(x / 1e3, 1) + "k" }
        if a >= 100 { return fixed(x, 0) }
        return fixed(x, 2)
    }
}
