#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A one-line account of a `JSONDecoder` failure for an operator — which key is
/// missing, which has the wrong type, or that the text is not JSON at all — in place
/// of `DecodingError`'s debug dump. Used for every JSON the tools read: dataset
/// headers, model metadata, objectives, scenarios, restore journals.
public enum DecodingErrorText {
    /// Describes `error`; errors other than `DecodingError` as they describe themselves.
    public static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .keyNotFound(let key, let context):
            return "missing '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "'\(path(context.codingPath))' must be \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "'\(path(context.codingPath))' is null; expected \(typeName(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { ": \($0)" } ?? ""
                return "not valid JSON (truncated, or not JSON)\(detail)"
            }
            return "'\(path(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "\(decoding)"
        }
    }

    /// `a.b[2].c`, the way the keys appear in the file.
    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
        }
        return out.isEmpty ? "(top level)" : out
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt.Type, is UInt32.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a \(name) value"
        }
    }
}
