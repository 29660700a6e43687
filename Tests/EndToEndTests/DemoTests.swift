import Foundation
import Testing

@Suite("coalesce demo")
struct DemoTests {
    @Test("the demo and Tools/rebuild-models share one training recipe per lab model, and unknown names are refused")
    func trainArgumentsPerLabModel() throws {
        let coalesce = try Binaries.path("coalesce")
        func arguments(_ extra: [String]) throws -> (Int32, String) {
            let r = try runProgram(coalesce, ["demo"] + extra)
            return (r.status, r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let noisy = "--cql-alpha 0.1 --steps-per-epoch 1000 --epochs 8 --patience 0 --average-weights 0.002"
        #expect(try arguments(["--train-arguments-for", "bare-metal-latency"]) == (0, noisy))
        #expect(try arguments(["--train-arguments-for", "virtualized-balanced"]) == (0, noisy))
        #expect(try arguments(["--train-arguments-for", "bare-metal-throughput"]) == (0, ""))
        // The recipe was chosen for CQL; other algorithms keep their defaults.
        #expect(try arguments(["--algorithm", "dqn", "--train-arguments-for", "bare-metal-latency"]) == (0, ""))
        let refused = try arguments(["--train-arguments-for", "latency"])
        #expect(refused.0 != 0 && refused.1.contains("name a lab model as KIND-OBJECTIVE"))
        // Tools/rebuild-models asks the binary rather than keeping its own list.
        let script = try String(contentsOf: Binaries.packageRoot.appendingPathComponent("Tools/rebuild-models"), encoding: .utf8)
        #expect(script.contains("demo --algorithm \"$ALGORITHM\" --train-arguments-for"))
    }
}
