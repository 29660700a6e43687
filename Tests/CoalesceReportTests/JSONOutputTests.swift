import CoalesceReport
import Foundation
import Testing

@Suite("--json files (JSONOutput)")
struct JSONOutputTests {
    struct Estimate: Encodable {
        var value: Double
        var lower: Double
        var upper: Double
        var history: [Double]
        var note: String
        var path: String
    }

    @Test("NaN and ±∞ are written as null instead of failing the file; everything else is kept as is")
    func nonFiniteNumbersBecomeNull() throws {
        let value = Estimate(value: .nan, lower: -.infinity, upper: .infinity, history: [1.5, .nan, -2],
                             note: "non-finite", path: "Models/a.model")
        let data = try JSONOutput.encode(value)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasSuffix("}\n"))
        #expect(!text.contains("\\u0001"))
        #expect(text.contains("\"path\" : \"Models/a.model\""), "slashes are not escaped")
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["value", "lower", "upper"] { #expect(object[key] is NSNull, "\(key)") }
        let history = try #require(object["history"] as? [Any])
        #expect((history[0] as? NSNumber)?.doubleValue == 1.5)
        #expect(history[1] is NSNull)
        #expect((history[2] as? NSNumber)?.doubleValue == -2)
        // A string that merely reads like the marker stays a string.
        #expect(object["note"] as? String == "non-finite")
    }

    @Test("the file is written whole, replacing an old one")
    func writesTheFile() throws {
        let path = NSTemporaryDirectory() + "coalesce-json-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try JSONOutput.write(["a": 1.0], to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\n  \"a\" : 1\n}\n")
    }
}
