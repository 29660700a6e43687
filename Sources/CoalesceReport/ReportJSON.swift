/// A JSON value with ordered object keys, written by hand so that the comparison file keeps
/// the documented key order (`JSONEncoder` does not promise one) and so that non-finite
/// numbers become `null` instead of failing the whole file.
enum ReportJSON: Sendable {
    case object([(String, ReportJSON)])
    case array([ReportJSON])
    case number(Double)
    case integer(Int64)
    case string(String)
    case bool(Bool)
    case null

    /// An optional string, `null` when absent.
    static func string(_ s: String?) -> ReportJSON { s.map { .string($0) } ?? .null }

    /// A seed, as `JSONSeed` writes it.
    static func seed(_ s: UInt64) -> ReportJSON { JSONSeed(s).isExactInDouble ? .integer(Int64(s)) : .string(String(s)) }

    /// Compact-but-readable text: objects and arrays of objects on indented lines, short
    /// arrays of numbers inline.
    func serialized() -> String {
        var out = ""
        write(into: &out, indent: 0)
        out += "\n"
        return out
    }

    private var isScalar: Bool {
        switch self {
        case .object, .array: return false
        default: return true
        }
    }

    private func write(into out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let x): out += ReportJSON.numberText(x)
        case .string(let s): ReportJSON.writeString(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            if items.allSatisfy(\.isScalar) {
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 { out += ", " }
                    item.write(into: &out, indent: indent)
                }
                out += "]"
                return
            }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.write(into: &out, indent: indent + 1)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += closePad + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, (key, value)) in members.enumerated() {
                out += pad
                ReportJSON.writeString(key, into: &out)
                out += ": "
                value.write(into: &out, indent: indent + 1)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += closePad + "}"
        }
    }

    /// Shortest text that reads back to the same double; integral values without ".0";
    /// NaN and ±∞ (not representable in JSON) as `null`.
    static func numberText(_ x: Double) -> String {
        guard x.isFinite else { return "null" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return x.description  // e.g. "0.125", "1e-05", "2.5e+20": all valid JSON numbers
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
