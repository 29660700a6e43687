import Foundation

/// Writes the `--json` files of `simulate`, `train`, `evaluate`, `inspect` and offline `compare`: pretty-printed,
/// keys sorted, one trailing newline, NaN and ±∞ as `null` (as in the comparison JSON).
public enum JSONOutput {
    /// JSON has no NaN or infinity, and `JSONEncoder` refuses them by default, which would
    /// fail a whole run over one undefined estimate (a weighted IS with no weight, say).
    /// Foundation's encoder can only turn them into strings, so they become this marker,
    /// which no real string holds (it starts with a control character), and the quoted
    /// marker is then replaced by `null`. A hand-written encoder for these report types
    /// would be more code than this one substitution.
    public static let nonFiniteMarker = "\u{1}non-finite"
    /// The marker as `JSONEncoder` writes it: quoted, its control character escaped.
    static let encodedMarker = "\"\\u0001" + nonFiniteMarker.dropFirst() + "\""

    /// Encodes `value` as described above.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFiniteMarker, negativeInfinity: nonFiniteMarker, nan: nonFiniteMarker)
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        return Data((text.replacingOccurrences(of: encodedMarker, with: "null") + "\n").utf8)
    }

    /// Writes `value` to `path`, replacing the file atomically.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        try encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// A seed in a JSON file: a JSON integer when a double holds it exactly (< 2^53), else its
/// decimal text, so that no reader silently rounds it. The comparison JSON and the
/// `--json` files write seeds this way.
public struct JSONSeed: Encodable, Sendable, Hashable {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// Whether a binary64 holds the seed exactly.
    public var isExactInDouble: Bool { value < (1 << 53) }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if isExactInDouble { try container.encode(value) } else { try container.encode(String(value)) }
    }
}
