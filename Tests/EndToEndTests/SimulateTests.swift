import Foundation
import Testing

@Suite("coalesce simulate")
struct SimulateTests {
    @Test("simulate --json writes the documented figures with the objective, duration and steps the reward is under")
    func simulateJSONKeys() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram(try Binaries.path("coalesce"), [
            "simulate", "--scenario", "rpc-low", "--policy", "dim", "--seed", "3", "--duration", "1",
            "--interval", "100", "--objective", "balanced", "--json", "\(dir)/s.json"])
        try #require(r.status == 0, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/s.json"))) as? [String: Any])
        for key in ["scenario", "policy", "seed", "throughput_pps", "latency_p50_us", "latency_p99_us", "latency_p999_us",
                    "cpu_percent", "interrupts_per_s", "drops", "changes", "reward", "simulated_packets",
                    "objective", "duration_s", "steps", "guard_fallbacks"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["objective"] as? String == "balanced")
        #expect((json["duration_s"] as? NSNumber)?.doubleValue == 1)
        let steps = try #require((json["steps"] as? NSNumber)?.intValue)
        #expect((9...10).contains(steps), "1 s at 100 ms intervals: \(steps) steps")
        #expect(json["policy"] as? String == "dim" && json["scenario"] as? String == "rpc-low")
        #expect((json["seed"] as? NSNumber)?.intValue == 3)

        // A seed no double holds exactly is written as text, as the comparison JSON does.
        let big = try runProgram(try Binaries.path("coalesce"), [
            "simulate", "--scenario", "rpc-low", "--policy", "dim", "--seed", "18446744073709551615", "--duration", "0.3",
            "--json", "\(dir)/big.json"])
        try #require(big.status == 0, "\(big.output)")
        let bigJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/big.json"))) as? [String: Any])
        #expect(bigJSON["seed"] as? String == "18446744073709551615")
    }
}
