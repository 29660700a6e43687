import CoalesceCore
import Foundation
import Testing

@Suite("JSON decoding errors for operators")
struct DecodingErrorTextTests {
    struct Inner: Decodable { var rate: Double; var name: String }
    struct Outer: Decodable { var items: [Inner]; var count: Int }

    func message(_ json: String) -> String {
        do {
            _ = try JSONDecoder().decode(Outer.self, from: Data(json.utf8))
            return "decoded"
        } catch {
            return DecodingErrorText.describe(error)
        }
    }

    @Test("name the missing or mistyped key by its path in the file, and say when the text is not JSON")
    func messages() {
        #expect(message(#"{"items":[{"rate":1,"name":"a"},{"rate":2}],"count":1}"#) == "missing 'items[1].name'")
        #expect(message(#"{"items":[{"rate":"fast","name":"a"}],"count":1}"#) == "'items[0].rate' must be a number")
        #expect(message(#"{"items":[],"count":"one"}"#) == "'count' must be an integer")
        #expect(message(#"{"items":{},"count":1}"#) == "'items' must be an array")
        #expect(message(#"{"items":[],"count":null}"#) == "'count' is null; expected an integer")
        #expect(message(#"{"items":[],"cou"#).hasPrefix("not valid JSON (truncated, or not JSON)"))
        #expect(message(#"{"items":[],"count":1}"#) == "decoded")
    }
}
